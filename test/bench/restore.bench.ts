// Whole-deployment restore: wall time of `ipa-fleet restore` of host a with --init ldif and with
// --init online (both from the same fleet snapshot, one after the other on the same lab), on a
// 3-host and a 5-host chain. Baselines are measured in the same run: online/ldif (target ≥ 6×),
// 5-host ldif / 3-host ldif (target ≈ 1). Orchestration overhead = wall time minus the servers' own
// durations on the critical path of the plan (target ≤ 10 % of wall). Prints figures, asserts nothing.
// Run: npm run bench:restore (needs root: it builds labs). BENCH_HOSTS=3,5 BENCH_ENTRIES=20000 by default.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { table } from '../../src/cli/output.js';
import type { JournalEntry } from '../../src/playbook/journal.js';
import type { Plan, PlannedTask } from '../../src/playbook/model.js';
import type { JsonValue } from '../../src/json.js';
import { phaseReport, phaseRows, type TimedTask } from '../../src/operations/phase-report.js';
import { bringUpLab, cli } from '../lab/fixture.js';

const sizes = (process.env.BENCH_HOSTS ?? '3,5').split(',').map(Number);
const entries = Number(process.env.BENCH_ENTRIES ?? '20000');
if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new Error('BENCH_HOSTS: host counts ≥ 2');
const RESTORE_TIMEOUT_MS = 3 * 3_600_000;

interface Measured {
  /** Waits on replication itself: unfence until green, the canary's travel (server work, not ours). */
  replicationS: number;
  hosts: number;
  init: 'ldif' | 'online';
  wallS: number;
  masterS: number;
  /** Server durations on the critical path of the reinitialize step. */
  reinitS: number;
  /** Server durations on the whole critical path (master imports + reinitialize). */
  criticalS: number;
  phases: string;
}

const num = (v: JsonValue | undefined): number => (typeof v === 'number' ? v : 0);
const obj = (v: JsonValue | undefined): Record<string, JsonValue> =>
  v && typeof v === 'object' && !Array.isArray(v) ? v : {};

/** What the server itself spent on a task, from the task.finished data (ms); 0 for controller-only tasks. */
function serverMs(task: PlannedTask, data: Record<string, JsonValue>): number {
  if (task.action === 'restore-master') {
    const suffixes = Array.isArray(data.suffixes) ? data.suffixes : [];
    return suffixes.reduce<number>((sum, s) => sum + num(obj(s).importMs), 0); // imported one after the other
  }
  if (task.action === 'unfence')
    return (Array.isArray(data.suffixes) ? data.suffixes : []).reduce<number>((sum, s) => sum + num(obj(s).greenMs), 0);
  if (task.action === 'converge') {
    const max = (v: JsonValue | undefined): number => Math.max(0, ...Object.values(obj(v)).map(num));
    return (Array.isArray(data.suffixes) ? data.suffixes : []).reduce<number>(
      (sum, s) => sum + max(obj(s).canaryMs) + max(obj(s).canaryDeleteMs),
      0,
    );
  }
  if (task.action !== 'reinitialize') return 0;
  switch (task.params.op) {
    case 'export':
      return num(data.exportMs);
    case 'import':
      return num(data.copyMs) + num(data.importMs);
    case 'online':
      return num(data.initMs);
    default:
      return 0;
  }
}

/** Longest path through plan.dependsOn, each task weighted by its server duration (last attempt). */
function criticalPath(
  plan: Plan,
  journal: JournalEntry[],
): { totalMs: number; path: PlannedTask[]; weight: Map<string, number> } {
  const weight = new Map<string, number>();
  for (const e of journal) {
    if (e.type !== 'task.finished') continue;
    const task = plan.tasks.find((t) => t.id === e.taskId);
    if (task) weight.set(task.id, serverMs(task, obj(e.data)));
  }
  const byId = new Map(plan.tasks.map((t) => [t.id, t]));
  const best = new Map<string, { ms: number; prev: string | undefined }>();
  const visit = (id: string): { ms: number; prev: string | undefined } => {
    const known = best.get(id);
    if (known) return known;
    let prev: string | undefined;
    let before = 0;
    for (const dep of byId.get(id)?.dependsOn ?? []) {
      const d = visit(dep);
      if (d.ms > before || prev === undefined) {
        before = d.ms;
        prev = dep;
      }
    }
    const r = { ms: before + (weight.get(id) ?? 0), prev };
    best.set(id, r);
    return r;
  };
  let end: string | undefined;
  for (const t of plan.tasks) if (end === undefined || visit(t.id).ms > visit(end).ms) end = t.id;
  const path: PlannedTask[] = [];
  for (let id = end; id !== undefined; id = best.get(id)!.prev) path.unshift(byId.get(id)!);
  return { totalMs: end === undefined ? 0 : best.get(end)!.ms, path, weight };
}

async function restore(
  lab: { paths: { inventory: string }; logFile: string },
  env: NodeJS.ProcessEnv,
  n: number,
  init: 'ldif' | 'online',
  args: string[],
): Promise<Measured> {
  const r = await cli(
    [
      '--log-file',
      lab.logFile,
      '--json',
      '-i',
      lab.paths.inventory,
      'restore',
      '--master',
      'a.ipa.test',
      '--init',
      init,
      '--yes',
      ...args,
    ],
    { env, timeoutMs: RESTORE_TIMEOUT_MS },
  );
  if (r.code !== 0)
    throw new Error(
      `restore --init ${init} on ${n} hosts failed (exit ${r.code}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`,
    );
  // --json prints the outcome (runId, state, runDir, phases) as one indented object.
  const runDir = [...r.stdout.matchAll(/"runDir":\s*("(?:[^"\\]|\\.)*")/g)]
    .map((x) => JSON.parse(x[1]!) as string)
    .at(-1);
  if (!runDir) throw new Error(`restore --init ${init}: no runDir in the --json output:\n${r.stdout.slice(-2000)}`);
  const plan = JSON.parse(await readFile(join(runDir, 'plan.json'), 'utf8')) as Plan;
  const journal = (await readFile(join(runDir, 'journal.jsonl'), 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as JournalEntry);
  const cp = criticalPath(plan, journal);
  const onPath = (action: string): number =>
    cp.path.filter((t) => t.action === action).reduce((s, t) => s + (cp.weight.get(t.id) ?? 0), 0) / 1000;
  return {
    hosts: n,
    init,
    wallS: r.ms / 1000,
    masterS: onPath('restore-master'),
    reinitS: onPath('reinitialize'),
    criticalS: cp.totalMs / 1000,
    replicationS: onPath('unfence') + onPath('converge'),
    phases: table(
      phaseRows(
        phaseReport(plan, timedTasks(journal)),
        plan.tasks.map((t) => t.host),
      ),
    ),
  };
}

/** Each task's start and finish as the journal recorded them (the last attempt's). */
function timedTasks(journal: JournalEntry[]): TimedTask[] {
  const tasks = new Map<string, TimedTask>();
  for (const e of journal) {
    if (e.type === 'task.started') tasks.set(e.taskId, { id: e.taskId, startedAt: e.at });
    const task = tasks.get(e.type === 'task.finished' ? e.taskId : '');
    if (task?.startedAt) task.durationMs = Date.parse(e.at) - Date.parse(task.startedAt);
  }
  return [...tasks.values()];
}

const benchStarted = Date.now();
const keys = await mkdtemp(join(tmpdir(), 'ipa-fleet-bench-keys-'));
const stateHome = await mkdtemp(join(tmpdir(), 'ipa-fleet-bench-state-'));
const env = { XDG_STATE_HOME: stateHome };
const results: Measured[] = [];
const labUps: Array<{ hosts: number; s: number }> = [];
try {
  const passphrase = 'bench restore passphrase';
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

  for (const n of sizes) {
    const lab = await bringUpLab([
      '--hosts',
      String(n),
      '--topology',
      'chain',
      '--ca',
      'a,b',
      '--entries',
      String(entries),
    ]);
    labUps.push({ hosts: n, s: lab.upOutput.ms / 1000 });
    console.log(`${n} hosts, ${entries} entries: lab up ${(lab.upOutput.ms / 1000).toFixed(1)} s`);
    try {
      const store = join(lab.tmp, 'store');
      const b = await cli(
        ['--log-file', lab.logFile, '-i', lab.paths.inventory, 'backup', '--encrypt-to', pub, '--store', store],
        { env, timeoutMs: RESTORE_TIMEOUT_MS },
      );
      if (b.code !== 0)
        throw new Error(`backup failed (exit ${b.code}):\n${b.stdout.slice(-4000)}\n${b.stderr.slice(-4000)}`);
      const list = JSON.parse((await cli(['--json', 'backups', 'list', '--store', store], { env })).stdout) as {
        snapshots: Array<{ id: string; host: string }>;
      };
      const snap = list.snapshots.find((s) => s.host === 'a.ipa.test');
      if (!snap) throw new Error(`no snapshot of a.ipa.test in ${store}`);
      console.log(`  fleet backup ${(b.ms / 1000).toFixed(1)} s; snapshot ${snap.id}`);
      const args = ['--backup', snap.id, '--key', sec, '--passphrase', `file:${pass}`, '--store', store];
      for (const init of ['ldif', 'online'] as const) {
        const m = await restore(lab, env, n, init, args);
        results.push(m);
        console.log(`  restore --init ${init}: ${m.wallS.toFixed(1)} s`);
      }
    } finally {
      await lab.down();
    }
  }
} finally {
  await rm(keys, { recursive: true, force: true });
  await rm(stateHome, { recursive: true, force: true });
}

const s = (x: number): string => `${x.toFixed(1)} s`;
console.log('');
console.log(`restore of a.ipa.test, chain topology, CA on a,b, ${entries} entries`);
console.log(
  table([
    [
      'HOSTS',
      'INIT',
      'WALL',
      'MASTER IMPORT',
      'REINIT (critical path)',
      'REPLICATION WAITS',
      'SERVER (critical path)',
      'OVERHEAD',
      'OVERHEAD %',
      'OVERHEAD % IF WAITS COUNTED',
    ],
    ...results.map((m) => [
      String(m.hosts),
      m.init,
      s(m.wallS),
      s(m.masterS),
      s(m.reinitS),
      s(m.replicationS),
      s(m.criticalS),
      s(m.wallS - m.criticalS),
      `${((100 * (m.wallS - m.criticalS)) / m.wallS).toFixed(1)} %`,
      // The same, counting the replication waits as ours (the strict reading).
      `${((100 * (m.wallS - m.criticalS + m.replicationS)) / m.wallS).toFixed(1)} %`,
    ]),
  ]),
);
console.log('');
const get = (n: number, init: string): Measured | undefined => results.find((m) => m.hosts === n && m.init === init);
for (const n of sizes) {
  const l = get(n, 'ldif');
  const o = get(n, 'online');
  if (l && o) console.log(`${n} hosts: ratio online/ldif ${(o.wallS / l.wallS).toFixed(2)}× (target ≥ 6×)`);
}
if (sizes.length > 1) {
  const first = get(sizes[0]!, 'ldif');
  const last = get(sizes.at(-1)!, 'ldif');
  if (first && last)
    console.log(
      `ratio ${last.hosts}-host ldif / ${first.hosts}-host ldif: ${(last.wallS / first.wallS).toFixed(2)} (target ≈ 1)`,
    );
}
console.log(
  `orchestration overhead: max ${Math.max(...results.map((m) => (100 * (m.wallS - m.criticalS)) / m.wallS)).toFixed(1)} % of wall (target ≤ 10 %); replication waits (unfence until green, canary travel) count as server time`,
);
console.log(`lab up: ${labUps.map((u) => `${u.hosts} hosts ${s(u.s)}`).join(', ')}`);
for (const m of results) {
  console.log('');
  console.log(`phases, ${m.hosts} hosts, --init ${m.init}:`);
  console.log(m.phases);
}
console.log('');
console.log(`bench wall time: ${s((Date.now() - benchStarted) / 1000)}`);
