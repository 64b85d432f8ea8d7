// When an entry last changed, in replication's terms: the newest CSN in its state information
// (`nscpEntryWSI`, which 389-DS returns only when asked for by name, to the Directory Manager), or the
// CSN of the tombstone a delete left. With a host's RUV this tells whether the host has seen a change.
import type { LdapSession } from '../transport/ldap.js';
import { compareCsn } from './csn.js';
import { escapeFilterValue } from './dn.js';
import { isNoSuchObject } from './ruv.js';

const STATE_CSN = /;(?:adcsn|vucsn|vdcsn|mdcsn)-([0-9a-f]{20})/gi;

/** The newest CSN named in an entry's state lines (`attr;adcsn-…;vucsn-…: value`). */
export function newestStateCsn(stateLines: readonly string[]): string | undefined {
  let newest: string | undefined;
  for (const line of stateLines) {
    const head = line.slice(0, line.indexOf(':') + 1 || line.length);
    for (const m of head.matchAll(STATE_CSN)) if (compareCsn(m[1]!, newest) > 0) newest = m[1]!.toLowerCase();
  }
  return newest;
}

/** The newest change of the entry at `dn` on this host; undefined when the host has no such entry. */
export async function entryCsn(ldap: LdapSession, dn: string): Promise<string | undefined> {
  try {
    const [entry] = await ldap.search(dn, {
      scope: 'base',
      filter: '(|(objectClass=*)(objectClass=ldapSubEntry))',
      attributes: ['nscpEntryWSI'],
    });
    return entry ? newestStateCsn(entry.getAll('nscpentrywsi')) : undefined;
  } catch (err) {
    if (isNoSuchObject(err)) return undefined;
    throw err;
  }
}

/** The CSN of the delete that left a tombstone of `dn` under the suffix, if there is one. */
export async function tombstoneCsn(ldap: LdapSession, suffix: string, dn: string): Promise<string | undefined> {
  const found = await ldap.search(suffix, {
    filter: `(&(objectClass=nsTombstone)(nscpEntryDN=${escapeFilterValue(dn)}))`,
    attributes: ['nsTombstoneCSN'],
  });
  let newest: string | undefined;
  for (const t of found) {
    const csn = t.get('nstombstonecsn');
    if (csn && compareCsn(csn, newest) > 0) newest = csn.toLowerCase();
  }
  return newest;
}
