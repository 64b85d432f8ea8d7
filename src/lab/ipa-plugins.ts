// The four 389-DS plugins FreeIPA configures, set up on one lab host as FreeIPA's installer does
// (install/share/memberof-conf.ldif, referint-conf.ldif + updates/25-referint.update, user_private_groups.ldif
// + repoint-managed-entries.ldif, dna.ldif), and the indexes FreeIPA keeps on the attributes they search
// (updates/20-indices.update). Applied over LDAP before the data is imported; plugins start on the restart.
import { replicaDn } from '../directory/dn.js';
import type { LdapSession, Modification } from '../transport/ldap.js';
import { LAB_SUFFIX } from './spec.js';

const PLUGINS = 'cn=plugins,cn=config';
const MEMBEROF = `cn=MemberOf Plugin,${PLUGINS}`;
const REFERINT = `cn=referential integrity postoperation,${PLUGINS}`;
const MEP = `cn=Managed Entries,${PLUGINS}`;
const DNA = `cn=Distributed Numeric Assignment Plugin,${PLUGINS}`;

/** Where the lab's managed-entry definitions live, in the replicated suffix as in FreeIPA. */
export const MEP_DEFINITIONS = `cn=Definitions,cn=Managed Entries,cn=etc,${LAB_SUFFIX}`;
/** DNA's shared configuration, where each server publishes its remaining range (cn=posix-ids). */
export const DNA_SHARED = `cn=posix-ids,cn=dna,cn=ipa,cn=etc,${LAB_SUFFIX}`;

/**
 * memberOf is computed on member, memberUser and memberHost (FreeIPA adds ipaOwner too; the lab's
 * schema has no ipaOwner). referint checks FreeIPA's list, less the attributes of features the lab
 * does not model (services, tokens, ID views, CAs, locations, IdPs).
 */
const MEMBEROF_GROUP_ATTRS = ['member', 'memberUser', 'memberHost'];
const REFERINT_ATTRS = [
  'member',
  'uniquemember',
  'owner',
  'seeAlso',
  'manager',
  'secretary',
  'memberuser',
  'memberhost',
  'sourcehost',
  'managedby',
  'memberallowcmd',
  'memberdenycmd',
  'ipasudorunas',
  'ipasudorunasgroup',
  'membermanager',
];
const INDEXED = ['memberUser', 'memberHost', 'memberAllowCmd', 'memberDenyCmd', 'managedBy', 'ipaUniqueID'];

/** Each replica assigns uidNumber/gidNumber from its own slice, as FreeIPA gives each server its DNA range. */
export const ID_START = 1_200_000;
const IDS_PER_HOST = 50_000;

export interface IdRange {
  next: number;
  max: number;
}

/** The host's DNA range; the first host's starts after the IDs the generated data already holds. */
export function idRange(hostIndex: number, usedOnFirst: number): IdRange {
  const start = ID_START + (hostIndex - 1) * IDS_PER_HOST;
  return { next: hostIndex === 1 ? start + usedOnFirst : start, max: start + IDS_PER_HOST - 1 };
}

const on: Modification = { op: 'replace', attr: 'nsslapd-pluginEnabled', values: ['on'] };

export async function configureIpaPlugins(ldap: LdapSession, range: IdRange): Promise<void> {
  await ldap.modify(MEMBEROF, [
    on,
    { op: 'replace', attr: 'memberOfGroupAttr', values: MEMBEROF_GROUP_ATTRS },
    { op: 'replace', attr: 'memberOfEntryScope', values: [LAB_SUFFIX] },
    { op: 'replace', attr: 'memberOfEntryScopeExcludeSubtree', values: [`cn=provisioning,${LAB_SUFFIX}`] },
  ]);
  await ldap.modify(REFERINT, [
    on,
    { op: 'replace', attr: 'referint-membership-attr', values: REFERINT_ATTRS },
    { op: 'replace', attr: 'nsslapd-pluginEntryScope', values: [LAB_SUFFIX] },
    { op: 'replace', attr: 'nsslapd-pluginContainerScope', values: [LAB_SUFFIX] },
  ]);
  await ldap.modify(MEP, [on, { op: 'replace', attr: 'nsslapd-pluginConfigArea', values: [MEP_DEFINITIONS] }]);
  await ldap.add(`cn=Posix IDs,${DNA}`, {
    objectClass: ['top', 'extensibleObject'],
    cn: 'Posix IDs',
    dnaType: ['uidNumber', 'gidNumber'],
    dnaNextValue: String(range.next),
    dnaMaxValue: String(range.max),
    dnaMagicRegen: '-1',
    dnaFilter: '(|(objectClass=posixAccount)(objectClass=posixGroup)(objectClass=ipaIDobject))',
    dnaScope: LAB_SUFFIX,
    dnaThreshold: '500',
    dnaSharedCfgDN: DNA_SHARED,
    dnaExcludeScope: `cn=provisioning,${LAB_SUFFIX}`,
  });
  await ldap.modify(DNA, [on]);
  for (const attr of INDEXED) {
    await ldap.add(`cn=${attr},cn=index,cn=userRoot,cn=ldbm database,${PLUGINS}`, {
      objectClass: ['top', 'nsIndex'],
      cn: attr,
      nsSystemIndex: 'false',
      nsIndexType: ['eq', 'pres'],
    });
  }
}

/**
 * FreeIPA's agreements (ipaserver/install/replication.py): memberOf is not replicated but computed by
 * each server's own plugin (total updates carry it), nor are per-server counters and login stamps.
 */
const TOTAL_EXCLUDES = [
  'entryusn',
  'krblastsuccessfulauth',
  'krblastfailedauth',
  'krbloginfailedcount',
  'passwordgraceusertime',
];
export const IPA_FRACTIONAL = {
  incremental: `(objectclass=*) $ EXCLUDE ${['memberof', 'idnssoaserial', ...TOTAL_EXCLUDES].join(' ')}`,
  total: `(objectclass=*) $ EXCLUDE ${TOTAL_EXCLUDES.join(' ')}`,
  strip: 'modifiersName modifyTimestamp internalModifiersName internalModifyTimestamp',
};

/**
 * Under load 389-DS 2.3.1 aborts a replication session when applying a change whose plugin writes
 * (memberOf, referential integrity) hit a transient database deadlock ("Will retry later"), and backs
 * off up to 5 minutes. The IPA-shaped lab retries within 10 s so that tests wait on replication, not
 * on a back-off.
 */
export async function shortenReplicationBackoff(ldap: LdapSession): Promise<void> {
  await ldap.modify(replicaDn(LAB_SUFFIX), [{ op: 'replace', attr: 'nsds5ReplicaBackoffMax', values: ['10'] }]);
}
