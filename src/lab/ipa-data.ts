// The IPA-shaped lab's data (`lab up --data ipa`): FreeIPA's containers, the managed-entry definition of
// user private groups, and sample users (each with its private group), groups with nested groups, hosts,
// hostgroups, sudo commands and rules, and HBAC rules, shaped as FreeIPA writes them (object classes,
// attribute names, DN layout; rules and commands named by ipaUniqueID). Imported as an LDIF, so what the
// plugins would write on an add is written here: mepManagedEntry/mepManagedBy and the DNA-assigned IDs.
// memberOf is left to the plugin (a fixup task after the import).
import { createHash } from 'node:crypto';
import { containerDn } from '../content/ipa-layout.js';
import { DNA_SHARED, ID_START, MEP_DEFINITIONS } from './ipa-plugins.js';
import { LAB_SUFFIX } from './spec.js';

const REALM = 'IPA.TEST';
const DOMAIN = 'ipa.test';

/** Names the tests (and an administrator trying the lab) can rely on: the issue's scenario. */
export const IPA_SAMPLE = {
  /** In two groups (ops, web-admins) and named by the sudo rule web-restart. */
  userInTwoGroups: 'alice',
  /** A user nobody deletes: the one whose attributes get modified. */
  otherUser: 'erin',
  /** Holds bob, carol and the nested group dev-interns; the HBAC rule allow-developers names it. */
  groupWithNested: 'developers',
  nestedGroup: 'dev-interns',
  sudoRule: 'web-restart',
  hbacRule: 'allow-developers',
} as const;

const NAMED_USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const NAMED_GROUPS: Array<{ cn: string; users: string[]; groups?: string[] }> = [
  { cn: 'admins', users: ['erin'] },
  { cn: 'developers', users: ['bob', 'carol'], groups: ['dev-interns'] },
  { cn: 'dev-interns', users: ['dave'] },
  { cn: 'ops', users: ['alice', 'erin'] },
  { cn: 'web-admins', users: ['alice', 'bob'] },
];
const NAMED_HOSTS = ['web1', 'web2', 'db1'];
const NAMED_HOSTGROUPS = [
  { cn: 'webservers', hosts: ['web1', 'web2'] },
  { cn: 'dbservers', hosts: ['db1'] },
];

/** A stable ipaUniqueID per name: the same lab data every time, still one UUID per object. */
function uniqueId(name: string): string {
  const h = createHash('sha256').update(`ipa-fleet-lab:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Stand-ins for hashes and keys: binary, secret-shaped, never meaningful. */
function secret(name: string, what: string, bytes: number): string {
  return createHash('sha512').update(`${what}:${name}`).digest().subarray(0, bytes).toString('base64');
}

const userDn = (uid: string): string => `uid=${uid},${containerDn('user', LAB_SUFFIX)}`;
const groupDn = (cn: string): string => `cn=${cn},${containerDn('group', LAB_SUFFIX)}`;
const hostDn = (short: string): string => `fqdn=${short}.${DOMAIN},${containerDn('host', LAB_SUFFIX)}`;
const hostgroupDn = (cn: string): string => `cn=${cn},${containerDn('hostgroup', LAB_SUFFIX)}`;
const sudoCmdDn = (cmd: string): string => `ipaUniqueID=${uniqueId(`cmd:${cmd}`)},cn=sudocmds,cn=sudo,${LAB_SUFFIX}`;

function record(dn: string, attrs: Array<[string, string | string[]]>): string {
  const lines = [`dn: ${dn}`];
  for (const [name, value] of attrs) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  return `${lines.join('\n')}\n`;
}

const container = (dn: string): string => {
  const cn = /^cn=([^,]+)/.exec(dn)![1]!;
  return record(dn, [
    ['objectClass', ['top', 'nsContainer']],
    ['cn', cn],
  ]);
};

function containers(): string[] {
  const dns = [
    `cn=accounts,${LAB_SUFFIX}`,
    ...(['user', 'group', 'host', 'hostgroup'] as const).map((k) => containerDn(k, LAB_SUFFIX)),
    `cn=sudo,${LAB_SUFFIX}`,
    containerDn('sudo rule', LAB_SUFFIX),
    `cn=sudocmds,cn=sudo,${LAB_SUFFIX}`,
    containerDn('HBAC rule', LAB_SUFFIX),
    `cn=etc,${LAB_SUFFIX}`,
    `cn=ipa,cn=etc,${LAB_SUFFIX}`,
    `cn=dna,cn=ipa,cn=etc,${LAB_SUFFIX}`,
    DNA_SHARED,
    `cn=Managed Entries,cn=etc,${LAB_SUFFIX}`,
    `cn=Templates,cn=Managed Entries,cn=etc,${LAB_SUFFIX}`,
    MEP_DEFINITIONS,
  ];
  return [
    record(LAB_SUFFIX, [
      ['objectClass', ['top', 'domain']],
      ['dc', 'ipa'],
    ]),
    ...dns.map(container),
  ];
}

/** user_private_groups.ldif: the template and the definition, as FreeIPA has them. */
function upgDefinition(): string[] {
  const template = `cn=UPG Template,cn=Templates,cn=Managed Entries,cn=etc,${LAB_SUFFIX}`;
  return [
    record(template, [
      ['objectClass', 'mepTemplateEntry'],
      ['cn', 'UPG Template'],
      ['mepRDNAttr', 'cn'],
      ['mepStaticAttr', ['objectclass: posixgroup', 'objectclass: ipaobject', 'ipaUniqueId: autogenerate']],
      ['mepMappedAttr', ['cn: $uid', 'gidNumber: $uidNumber', 'description: User private group for $uid']],
    ]),
    record(`cn=UPG Definition,${MEP_DEFINITIONS}`, [
      ['objectClass', 'extensibleObject'],
      ['cn', 'UPG Definition'],
      ['originScope', containerDn('user', LAB_SUFFIX)],
      ['originFilter', '(&(objectclass=posixAccount)(!(description=__no_upg__)))'],
      ['managedBase', containerDn('group', LAB_SUFFIX)],
      ['managedTemplate', template],
    ]),
  ];
}

/** A user as `ipa user-add` writes it, and its private group as the managed-entries plugin writes it. */
function user(uid: string, id: number, given: string, sn: string): string[] {
  const cn = `${given} ${sn}`;
  return [
    record(userDn(uid), [
      ['objectClass', ['top', 'person', 'organizationalperson', 'inetorgperson', 'inetuser', 'posixaccount']],
      ['objectClass', ['krbprincipalaux', 'ipaobject', 'ipasshuser', 'mepOriginEntry', 'ipantuserattrs']],
      ['uid', uid],
      ['givenName', given],
      ['sn', sn],
      ['cn', cn],
      ['displayName', cn],
      ['gecos', cn],
      ['mail', `${uid}@${DOMAIN}`],
      ['uidNumber', String(id)],
      ['gidNumber', String(id)],
      ['homeDirectory', `/home/${uid}`],
      ['loginShell', '/bin/bash'],
      ['krbPrincipalName', `${uid}@${REALM}`],
      ['krbCanonicalName', `${uid}@${REALM}`],
      ['ipaUniqueID', uniqueId(`user:${uid}`)],
      ['mepManagedEntry', groupDn(uid)],
      ['userPassword', `{SSHA512}${secret(uid, 'userPassword', 72)}`],
      ['krbPrincipalKey:', secret(uid, 'krbPrincipalKey', 60)],
      ['krbExtraData:', secret(uid, 'krbExtraData', 24)],
      ['ipaNTHash:', secret(uid, 'ipaNTHash', 16)],
      ['krbLastPwdChange', '20261201000000Z'],
      ['krbPasswordExpiration', '20270301000000Z'],
    ]),
    record(groupDn(uid), [
      ['objectClass', ['top', 'posixgroup', 'ipaobject', 'mepManagedEntry']],
      ['cn', uid],
      ['gidNumber', String(id)],
      ['description', `User private group for ${uid}`],
      ['mepManagedBy', userDn(uid)],
      ['ipaUniqueID', uniqueId(`upg:${uid}`)],
    ]),
  ];
}

function group(cn: string, id: number, members: string[]): string {
  return record(groupDn(cn), [
    ['objectClass', ['top', 'groupofnames', 'nestedgroup', 'ipausergroup', 'ipaobject', 'posixgroup']],
    ['cn', cn],
    ['description', `${cn} (lab group)`],
    ['gidNumber', String(id)],
    ['ipaUniqueID', uniqueId(`group:${cn}`)],
    ['member', members],
  ]);
}

function host(short: string): string {
  const fqdn = `${short}.${DOMAIN}`;
  return record(hostDn(short), [
    ['objectClass', ['top', 'nshost', 'ipahost', 'ipaservice', 'ipaobject', 'krbprincipalaux']],
    ['cn', fqdn],
    ['fqdn', fqdn],
    ['serverHostName', short],
    ['krbPrincipalName', `host/${fqdn}@${REALM}`],
    ['ipaUniqueID', uniqueId(`host:${fqdn}`)],
    ['managedBy', hostDn(short)],
  ]);
}

function hostgroup(cn: string, hosts: string[]): string {
  return record(hostgroupDn(cn), [
    ['objectClass', ['top', 'groupofnames', 'nestedgroup', 'ipahostgroup', 'ipaobject']],
    ['cn', cn],
    ['description', `${cn} (lab host group)`],
    ['ipaUniqueID', uniqueId(`hostgroup:${cn}`)],
    ['member', hosts.map(hostDn)],
  ]);
}

interface Rule {
  cn: string;
  users: string[];
  groups: string[];
  hostgroups: string[];
}

function sudoRule(rule: Rule, command: string): string {
  return record(`ipaUniqueID=${uniqueId(`sudo:${rule.cn}`)},${containerDn('sudo rule', LAB_SUFFIX)}`, [
    ['objectClass', ['top', 'ipaassociation', 'ipasudorule']],
    ['cn', rule.cn],
    ['ipaUniqueID', uniqueId(`sudo:${rule.cn}`)],
    ['ipaEnabledFlag', 'TRUE'],
    ['memberUser', [...rule.users.map(userDn), ...rule.groups.map(groupDn)]],
    ['memberHost', rule.hostgroups.map(hostgroupDn)],
    ['memberAllowCmd', sudoCmdDn(command)],
  ]);
}

function hbacRule(rule: Rule): string {
  return record(`ipaUniqueID=${uniqueId(`hbac:${rule.cn}`)},${containerDn('HBAC rule', LAB_SUFFIX)}`, [
    ['objectClass', ['top', 'ipaassociation', 'ipahbacrule']],
    ['cn', rule.cn],
    ['ipaUniqueID', uniqueId(`hbac:${rule.cn}`)],
    ['accessRuleType', 'allow'],
    ['ipaEnabledFlag', 'TRUE'],
    ['serviceCategory', 'all'],
    ['memberUser', [...rule.users.map(userDn), ...rule.groups.map(groupDn)]],
    ['memberHost', rule.hostgroups.map(hostgroupDn)],
  ]);
}

function sudoCommand(cmd: string): string {
  return record(sudoCmdDn(cmd), [
    ['objectClass', ['top', 'ipasudocmd', 'ipaobject']],
    ['ipaUniqueID', uniqueId(`cmd:${cmd}`)],
    ['sudoCmd', cmd],
  ]);
}

export interface IpaLdif {
  ldif: string;
  /** uidNumber/gidNumber values used, from ID_START on: the first host's DNA range starts after them. */
  idsUsed: number;
}

const bulkUid = (i: number): string => `user${String(i).padStart(6, '0')}`;

/** The named sample plus `users` generated users, in groups of ten, one rule per fifty. */
export function ipaDomainLdif(users: number): IpaLdif {
  let nextId = ID_START;
  const out = [...containers(), ...upgDefinition()];
  for (const uid of NAMED_USERS) out.push(...user(uid, nextId++, uid[0]!.toUpperCase() + uid.slice(1), 'Sample'));
  for (let i = 1; i <= users; i++) out.push(...user(bulkUid(i), nextId++, 'Lab', `User ${i}`));
  for (const g of NAMED_GROUPS)
    out.push(group(g.cn, nextId++, [...g.users.map(userDn), ...(g.groups ?? []).map(groupDn)]));
  const bulkGroups = Math.ceil(users / 10);
  for (let g = 1; g <= bulkGroups; g++) {
    const members = Array.from({ length: Math.min(10, users - (g - 1) * 10) }, (_, k) =>
      userDn(bulkUid(g * 10 - 9 + k)),
    );
    out.push(group(`group${String(g).padStart(5, '0')}`, nextId++, members));
  }
  out.push(...NAMED_HOSTS.map(host), ...NAMED_HOSTGROUPS.map((h) => hostgroup(h.cn, h.hosts)));
  const commands = ['/usr/bin/systemctl restart httpd', '/usr/bin/journalctl'];
  out.push(...commands.map(sudoCommand));
  out.push(
    sudoRule({ cn: 'web-restart', users: ['alice'], groups: ['web-admins'], hostgroups: ['webservers'] }, commands[0]!),
  );
  out.push(
    sudoRule({ cn: 'ops-logs', users: [], groups: ['ops'], hostgroups: ['webservers', 'dbservers'] }, commands[1]!),
  );
  out.push(hbacRule({ cn: 'allow-developers', users: [], groups: ['developers'], hostgroups: ['dbservers'] }));
  out.push(hbacRule({ cn: 'allow-ops', users: ['erin'], groups: ['ops'], hostgroups: ['webservers', 'dbservers'] }));
  for (let r = 1; r <= Math.ceil(users / 50); r++) {
    const groups = [`group${String(Math.min(r * 5, bulkGroups)).padStart(5, '0')}`];
    out.push(
      hbacRule({
        cn: `bulk-rule${String(r).padStart(4, '0')}`,
        users: [bulkUid(r * 50 - 49)],
        groups,
        hostgroups: ['webservers'],
      }),
    );
  }
  return { ldif: out.join('\n'), idsUsed: nextId - ID_START };
}
