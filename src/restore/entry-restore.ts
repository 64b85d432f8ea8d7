// A granular restore prepared: the snapshot's selection read, what the host holds now read, the
// writes planned. `restore-entries --dry-run` prints this; the entries-restore action makes it.

import type { ManifestSuffix } from '../backup/manifest.js';
import { entryFilter } from '../content/filter.js';
import type { ContentEntry } from '../content/entry.js';
import { liveEntry, liveSource } from '../content/live-entries.js';
import { snapshotEntries } from '../content/snapshot-entries.js';
import { normalizeDn } from '../directory/dn.js';
import { UsageError } from '../errors.js';
import type { LdapSession } from '../transport/ldap.js';
import { type EntryPlan, type EntryPlanOptions, type LiveState, planEntryRestore } from './entry-plan.js';
import { within } from '../directory/dn.js';
import { parentOf, readSelection, type SelectionSpec, type SnapshotSelection } from './entry-selection.js';
import type { RestoreSource } from './source.js';

export interface EntryRestoreRequest extends EntryPlanOptions {
  selection: SelectionSpec;
  suffix: 'domain' | 'ca';
  dependencies: boolean;
}

export interface PreparedRestore {
  suffix: ManifestSuffix;
  selection: SnapshotSelection;
  plan: EntryPlan;
}

export async function prepareEntryRestore(
  source: RestoreSource,
  ldap: LdapSession,
  req: EntryRestoreRequest,
): Promise<PreparedRestore> {
  const suffix = source.snapshot.manifest.suffixes.find((s) => s.kind === req.suffix);
  if (!suffix) throw new UsageError(`--suffix ${req.suffix}: snapshot ${source.snapshot.id} holds no such suffix`);
  const snapshot = snapshotEntries(source.snapshot, source.key, suffix);
  const selection = await readSelection(snapshot, suffix.suffix, req.selection, req.dependencies);
  const live = await readLiveState(ldap, suffix.suffix, selection, req);
  return { suffix, selection, plan: planEntryRestore(selection, live, req) };
}

async function readLiveState(
  ldap: LdapSession,
  suffix: string,
  sel: SnapshotSelection,
  req: EntryRestoreRequest,
): Promise<LiveState> {
  const entries = new Map<string, ContentEntry | undefined>();
  const read = async (dn: string, ndn: string): Promise<void> => {
    if (!entries.has(ndn)) entries.set(ndn, await liveEntry(ldap, dn));
  };
  for (const e of [...sel.selected, ...sel.managed]) {
    await read(e.dn, e.ndn);
    const parent = e.dn.slice(e.dn.search(/(?<!\\),/) + 1);
    if (!entries.get(e.ndn)) await read(parent, parentOf(e.ndn));
  }
  for (const r of sel.references) await read(r.dn, r.ndn);
  return { entries, added: req.deleteAdded ? await addedSince(ldap, suffix, sel, req.selection) : [] };
}

/** Live entries in the selection's subtree (and filter) that the snapshot does not hold. */
async function addedSince(ldap: LdapSession, suffix: string, sel: SnapshotSelection, spec: SelectionSpec) {
  if (!spec.subtree && !spec.filter) return [];
  const base = spec.subtree ?? suffix;
  const nbase = normalizeDn(base);
  const test = spec.filter ? entryFilter(spec.filter, '--filter') : undefined;
  const added: ContentEntry[] = [];
  await liveSource(
    ldap,
    base,
  )((e) => {
    if (within(e.ndn, nbase) && !sel.scope.has(e.ndn) && (!test || test(e))) added.push(e);
  });
  return added;
}
