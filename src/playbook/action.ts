// What an action is: declared parameters, a pure planner, and a runner for one task.
import type { RunContext } from '../context.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { HostFacts } from '../topology/facts.js';
import type { CommandResult } from '../transport/result.js';
import type { Transport } from '../transport/transport.js';
import type { ParamType } from './model.js';
import type { JsonObject, JsonValue } from '../json.js';

export interface ActionParam {
  type: ParamType | 'object';
  required?: boolean;
  default?: JsonValue;
  description: string;
}

/** A task before the engine gives it an id and step-level dependencies. */
export interface TaskDraft {
  /** Unique within the step; other drafts of the step name it in `after`. */
  key: string;
  host: string;
  title: string;
  params: JsonObject;
  after?: string[];
  /** At most this many tasks of the step at once (overrides the step's `concurrency`). */
  concurrency?: number;
}

export interface PlanInput {
  inventory: Inventory;
  /** The step's hosts, after its selector and --limit. */
  hosts: Host[];
  /** The step's `with:` for one host (templates resolved, defaults applied, types checked). */
  withFor(host: Host): JsonObject;
  /** Facts of every reachable inventory host, when the action asked for them. */
  facts: ReadonlyMap<string, HostFacts>;
  /** Hosts whose facts could not be gathered and that the playbook's `offline_hosts:` tolerates. */
  offline: ReadonlyMap<string, string>;
}

export interface TaskOutcome {
  status: 'ok' | 'changed' | 'skipped';
  message?: string;
  /** Remote commands the task ran (result objects, secrets masked). */
  results?: CommandResult[];
  /** What the task changed, so it can be undone or re-applied (journalled). */
  changes?: JsonValue[];
  data?: JsonValue;
}

export interface TaskContext {
  run: RunContext;
  transport: Transport;
  inventory: Inventory;
  host: Host;
  /** Facts gathered for this run (on --resume: gathered again). */
  facts: ReadonlyMap<string, HostFacts>;
  signal: AbortSignal;
  /** The controller's state folder; undefined when the engine runs without one (unit tests). */
  stateDir: string | undefined;
  runId: string;
  progress(update: { done?: number; total?: number; unit?: 'bytes' | 'entries' | 'items'; message?: string }): void;
}

export interface ActionDefinition {
  name: string;
  description: string;
  params: Record<string, ActionParam>;
  /** Changes something that cannot simply be re-run safely: the plan asks for confirmation. */
  destructive: boolean;
  /** The planner reads facts: gather them before planning (read-only). */
  needsFacts: boolean;
  /** Pure: no remote command, no clock, no randomness. Default: one task per host. */
  plan?(input: PlanInput): TaskDraft[];
  run(ctx: TaskContext, params: JsonObject): Promise<TaskOutcome>;
}

/** Host selectors actions provide for `hosts: {name: argument}` (pure, like planners). */
export interface SelectorDefinition {
  name: string;
  description: string;
  select(inventory: Inventory, argument: string, facts: ReadonlyMap<string, HostFacts>): Host[];
  needsFacts: boolean;
}
