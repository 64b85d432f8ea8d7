// Playbook parameters: `--set k=v` strings and defaults → typed values; `{{ name }}` templates.
import { UsageError } from '../errors.js';
import { quote } from '../located/document.js';
import { shellQuote } from '../transport/shell.js';
import type { Inventory } from '../inventory/model.js';
import type { ParamType, Playbook } from './model.js';
import type { JsonObject, JsonValue } from '../json.js';

/**
 * Parses `--set` pairs, and typed values by name (from operations, which build them), against the
 * playbook's declared parameters; a typed value wins over a `--set` of the same name.
 */
export function resolveParams(
  playbook: Playbook,
  sets: string[],
  inventory: Inventory,
  typed: JsonObject = {},
): JsonObject {
  const given = new Map<string, JsonValue>();
  for (const pair of sets) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set ${quote(pair)}: expected name=value`);
    const name = pair.slice(0, eq);
    if (!Object.hasOwn(playbook.params, name)) {
      const known = Object.keys(playbook.params);
      throw new UsageError(
        `--set ${name}: playbook '${playbook.name}' has no parameter ${quote(name)}` +
          (known.length ? ` (parameters: ${known.join(', ')})` : ''),
      );
    }
    given.set(name, pair.slice(eq + 1));
  }
  for (const [name, value] of Object.entries(typed)) {
    if (!Object.hasOwn(playbook.params, name))
      throw new UsageError(`playbook '${playbook.name}' has no parameter ${quote(name)}`);
    given.set(name, value);
  }
  const out: JsonObject = {};
  for (const [name, spec] of Object.entries(playbook.params)) {
    const raw = given.get(name);
    if (raw === undefined) {
      if (spec.required)
        throw new UsageError(`playbook '${playbook.name}' needs --set ${name}=… (${spec.description || spec.type})`);
      if (spec.default !== undefined)
        out[name] = coerce(spec.default, spec.type, `parameter ${name} (default)`, inventory);
      continue;
    }
    out[name] = coerce(raw, spec.type, Object.hasOwn(typed, name) ? `parameter ${name}` : `--set ${name}`, inventory);
  }
  return out;
}

/** Converts a value to a parameter type; `what` names it in errors. */
export function coerce(value: JsonValue, type: ParamType | 'object', what: string, inventory?: Inventory): JsonValue {
  const text = typeof value === 'string' ? value.trim() : value;
  switch (type) {
    case 'string':
      if (typeof value === 'object' && value !== null) throw new UsageError(`${what}: expected a string`);
      return String(value);
    case 'number': {
      const n = typeof text === 'number' ? text : Number(text);
      if (text === '' || !Number.isFinite(n))
        throw new UsageError(`${what}: expected a number, got ${quote(String(value))}`);
      return n;
    }
    case 'boolean':
      if (typeof text === 'boolean') return text;
      if (text === 1 || text === 0) return text === 1;
      if (text === 'true' || text === 'yes' || text === '1') return true;
      if (text === 'false' || text === 'no' || text === '0') return false;
      throw new UsageError(`${what}: expected true or false, got ${quote(String(value))}`);
    case 'duration':
      return parseDuration(text, what);
    case 'host': {
      const name = String(text);
      if (inventory && !inventory.hosts.some((h) => h.name === name)) {
        throw new UsageError(
          `${what}: ${quote(name)} is not a host of the inventory (${inventory.hosts.map((h) => h.name).join(', ')})`,
        );
      }
      return name;
    }
    case 'hosts':
      return String(text);
    case 'list':
      if (Array.isArray(value)) return value;
      return String(text)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'object':
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new UsageError(`${what}: expected a mapping`);
      return value;
  }
}

const MAX_DURATION_S = 24 * 86400;

/**
 * `90`, `30s`, `5m`, `2h`, `7d` → seconds, at most 24 days unless `maxSeconds` says otherwise (an age
 * compared with a clock, not waited for with a timer, can be longer: a monthly drill's 35d).
 */
export function parseDuration(value: JsonValue, what: string, maxSeconds = MAX_DURATION_S): number {
  const m =
    typeof value === 'number' && value >= 0
      ? [String(value), String(value), 's']
      : /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(String(value));
  if (!m) throw new UsageError(`${what}: expected a duration like 30s, 5m, 2h or 7d, got ${quote(String(value))}`);
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  // Node timers cannot wait longer than 2^31-1 ms (~24.8 days); longer ones fire at once.
  if (seconds > maxSeconds)
    throw new UsageError(`${what}: ${quote(String(value))} is longer than the limit of ${maxSeconds / 86400}d`);
  return seconds;
}

/**
 * The hosts the playbook may plan without (its `offline_hosts:`, rendered with the parameters); any
 * other host whose facts cannot be gathered stops the plan.
 */
export function offlineHostsOf(playbook: Playbook, params: JsonObject): Set<string> {
  if (playbook.offlineHosts === undefined) return new Set();
  const value = render(playbook.offlineHosts, params);
  const names = coerce(value === null ? '' : value, 'list', 'offline_hosts') as JsonValue[];
  return new Set(names.map(String));
}

// `{{ name }}`, or `{{ name | quote }}` to shell-quote a value that goes into a command.
const TEMPLATE = /\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(\|\s*quote\s*)?\}\}/g;
const WHOLE = /^\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(\|\s*quote\s*)?\}\}$/;

/**
 * Renders `{{ name }}` references. A string that is one reference keeps the value's type
 * (`"{{ count }}"` → 3); references inside text are inserted as text.
 */
export function render(value: JsonValue, vars: Record<string, JsonValue>): JsonValue {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole && !whole[2]) return lookup(vars, whole[1]!);
    return value.replace(TEMPLATE, (_m, name: string, quote?: string) => {
      const v = lookup(vars, name);
      const text = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
      return quote ? shellQuote(text) : text;
    });
  }
  if (Array.isArray(value)) return value.map((v) => render(v, vars));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, vars)]));
  return value;
}

function lookup(vars: Record<string, JsonValue>, name: string): JsonValue {
  let cur: JsonValue | undefined = vars as JsonValue;
  for (const part of name.split('.')) {
    // Own keys only: `{{ constructor }}` must not reach Object.prototype.
    cur =
      cur && typeof cur === 'object' && !Array.isArray(cur) && Object.hasOwn(cur, part)
        ? (cur as JsonObject)[part]
        : undefined;
  }
  // The loader checked every name against the declared parameters; an optional one may be unset.
  return cur === undefined ? '' : cur;
}
