// The engine's entry points: plan a playbook, run it, resume a run. Operations (src/operations/)
// call these with a loaded inventory, typed parameters and the action registry they choose.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunContext } from '../context.js';
import { FleetError, UsageError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { selectHosts } from '../inventory/limit.js';
import type { Inventory } from '../inventory/model.js';
import type { ActionRegistry } from './registry.js';
import { stamp, EventStream, type HostRecap, type RunState } from '../report/events.js';
import { gatherAllFacts, type HostFacts } from '../topology/facts.js';
import { Transport } from '../transport/transport.js';
import { execute, type ExecuteResult, type FinalStatus, type TaskRecord } from './executor.js';
import { doneTasks, earlierAttempts, newRunId, RunJournal, type JournalEntry, type RunSummary } from './journal.js';
import { loadPlaybook } from './load.js';
import { acquireLock } from './lock.js';
import type { Plan } from './model.js';
import type { JsonObject } from '../json.js';
import { offlineHostsOf, resolveParams } from './params.js';
import { buildPlan, playbookNeedsFacts } from './planner.js';

/** Folder of the playbooks that ship with ipa-fleet (dist/src/playbook → repository root). */
const BUILTIN_PLAYBOOKS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'playbooks');

export interface PlanOptions {
  /** A playbook file, or the name of a built-in playbook (playbooks/<name>.yaml). */
  playbook: string;
  /**
   * Loaded once by the caller. Load it from an absolute path: the plan records `inventory.file`,
   * and `run --resume` without -i reads it from there, from any directory.
   */
  inventory: Inventory;
  /** Typed values by parameter name (operations build these). */
  params?: JsonObject;
  /** `--set name=value` strings (the generic plan and run commands). */
  sets?: string[];
  limit: string | undefined;
  ctx: RunContext;
  events?: EventStream;
  /** The actions and selectors playbooks may name: the engine has no default. */
  registry: ActionRegistry;
}

export interface RunOptions extends PlanOptions {
  stateDir: string;
  forks: number;
  /** Asked when the plan is destructive; false refuses the run. */
  confirm: (plan: Plan) => Promise<boolean>;
}

export interface RunOutcome {
  runId: string;
  runDir: string;
  state: Exclude<RunState, 'running'>;
  recap: Record<string, HostRecap>;
  statuses: Map<string, FinalStatus>;
  failures: FleetError[];
  plan: Plan;
  /** Every task of the plan, in plan order, with what it did. */
  tasks: TaskRecord[];
}

/**
 * Facts could not be gathered from hosts the playbook cannot plan without; nothing was changed.
 * Keeps every failure: which one the command exits with is the CLI's rule (src/cli/exit-codes.ts).
 */
export class FactsUnavailableError extends FleetError {
  readonly failures: FleetError[];
  /** How many hosts facts were gathered from. */
  readonly hostCount: number;

  constructor(failures: FleetError[], hostCount: number) {
    const kinds = new Set(failures.map((f) => f.kind));
    super(kinds.size === 1 ? failures[0]!.kind : 'failure', failures.map((f) => f.message).join('; '), {
      ...(failures.length === 1 && failures[0]!.host !== undefined ? { host: failures[0]!.host } : {}),
    });
    this.name = 'FactsUnavailableError';
    this.failures = failures;
    this.hostCount = hostCount;
  }
}

export function resolvePlaybookPath(playbook: string): string {
  if (existsSync(playbook)) return resolve(playbook);
  const builtin = join(BUILTIN_PLAYBOOKS, `${playbook}.yaml`);
  if (/^[A-Za-z0-9_-]+$/.test(playbook) && existsSync(builtin)) return builtin;
  throw new UsageError(`playbook '${playbook}': no such file, and not a built-in playbook (see ${BUILTIN_PLAYBOOKS})`);
}

/** Builds the plan; the only remote work is read-only fact gathering, when actions need facts. */
export async function planPlaybook(opts: PlanOptions): Promise<{ plan: Plan; facts: Map<string, HostFacts> }> {
  const { registry, inventory } = opts;
  const playbook = await loadPlaybook(resolvePlaybookPath(opts.playbook), registry);
  const params = resolveParams(playbook, opts.sets ?? [], inventory, opts.params);
  let gathered: GatheredFacts = { facts: new Map(), offline: new Map() };
  if (playbookNeedsFacts(playbook, registry)) {
    const transport = new Transport(inventory, opts.ctx);
    try {
      gathered = await gatherFactsOrFail(
        transport,
        inventory,
        opts.limit,
        opts.events,
        offlineHostsOf(playbook, params),
      );
    } finally {
      await transport.close();
    }
  }
  const plan = buildPlan({
    playbook,
    inventory,
    registry,
    params,
    limit: opts.limit,
    facts: gathered.facts,
    offline: gathered.offline,
    createdAt: new Date().toISOString(),
  });
  return { plan, facts: gathered.facts };
}

export async function runPlaybook(opts: RunOptions): Promise<RunOutcome> {
  // The deployment lock comes first: a host that is down because another run (a FULL backup) stopped
  // it must read as "locked by that run" (11), not as unreachable (4) while facts are gathered.
  const playbook = await loadPlaybook(resolvePlaybookPath(opts.playbook), opts.registry);
  const runId = newRunId(playbook.name);
  const release = await acquireLock(opts.stateDir, opts.inventory.deployment, { runId, playbook: playbook.name }, (m) =>
    opts.ctx.warn(m),
  );
  try {
    const { plan, facts } = await planPlaybook(opts);
    if (plan.tasks.length === 0) throw new UsageError(`playbook '${plan.playbook.name}' plans no task for these hosts`);
    if (plan.destructive && !(await opts.confirm(plan))) {
      throw new UsageError(`not confirmed: playbook '${plan.playbook.name}' changes the deployment; nothing was done`);
    }
    return await executeRun(plan, opts.inventory, facts, opts, undefined, runId);
  } finally {
    await release();
  }
}

export type ResumeOptions = Omit<RunOptions, 'playbook' | 'sets' | 'params' | 'limit' | 'inventory'> & {
  /** Loaded by the caller; without it, the inventory file the plan recorded. */
  inventory?: Inventory;
};

/** Continues a run from its journal: the same plan, tasks already done are skipped. */
export async function resumeRun(runId: string, opts: ResumeOptions): Promise<RunOutcome> {
  const opened = await RunJournal.open(opts.stateDir, runId);
  const inventory = opts.inventory ?? (await loadInventory(opened.plan.inventory.file));
  if (inventory.deployment !== opened.plan.inventory.deployment) {
    throw new UsageError(
      `run ${runId} was for deployment '${opened.plan.inventory.deployment}', ` +
        `the inventory is for '${inventory.deployment}'`,
    );
  }
  const release = await acquireLock(
    opts.stateDir,
    inventory.deployment,
    { runId, playbook: opened.plan.playbook.name },
    (m) => opts.ctx.warn(m),
  );
  try {
    const facts = new Map<string, HostFacts>();
    if (opened.plan.needsFacts) {
      const transport = new Transport(inventory, opts.ctx);
      try {
        // The plan is made: facts only serve the tasks, and a host that is down (a directory server
        // that died mid-import, say) is exactly what the resumed tasks may repair. Its tasks fail
        // on their own if it stays down.
        const hosts = selectHosts(inventory, opened.plan.limit);
        const gathered = await gatherAllFacts(transport, hosts);
        for (const [name, value] of gathered) {
          if (value instanceof FleetError) opts.ctx.log.warn(`resume: no facts from ${name}: ${value.message}`);
          else facts.set(name, value);
        }
      } finally {
        await transport.close();
      }
    }
    return await executeRun(
      opened.plan,
      inventory,
      facts,
      opts,
      { journal: opened.journal, done: doneTasks(opened.entries), entries: opened.entries },
      runId,
    );
  } finally {
    await release();
  }
}

async function executeRun(
  plan: Plan,
  inventory: Inventory,
  facts: Map<string, HostFacts>,
  opts: Pick<RunOptions, 'ctx' | 'events' | 'registry' | 'stateDir' | 'forks'>,
  resume: { journal: RunJournal; done: Set<string>; entries: JournalEntry[] } | undefined,
  /** The run's id; the caller holds the deployment lock in its name. */
  runId: string,
): Promise<RunOutcome> {
  const events = opts.events ?? new EventStream();
  const { registry } = opts;
  const transport = new Transport(inventory, opts.ctx);
  const started = Date.now();
  try {
    const journal = resume?.journal ?? (await RunJournal.create(opts.stateDir, runId, plan));
    if (facts.size > 0)
      await writeFile(join(journal.dir, 'facts.json'), JSON.stringify(Object.fromEntries(facts), null, 2), {
        mode: 0o600,
      });
    const summary: RunSummary = {
      runId,
      playbook: plan.playbook.name,
      deployment: inventory.deployment,
      startedAt: new Date(started).toISOString(),
      finishedAt: undefined,
      state: 'running',
      pid: process.pid,
      recap: {},
      tasks: { total: plan.tasks.length, done: resume?.done.size ?? 0, failed: 0, notRun: 0 },
    };
    await journal.writeSummary(summary);
    journal.append({ at: new Date().toISOString(), type: resume ? 'run.resumed' : 'run.started', pid: process.pid });
    events.emit(
      stamp({
        type: 'run.started',
        runId,
        playbook: plan.playbook.name,
        tasks: plan.tasks.length,
        hosts: [...new Set(plan.tasks.map((t) => t.host))],
        resumed: resume !== undefined,
      }),
    );

    const result = await execute({
      plan,
      registry,
      inventory,
      transport,
      run: opts.ctx,
      events,
      journal,
      facts,
      forks: opts.forks,
      alreadyDone: resume?.done ?? new Set(),
      stateDir: opts.stateDir,
    });
    await journal.writeSummary(finishedSummary(summary, plan, result));
    events.emit(
      stamp({
        type: 'run.finished',
        runId,
        state: result.state,
        durationMs: Date.now() - started,
        recap: result.recap,
      }),
    );
    return {
      runId,
      runDir: journal.dir,
      state: result.state,
      recap: result.recap,
      statuses: result.statuses,
      failures: result.failures.map((f) => f.error),
      plan,
      tasks: resume ? withEarlierAttempts(result.tasks, resume.entries) : result.tasks,
    };
  } finally {
    await transport.close();
  }
}

/** A resumed run's records of tasks done before carry the earlier attempt's times (the restore's phase table). */
function withEarlierAttempts(tasks: TaskRecord[], entries: JournalEntry[]): TaskRecord[] {
  const earlier = earlierAttempts(entries);
  return tasks.map((t) => (t.status === 'done-before' ? { ...earlier.get(t.id), ...t } : t));
}

function finishedSummary(summary: RunSummary, plan: Plan, result: ExecuteResult): RunSummary {
  const values = [...result.statuses.values()];
  return {
    ...summary,
    finishedAt: new Date().toISOString(),
    state: result.state,
    recap: result.recap,
    tasks: {
      total: plan.tasks.length,
      done: values.filter((s) => s === 'ok' || s === 'changed' || s === 'skipped' || s === 'done-before').length,
      failed: values.filter((s) => s === 'failed' || s === 'interrupted').length,
      notRun: values.filter((s) => s === 'not-run').length,
    },
  };
}

interface GatheredFacts {
  facts: Map<string, HostFacts>;
  /** Tolerated hosts whose facts could not be gathered, with the reason. */
  offline: Map<string, string>;
}

async function gatherFactsOrFail(
  transport: Transport,
  inventory: Inventory,
  limit: string | undefined,
  events: EventStream | undefined,
  tolerated: ReadonlySet<string>,
): Promise<GatheredFacts> {
  const hosts = selectHosts(inventory, limit);
  events?.emit(stamp({ type: 'facts.started', hosts: hosts.map((h) => h.name) }));
  const gathered = await gatherAllFacts(transport, hosts, (host, r) => {
    events?.emit(
      stamp({ type: 'facts.finished', host: host.name, ok: r.ok, ...(r.ok ? {} : { error: r.error.message }) }),
    );
  });
  const facts = new Map<string, HostFacts>();
  const offline = new Map<string, string>();
  const errors: FleetError[] = [];
  for (const [name, value] of gathered) {
    if (value instanceof FleetError && tolerated.has(name)) offline.set(name, value.message);
    else if (value instanceof FleetError) errors.push(value);
    else facts.set(name, value);
  }
  if (errors.length > 0) throw new FactsUnavailableError(errors, hosts.length);
  return { facts, offline };
}
