// The difference between a snapshot and another source (a live host, a later snapshot) in three
// passes, so memory holds digests and differing entries, never both sides: (1) the snapshot's
// entries to one digest per DN; (2) the other side, keeping only entries whose digest differs or
// that the snapshot lacks; (3) the snapshot again, only when something was deleted or modified,
// for those entries' values.

import { within } from '../directory/dn.js';
import type { ContentEntry } from './entry.js';
import { attributeChanges, wholeEntry, type AttributeChange } from './compare.js';
import type { EntryTest } from './filter.js';
import { entryDigest } from './values.js';

/** Calls `visit` for every entry of the source, in its order. */
export type EntrySource = (visit: (entry: ContentEntry) => void) => Promise<void>;

/** Which entries are compared: a subtree (normalized DN) and, optionally, a filter. */
export interface Selection {
  base: string;
  test?: EntryTest;
}

export interface EntryDiff {
  change: 'added' | 'deleted' | 'modified';
  dn: string;
  ndn: string;
  /** The snapshot's entry (deleted, modified) and the other side's (added, modified). */
  before?: ContentEntry;
  after?: ContentEntry;
  changes: AttributeChange[];
}

export function selects(selection: Selection, entry: ContentEntry): boolean {
  return underBase(selection, entry) && (selection.test ? selection.test(entry) : true);
}

function underBase({ base }: Selection, entry: ContentEntry): boolean {
  return within(entry.ndn, base);
}

/** The entries that differ, parents before children. */
export async function diffEntries(
  snapshot: EntrySource,
  other: EntrySource,
  selection: Selection,
): Promise<EntryDiff[]> {
  // The filter selects an entry that matches on either side: one whose filtered attribute changed is
  // modified, not deleted on one side and added on the other. So every snapshot entry under the base
  // keeps its digest and whether it matched.
  const pending = new Map<string, { digest: string; matched: boolean }>();
  await snapshot((e) => {
    if (underBase(selection, e)) pending.set(e.ndn, { digest: entryDigest(e), matched: selects(selection, e) });
  });
  const added: ContentEntry[] = [];
  const changed = new Map<string, ContentEntry>();
  await other((e) => {
    if (!underBase(selection, e)) return;
    const mine = pending.get(e.ndn);
    const matched = selects(selection, e);
    if (mine === undefined) {
      if (matched) added.push(e);
    } else if ((matched || mine.matched) && mine.digest !== entryDigest(e)) changed.set(e.ndn, e);
    else pending.delete(e.ndn);
  });
  for (const [ndn, p] of pending) if (changed.has(ndn) || !p.matched) pending.delete(ndn);
  const diffs: EntryDiff[] = added.map((after) => ({
    change: 'added',
    dn: after.dn,
    ndn: after.ndn,
    after,
    changes: wholeEntry(after, 'added'),
  }));
  if (pending.size > 0 || changed.size > 0) {
    await snapshot((before) => {
      const after = changed.get(before.ndn);
      if (after)
        diffs.push({ change: 'modified', dn: before.dn, ndn: before.ndn, before, after, ...changesOf(before, after) });
      else if (pending.has(before.ndn))
        diffs.push({
          change: 'deleted',
          dn: before.dn,
          ndn: before.ndn,
          before,
          changes: wholeEntry(before, 'removed'),
        });
    });
  }
  return diffs.sort(parentsFirst);
}

function changesOf(before: ContentEntry, after: ContentEntry): { changes: AttributeChange[] } {
  return { changes: attributeChanges(before, after) };
}

/** Depth first (fewer RDNs), then by DN: an add of a child never comes before its parent's. */
export function parentsFirst(a: { ndn: string }, b: { ndn: string }): number {
  return depth(a.ndn) - depth(b.ndn) || (a.ndn < b.ndn ? -1 : a.ndn > b.ndn ? 1 : 0);
}

function depth(ndn: string): number {
  return ndn.split(/(?<!\\),/).length;
}
