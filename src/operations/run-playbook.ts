// Any playbook, by file or built-in name, with `--set` parameters: the generic `plan` and `run`
// commands. The specific operations (backup, restore, rejoin) build their parameters themselves.
import { defaultRegistry } from '../actions/index.js';
import type { RunContext } from '../context.js';
import type { FleetError } from '../errors.js';
import type { Inventory } from '../inventory/model.js';
import type { JsonObject } from '../json.js';
import type { TaskRecord } from '../playbook/executor.js';
import type { Plan } from '../playbook/model.js';
import type { ActionRegistry } from '../playbook/registry.js';
import { planPlaybook as planRun, resumeRun, runPlaybook as startRun, type RunOutcome } from '../playbook/run.js';
import type { EventStream } from '../report/events.js';
import { hostOutcomes, operationState, type HostOutcome, type OperationState } from './outcome.js';

export interface PlaybookOptions {
  /** A playbook file, or the name of a built-in playbook (playbooks/<name>.yaml). */
  playbook: string;
  /** `name=value` strings, parsed against the playbook's parameters. */
  sets?: string[];
  /** Typed values by parameter name. */
  params?: JsonObject;
  /** --limit pattern: only these hosts. */
  limit?: string;
  events?: EventStream;
  registry?: ActionRegistry;
}

export interface RunPlaybookOptions extends PlaybookOptions {
  /** The controller's state folder (journal, deployment lock). */
  stateDir: string;
  /** Tasks at once, over all hosts (default 10). */
  forks?: number;
  /** Asked when the plan changes the deployment; false refuses the run. */
  confirm: (plan: Plan) => Promise<boolean>;
}

export interface ResumePlaybookOptions extends Omit<RunPlaybookOptions, 'playbook' | 'sets' | 'params' | 'limit'> {
  /** Without it, the inventory file the plan recorded. */
  inventory?: Inventory;
}

export interface PlaybookRunResult {
  runId: string;
  runDir: string;
  state: OperationState;
  plan: Plan;
  /** Every task of the plan, in plan order, with what it did. */
  tasks: TaskRecord[];
  /** Every planned host, in plan order. */
  hosts: HostOutcome[];
  failures: FleetError[];
}

/** The plan the playbook makes for these hosts (read-only: facts are gathered when steps need them). */
export async function planPlaybook(inventory: Inventory, ctx: RunContext, opts: PlaybookOptions): Promise<Plan> {
  const { plan } = await planRun({ ...engineOptions(opts), inventory, ctx });
  return plan;
}

/** Runs the playbook under the deployment lock, journalled in stateDir. */
export async function runPlaybook(
  inventory: Inventory,
  ctx: RunContext,
  opts: RunPlaybookOptions,
): Promise<PlaybookRunResult> {
  const outcome = await startRun({
    ...engineOptions(opts),
    inventory,
    ctx,
    stateDir: opts.stateDir,
    forks: opts.forks ?? 10,
    confirm: opts.confirm,
  });
  return resultOf(outcome);
}

/** Continues a recorded run: the same plan and parameters, tasks its journal records as done are skipped. */
export async function resumePlaybook(
  runId: string,
  ctx: RunContext,
  opts: ResumePlaybookOptions,
): Promise<PlaybookRunResult> {
  const outcome = await resumeRun(runId, {
    ctx,
    ...(opts.inventory ? { inventory: opts.inventory } : {}),
    ...(opts.events ? { events: opts.events } : {}),
    registry: opts.registry ?? defaultRegistry(),
    stateDir: opts.stateDir,
    forks: opts.forks ?? 10,
    confirm: opts.confirm,
  });
  return resultOf(outcome);
}

function engineOptions(opts: PlaybookOptions) {
  return {
    playbook: opts.playbook,
    ...(opts.sets ? { sets: opts.sets } : {}),
    ...(opts.params ? { params: opts.params } : {}),
    limit: opts.limit,
    ...(opts.events ? { events: opts.events } : {}),
    registry: opts.registry ?? defaultRegistry(),
  };
}

function resultOf(run: RunOutcome): PlaybookRunResult {
  const hosts = hostOutcomes(run.tasks);
  return {
    runId: run.runId,
    runDir: run.runDir,
    state: operationState(run, hosts),
    plan: run.plan,
    tasks: run.tasks,
    hosts,
    failures: run.failures,
  };
}
