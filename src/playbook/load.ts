// Reads a playbook YAML file into a validated Playbook. Every problem is one line naming file,
// line and key; unknown keys and unknown actions are errors.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LocatedError } from '../located/located-error.js';
import { childPath, quote, readDocument, type DocEntry, type DocMap, type DocNode } from '../located/document.js';
import { closest } from '../located/suggest.js';
import type { ActionDefinition } from './action.js';
import type { ActionRegistry } from './registry.js';
import { coerce } from './params.js';
import type { HostSelector, ParamSpec, ParamType, Playbook, Step } from './model.js';
import type { JsonObject, JsonValue } from '../json.js';

const TOP_KEYS = ['name', 'description', 'params', 'offline_hosts', 'steps'];
const PARAM_KEYS = ['type', 'default', 'required', 'description'];
const STEP_KEYS = ['name', 'action', 'hosts', 'with', 'concurrency', 'serial', 'when', 'confirm', 'keep_going'];
const PARAM_TYPES: ParamType[] = ['string', 'number', 'boolean', 'host', 'hosts', 'duration', 'list'];

export async function loadPlaybook(file: string, registry: ActionRegistry): Promise<Playbook> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LocatedError(
      file,
      undefined,
      undefined,
      `cannot read the playbook: ${code === 'ENOENT' ? 'no such file' : (code ?? String(err))}`,
    );
  }
  return parsePlaybook(text, file, registry);
}

export function parsePlaybook(text: string, file: string, registry: ActionRegistry): Playbook {
  const fail = (line: number | undefined, key: string | undefined, problem: string): never => {
    throw new LocatedError(file, line, key, problem);
  };
  const root = readDocument(text, file);
  if (!root) fail(1, undefined, 'the playbook is empty');
  if (root!.kind !== 'map')
    fail(root!.line, undefined, 'a playbook is a mapping with name, description, params and steps');
  const top = root as DocMap;
  checkKeys(top, TOP_KEYS, fail);

  const name = scalarString(
    get(top, 'name') ?? fail(top.line, 'name', 'missing (every playbook has a name)'),
    'name',
    fail,
  );
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    fail(get(top, 'name')!.line, 'name', 'use letters, digits, -, _ and . only');
  const description = get(top, 'description') ? scalarString(get(top, 'description')!, 'description', fail) : '';

  const params: Playbook['params'] = {};
  const paramsNode = get(top, 'params');
  if (paramsNode) {
    if (paramsNode.kind !== 'map')
      fail(paramsNode.line, 'params', 'must be a mapping of parameter name → {type, default, required, description}');
    for (const entry of (paramsNode as DocMap).entries) params[entry.key] = parseParam(entry, fail);
  }

  const offlineNode = get(top, 'offline_hosts');
  const offlineHosts = offlineNode ? scalarString(offlineNode, 'offline_hosts', fail) : undefined;
  if (offlineNode) {
    const problem = unknownRefs(offlineHosts!, params, false);
    if (problem) fail(offlineNode.line, 'offline_hosts', problem);
  }

  const stepsNode = get(top, 'steps') ?? fail(top.line, 'steps', 'missing (a playbook has at least one step)');
  if (stepsNode!.kind !== 'seq' || stepsNode!.items.length === 0)
    fail(stepsNode!.line, 'steps', 'must be a non-empty list of steps');
  const steps = (stepsNode as Extract<DocNode, { kind: 'seq' }>).items.map((node, i) =>
    parseStep(node, i, file, registry, params, fail),
  );
  const names = new Map<string, number>();
  for (const step of steps) {
    const previous = names.get(step.name);
    if (previous !== undefined) {
      const node = (stepsNode as Extract<DocNode, { kind: 'seq' }>).items[step.index] as DocMap;
      const nameLine = node.entries.find((e) => e.key === 'name')?.keyLine;
      fail(
        nameLine ?? step.at.line,
        nameLine ? `steps[${step.index}].name` : `steps[${step.index}]`,
        `${quote(step.name)} is already the name of step ${previous + 1}${nameLine ? '' : '; give the step a name'}`,
      );
    }
    names.set(step.name, step.index);
  }
  const sha256 = createHash('sha256').update(text).digest('hex');
  return { file, sha256, name, description, params, offlineHosts, steps };
}

type Fail = (line: number | undefined, key: string | undefined, problem: string) => never;

function parseParam(entry: DocEntry, fail: Fail): ParamSpec & { at: { file: string; line: number } } {
  const key = childPath('params', entry.key);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(entry.key))
    fail(entry.keyLine, key, 'parameter names are letters, digits and _');
  if (entry.value.kind !== 'map')
    fail(entry.keyLine, key, 'must be a mapping with type, default, required, description');
  const map = entry.value as DocMap;
  checkKeys(map, PARAM_KEYS, fail, key);
  const typeNode = get(map, 'type');
  const type = (typeNode ? scalarString(typeNode, `${key}.type`, fail) : 'string') as ParamType;
  if (!PARAM_TYPES.includes(type))
    fail(typeNode!.line, `${key}.type`, `${quote(type)} is not one of ${PARAM_TYPES.join(', ')}`);
  const requiredNode = get(map, 'required');
  const required = requiredNode ? scalarBoolean(requiredNode, `${key}.required`, fail) : false;
  const defaultNode = get(map, 'default');
  // `default:` with nothing after it means no default, not the text "null".
  const defValue = defaultNode ? toJson(defaultNode) : undefined;
  const def = defValue === null ? undefined : defValue;
  if (required && def !== undefined) fail(defaultNode!.line, `${key}.default`, 'a required parameter has no default');
  // A default of the wrong type is the playbook's mistake: said here, with its line, not at plan time.
  if (def !== undefined && type !== 'host' && type !== 'hosts') {
    try {
      coerce(def, type, 'default');
    } catch (err) {
      fail(defaultNode!.line, `${key}.default`, (err as Error).message.replace(/^default: /, ''));
    }
  }
  const description = get(map, 'description') ? scalarString(get(map, 'description')!, `${key}.description`, fail) : '';
  return { type, required, default: def, description, at: { file: '', line: entry.keyLine } };
}

function parseStep(
  node: DocNode,
  index: number,
  file: string,
  registry: ActionRegistry,
  params: Playbook['params'],
  fail: Fail,
): Step {
  const where = `steps[${index}]`;
  if (node.kind !== 'map') fail(node.line, where, 'a step is a mapping with action, hosts and with');
  const map = node as DocMap;
  checkKeys(map, STEP_KEYS, fail, where);
  const { action, def } = parseAction(map, where, registry, fail);
  const name = get(map, 'name') ? scalarString(get(map, 'name')!, `${where}.name`, fail) : `${action}`;
  const hosts = parseHosts(map, where, registry, fail);
  const withValues = parseWith(map, where, def, fail);
  const positive = (key: string): number | undefined => {
    const n = get(map, key);
    if (!n) return undefined;
    if (n.kind !== 'scalar' || typeof n.value !== 'number' || !Number.isInteger(n.value) || n.value < 1)
      fail(n.line, `${where}.${key}`, 'must be a whole number ≥ 1');
    return (n as { value: number }).value;
  };
  const whenNode = get(map, 'when');
  const when = whenNode ? scalarString(whenNode, `${where}.when`, fail) : undefined;
  const confirmNode = get(map, 'confirm');
  const step: Step = {
    index,
    name,
    action,
    hosts,
    with: withValues,
    concurrency: positive('concurrency'),
    serial: positive('serial'),
    when,
    confirm: confirmNode ? scalarBoolean(confirmNode, `${where}.confirm`, fail) : false,
    keepGoing: get(map, 'keep_going') ? scalarBoolean(get(map, 'keep_going')!, `${where}.keep_going`, fail) : false,
    at: { file, line: map.line },
  };
  // Every {{ name }} must be a parameter (or host.name / host.address), caught now rather than mid-run.
  for (const [text, line, key] of templatedStrings(step, map, where)) {
    // Hosts are chosen before there is a host to name.
    const problem = unknownRefs(text, params, !key.endsWith('.hosts'));
    if (problem) fail(line, key, problem);
  }
  if (when) {
    const problem = checkWhen(when, params);
    if (problem) fail(whenNode!.line, `${where}.when`, problem);
  }
  return step;
}

/** " (did you mean x?)" when there is a close name. */
function didYouMean(hint: string | undefined): string {
  return hint ? ` (did you mean ${hint}?)` : '';
}

function parseAction(
  map: DocMap,
  where: string,
  registry: ActionRegistry,
  fail: Fail,
): { action: string; def: ActionDefinition } {
  const actionNode = get(map, 'action') ?? fail(map.line, `${where}.action`, 'missing');
  const action = scalarString(actionNode!, `${where}.action`, fail);
  const def = registry.action(action);
  if (!def) {
    const names = registry.actionNames();
    const hint = didYouMean(closest(action, names));
    fail(actionNode!.line, `${where}.action`, `unknown action ${quote(action)}${hint}; actions: ${names.join(', ')}`);
  }
  return { action, def: def! };
}

function parseHosts(map: DocMap, where: string, registry: ActionRegistry, fail: Fail): HostSelector {
  const hostsNode =
    get(map, 'hosts') ??
    fail(map.line, `${where}.hosts`, 'missing (all, a group, a host, a pattern, {{ param }} or a selector)');
  if (hostsNode!.kind !== 'map') return { kind: 'pattern', pattern: scalarString(hostsNode!, `${where}.hosts`, fail) };
  const entries = (hostsNode as DocMap).entries;
  if (entries.length !== 1) fail(hostsNode!.line, `${where}.hosts`, 'a selector is one key: {selector: argument}');
  const [entry] = entries as [DocEntry];
  if (!registry.selector(entry.key)) {
    const names = registry.selectorNames();
    const hint = didYouMean(closest(entry.key, names));
    fail(
      entry.keyLine,
      childPath(`${where}.hosts`, entry.key),
      `unknown selector ${quote(entry.key)}${hint}; selectors: ${names.join(', ')}`,
    );
  }
  return {
    kind: 'selector',
    name: entry.key,
    argument: scalarString(entry.value, `${where}.hosts.${entry.key}`, fail),
  };
}

/** `with:` as written (templates unresolved); every key one of the action's parameters, the required ones given. */
function parseWith(map: DocMap, where: string, def: ActionDefinition, fail: Fail): JsonObject {
  const withNode = get(map, 'with');
  const withValues: JsonObject = {};
  const names = Object.keys(def.params);
  if (withNode) {
    if (withNode.kind !== 'map') fail(withNode.line, `${where}.with`, `must be a mapping of ${def.name}'s parameters`);
    for (const entry of (withNode as DocMap).entries) {
      if (!Object.hasOwn(def.params, entry.key)) {
        const hint = didYouMean(closest(entry.key, names));
        fail(
          entry.keyLine,
          childPath(`${where}.with`, entry.key),
          `${quote(def.name)} has no parameter ${quote(entry.key)}${hint}; it takes: ${names.join(', ') || 'none'}`,
        );
      }
      withValues[entry.key] = toJson(entry.value);
    }
  }
  for (const [pname, spec] of Object.entries(def.params)) {
    if (spec.required && withValues[pname] === undefined) {
      fail(
        map.entries.find((e) => e.key === 'with')?.keyLine ?? map.line,
        `${where}.with.${pname}`,
        `missing: '${def.name}' requires ${pname} (${spec.description})`,
      );
    }
  }
  return withValues;
}

function* templatedStrings(step: Step, map: DocMap, where: string): Generator<[string, number, string]> {
  const hostsNode = get(map, 'hosts')!;
  yield [step.hosts.kind === 'pattern' ? step.hosts.pattern : step.hosts.argument, hostsNode.line, `${where}.hosts`];
  const withNode = get(map, 'with');
  if (withNode?.kind === 'map') {
    for (const entry of withNode.entries) {
      for (const s of strings(toJson(entry.value))) yield [s, entry.keyLine, childPath(`${where}.with`, entry.key)];
    }
  }
}

function* strings(value: JsonValue): Generator<string> {
  if (typeof value === 'string') yield value;
  else if (Array.isArray(value)) for (const v of value) yield* strings(v);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) yield* strings(v);
}

/** Every {{ name }} must be a parameter (or host.name / host.address), caught at load rather than mid-run. */
function unknownRefs(text: string, params: Playbook['params'], hostKnown: boolean): string | undefined {
  for (const ref of templateRefs(text)) {
    if (ref === 'host.name' || ref === 'host.address') {
      if (!hostKnown) return `'{{ ${ref} }}' is only known inside with:`;
      continue;
    }
    if (!Object.hasOwn(params, ref)) {
      const names = Object.keys(params);
      const known = names.length ? `; parameters: ${names.join(', ')}` : ' (the playbook declares none)';
      return `unknown parameter '{{ ${ref} }}'${known}`;
    }
  }
  return undefined;
}

const TEMPLATE = /\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\|\s*quote\s*)?\}\}/g;

export function templateRefs(text: string): string[] {
  return [...text.matchAll(TEMPLATE)].map((m) => m[1]!);
}

/** `when:` is `param`, `not param`, `param == 'value'` or `param != 'value'` (optionally in {{ }}). */
export const WHEN = new RegExp(
  String.raw`^\s*(?:\{\{\s*)?(not\s+)?([A-Za-z_][A-Za-z0-9_]*)` +
    String.raw`(?:\s*(==|!=)\s*(?:'([^']*)'|"([^"]*)"|(-?\d+(?:\.\d+)?|true|false)))?` +
    String.raw`\s*(?:\}\}\s*)?$`,
);

function checkWhen(when: string, params: Playbook['params']): string | undefined {
  const m = WHEN.exec(when);
  if (!m) return `cannot read ${quote(when)}: use param, not param, param == 'value' or param != 'value'`;
  if (m[1] && m[3]) return `cannot read ${quote(when)}: use either not or a comparison`;
  if (!Object.hasOwn(params, m[2]!)) return `unknown parameter '${m[2]}'`;
  return undefined;
}

function checkKeys(map: DocMap, allowed: string[], fail: Fail, where?: string): void {
  const seen = new Set<string>();
  for (const entry of map.entries) {
    const key = childPath(where ?? '', entry.key);
    if (seen.has(entry.key)) fail(entry.keyLine, key, 'given twice');
    seen.add(entry.key);
    if (!allowed.includes(entry.key)) {
      const hint = closest(entry.key, allowed);
      fail(entry.keyLine, key, `unknown key${hint ? ` (did you mean ${hint}?)` : ''}; allowed: ${allowed.join(', ')}`);
    }
  }
}

function get(map: DocMap, key: string): DocNode | undefined {
  return map.entries.find((e) => e.key === key)?.value;
}

function scalarString(node: DocNode, key: string, fail: Fail): string {
  if (node.kind !== 'scalar' || node.value === null || typeof node.value === 'boolean')
    fail(node.line, key, 'must be a string');
  return String((node as { value: string | number }).value);
}

function scalarBoolean(node: DocNode, key: string, fail: Fail): boolean {
  if (node.kind !== 'scalar' || typeof node.value !== 'boolean') fail(node.line, key, 'must be true or false');
  return (node as { value: boolean }).value;
}

function toJson(node: DocNode): JsonValue {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(toJson);
    case 'map':
      return Object.fromEntries(node.entries.map((e) => [e.key, toJson(e.value)]));
  }
}
