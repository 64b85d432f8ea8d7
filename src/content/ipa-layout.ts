// Where FreeIPA keeps each kind of entry (ipaserver's DN layout: cn=users,cn=accounts,$SUFFIX …)
// and which attribute names one. diff groups its summary by these kinds; restore-entries' --user,
// --group … find an entry by name with them. A tree without this layout is all "other".

import { normalizeDn } from '../directory/dn.js';

export type EntryKind = 'user' | 'group' | 'host' | 'hostgroup' | 'sudo rule' | 'HBAC rule' | 'other';

export interface KindLayout {
  kind: Exclude<EntryKind, 'other'>;
  /** The container under the suffix. */
  container: string;
  /** The attribute that holds the name an administrator uses (`ipa user-show NAME`). */
  nameAttr: string;
}

/** User private groups live in cn=groups too: they count as groups. */
const IPA_LAYOUT: readonly KindLayout[] = [
  { kind: 'user', container: 'cn=users,cn=accounts', nameAttr: 'uid' },
  { kind: 'group', container: 'cn=groups,cn=accounts', nameAttr: 'cn' },
  { kind: 'host', container: 'cn=computers,cn=accounts', nameAttr: 'fqdn' },
  { kind: 'hostgroup', container: 'cn=hostgroups,cn=accounts', nameAttr: 'cn' },
  { kind: 'sudo rule', container: 'cn=sudorules,cn=sudo', nameAttr: 'cn' },
  { kind: 'HBAC rule', container: 'cn=hbac', nameAttr: 'cn' },
];

export const ENTRY_KINDS: readonly EntryKind[] = [...IPA_LAYOUT.map((l) => l.kind), 'other'];

export function layoutOf(kind: Exclude<EntryKind, 'other'>): KindLayout {
  return IPA_LAYOUT.find((l) => l.kind === kind)!;
}

/** The container of a kind under a suffix, as a DN. */
export function containerDn(kind: Exclude<EntryKind, 'other'>, suffix: string): string {
  return `${layoutOf(kind).container},${suffix}`;
}

/** cn=accounts: a tree that has it is laid out as FreeIPA's. */
export function accountsDn(suffix: string): string {
  return `cn=accounts,${suffix}`;
}

/** The kind of an entry from where it sits: a direct child of one of the containers. */
export function kindOf(ndn: string, suffix: string): EntryKind {
  const nsuffix = normalizeDn(suffix);
  const parent = ndn.slice(ndn.search(/(?<!\\),/) + 1);
  for (const l of IPA_LAYOUT) if (parent === `${l.container},${nsuffix}`) return l.kind;
  return 'other';
}
