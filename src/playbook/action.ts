// What an action is: declared parameters, a pure planner, and a runner for one task.
import type { RunContext } from '../context.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { HostFacts } from '../topology/facts.js';
import type { CommandResult } from '../transport/result.js';
import type { Transport } from '../transport/transport.js';
import { FleetError } from '../errors.js';
import type { JsonObject, JsonValue } from '../json.js';
import type { ParamType } from './model.js';
import { coerce } from './params.js';

export interface ActionParam {
  type: ParamType | 'object';
  required?: boolean;
  default?: JsonValue;
  description: string;
}

/**
 * A task parameter the action's own planner computes (its layout of suffixes, say): not settable in
 * `with:`, passed to the runner as planned. `shape` only carries the type.
 */
export interface PlannedParam<T extends JsonValue> {
  type: 'planned';
  required: true;
  description: string;
  readonly shape?: T;
}

export function planned<T extends JsonValue>(description: string): PlannedParam<T> {
  return { type: 'planned', required: true, description };
}

/** An action's `with:` parameters, by name. */
export type ParamSchema = Record<string, ActionParam>;
/** The parameters of the tasks an action plans (its `with:` parameters unless the planner makes others). */
export type TaskParamSchema = Record<string, ActionParam | PlannedParam<JsonValue>>;
/** Parameter values as an action receives them; undefined: not given. */
export type ParamValues = { [key: string]: JsonValue | undefined };

type ValueOf<A> =
  A extends PlannedParam<infer T>
    ? T
    : A extends { type: 'string' | 'host' | 'hosts' }
      ? string
      : A extends { type: 'number' | 'duration' }
        ? number
        : A extends { type: 'boolean' }
          ? boolean
          : A extends { type: 'list' }
            ? string[]
            : A extends { type: 'object' }
              ? JsonObject
              : never;

/** Present when required or when it has a default other than empty text (see parseParams). */
type Always<A> = A extends { required: true }
  ? true
  : A extends { default: infer D }
    ? [D] extends ['' | undefined]
      ? false
      : true
    : false;

/** A schema kept with its literal types, for ParamsOf (declared apart from its action, or shared). */
export function paramSchema<const S extends TaskParamSchema>(schema: S): S {
  return schema;
}

/** The typed values of a parameter schema. */
export type ParamsOf<S> = {
  -readonly [K in keyof S as Always<S[K]> extends true ? K : never]: ValueOf<S[K]>;
} & {
  -readonly [K in keyof S as Always<S[K]> extends true ? never : K]?: ValueOf<S[K]>;
};

/** A task before the engine gives it an id and step-level dependencies. */
export interface TaskDraft<Q extends ParamValues = JsonObject> {
  /** Unique within the step; other drafts of the step name it in `after`. */
  key: string;
  host: string;
  title: string;
  params: Q;
  after?: string[];
  /** At most this many tasks of the step at once (overrides the step's `concurrency`). */
  concurrency?: number;
}

export interface PlanInput<P = JsonObject> {
  inventory: Inventory;
  /** The step's hosts, after its selector and --limit. */
  hosts: Host[];
  /** The step's `with:` for one host (templates resolved, defaults applied, types checked). */
  withFor(host: Host): P;
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

/**
 * An action over typed parameters: P for its `with:`, Q for its tasks. The registry and the engine
 * hold the erased form (JSON in, JSON out); `defineAction` makes it from a typed one.
 */
export interface ActionDefinition<P extends ParamValues = JsonObject, Q extends ParamValues = P> {
  name: string;
  description: string;
  params: Record<string, ActionParam>;
  /** Changes something that cannot simply be re-run safely: the plan asks for confirmation. */
  destructive: boolean;
  /** The planner reads facts: gather them before planning (read-only). */
  needsFacts: boolean;
  /** Pure: no remote command, no clock, no randomness. Default: one task per host. */
  plan?(input: PlanInput<P>): TaskDraft<Q>[];
  run(ctx: TaskContext, params: Q): Promise<TaskOutcome>;
}

/** A typed action: its schemas give the types of what its planner and runner receive. */
export type TypedAction<W extends ParamSchema, T extends TaskParamSchema> = Omit<
  ActionDefinition<ParamsOf<W>, ParamsOf<T>>,
  'params'
> & {
  params: W;
  /** The parameters of its planned tasks, when the planner makes other ones than `with:`. */
  taskParams?: T;
};

/**
 * The one place where JSON parameters become typed values: the planner's `with:` values and the
 * plan's task parameters (also when a run resumes from its journal) are parsed by their schema.
 */
export function defineAction<const W extends ParamSchema, const T extends TaskParamSchema = W>(
  action: TypedAction<W, T>,
): ActionDefinition {
  const { taskParams, plan, run, ...rest } = action;
  const what = `action '${action.name}'`;
  // Without taskParams the tasks carry the `with:` parameters (T defaults to W).
  const taskSchema = (taskParams ?? action.params) as T;
  return {
    ...rest,
    ...(plan
      ? {
          plan: (input: PlanInput) =>
            plan({ ...input, withFor: (host) => parseParams(action.params, input.withFor(host), what) }).map(
              (draft) => ({ ...draft, params: jsonParams(draft.params) }),
            ),
        }
      : {}),
    run: (ctx, params) => run(ctx, parseParams(taskSchema, params, what)),
  };
}

/** Values by their schema: defaults applied (except empty text), types converted, planned values as they are. */
export function parseParams<S extends TaskParamSchema>(schema: S, values: JsonObject, what: string): ParamsOf<S> {
  const out: JsonObject = {};
  for (const [name, spec] of Object.entries(schema)) {
    const value = values[name] ?? (spec.type === 'planned' || spec.default === '' ? undefined : spec.default);
    if (value === undefined) {
      if (spec.required) throw new FleetError('usage', `${what}: the plan gives no ${name}`);
      continue;
    }
    if (spec.type === 'planned') out[name] = value;
    else if (spec.type === 'list') out[name] = (coerce(value, 'list', `${what}: ${name}`) as JsonValue[]).map(String);
    else out[name] = coerce(value, spec.type, `${what}: ${name}`);
  }
  return out as ParamsOf<S>;
}

function jsonParams(values: ParamValues): JsonObject {
  const out: JsonObject = {};
  for (const [name, value] of Object.entries(values)) if (value !== undefined) out[name] = value;
  return out;
}

/** Host selectors actions provide for `hosts: {name: argument}` (pure, like planners). */
export interface SelectorDefinition {
  name: string;
  description: string;
  select(inventory: Inventory, argument: string, facts: ReadonlyMap<string, HostFacts>): Host[];
  needsFacts: boolean;
}
