// The FreeIPA schema the IPA-shaped lab's entries use: the object classes and attributes of users, groups,
// hosts, hostgroups, sudo rules/commands and HBAC rules, with FreeIPA's own OIDs and names (install/share/
// 60basev2, 60basev3, 60kerberos, 65ipasudo and 60basev4 .ldif). A subset: each class's MAY list keeps only
// the attributes defined here, since 389-DS refuses a class that names an attribute it does not know.
// The rest (posixAccount, mepOriginEntry, nsHost …) ships with 389-ds-base.

const SYNTAX = {
  string: '1.3.6.1.4.1.1466.115.121.1.15',
  ia5: '1.3.6.1.4.1.1466.115.121.1.26',
  dn: '1.3.6.1.4.1.1466.115.121.1.12',
  boolean: '1.3.6.1.4.1.1466.115.121.1.7',
  octets: '1.3.6.1.4.1.1466.115.121.1.40',
  time: '1.3.6.1.4.1.1466.115.121.1.24',
};

const caseIgnore = (oid: string, name: string, origin = 'IPA v2'): string =>
  `( ${oid} NAME '${name}' EQUALITY caseIgnoreMatch ORDERING caseIgnoreOrderingMatch ` +
  `SUBSTR caseIgnoreSubstringsMatch SYNTAX ${SYNTAX.string} X-ORIGIN '${origin}' )`;
const dnValued = (oid: string, name: string, sup = 'distinguishedName', origin = 'IPA v2'): string =>
  `( ${oid} NAME '${name}' SUP ${sup} EQUALITY distinguishedNameMatch SYNTAX ${SYNTAX.dn} X-ORIGIN '${origin}' )`;
const octets = (oid: string, name: string, origin: string): string =>
  `( ${oid} NAME '${name}' EQUALITY octetStringMatch SYNTAX ${SYNTAX.octets} X-ORIGIN '${origin}' )`;
const krb = (oid: string, name: string, rest: string): string => `( ${oid} NAME '${name}' ${rest} X-ORIGIN 'IPA lab' )`;

const ATTRIBUTES = [
  caseIgnore('2.16.840.1.113730.3.8.3.1', 'ipaUniqueID'),
  caseIgnore('2.16.840.1.113730.3.8.3.4', 'fqdn'),
  dnValued('2.16.840.1.113730.3.8.3.18', 'managedBy'),
  dnValued('2.16.840.1.113730.3.8.3.5', 'memberUser'),
  caseIgnore('2.16.840.1.113730.3.8.3.6', 'userCategory'),
  dnValued('2.16.840.1.113730.3.8.3.7', 'memberHost'),
  caseIgnore('2.16.840.1.113730.3.8.3.8', 'hostCategory'),
  caseIgnore('2.16.840.1.113730.3.8.3.19', 'serviceCategory'),
  dnValued('2.16.840.1.113730.3.8.3.10', 'sourceHost', 'memberHost'),
  caseIgnore('2.16.840.1.113730.3.8.3.12', 'sourceHostCategory'),
  caseIgnore('2.16.840.1.113730.3.8.3.13', 'accessRuleType'),
  `( 2.16.840.1.113730.3.8.3.9 NAME 'ipaEnabledFlag' EQUALITY booleanMatch SYNTAX ${SYNTAX.boolean} ` +
    `SINGLE-VALUE X-ORIGIN 'IPA v2' )`,
  `( 2.16.840.1.113730.3.8.7.13 NAME 'sudoCmd' EQUALITY caseExactMatch SUBSTR caseExactSubstringsMatch ` +
    `SYNTAX ${SYNTAX.string} X-ORIGIN 'IPA v2' )`,
  dnValued('2.16.840.1.113730.3.8.7.1', 'memberAllowCmd'),
  dnValued('2.16.840.1.113730.3.8.7.2', 'memberDenyCmd'),
  caseIgnore('2.16.840.1.113730.3.8.7.3', 'cmdCategory'),
  `( 2.16.840.1.113730.3.8.7.5 NAME 'ipaSudoOpt' EQUALITY caseExactIA5Match SYNTAX ${SYNTAX.ia5} X-ORIGIN 'IPA v2' )`,
  dnValued('2.16.840.1.113730.3.8.7.6', 'ipaSudoRunAs', 'memberUser'),
  dnValued('2.16.840.1.113730.3.8.7.9', 'ipaSudoRunAsGroup', 'memberUser'),
  caseIgnore('2.16.840.1.113730.3.8.7.8', 'ipaSudoRunAsUserCategory'),
  caseIgnore('2.16.840.1.113730.3.8.7.11', 'ipaSudoRunAsGroupCategory'),
  dnValued('2.16.840.1.113730.3.8.23.1', 'memberManager', 'distinguishedName', 'IPA v4'),
  octets('2.16.840.1.113730.3.8.11.31', 'ipaSshPubKey', 'IPA v3'),
  octets('2.16.840.1.113730.3.8.11.5', 'ipaNTHash', 'IPA v3'),
  krb('2.16.840.1.113719.1.301.4.1.1', 'krbPrincipalName', `EQUALITY caseExactIA5Match SYNTAX ${SYNTAX.ia5}`),
  krb('1.2.840.113554.1.4.1.6.1', 'krbCanonicalName', `EQUALITY caseExactIA5Match SYNTAX ${SYNTAX.ia5} SINGLE-VALUE`),
  krb('2.16.840.1.113719.1.301.4.39.1', 'krbPrincipalKey', `EQUALITY octetStringMatch SYNTAX ${SYNTAX.octets}`),
  krb('2.16.840.1.113719.1.301.4.51.1', 'krbExtraData', `EQUALITY octetStringMatch SYNTAX ${SYNTAX.octets}`),
  krb('2.16.840.1.113719.1.301.4.45.1', 'krbLastPwdChange', `EQUALITY generalizedTimeMatch SYNTAX ${SYNTAX.time}`),
  krb('2.16.840.1.113719.1.301.4.37.1', 'krbPasswordExpiration', `EQUALITY generalizedTimeMatch SYNTAX ${SYNTAX.time}`),
];

const CLASSES = [
  "( 2.16.840.1.113730.3.8.4.12 NAME 'ipaObject' AUXILIARY MUST ipaUniqueID X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.4.3 NAME 'nestedGroup' SUP groupOfNames STRUCTURAL MAY memberOf X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.4.4 NAME 'ipaUserGroup' SUP nestedGroup STRUCTURAL MAY memberManager X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.4.5 NAME 'ipaHostGroup' SUP nestedGroup STRUCTURAL MAY memberManager X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.4.1 NAME 'ipaHost' AUXILIARY MUST fqdn MAY ( userPassword $ memberOf ) X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.4.2 NAME 'ipaService' AUXILIARY MAY ( memberOf $ managedBy ) X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.12.20 NAME 'ipaUser' AUXILIARY MUST uid X-ORIGIN 'IPA v3' )",
  "( 2.16.840.1.113730.3.8.12.11 NAME 'ipaSshGroupOfPubKeys' ABSTRACT MAY ipaSshPubKey X-ORIGIN 'IPA v3' )",
  "( 2.16.840.1.113730.3.8.12.12 NAME 'ipaSshUser' SUP ipaSshGroupOfPubKeys AUXILIARY X-ORIGIN 'IPA v3' )",
  "( 2.16.840.1.113730.3.8.4.6 NAME 'ipaAssociation' ABSTRACT MUST ( ipaUniqueID $ cn ) MAY ( memberUser $ " +
    "userCategory $ memberHost $ hostCategory $ ipaEnabledFlag $ description ) X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.4.7 NAME 'ipaHBACRule' SUP ipaAssociation STRUCTURAL MUST accessRuleType MAY ( " +
    "sourceHost $ sourceHostCategory $ serviceCategory ) X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.8.1 NAME 'ipaSudoRule' SUP ipaAssociation STRUCTURAL MAY ( memberAllowCmd $ " +
    'memberDenyCmd $ cmdCategory $ ipaSudoOpt $ ipaSudoRunAs $ ipaSudoRunAsUserCategory $ ipaSudoRunAsGroup $ ' +
    "ipaSudoRunAsGroupCategory ) X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113730.3.8.8.2 NAME 'ipaSudoCmd' STRUCTURAL MUST ( ipaUniqueID $ sudoCmd ) MAY ( memberOf $ " +
    "description ) X-ORIGIN 'IPA v2' )",
  "( 2.16.840.1.113719.1.301.6.8.1 NAME 'krbPrincipalAux' AUXILIARY MAY ( krbPrincipalName $ krbCanonicalName $ " +
    "krbPrincipalKey $ krbPasswordExpiration $ krbLastPwdChange $ krbExtraData ) X-ORIGIN 'IPA lab' )",
  "( 2.16.840.1.113730.3.8.12.2 NAME 'ipaNTUserAttrs' AUXILIARY MAY ipaNTHash X-ORIGIN 'IPA lab' )",
];

/** The schema file's name in the instance's schema folder: read after 389-DS's own (99user.ldif stays last). */
export const IPA_SCHEMA_FILE = '90ipa-lab.ldif';

/** The schema as a 389-DS schema file (one cn=schema entry); definitions folded into LDIF continuation lines. */
export function ipaSchemaLdif(): string {
  const fold = (line: string): string => line.replace(/(.{76})(?=.)/g, '$1\n ');
  return [
    'dn: cn=schema',
    ...ATTRIBUTES.map((a) => fold(`attributeTypes: ${a}`)),
    ...CLASSES.map((c) => fold(`objectClasses: ${c}`)),
    '',
  ].join('\n');
}
