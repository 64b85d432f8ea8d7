// What in an entry is data. Both sides of a comparison drop the same things: operational
// attributes the server writes, plugin-computed ones (memberOf: each host computes its own),
// per-host counters FreeIPA keeps out of replication, and the replication state an export with
// replication data carries as attribute options (`cn;vucsn-…`, deleted values).

import { isProbeDn } from '../directory/dn.js';

/** Written by the server, per host or per write: never compared, never restored. */
const NOT_DATA = new Set([
  'creatorsname',
  'modifiersname',
  'createtimestamp',
  'modifytimestamp',
  'entryusn',
  'entryid',
  'entrydn',
  'parentid',
  'nsuniqueid',
  'entryuuid',
  'dsentrydn',
  'nsparentuniqueid',
  'numsubordinates',
  'hassubordinates',
  'subschemasubentry',
  'nstombstonecsn',
  'tombstonenumsubordinates',
  'nscpentrydn',
  'nscpentrywsi',
  'memberof',
  'dnaremainingvalues',
  'krblastsuccessfulauth',
  'krblastfailedauth',
  'krbloginfailedcount',
  'krblastadminunlock',
  'passwordretrycount',
  'retrycountresettime',
  'accountunlocktime',
  'lastlogintime',
  'passwordgraceusertime',
  'idnssoaserial',
]);

/** Values shown only as "changed"/"unchanged": hashes, keys and Kerberos secrets. */
const SECRET = new Set([
  'userpassword',
  'krbprincipalkey',
  'ipanthash',
  'krbextradata',
  'sambantpassword',
  'sambalmpassword',
  'krbmkey',
  'ipaprivatekey',
  'ipasecretkey',
  'ipasecretkeyref',
  'nssymmetrickey',
  'passwordhistory',
]);

/** Attribute options that are replication state, not part of the attribute's name. */
const STATE_OPTION = /^(adcsn|vucsn|vdcsn|mdcsn)-|^(deleted|deletedattribute)$/i;

export interface AttributeDescription {
  /** Lower-cased name with its non-state options (`cn;lang-de`). */
  name: string;
  /** The value (or the whole attribute) is marked deleted in the replication state. */
  deleted: boolean;
}

/** Splits `cn;lang-de;vucsn-…` into the attribute's name and whether the value is a deleted one. */
export function describeAttribute(description: string): AttributeDescription {
  // Called once per value line; most descriptions carry no option, and the split below costs.
  if (!description.includes(';')) return { name: description.toLowerCase(), deleted: false };
  const [base = '', ...options] = description.split(';');
  const kept = options.filter((o) => !STATE_OPTION.test(o)).map((o) => o.toLowerCase());
  const deleted = options.some((o) => /^(deleted|deletedattribute)$/i.test(o));
  return { name: [base.toLowerCase(), ...kept].join(';'), deleted };
}

export function isDataAttribute(name: string): boolean {
  const semicolon = name.indexOf(';');
  return !NOT_DATA.has((semicolon < 0 ? name : name.slice(0, semicolon)).toLowerCase());
}

export function isSecretAttribute(name: string): boolean {
  return SECRET.has(name.split(';')[0]!.toLowerCase());
}

const NOT_DATA_CLASSES = new Set(['nstombstone', 'dnasharedconfig']);

/**
 * Entries no comparison or restore looks at: tombstones, RUV entries, the keep-alive entries
 * replication writes per supplier (`cn=repl keep alive RID`), the DNA plugin's shared-range entries
 * (each server rewrites its own as it hands out IDs: FreeIPA's cn=posix-ids,cn=dna,cn=ipa,cn=etc),
 * ipa-fleet's own probes.
 */
export function isNotDataEntry(ndn: string, objectClasses: string[]): boolean {
  if (objectClasses.some((o) => NOT_DATA_CLASSES.has(o.toLowerCase()))) return true;
  if (ndn.startsWith('nsuniqueid=') || ndn.startsWith('cn=repl keep alive ')) return true;
  return isProbeDn(ndn);
}
