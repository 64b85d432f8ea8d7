// The writes a granular restore makes, as plain JSON values (values base64, so hashes and keys
// travel unchanged): a run records each with its inverse before it is made, `--dry-run` prints them,
// `--undo` plays the inverses back. `put` makes an entry equal to given values: an add when it is
// absent, else a modify of the attributes that differ (all of them, or `only` those).

import type { ContentEntry } from '../content/entry.js';
import { valueKey, valueKeys } from '../content/values.js';
import type { Modification } from '../transport/ldap.js';

/** Attribute → base64 values. */
export type Values = Record<string, string[]>;

export type EntryOp =
  | { op: 'put'; dn: string; attrs: Values; only?: string[]; why: string }
  | { op: 'add-values'; dn: string; attr: string; values: string[]; why: string }
  | { op: 'delete-values'; dn: string; attr: string; values: string[]; why: string }
  | { op: 'delete'; dn: string; why: string };

export function toValues(attrs: Map<string, Buffer[]>): Values {
  const out: Values = {};
  for (const [attr, values] of attrs) out[attr] = values.map((v) => v.toString('base64'));
  return out;
}

export function fromValues(values: Values): Map<string, Buffer[]> {
  return new Map(Object.entries(values).map(([attr, vs]) => [attr, vs.map((v) => Buffer.from(v, 'base64'))]));
}

/** The modifications that make `live` hold `target`'s values (of `only` those attributes). */
export function putMods(live: ContentEntry, target: Map<string, Buffer[]>, only?: string[]): Modification[] {
  const names = only ?? [...new Set([...live.attrs.keys(), ...target.keys()])];
  const mods: Modification[] = [];
  for (const attr of names.sort()) {
    const want = target.get(attr) ?? [];
    const have = live.attrs.get(attr) ?? [];
    if (sameValues(attr, want, have)) continue;
    mods.push(want.length === 0 ? { op: 'delete', attr } : { op: 'replace', attr, values: want });
  }
  return mods;
}

function sameValues(attr: string, a: Buffer[], b: Buffer[]): boolean {
  const ka = valueKeys(attr, a);
  const kb = valueKeys(attr, b);
  return ka.size === kb.size && [...ka].every((k) => kb.has(k));
}

/** The values of `values` (base64) the entry does not hold, or does hold. */
export function valuesPresent(
  entry: ContentEntry | undefined,
  attr: string,
  values: string[],
  present: boolean,
): string[] {
  const have = valueKeys(attr, entry?.attrs.get(attr) ?? []);
  return values.filter((v) => have.has(valueKey(attr, Buffer.from(v, 'base64'))) === present);
}

/** What undoes `op`, given the entry as it was just before it. */
export function inverseOf(op: EntryOp, before: ContentEntry | undefined): EntryOp | undefined {
  const why = `undo: ${op.op} ${op.dn}`;
  switch (op.op) {
    case 'put':
      if (!before) return { op: 'delete', dn: op.dn, why };
      return { op: 'put', dn: op.dn, attrs: toValues(before.attrs), ...(op.only ? { only: op.only } : {}), why };
    case 'delete':
      return before ? { op: 'put', dn: before.dn, attrs: toValues(before.attrs), why } : undefined;
    case 'add-values': {
      const added = valuesPresent(before, op.attr, op.values, false);
      return added.length > 0 && before
        ? { op: 'delete-values', dn: op.dn, attr: op.attr, values: added, why }
        : undefined;
    }
    case 'delete-values': {
      const removed = valuesPresent(before, op.attr, op.values, true);
      return removed.length > 0 ? { op: 'add-values', dn: op.dn, attr: op.attr, values: removed, why } : undefined;
    }
  }
}
