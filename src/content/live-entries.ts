// The entries of a live subtree as ContentEntry values, read over LDAP a page at a time. User and
// operational attributes are both asked for ('*', '+'), as an export holds both, and 389-DS returns
// data such as nsAccountLock and passwordExpirationTime only with '+': what is not data is then
// dropped by the same rule as on the snapshot side (entry.ts).

import type { LdapSession } from '../transport/ldap.js';
import type { EntrySource } from './diff.js';
import { type ContentEntry, contentEntry } from './entry.js';

/** 389-DS leaves LDAP subentries (CoS, roles, password policies) out unless the filter names them. */
export const WITH_SUBENTRIES = '(|(objectClass=*)(objectClass=ldapSubEntry))';

/** A live subtree as an EntrySource: each pass a fresh paged read, each page's entries visited at once. */
export function liveSource(ldap: LdapSession, base: string): EntrySource {
  return async (visit) => {
    for await (const page of ldap.pages(base, { filter: WITH_SUBENTRIES, attributes: ['*', '+'] })) {
      for (const raw of page) {
        const entry = contentEntry(raw.dn, raw.attributes);
        if (entry) visit(entry);
      }
    }
  };
}

/** The entry at `dn` on the host as data, or undefined when there is none. */
export async function liveEntry(ldap: LdapSession, dn: string): Promise<ContentEntry | undefined> {
  for await (const page of ldap.pages(dn, { scope: 'base', filter: WITH_SUBENTRIES, attributes: ['*', '+'] })) {
    const raw = page[0];
    if (raw) return contentEntry(raw.dn, raw.attributes);
  }
  return undefined;
}
