// Playbook + inventory + facts + params → Plan. Pure: no remote command, no clock (the caller
// passes `createdAt`), so planners are tested with fixtures and `plan` prints what `run` executes.
import { plain, quote } from '../located/document.js';
import { FleetError, UsageError } from '../errors.js';
import { selectHosts } from '../inventory/limit.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { ActionRegistry } from './registry.js';
import type { ActionDefinition, TaskDraft } from './action.js';
import type { HostFacts } from '../topology/facts.js';
import { WHEN } from './load.js';
import type { Plan, PlannedTask, Playbook, Step } from './model.js';
import type { JsonObject, JsonValue } from '../json.js';
import { coerce, render } from './params.js';

export interface PlanRequest {
  playbook: Playbook;
  inventory: Inventory;
  registry: ActionRegistry;
  params: JsonObject;
  limit: string | undefined;
  facts: ReadonlyMap<string, HostFacts>;
  /** Hosts left without facts that the playbook tolerates (`offline_hosts:`), with the reason. */
  offline?: ReadonlyMap<string, string>;
  createdAt: string;
}

/** Whether planning (or running) the playbook needs facts from the hosts. */
export function playbookNeedsFacts(playbook: Playbook, registry: ActionRegistry): boolean {
  return playbook.steps.some(
    (s) =>
      registry.action(s.action)?.needsFacts ||
      (s.hosts.kind === 'selector' && registry.selector(s.hosts.name)?.needsFacts),
  );
}

export function buildPlan(req: PlanRequest): Plan {
  const { playbook, inventory, registry, params } = req;
  const limited = req.limit ? new Set(selectHosts(inventory, req.limit).map((h) => h.name)) : undefined;
  const tasks: PlannedTask[] = [];
  const skippedSteps: Plan['skippedSteps'] = [];
  let previousStep: string[] = [];

  for (const step of playbook.steps) {
    const where = `${playbook.file}:${step.at.line}: steps[${step.index}] (${plain(step.name)})`;
    const skip = whenSkips(step, params);
    if (skip) {
      skippedSteps.push({ step: step.index, name: step.name, reason: skip });
      continue;
    }
    const def = registry.action(step.action)!;
    const hosts = stepHosts(step, req, where).filter((h) => !limited || limited.has(h.name));
    if (hosts.length === 0) {
      skippedSteps.push({
        step: step.index,
        name: step.name,
        reason: limited ? 'no host left after --limit' : 'selects no host',
      });
      continue;
    }
    const withFor = (host: Host): JsonObject => withValues(step, def, params, host, where);
    const drafts: TaskDraft[] = def.plan
      ? located(where, () =>
          def.plan!({ inventory, hosts, withFor, facts: req.facts, offline: req.offline ?? new Map() }),
        )
      : hosts.map((h) => ({ key: h.name, host: h.name, title: step.name, params: withFor(h) }));
    if (step.serial) addSerialBatches(drafts, hosts, step.serial);

    const stepTasks = tasksOf(step, def, drafts, previousStep, where);
    tasks.push(...stepTasks);
    previousStep = stepTasks.map((t) => t.id);
  }
  return {
    version: 1,
    playbook: { name: playbook.name, file: playbook.file, sha256: playbook.sha256, description: playbook.description },
    inventory: { file: inventory.file, deployment: inventory.deployment },
    params,
    limit: req.limit,
    createdAt: req.createdAt,
    skippedSteps,
    destructive: tasks.some((t) => t.destructive),
    needsFacts: playbookNeedsFacts(playbook, registry),
    tasks,
  };
}

/** An action's own planning refusal, named by the step it came from (withFor's already are). */
function located<T>(where: string, plan: () => T): T {
  try {
    return plan();
  } catch (err) {
    if (err instanceof FleetError && err.kind === 'usage' && !err.message.startsWith(where))
      throw new UsageError(`${where}: ${err.message}`);
    throw err;
  }
}

/** The step's `with:` for one host: templates resolved, defaults applied, types checked. */
function withValues(step: Step, def: ActionDefinition, params: JsonObject, host: Host, where: string): JsonObject {
  const rendered = render(step.with, { ...params, host: { name: host.name, address: host.address } }) as JsonObject;
  const out: JsonObject = {};
  for (const [name, spec] of Object.entries(def.params)) {
    const value = rendered[name] ?? spec.default;
    if (value === undefined || value === '') {
      if (spec.required) throw new UsageError(`${where}: with.${name}: required by '${def.name}' but empty`);
      continue;
    }
    out[name] = coerce(value, spec.type, `${where}: with.${name}`);
  }
  return out;
}

/** The step's drafts as planned tasks with ids and dependencies. */
function tasksOf(
  step: Step,
  def: ActionDefinition,
  drafts: TaskDraft[],
  previousStep: string[],
  where: string,
): PlannedTask[] {
  const prefix = `${String(step.index + 1).padStart(2, '0')}-${slug(step.name)}`;
  const idOf = new Map(drafts.map((d) => [d.key, `${prefix}:${d.key}`]));
  if (idOf.size !== drafts.length)
    throw new FleetError('failure', `${where}: action '${def.name}' planned two tasks with the same key`);
  return drafts.map((d) => {
    const after = (d.after ?? []).map((k) => {
      const id = idOf.get(k);
      if (!id) throw new FleetError('failure', `${where}: task ${d.key} waits for unknown task ${k}`);
      return id;
    });
    return {
      id: idOf.get(d.key)!,
      step: step.index,
      stepName: step.name,
      action: def.name,
      host: d.host,
      title: d.title,
      params: d.params,
      // Steps run in order: a task waits for the previous step, or for its own predecessors in the step.
      dependsOn: after.length > 0 ? after : [...previousStep],
      destructive: def.destructive || step.confirm,
      concurrency: d.concurrency ?? step.concurrency,
      ...(step.keepGoing ? { keepGoing: true } : {}),
    };
  });
}

function stepHosts(step: Step, req: PlanRequest, where: string): Host[] {
  try {
    if (step.hosts.kind === 'pattern') {
      const pattern = String(render(step.hosts.pattern, req.params));
      if (pattern.trim() === '') throw new UsageError(`hosts: ${quote(step.hosts.pattern)} is empty`);
      // The pattern is the step's hosts:, not the command line's --limit.
      try {
        return selectHosts(req.inventory, pattern);
      } catch (err) {
        if (err instanceof FleetError) throw new UsageError(err.message.replace(/^--limit: /, 'hosts: '));
        throw err;
      }
    }
    const selector = req.registry.selector(step.hosts.name)!;
    return selector.select(req.inventory, String(render(step.hosts.argument, req.params)), req.facts);
  } catch (err) {
    if (err instanceof FleetError) throw new UsageError(`${where}: ${err.message}`);
    throw err;
  }
}

/** Hosts in batches of `size`; every task of a batch waits for every task of the previous one. */
function addSerialBatches(drafts: TaskDraft[], hosts: Host[], size: number): void {
  const batchOf = new Map(hosts.map((h, i) => [h.name, Math.floor(i / size)]));
  for (const d of drafts) {
    const batch = batchOf.get(d.host) ?? 0;
    if (batch === 0) continue;
    const previous = drafts.filter((o) => batchOf.get(o.host) === batch - 1).map((o) => o.key);
    d.after = [...new Set([...(d.after ?? []), ...previous])];
  }
}

/** The reason a step is left out, or undefined when it runs. */
function whenSkips(step: Step, params: JsonObject): string | undefined {
  if (!step.when) return undefined;
  const m = WHEN.exec(step.when)!;
  const value: JsonValue | undefined = params[m[2]!];
  let runs: boolean;
  if (m[3]) {
    const expected = m[4] ?? m[5] ?? m[6]!;
    const equal = String(value ?? '') === expected;
    runs = m[3] === '==' ? equal : !equal;
  } else {
    const truthy = !(
      value === undefined ||
      value === null ||
      value === false ||
      value === '' ||
      value === 0 ||
      (Array.isArray(value) && value.length === 0)
    );
    runs = m[1] ? !truthy : truthy;
  }
  return runs ? undefined : `when: ${step.when.trim()} is false`;
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 40) || 'step'
  );
}
