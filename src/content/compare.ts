// What changed in one entry between two sources, attribute by attribute: the values one side has
// and the other has not. `before` is the snapshot, `after` the live host (or the later snapshot).

import type { ContentEntry } from './entry.js';
import { valueKey, valueKeys } from './values.js';

export interface AttributeChange {
  attr: string;
  /** Values the snapshot has and the other side lacks, and the other way round. */
  removed: Buffer[];
  added: Buffer[];
}

export function attributeChanges(before: ContentEntry, after: ContentEntry): AttributeChange[] {
  const names = new Set([...before.attrs.keys(), ...after.attrs.keys()]);
  const changes: AttributeChange[] = [];
  for (const attr of [...names].sort()) {
    const b = before.attrs.get(attr) ?? [];
    const a = after.attrs.get(attr) ?? [];
    const removed = only(attr, b, a);
    const added = only(attr, a, b);
    if (removed.length > 0 || added.length > 0) changes.push({ attr, removed, added });
  }
  return changes;
}

/** Every attribute of an entry as a change from nothing (added) or to nothing (deleted). */
export function wholeEntry(entry: ContentEntry, as: 'added' | 'removed'): AttributeChange[] {
  return [...entry.attrs.keys()].sort().map((attr) => {
    const values = entry.attrs.get(attr)!;
    return { attr, removed: as === 'removed' ? values : [], added: as === 'added' ? values : [] };
  });
}

function only(attr: string, these: Buffer[], others: Buffer[]): Buffer[] {
  const keys = valueKeys(attr, others);
  return these.filter((v) => !keys.has(valueKey(attr, v)));
}
