import type { LdapSession } from '../transport/ldap.js';

interface EntryCount {
  count: number;
  /** The first few DNs, for the report. */
  first: string[];
}

export interface ConflictScan {
  conflicts: EntryCount;
  glue: EntryCount;
}

/**
 * Replication conflict entries (nsds5ReplConflict; 389-DS makes them LDAP subentries, which a
 * search returns only when the filter names objectclass=ldapsubentry) and the glue entries
 * conflicts leave behind.
 */
export async function scanConflicts(ldap: LdapSession, suffix: string, keep = 5): Promise<ConflictScan> {
  const [conflicts, glue] = await Promise.all([
    ldap.search(suffix, {
      filter: '(&(nsds5ReplConflict=*)(|(objectclass=ldapsubentry)(objectclass=*)))',
      attributes: ['1.1'],
      paged: true,
    }),
    ldap.search(suffix, {
      filter: '(&(objectclass=glue)(|(objectclass=ldapsubentry)(objectclass=*)))',
      attributes: ['1.1'],
      paged: true,
    }),
  ]);
  return {
    conflicts: { count: conflicts.length, first: conflicts.slice(0, keep).map((e) => e.dn) },
    glue: { count: glue.length, first: glue.slice(0, keep).map((e) => e.dn) },
  };
}
