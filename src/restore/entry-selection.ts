// Which snapshot entries a granular restore brings back, and what depends on them. Pass one finds
// the selection (DNs, names of FreeIPA kinds, a subtree, a filter); pass two, with dependencies,
// the user private groups of selected users (managed entries) and the references other entries
// held to the selected ones (the member/memberUser/memberHost … values referential integrity
// removes when an entry is deleted).

import type { EntrySource } from '../content/diff.js';
import type { ContentEntry } from '../content/entry.js';
import { entryFilter, type EntryTest } from '../content/filter.js';
import { containerDn, type EntryKind, layoutOf } from '../content/ipa-layout.js';
import { isDnValued } from '../content/values.js';
import { normalizeDn, within } from '../directory/dn.js';
import { UsageError } from '../errors.js';

export type NamedKind = Exclude<EntryKind, 'other'>;

export interface SelectionSpec {
  dns: string[];
  /** FreeIPA entries by name: `user` → uid under cn=users,cn=accounts … */
  names: { kind: NamedKind; name: string; option: string }[];
  subtree?: string;
  filter?: string;
}

/** A reference an entry outside the selection held to a selected one. */
interface EntryReference {
  dn: string;
  ndn: string;
  attr: string;
  /** The values as the snapshot wrote them. */
  values: Buffer[];
  /** The selected entry they point at. */
  to: string;
}

export interface SnapshotSelection {
  selected: ContentEntry[];
  /** User private groups of selected users that are not selected themselves. */
  managed: ContentEntry[];
  references: EntryReference[];
  /** Every snapshot DN in the selection's scope (for --delete-added). */
  scope: Set<string>;
}

/** Attributes that hold a managed-entry link: the plugin's own, not a reference to restore. */
const MANAGED_LINKS = new Set(['mepmanagedby', 'mepmanagedentry']);

export async function readSelection(
  snapshot: EntrySource,
  suffix: string,
  spec: SelectionSpec,
  dependencies: boolean,
): Promise<SnapshotSelection> {
  const match = selectionTest(spec, suffix);
  const scopeBase = normalizeDn(spec.subtree ?? suffix);
  const selected: ContentEntry[] = [];
  const scope = new Set<string>();
  const found = new Set<string>();
  await snapshot((e) => {
    if (within(e.ndn, scopeBase)) scope.add(e.ndn);
    const why = match(e);
    if (why.length === 0) return;
    selected.push(e);
    for (const w of why) found.add(w);
  });
  refuseUnmatched(spec, found);
  const result: SnapshotSelection = { selected, managed: [], references: [], scope };
  if (dependencies) await readDependencies(snapshot, result);
  return result;
}

async function readDependencies(snapshot: EntrySource, sel: SnapshotSelection): Promise<void> {
  const chosen = new Set(sel.selected.map((e) => e.ndn));
  const managedDns = new Set(sel.selected.flatMap((e) => (e.attrs.get('mepmanagedentry') ?? []).map(ndnOf)));
  await snapshot((e) => {
    if (chosen.has(e.ndn)) return;
    const managedBy = (e.attrs.get('mepmanagedby') ?? []).map(ndnOf);
    if (managedDns.has(e.ndn) || managedBy.some((m) => chosen.has(m))) sel.managed.push(e);
    for (const [attr, values] of e.attrs) {
      if (!isDnValued(attr) || MANAGED_LINKS.has(attr)) continue;
      for (const v of values) {
        const to = ndnOf(v);
        if (chosen.has(to)) sel.references.push({ dn: e.dn, ndn: e.ndn, attr, values: [v], to });
      }
    }
  });
}

/** For each entry, the selection options it matches (empty: not selected). */
function selectionTest(spec: SelectionSpec, suffix: string): (e: ContentEntry) => string[] {
  const dns = new Map(spec.dns.map((d) => [normalizeDn(d), `--dn ${d}`]));
  const named = spec.names.map((n) => ({
    label: `${n.option} ${n.name}`,
    parent: normalizeDn(containerDn(n.kind, suffix)),
    attr: layoutOf(n.kind).nameAttr,
    name: n.name.toLowerCase(),
  }));
  const subtree = spec.subtree ? normalizeDn(spec.subtree) : undefined;
  const test: EntryTest | undefined = spec.filter ? entryFilter(spec.filter, '--filter') : undefined;
  const region = subtree ? `--subtree ${spec.subtree}` : spec.filter ? `--filter ${spec.filter}` : undefined;
  return (e) => {
    const why: string[] = [];
    const byDn = dns.get(e.ndn);
    if (byDn) why.push(byDn);
    for (const n of named) {
      if (
        parentOf(e.ndn) === n.parent &&
        (e.attrs.get(n.attr) ?? []).some((v) => v.toString().toLowerCase() === n.name)
      )
        why.push(n.label);
    }
    if (region && (!subtree || within(e.ndn, subtree)) && (!test || test(e))) why.push(region);
    return why;
  };
}

function refuseUnmatched(spec: SelectionSpec, found: Set<string>): void {
  const asked = [
    ...spec.dns.map((d) => `--dn ${d}`),
    ...spec.names.map((n) => `${n.option} ${n.name}`),
    ...(spec.subtree ? [`--subtree ${spec.subtree}`] : spec.filter ? [`--filter ${spec.filter}`] : []),
  ];
  if (asked.length === 0)
    throw new UsageError('restore-entries: select entries with --dn, --subtree, --filter or --user/--group/…');
  const missing = asked.filter((a) => !found.has(a));
  if (missing.length > 0)
    throw new UsageError(`restore-entries: ${missing.join(', ')}: nothing in the snapshot matches`);
}

export function parentOf(ndn: string): string {
  const i = ndn.search(/(?<!\\),/);
  return i < 0 ? '' : ndn.slice(i + 1);
}

function ndnOf(v: Buffer): string {
  return normalizeDn(v.toString('utf8'));
}
