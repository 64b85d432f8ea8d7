// What the restore benchmarks measure of one run, shared by bench:restore and bench:scale: a fleet backup
// to restore from, then one `ipa-fleet restore` as a measured child (wall, peak RSS), read back from its
// plan and journal: each phase's wall, each server task's own duration, and the critical path through
// the plan weighted by those durations (the physical floor the orchestration is compared with).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue } from '../../src/json.js';
import { phaseReport, type PhaseReport, type TimedTask } from '../../src/operations/phase-report.js';
import { type JournalEntry, runsDir } from '../../src/playbook/journal.js';
import type { Plan, PlannedTask } from '../../src/playbook/model.js';
import { stateDir } from '../../src/state-dir.js';
import { BIN, cli, type TestLab } from '../lab/fixture.js';
import { measured } from './measured-child.js';

type Init = 'ldif' | 'online';

export interface RestoreMeasure {
  init: Init;
  wallS: number;
  /** VmHWM of the restore process (the controller). */
  peakRssBytes: number;
  plan: Plan;
  phases: PhaseReport;
  /** Server durations of the master's imports (one after the other), on the critical path. */
  masterS: number;
  /** Server durations on the critical path of the reinitialize step. */
  reinitS: number;
  /** Waits on replication itself: unfence until green, the canary's travel (server work, not ours). */
  replicationS: number;
  /** Server durations on the whole critical path: the floor. */
  criticalS: number;
  /** The master's export task(s) for the replicas (ldif only). */
  exportS: number;
  /** Each replica's own initialization (copy + import, or the online total update), seconds. */
  replicaInitS: number[];
  /** Unfence: how long until the agreements were green, summed over the suffixes. */
  unfenceGreenS: number;
  /** The proof's content comparison (suffixes side by side: the longest) and its closing audit. */
  proofContentS: number;
  proofAuditS: number;
}

const num = (v: JsonValue | undefined): number => (typeof v === 'number' ? v : 0);
const obj = (v: JsonValue | undefined): Record<string, JsonValue> =>
  v && typeof v === 'object' && !Array.isArray(v) ? v : {};
const list = (v: JsonValue | undefined): JsonValue[] => (Array.isArray(v) ? v : []);

/**
 * What the server itself spent on a task, from the task.finished data (ms): the floor counts the
 * export, the imports (with the copy that feeds them) and one probe's replication (the canary); waiting
 * for agreements to turn green is the orchestration's, as is everything else.
 */
function serverMs(task: PlannedTask, data: Record<string, JsonValue>): number {
  if (task.action === 'restore-master')
    return list(data.suffixes).reduce<number>((s, x) => s + num(obj(x).importMs), 0);
  if (task.action === 'converge') {
    const max = (v: JsonValue | undefined): number => Math.max(0, ...Object.values(obj(v)).map(num));
    return list(data.suffixes).reduce<number>((s, x) => s + max(obj(x).canaryMs) + max(obj(x).canaryDeleteMs), 0);
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
function criticalPath(plan: Plan, weight: Map<string, number>): { totalMs: number; path: PlannedTask[] } {
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
  return { totalMs: end === undefined ? 0 : best.get(end)!.ms, path };
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

async function readRun(runDir: string): Promise<{ plan: Plan; journal: JournalEntry[] }> {
  const plan = JSON.parse(await readFile(join(runDir, 'plan.json'), 'utf8')) as Plan;
  const journal = (await readFile(join(runDir, 'journal.jsonl'), 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as JournalEntry);
  return { plan, journal };
}

/** The last "runDir" (or the run folder of the last "runId") in a command's --json output. */
function runDirOf(stdout: string, env: NodeJS.ProcessEnv): string | undefined {
  const last = (key: string): string | undefined =>
    [...stdout.matchAll(new RegExp(`"${key}":\\s*("(?:[^"\\\\]|\\\\.)*")`, 'g'))]
      .map((x) => JSON.parse(x[1]!) as string)
      .at(-1);
  const runId = last('runId');
  return last('runDir') ?? (runId ? join(runsDir(stateDir(env)), runId) : undefined);
}

export interface FleetBackup {
  wallS: number;
  /** The longest one host's tasks took inside the fleet run (what a fleet backup is compared with). */
  slowestHostS: number;
  /** The snapshot of a.ipa.test this backup made. */
  snapshot: string;
}

/** One encrypted `backup` of the whole lab into `store`, with its run's per-host task times. */
export async function fleetBackup(
  lab: TestLab,
  pub: string,
  store: string,
  timeoutMs = 3 * 3_600_000,
): Promise<FleetBackup> {
  const args = ['--json', '-i', lab.paths.inventory, 'backup', '--encrypt-to', pub, '--store', store];
  const b = await lab.fleet(args, { timeoutMs });
  if (b.code !== 0)
    throw new Error(`backup failed (exit ${b.code}):\n${b.stdout.slice(-4000)}\n${b.stderr.slice(-4000)}`);
  const runDir = runDirOf(b.stdout, lab.env);
  if (!runDir) throw new Error(`backup: no runId in the --json output:\n${b.stdout.slice(-2000)}`);
  const { plan, journal } = await readRun(runDir);
  const perHost = new Map<string, number>();
  const hostOf = new Map(plan.tasks.map((t) => [t.id, t.host]));
  for (const t of timedTasks(journal)) {
    const host = hostOf.get(t.id);
    if (host) perHost.set(host, (perHost.get(host) ?? 0) + (t.durationMs ?? 0) / 1000);
  }
  const listed = JSON.parse((await cli(['--json', 'backups', 'list', '--store', store], { env: lab.env })).stdout) as {
    snapshots: Array<{ id: string; host: string }>;
  };
  const snap = listed.snapshots.find((s) => s.host === 'a.ipa.test');
  if (!snap) throw new Error(`no snapshot of a.ipa.test in ${store}`);
  return { wallS: b.ms / 1000, slowestHostS: Math.max(0, ...perHost.values()), snapshot: snap.id };
}

/** `ipa-fleet restore --master a.ipa.test --init <init> --yes <args>` as a measured child, read back. */
export async function measureRestore(lab: TestLab, init: Init, args: string[]): Promise<RestoreMeasure> {
  const r = await measured(
    [
      BIN,
      ...['--log-file', lab.logFile, '--json', '-i', lab.paths.inventory],
      ...['restore', '--master', 'a.ipa.test', '--init', init, '--yes', ...args],
    ],
    lab.env,
  );
  if (r.code !== 0)
    throw new Error(
      `restore --init ${init} failed (exit ${r.code}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`,
    );
  // --json prints the outcome (runId, state, runDir, phases) as one indented object.
  const runDir = runDirOf(r.stdout, lab.env);
  if (!runDir) throw new Error(`restore --init ${init}: no runDir in the --json output:\n${r.stdout.slice(-2000)}`);
  const { plan, journal } = await readRun(runDir);
  const weight = new Map<string, number>();
  const byId = new Map(plan.tasks.map((t) => [t.id, t]));
  for (const e of journal) {
    const task = e.type === 'task.finished' ? byId.get(e.taskId) : undefined;
    if (task && e.type === 'task.finished') weight.set(task.id, serverMs(task, obj(e.data)));
  }
  const cp = criticalPath(plan, weight);
  const onPath = (action: string): number =>
    cp.path.filter((t) => t.action === action).reduce((s, t) => s + (weight.get(t.id) ?? 0), 0) / 1000;
  const ofReinit = (op: string): number[] =>
    plan.tasks
      .filter((t) => t.action === 'reinitialize' && t.params.op === op && weight.has(t.id))
      .map((t) => weight.get(t.id)! / 1000);
  const finished = (action: string): Record<string, JsonValue>[] =>
    journal.flatMap((e) => (e.type === 'task.finished' && byId.get(e.taskId)?.action === action ? [obj(e.data)] : []));
  const suffixSum = (action: string, field: string): number =>
    finished(action).reduce((s, d) => s + list(d.suffixes).reduce<number>((t, x) => t + num(obj(x)[field]), 0), 0);
  const converge = finished('converge').at(-1) ?? {};
  return {
    init,
    wallS: r.wallS,
    peakRssBytes: r.peakBytes,
    plan,
    phases: phaseReport(plan, timedTasks(journal)),
    masterS: onPath('restore-master'),
    reinitS: onPath('reinitialize'),
    replicationS: onPath('converge'),
    criticalS: cp.totalMs / 1000,
    exportS: ofReinit('export').reduce((a, b) => a + b, 0),
    replicaInitS: init === 'ldif' ? ofReinit('import') : ofReinit('online'),
    unfenceGreenS: suffixSum('unfence', 'greenMs') / 1000,
    proofContentS: Math.max(0, ...list(converge.suffixes).map((x) => num(obj(x).contentMs))) / 1000,
    proofAuditS: num(converge.auditMs) / 1000,
  };
}
