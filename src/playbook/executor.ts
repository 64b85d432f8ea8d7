// Runs a plan: a task starts when its dependencies are done, within --forks overall, the step's
// `concurrency` and the transport's per-host channel cap. On a failure no new task starts; running
// ones finish. On Ctrl-C / SIGTERM the run's signal cancels remote commands and the journal says
// which tasks were running.
import PQueue from 'p-queue';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { ActionRegistry } from './registry.js';
import type { TaskContext, TaskOutcome } from './action.js';
import { stamp, type EventStream, type HostRecap, type RunState, type TaskStatus } from '../report/events.js';
import type { HostFacts } from '../topology/facts.js';
import { CommandFailedError } from '../transport/result.js';
import type { Transport } from '../transport/transport.js';
import type { RunJournal } from './journal.js';
import type { Plan, PlannedTask } from './model.js';
import type { JsonValue } from '../json.js';

export interface ExecuteOptions {
  plan: Plan;
  registry: ActionRegistry;
  inventory: Inventory;
  transport: Transport;
  run: RunContext;
  events: EventStream;
  journal: RunJournal;
  facts: ReadonlyMap<string, HostFacts>;
  forks: number;
  /** Task ids a previous attempt finished (from the journal, on --resume). */
  alreadyDone: ReadonlySet<string>;
  /** The controller's state folder (deployment state such as quarantine records lives there). */
  stateDir?: string;
}

export type FinalStatus = TaskStatus | 'not-run' | 'interrupted' | 'done-before';

/** What one task of the plan did: what callers learn from the run itself, not from its journal. */
export interface TaskRecord {
  id: string;
  host: string;
  action: string;
  step: number;
  status: FinalStatus;
  /** The rest for tasks that ran (on --resume, done-before ones from the earlier attempt). When it started. */
  startedAt?: string;
  durationMs?: number;
  /** The action's message (secrets masked). */
  message?: string;
  /** The action's data, as journalled (secrets masked): a backup's snapshot id and size, say. */
  data?: JsonValue;
  error?: FleetError;
}

export interface ExecuteResult {
  state: Exclude<RunState, 'running'>;
  statuses: Map<string, FinalStatus>;
  recap: Record<string, HostRecap>;
  failures: Array<{ taskId: string; host: string; error: FleetError }>;
  /** Every task of the plan, in plan order. */
  tasks: TaskRecord[];
}

type TaskResult = Pick<TaskRecord, 'startedAt' | 'durationMs' | 'message' | 'data' | 'error'> & {
  status: TaskStatus | 'interrupted';
};

export async function execute(opts: ExecuteOptions): Promise<ExecuteResult> {
  const { plan, run, journal } = opts;
  const status = initialStatus(opts);
  const failures: ExecuteResult['failures'] = [];
  const ran = new Map<string, TaskResult>();
  const recap: Record<string, HostRecap> = {};
  for (const t of plan.tasks) recap[t.host] ??= { ok: 0, changed: 0, failed: 0, skipped: 0 };
  const queue = new PQueue({ concurrency: Math.max(1, opts.forks) });
  const runningInStep = new Map<number, number>();
  let running = 0;
  let stopping = false;
  const onAbort = (): void => {
    stopping = true;
  };

  const depsDone = (t: PlannedTask): boolean =>
    t.dependsOn.every((d) => {
      const s = status.get(d);
      return s === 'ok' || s === 'changed' || s === 'skipped' || s === 'done-before';
    });

  await new Promise<void>((resolveAll) => {
    const schedule = (): void => {
      if (!stopping && !run.signal.aborted) {
        for (const task of plan.tasks) {
          if (status.get(task.id) !== 'pending' || !depsDone(task)) continue;
          const inStep = runningInStep.get(task.step) ?? 0;
          if (task.concurrency !== undefined && inStep >= task.concurrency) continue;
          status.set(task.id, 'running');
          runningInStep.set(task.step, inStep + 1);
          running++;
          void queue
            .add(async () => {
              // Queued before a failure or Ctrl-C: it must not start any more.
              if (stopping || run.signal.aborted) return { status: 'not-run' as const };
              const startedAt = new Date().toISOString();
              const final: TaskResult = { ...(await runTask(task, opts)), startedAt };
              // Set here, not in .then: p-queue starts the next queued job before .then runs.
              if (final.status === 'interrupted' || (final.status === 'failed' && !task.keepGoing)) stopping = true;
              return final;
            })
            .then((final) => {
              if (final.status === 'not-run') {
                status.set(task.id, 'pending');
                runningInStep.set(task.step, (runningInStep.get(task.step) ?? 1) - 1);
                running--;
                schedule();
                return;
              }
              status.set(task.id, final.status);
              ran.set(task.id, final);
              runningInStep.set(task.step, (runningInStep.get(task.step) ?? 1) - 1);
              running--;
              if (final.status === 'failed' || final.status === 'interrupted') {
                if (final.status === 'interrupted' || !task.keepGoing) stopping = true;
                if (final.error) failures.push({ taskId: task.id, host: task.host, error: final.error });
              }
              if (final.status !== 'interrupted') recap[task.host]![final.status]++;
              schedule();
            });
        }
      }
      if (running === 0) resolveAll();
    };
    // Ctrl-C: stop scheduling; running tasks see the same signal and end.
    run.signal.addEventListener('abort', onAbort, { once: true });
    schedule();
  });
  // The signal outlives the run (the scheduler's runs share the process's): one listener per run
  // left on it kept every finished run's plan and queue alive.
  run.signal.removeEventListener('abort', onAbort);

  const statuses = new Map<string, FinalStatus>();
  for (const [id, s] of status) statuses.set(id, s === 'pending' || s === 'running' ? 'not-run' : s);
  const state = finalState(statuses, failures, run.signal.aborted);
  journal.append({ at: new Date().toISOString(), type: 'run.finished', state });
  return { state, statuses, recap, failures, tasks: taskRecords(plan, statuses, ran) };
}

function taskRecords(plan: Plan, statuses: Map<string, FinalStatus>, ran: Map<string, TaskResult>): TaskRecord[] {
  return plan.tasks.map((t) => ({
    ...ran.get(t.id),
    id: t.id,
    host: t.host,
    action: t.action,
    step: t.step,
    status: statuses.get(t.id)!,
  }));
}

type LiveStatus = FinalStatus | 'pending' | 'running';

/** Tasks a previous attempt finished are done before; every other one is pending. */
function initialStatus(opts: ExecuteOptions): Map<string, LiveStatus> {
  const status = new Map<string, LiveStatus>();
  for (const t of opts.plan.tasks) {
    if (opts.alreadyDone.has(t.id)) {
      status.set(t.id, 'done-before');
      opts.events.emit(stamp({ type: 'task.skipped-done', taskId: t.id, host: t.host }));
    } else {
      status.set(t.id, 'pending');
    }
  }
  return status;
}

function finalState(
  statuses: Map<string, FinalStatus>,
  failures: ExecuteResult['failures'],
  aborted: boolean,
): ExecuteResult['state'] {
  const values = [...statuses.values()];
  if (values.includes('interrupted') || (aborted && values.includes('not-run'))) return 'interrupted';
  return failures.length > 0 || values.includes('not-run') ? 'failed' : 'succeeded';
}

async function runTask(task: PlannedTask, opts: ExecuteOptions): Promise<TaskResult> {
  const { events, journal, registry, inventory } = opts;
  const started = Date.now();
  const def = registry.action(task.action);
  const host = inventory.hosts.find((h) => h.name === task.host);
  events.emit(
    stamp({ type: 'task.started', taskId: task.id, host: task.host, action: task.action, title: task.title }),
  );
  journal.append({ at: new Date().toISOString(), type: 'task.started', taskId: task.id, host: task.host });
  try {
    if (!def)
      throw new FleetError(
        'usage',
        `the plan names action '${task.action}', which this version of ipa-fleet does not have`,
      );
    if (!host)
      throw new FleetError('usage', `the plan names host ${task.host}, which is not in the inventory any more`);
    const outcome = await def.run(taskContext(task, host, opts), task.params);
    return recordOutcome(task, outcome, started, opts);
  } catch (err) {
    return recordFailure(task, err, started, opts);
  }
}

function taskContext(task: PlannedTask, host: Host, opts: ExecuteOptions): TaskContext {
  const { run, events } = opts;
  return {
    run,
    transport: opts.transport,
    inventory: opts.inventory,
    host,
    facts: opts.facts,
    signal: run.signal,
    stateDir: opts.stateDir,
    runId: opts.journal.runId,
    progress: (p) => events.emit(stamp({ type: 'task.progress', taskId: task.id, host: task.host, ...p })),
  };
}

function recordOutcome(task: PlannedTask, outcome: TaskOutcome, started: number, opts: ExecuteOptions): TaskResult {
  const { run, events, journal } = opts;
  // Masked once: the journal, the event and the run's task record say the same.
  const said = {
    ...(outcome.message ? { message: run.redactor.mask(outcome.message) } : {}),
    ...(outcome.data !== undefined ? { data: run.redactor.maskValue(outcome.data) as JsonValue } : {}),
  };
  const durationMs = Date.now() - started;
  journal.append({
    at: new Date().toISOString(),
    type: 'task.finished',
    taskId: task.id,
    host: task.host,
    status: outcome.status,
    ...(said.message !== undefined ? { message: said.message } : {}),
    ...(outcome.results ? { results: run.redactor.maskValue(outcome.results) as JsonValue } : {}),
    ...(outcome.changes ? { changes: outcome.changes } : {}),
    ...(said.data !== undefined ? { data: said.data } : {}),
  });
  events.emit(
    stamp({
      type: 'task.finished',
      taskId: task.id,
      host: task.host,
      action: task.action,
      status: outcome.status,
      durationMs,
      ...(said.message !== undefined ? { message: said.message } : {}),
    }),
  );
  return { status: outcome.status, durationMs, ...said };
}

/** Every failure names its host, so summaries and exit codes can count hosts. */
function hostError(task: PlannedTask, err: unknown): FleetError {
  if (err instanceof FleetError && err.host !== undefined) return err;
  if (err instanceof FleetError) {
    const message = err.message.startsWith(`${task.host}:`) ? err.message : `${task.host}: ${err.message}`;
    return new FleetError(err.kind, message, { host: task.host, cause: err });
  }
  return new FleetError('failure', `${task.host}: ${task.action}: ${(err as Error).message}`, {
    host: task.host,
    cause: err,
  });
}

function recordFailure(task: PlannedTask, err: unknown, started: number, opts: ExecuteOptions): TaskResult {
  const { run, events, journal } = opts;
  const error = hostError(task, err);
  const interrupted = run.signal.aborted;
  const message = run.redactor.mask(error.message);
  if (interrupted) {
    journal.append({ at: new Date().toISOString(), type: 'task.interrupted', taskId: task.id, host: task.host });
  } else {
    journal.append({
      at: new Date().toISOString(),
      type: 'task.finished',
      taskId: task.id,
      host: task.host,
      status: 'failed',
      error: message,
      ...(err instanceof CommandFailedError ? { results: run.redactor.maskValue([err.result]) as JsonValue } : {}),
    });
  }
  events.emit(
    stamp({
      type: 'task.finished',
      taskId: task.id,
      host: task.host,
      action: task.action,
      status: 'failed',
      durationMs: Date.now() - started,
      error: interrupted ? 'interrupted' : message,
    }),
  );
  if (!interrupted) return { status: 'failed', durationMs: Date.now() - started, error };
  return {
    status: 'interrupted',
    durationMs: Date.now() - started,
    error: new FleetError('failure', `${task.host}: ${task.id} interrupted`, { host: task.host }),
  };
}
