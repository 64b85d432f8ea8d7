// diff of a snapshot against its live host, for snapshots of 10 000 and 100 000 entries (BENCH_SIZES):
// wall time against a baseline measured in the same run (target ≤ 1.5×) and the controller's peak RSS
// (target ≤ 300 MB, flat from 10 000 to 100 000: diff keeps digests, never both sides). The baseline is
// the least a diff must do, in the same kind of process (diff-baseline.ts): decrypt, unpack and parse
// the snapshot's domain LDIF once, plus one paged read of the live suffix through the SSH tunnel.
// Each size: a 2-host lab, an encrypted backup of a, then 5 users deleted, 5 modified and 5 added on a;
// diff and baseline run twice each, interleaved, and the better of two is kept. Each diff is checked
// (exit 3, exactly those 15 entries) so a broken run is never measured; no timing is asserted.
// Run: npm run bench:diff (needs root: it builds labs). BENCH_SIZES=10000,100000 by default.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Attribute, Change } from 'ldapts';
import { table } from '../../src/cli/output.js';
import { bringUpLab, BIN, DOMAIN, labDirectory, makeKeys, ROOT, type TestLab } from '../lab/fixture.js';
import { measured, type Run } from './measured-child.js';

const sizes = (process.env.BENCH_SIZES ?? '10000,100000').split(',').map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 100)) throw new Error('BENCH_SIZES: entry counts ≥ 100');
const BASELINE = join(ROOT, 'dist/test/bench/diff-baseline.js');
const MB = 1024 * 1024;
const CHANGED = 5;

/** The domain suffix holds `entries`: the lab's users, one group per ten of them, and 3 containers. */
const usersFor = (entries: number): number => Math.round((entries - 3) / 1.1);
const uid = (i: number): string => `user${String(i).padStart(6, '0')}`;
const userDn = (name: string): string => `uid=${name},ou=people,${DOMAIN}`.toLowerCase();

interface Changes {
  added: string[];
  deleted: string[];
  modified: string[];
}

/** 5 users deleted, 5 modified (description), 5 added on a, spread over the tree. */
async function changeLive(lab: TestLab, users: number): Promise<Changes> {
  const dir = await labDirectory(lab, 2, 120_000);
  const spread = (k: number, offset: number): string => uid(1 + Math.floor(((k + offset) * users) / (2 * CHANGED)));
  const deleted = Array.from({ length: CHANGED }, (_, k) => spread(2 * k, 0));
  const modified = Array.from({ length: CHANGED }, (_, k) => spread(2 * k, 1));
  const added = Array.from({ length: CHANGED }, (_, k) => `benchadd${k + 1}`);
  await dir.withLdap('a.ipa.test', async (c) => {
    for (const name of deleted) await c.del(`uid=${name},ou=people,${DOMAIN}`);
    for (const name of modified)
      await c.modify(
        `uid=${name},ou=people,${DOMAIN}`,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'description', values: ['changed by the diff bench'] }),
        }),
      );
    for (const name of added)
      await c.add(`uid=${name},ou=people,${DOMAIN}`, { objectClass: ['top', 'account'], uid: name });
  });
  return { added: added.map(userDn), deleted: deleted.map(userDn), modified: modified.map(userDn) };
}

interface DiffJson {
  differences: number;
  suffixes: Array<{ entries: Array<{ dn: string; change: keyof Changes }> }>;
}

/** Throws unless the diff found exactly the changes made. */
function checkDiff(run: Run, want: Changes): void {
  if (run.code !== 3) throw new Error(`diff: exit ${run.code}, want 3:\n${run.stdout.slice(-2000)}\n${run.stderr}`);
  const report = JSON.parse(run.stdout) as DiffJson;
  if (report.differences !== 3 * CHANGED)
    throw new Error(`diff: ${report.differences} differences, want ${3 * CHANGED}`);
  const got: Changes = { added: [], deleted: [], modified: [] };
  for (const e of report.suffixes.flatMap((s) => s.entries)) got[e.change].push(e.dn.toLowerCase());
  for (const change of ['added', 'deleted', 'modified'] as const) {
    const [a, b] = [got[change].sort().join('\n'), [...want[change]].sort().join('\n')];
    if (a !== b) throw new Error(`diff: ${change} entries differ from the changes made:\n${a}\nwant:\n${b}`);
  }
}

interface Baseline {
  snapshotEntries: number;
  snapshotS: number;
  liveEntries: number;
  liveS: number;
}

interface Measured {
  entries: number;
  users: number;
  labUpS: number;
  backupS: number;
  diffs: Run[];
  baselines: Array<Run & Baseline>;
}

async function measure(entries: number, keys: { pub: string; sec: string; pass: string }): Promise<Measured> {
  const users = usersFor(entries);
  const lab = await bringUpLab(['--hosts', '2', '--entries', String(users)]);
  console.log(`${entries} entries (${users} users): lab up ${(lab.upOutput.ms / 1000).toFixed(1)} s`);
  try {
    const store = join(lab.tmp, 'store');
    const inventory = lab.paths.inventory;
    const b = await lab.fleet([
      '-i',
      inventory,
      '--limit',
      'a.ipa.test',
      'backup',
      '--encrypt-to',
      keys.pub,
      '--store',
      store,
    ]);
    if (b.code !== 0)
      throw new Error(`backup failed (exit ${b.code}):\n${b.stdout.slice(-4000)}\n${b.stderr.slice(-4000)}`);
    const list = JSON.parse((await lab.fleet(['--json', 'backups', 'list', '--store', store])).stdout) as {
      snapshots: Array<{ id: string; host: string }>;
    };
    const snapshot = list.snapshots.find((s) => s.host === 'a.ipa.test')?.id;
    if (!snapshot) throw new Error(`no snapshot of a.ipa.test in ${store}`);
    console.log(`  backup of a ${(b.ms / 1000).toFixed(1)} s; snapshot ${snapshot}`);
    const want = await changeLive(lab, users);
    const diffArgs = [BIN, '--log-file', lab.logFile, '--json', '-i', inventory, 'diff', '--backup', snapshot];
    diffArgs.push('--key', keys.sec, '--passphrase', `file:${keys.pass}`, '--store', store);
    const baselineArgs = JSON.stringify({
      inventory,
      store,
      snapshot,
      key: keys.sec,
      passphraseFile: keys.pass,
      logFile: lab.logFile,
    });
    const m: Measured = {
      entries,
      users,
      labUpS: lab.upOutput.ms / 1000,
      backupS: b.ms / 1000,
      diffs: [],
      baselines: [],
    };
    for (let round = 1; round <= 2; round++) {
      const d = await measured(diffArgs, lab.env);
      checkDiff(d, want);
      m.diffs.push(d);
      const r = await measured([BASELINE, baselineArgs], lab.env);
      if (r.code !== 0) throw new Error(`baseline: exit ${r.code}:\n${r.stdout}\n${r.stderr}`);
      const parts = JSON.parse(r.stdout) as Baseline;
      m.baselines.push({ ...r, ...parts });
      console.log(
        `  round ${round}: diff ${d.wallS.toFixed(2)} s (CPU ${d.cpuS.toFixed(2)} s), peak RSS ${mb(d.peakBytes)}; ` +
          `baseline ${r.wallS.toFixed(2)} s (CPU ${r.cpuS.toFixed(2)} s; ` +
          `snapshot ${parts.snapshotS.toFixed(2)} s, ${parts.snapshotEntries} entries; live ${parts.liveS.toFixed(2)} s, ` +
          `${parts.liveEntries} entries), peak RSS ${mb(r.peakBytes)}`,
      );
    }
    return m;
  } finally {
    await lab.down();
  }
}

const mb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`;
const s = (x: number): string => `${x.toFixed(2)} s`;
const best = <T extends { wallS: number }>(runs: T[]): T => runs.reduce((a, b) => (b.wallS < a.wallS ? b : a));

const benchStarted = Date.now();
const keyDir = await mkdtemp(join(tmpdir(), 'ipa-fleet-bench-keys-'));
const results: Measured[] = [];
try {
  const keys = await makeKeys(keyDir);
  for (const n of sizes) results.push(await measure(n, keys));
} finally {
  await rm(keyDir, { recursive: true, force: true });
}

console.log('');
console.log(`diff of a snapshot of a.ipa.test against a.ipa.test (5 users deleted, 5 modified, 5 added), best of 2`);
console.log(
  table([
    [
      'ENTRIES',
      'DIFF',
      'DIFF RUNS',
      'BASELINE',
      'SNAPSHOT READ',
      'LIVE READ',
      'RATIO',
      'CPU DIFF / BASELINE',
      'DIFF PEAK RSS',
      'BASELINE PEAK RSS',
    ],
    ...results.map((m) => {
      const d = best(m.diffs);
      const b = best(m.baselines);
      return [
        String(b.snapshotEntries),
        s(d.wallS),
        m.diffs.map((r) => r.wallS.toFixed(2)).join(' / '),
        s(b.wallS),
        s(b.snapshotS),
        s(b.liveS),
        `${(d.wallS / b.wallS).toFixed(2)}×`,
        `${d.cpuS.toFixed(1)} / ${b.cpuS.toFixed(1)} s`,
        mb(Math.max(...m.diffs.map((r) => r.peakBytes))),
        mb(Math.max(...m.baselines.map((r) => r.peakBytes))),
      ];
    }),
  ]),
);
console.log('');
console.log('ratio = diff / baseline (target ≤ 1.5); baseline = one child node process: decrypt, unpack and parse');
console.log('the snapshot once, then one paged read of the live suffix (SNAPSHOT READ and LIVE READ are its parts).');
console.log("CPU: user + system time of the same runs (the hosts' ns-slapd not counted); on a loaded machine");
console.log('it varies less than wall time. peak RSS: VmHWM of the child, the larger of its two runs');
console.log('(target ≤ 300 MB, flat with the entry count).');
if (results.length > 1) {
  const peak = (m: Measured): number => Math.max(...m.diffs.map((r) => r.peakBytes));
  const [first, last] = [results[0]!, results.at(-1)!];
  console.log(
    `diff peak RSS ${last.entries} / ${first.entries} entries: ${(peak(last) / peak(first)).toFixed(2)}× ` +
      `(${mb(peak(first))} → ${mb(peak(last))}; the entries grew ${(last.entries / first.entries).toFixed(0)}×)`,
  );
}
for (const m of results) console.log(`${m.entries} entries: lab up ${s(m.labUpS)}, backup of a ${s(m.backupS)}`);
console.log(`bench wall time: ${((Date.now() - benchStarted) / 1000).toFixed(0)} s`);
