// The per-host report of a restore or rejoin run: seconds per phase (step), from the run's own
// task records. Pure: plan and task records in, report and table rows out.
import type { Plan } from '../playbook/model.js';
import { formatSeconds } from '../format.js';

export interface PhaseReport {
  phases: string[];
  /** host → phase → seconds (the sum of that host's tasks in the phase). */
  hosts: Record<string, Record<string, number>>;
  /** phase → wall seconds, first start to last finish. */
  wall: Record<string, number>;
  /** Messages of the tasks that ended last in each phase run on the master (unfence, converge). */
  messages: Array<{ phase: string; host: string; message: string }>;
}

/** What the report reads of a task that ran (a run's TaskRecord): when it started, how long, what it said. */
export interface TimedTask {
  id: string;
  /** ISO time; absent for a task this attempt did not run. */
  startedAt?: string | undefined;
  durationMs?: number | undefined;
  message?: string | undefined;
}

/** Actions whose closing message is worth a line under the table. */
const TOLD = new Set(['unfence', 'converge', 'restore-master', 'restore-preflight']);

export function phaseReport(plan: Plan, tasks: readonly TimedTask[]): PhaseReport {
  const phases = [...new Set(plan.tasks.map((t) => t.stepName))];
  const span = new Map<string, { from: number; to: number }>();
  const hosts: PhaseReport['hosts'] = {};
  const messages: PhaseReport['messages'] = [];
  const byId = new Map(plan.tasks.map((t) => [t.id, t]));
  for (const record of tasks) {
    const task = byId.get(record.id);
    if (!task || record.startedAt === undefined || record.durationMs === undefined) continue;
    const from = Date.parse(record.startedAt);
    const to = from + record.durationMs;
    // The host a task is about: the consumer of an online total update runs on its supplier.
    const subject = typeof task.params.consumer === 'string' ? task.params.consumer : task.host;
    hosts[subject] ??= {};
    const row = hosts[subject];
    row[task.stepName] = (row[task.stepName] ?? 0) + (to - from) / 1000;
    const s = span.get(task.stepName);
    span.set(task.stepName, { from: Math.min(s?.from ?? from, from), to: Math.max(s?.to ?? to, to) });
    if (record.message && TOLD.has(task.action))
      messages.push({ phase: task.stepName, host: task.host, message: record.message });
  }
  const wall: Record<string, number> = {};
  for (const [phase, s] of span) wall[phase] = (s.to - s.from) / 1000;
  return { phases, hosts, wall, messages };
}

/** Rows for a table: HOST, one column per phase, TOTAL; the last row is the wall time per phase. */
export function phaseRows(report: PhaseReport, order: string[]): string[][] {
  const fmt = (n: number | undefined): string => (n === undefined ? '-' : formatSeconds(n * 1000));
  const names = [...new Set([...order.filter((h) => h in report.hosts), ...Object.keys(report.hosts)])];
  const rows = [['HOST', ...report.phases, 'TOTAL']];
  for (const h of names) {
    const r = report.hosts[h]!;
    rows.push([h, ...report.phases.map((p) => fmt(r[p])), fmt(Object.values(r).reduce((a, b) => a + b, 0))]);
  }
  const wallTotal = Object.values(report.wall).reduce((a, b) => a + b, 0);
  rows.push(['(wall)', ...report.phases.map((p) => fmt(report.wall[p])), fmt(wallTotal)]);
  return rows;
}
