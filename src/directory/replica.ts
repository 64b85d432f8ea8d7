import { FleetError } from '../errors.js';
import type { LdapSession } from '../transport/ldap.js';
import { escapeRdnValue, replicaDn } from './dn.js';

export const REPLICATION_MANAGER_DN = 'cn=replication manager,cn=config';

/** Replica types (nsDS5ReplicaType): 3 = read-write supplier, 2 = read-only hub/consumer. */
export const SUPPLIER_TYPE = '3';

/**
 * The account suppliers bind as. Same object classes as lib389's bootstrap manager.
 * The password travels inside the LDAP request (tunnelled through SSH), never in argv.
 */
export async function ensureReplicationManager(ldap: LdapSession, password: string): Promise<void> {
  if (await ldap.read(REPLICATION_MANAGER_DN, ['cn'])) {
    await ldap.modify(REPLICATION_MANAGER_DN, [{ op: 'replace', attr: 'userPassword', values: [password] }]);
    return;
  }
  await ldap.add(REPLICATION_MANAGER_DN, {
    objectClass: ['top', 'inetUser', 'netscapeServer', 'nsAccount'],
    cn: 'replication manager',
    uid: 'replication manager',
    userPassword: password,
  });
}

/** Makes `suffix` a supplier replica with replica ID `rid` (what `dsconf replication enable` does). */
export async function enableSupplier(ldap: LdapSession, suffix: string, backend: string, rid: number): Promise<void> {
  if (!Number.isInteger(rid) || rid < 1 || rid > 65534)
    throw new FleetError('usage', `replica ID ${rid} is outside 1..65534`);
  const dn = replicaDn(suffix);
  const existing = await ldap.read(dn, ['nsDS5ReplicaId']);
  if (existing) {
    if (existing.get('nsDS5ReplicaId') !== String(rid)) {
      throw new FleetError(
        'failure',
        `${ldap.host.name}: ${suffix} is already a replica with ID ${existing.get('nsDS5ReplicaId')}, not ${rid}`,
      );
    }
    return;
  }
  await ldap.add(dn, {
    objectClass: ['top', 'nsds5Replica'],
    cn: 'replica',
    nsDS5ReplicaRoot: suffix,
    nsDS5Flags: '1',
    nsDS5ReplicaType: SUPPLIER_TYPE,
    nsDS5ReplicaId: String(rid),
    nsDS5ReplicaBindDN: REPLICATION_MANAGER_DN,
  });
  // Changelog trimming: an untrimmed changelog grows for ever (the audit checks this too).
  const changelog = `cn=changelog,cn=${escapeRdnValue(backend)},cn=ldbm database,cn=plugins,cn=config`;
  const cl = await ldap.read(changelog, ['nsslapd-changelogmaxage']);
  if (!cl) {
    await ldap.add(changelog, {
      objectClass: ['top', 'extensibleObject'],
      cn: 'changelog',
      'nsslapd-changelogmaxage': '7d',
    });
  } else if (!cl.get('nsslapd-changelogmaxage')) {
    await ldap.modify(changelog, [{ op: 'replace', attr: 'nsslapd-changelogmaxage', values: ['7d'] }]);
  }
}
