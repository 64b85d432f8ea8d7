// The result kinds every operation shares: the state of the whole operation and what happened on
// each host, learned from the run's own task records. The CLI maps them to exit codes
// (src/cli/exit-codes.ts); the scheduler and the demo read them as they are.
import type { FleetError } from '../errors.js';
import type { TaskRecord } from '../playbook/executor.js';
import type { RunOutcome } from '../playbook/run.js';

/** succeeded: every host; partial: some hosts, the others failed; failed: none (or it stopped); interrupted: Ctrl-C. */
export type OperationState = 'succeeded' | 'partial' | 'failed' | 'interrupted';

export interface HostOutcome {
  host: string;
  /** Every task of the host done (now or by an earlier attempt). */
  ok: boolean;
  /** Time of its tasks this attempt ran. */
  durationMs: number;
  /** The first failure of the host's tasks. */
  error?: FleetError;
}

const DONE = new Set<TaskRecord['status']>(['ok', 'changed', 'skipped', 'done-before']);

/** Per host, in plan order: whether all of its tasks got done, how long they took, what failed first. */
export function hostOutcomes(tasks: readonly TaskRecord[]): HostOutcome[] {
  const byHost = new Map<string, HostOutcome>();
  for (const task of tasks) {
    const host = byHost.get(task.host) ?? { host: task.host, ok: true, durationMs: 0 };
    host.durationMs += task.durationMs ?? 0;
    if (!DONE.has(task.status)) host.ok = false;
    if (task.error && !host.error) host.error = task.error;
    byHost.set(task.host, host);
  }
  return [...byHost.values()];
}

/** The operation's state from the run's and its hosts': some hosts done and others not is partial. */
export function operationState(run: Pick<RunOutcome, 'state'>, hosts: readonly HostOutcome[]): OperationState {
  if (run.state === 'interrupted') return 'interrupted';
  if (run.state === 'succeeded') return 'succeeded';
  return hosts.some((h) => h.ok) && hosts.some((h) => !h.ok) ? 'partial' : 'failed';
}
