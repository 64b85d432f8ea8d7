// Restore drill: wall time of `ipa-fleet drill` of a 3-host chain (CA on a, b) with 20 000 entries,
// against the production restore (`ipa-fleet restore --init ldif`) of the same snapshot on the same lab,
// measured in the same run (target: drill ≤ 2× the restore). The drill's own phases are printed too: the
// sandbox build, the restore inside it, the content proof and the teardown. Prints figures, asserts nothing.
// Run: npm run bench:drill (needs root: it builds a lab and a sandbox). BENCH_ENTRIES=20000 by default.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { table } from '../../src/cli/output.js';
import { bringUpLab, claimNet } from '../lab/fixture.js';

const entries = Number(process.env.BENCH_ENTRIES ?? '20000');
const TIMEOUT_MS = 3 * 3_600_000;

interface DrillJson {
  restorable: boolean;
  recoverySeconds: number;
  entries: number;
  hosts: number;
  phases: Array<{ name: string; seconds: number; ok: boolean }>;
  error?: string;
}

const keys = await mkdtemp(join(tmpdir(), 'ipa-fleet-bench-keys-'));
const passphrase = 'bench drill passphrase';
const { publicKey, privateKey } = await generateKey({
  type: 'curve25519',
  userIDs: [{ name: 'bench' }],
  passphrase,
  format: 'armored',
});
const pub = join(keys, 'pub.asc');
const sec = join(keys, 'sec.asc');
const pass = join(keys, 'passphrase');
await writeFile(pub, publicKey);
await writeFile(sec, privateKey, { mode: 0o600 });
await writeFile(pass, `${passphrase}\n`, { mode: 0o600 });

const lab = await bringUpLab(['--hosts', '3', '--topology', 'chain', '--ca', 'a,b', '--entries', String(entries)]);
const sandboxNet = await claimNet();
console.log(`3 hosts, ${entries} entries: lab up ${(lab.upOutput.ms / 1000).toFixed(1)} s`);
let restoreS = 0;
let drillS = 0;
let report: DrillJson | undefined;
try {
  const store = join(lab.tmp, 'store');
  const run = (args: string[]) => lab.fleet(args, { timeoutMs: TIMEOUT_MS });
  const b = await run(['-i', lab.paths.inventory, 'backup', '--encrypt-to', pub, '--store', store]);
  if (b.code !== 0) throw new Error(`backup failed (exit ${b.code}):\n${b.stderr.slice(-4000)}`);
  const list = JSON.parse((await run(['--json', 'backups', 'list', '--store', store])).stdout) as {
    snapshots: Array<{ id: string; host: string }>;
  };
  const snap = list.snapshots.find((s) => s.host === 'a.ipa.test')!;
  const secret = ['--key', sec, '--passphrase', `file:${pass}`, '--store', store];
  // The drill first, while the lab is as the backup left it; then the production restore of the same snapshot.
  const d = await run([
    '--json',
    '-i',
    lab.paths.inventory,
    'drill',
    '--backup',
    snap.id,
    '--net',
    sandboxNet.net,
    ...secret,
  ]);
  drillS = d.ms / 1000;
  report = JSON.parse(d.stdout) as DrillJson;
  if (d.code !== 0) throw new Error(`drill failed (exit ${d.code}): ${report.error}\n${d.stderr.slice(-4000)}`);
  console.log(`  drill ${drillS.toFixed(1)} s`);
  const r = await run([
    '--json',
    '-i',
    lab.paths.inventory,
    'restore',
    '--master',
    'a.ipa.test',
    '--backup',
    snap.id,
    '--init',
    'ldif',
    '--yes',
    ...secret,
  ]);
  if (r.code !== 0) throw new Error(`restore failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  restoreS = r.ms / 1000;
  console.log(`  restore --init ldif ${restoreS.toFixed(1)} s`);
} finally {
  await sandboxNet.release();
  await lab.down();
  await rm(keys, { recursive: true, force: true });
}

const s = (x: number): string => `${x.toFixed(1)} s`;
console.log('');
console.log(`drill vs production restore, 3-host chain, CA on a,b, ${entries} entries (${report!.entries} compared)`);
console.log(
  table([
    ['PRODUCTION RESTORE', 'DRILL', 'RATIO (target ≤ 2)', 'DRILL RECOVERY TIME'],
    [s(restoreS), s(drillS), `${(drillS / restoreS).toFixed(2)}x`, s(report!.recoverySeconds)],
  ]),
);
console.log('');
console.log(table([['DRILL PHASE', 'SECONDS'], ...report!.phases.map((p) => [p.name, p.seconds.toFixed(1)])]));
