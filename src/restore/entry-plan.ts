// The writes that bring a selection back, decided from the snapshot's entries and what the host
// holds now (pure: both are read before). Entries added since go first (children first, only with
// deleteAdded), then the snapshot's entries (parents first; user private groups after their users,
// so the managed-entries plugin sees the user before its group exists), then the references other
// entries held to them. An entry whose DN is taken by another object (another ipaUniqueID or
// nsUniqueId: re-created since) is a conflict, skipped unless `replace`.

import { parentsFirst } from '../content/diff.js';
import type { ContentEntry } from '../content/entry.js';
import { entryDigest } from '../content/values.js';
import { UsageError } from '../errors.js';
import { type EntryOp, toValues, valuesPresent } from './entry-ops.js';
import { parentOf, type SnapshotSelection } from './entry-selection.js';

export interface EntryPlanOptions {
  /** Only these attributes of entries that exist (absent entries come back whole). */
  attrs?: string[];
  replace: boolean;
  deleteAdded: boolean;
}

/** The host's state the planner needs: entries by normalized DN (undefined: absent). */
export interface LiveState {
  entries: Map<string, ContentEntry | undefined>;
  /** Entries in the selection's scope on the host that the snapshot lacks. */
  added: ContentEntry[];
}

interface EntryConflict {
  dn: string;
  reason: string;
}

export interface EntryPlan {
  ops: EntryOp[];
  conflicts: EntryConflict[];
  /** Entries already as in the snapshot, and references that cannot be put back. */
  unchanged: string[];
  notes: string[];
}

export function planEntryRestore(sel: SnapshotSelection, live: LiveState, opts: EntryPlanOptions): EntryPlan {
  const plan: EntryPlan = { ops: [], conflicts: [], unchanged: [], notes: [] };
  if (opts.deleteAdded)
    for (const e of [...live.added].sort(parentsFirst).reverse())
      plan.ops.push({ op: 'delete', dn: e.dn, why: 'added since the snapshot' });
  const coming = new Set<string>();
  const puts = [
    ...[...sel.selected].sort(parentsFirst).map((e) => [e, 'selected'] as const),
    ...[...sel.managed].sort(parentsFirst).map((e) => [e, 'user private group'] as const),
  ];
  const outcomes = new Map(puts.map(([entry, why]) => [entry.ndn, planPut(plan, entry, why, live, opts, coming)]));
  for (const ref of sel.references) {
    const holder = live.entries.get(ref.ndn);
    if (!holder) {
      plan.notes.push(`${ref.dn}: not on the host, its ${ref.attr} reference to ${ref.to} is not put back`);
      continue;
    }
    // A skipped conflict's references would attach the other object to the old memberships. A replaced
    // entry loses its references when it is deleted (referential integrity): they are put back whatever
    // the host holds now, and the write itself skips values present by then.
    if (outcomes.get(ref.to) === 'conflict') continue;
    const all = toValues(new Map([[ref.attr, ref.values]]))[ref.attr]!;
    const missing = outcomes.get(ref.to) === 'replaced' ? all : valuesPresent(holder, ref.attr, all, false);
    if (missing.length > 0)
      plan.ops.push({ op: 'add-values', dn: ref.dn, attr: ref.attr, values: missing, why: `reference to ${ref.to}` });
  }
  return plan;
}

function planPut(
  plan: EntryPlan,
  entry: ContentEntry,
  why: string,
  live: LiveState,
  opts: EntryPlanOptions,
  coming: Set<string>,
): PutOutcome {
  const now = live.entries.get(entry.ndn);
  if (!now) {
    const parent = parentOf(entry.ndn);
    if (!coming.has(parent) && live.entries.get(parent) === undefined)
      throw new UsageError(`restore-entries: ${entry.dn}: its parent is not on the host; select it too (--subtree)`);
    plan.ops.push({ op: 'put', dn: entry.dn, attrs: toValues(entry.attrs), why });
    coming.add(entry.ndn);
    return 'put';
  }
  const other = otherObject(entry, now);
  if (other) {
    if (!opts.replace) {
      plan.conflicts.push({ dn: entry.dn, reason: `${other} (re-created since; --replace puts the snapshot's back)` });
      return 'conflict';
    }
    plan.ops.push({ op: 'delete', dn: now.dn, why: `conflict: ${other}` });
    plan.ops.push({ op: 'put', dn: entry.dn, attrs: toValues(entry.attrs), why });
    coming.add(entry.ndn);
    return 'replaced';
  }
  const only = opts.attrs?.map((a) => a.toLowerCase());
  const target = only ? new Map([...entry.attrs].filter(([a]) => only.includes(a))) : entry.attrs;
  const current = only ? new Map([...now.attrs].filter(([a]) => only.includes(a))) : now.attrs;
  if (entryDigest({ ...entry, attrs: target }) === entryDigest({ ...now, attrs: current })) {
    plan.unchanged.push(entry.dn);
    return 'unchanged';
  }
  plan.ops.push({ op: 'put', dn: entry.dn, attrs: toValues(target), ...(only ? { only } : {}), why });
  return 'put';
}

type PutOutcome = 'put' | 'unchanged' | 'conflict' | 'replaced';

/** Why the live entry is another object than the snapshot's, or undefined when it is the same one. */
function otherObject(snapshot: ContentEntry, live: ContentEntry): string | undefined {
  const a = snapshot.attrs.get('ipauniqueid')?.[0]?.toString();
  const b = live.attrs.get('ipauniqueid')?.[0]?.toString();
  if (a && b)
    return a.toLowerCase() === b.toLowerCase() ? undefined : `ipaUniqueID ${b} on the host, ${a} in the snapshot`;
  if (snapshot.uniqueId && live.uniqueId && snapshot.uniqueId !== live.uniqueId)
    return `nsUniqueId ${live.uniqueId} on the host, ${snapshot.uniqueId} in the snapshot`;
  return undefined;
}
