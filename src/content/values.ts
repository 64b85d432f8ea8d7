// When two values of an attribute are the same value. Byte for byte, except where the directory's
// own matching rule would call them equal and a source may write them differently: DN-valued
// attributes (spacing and case of the DN) and object class names (case). The digest of an entry is
// built from these keys, so two entries with the same digest are the same data.

import { createHash } from 'node:crypto';
import { normalizeDn } from '../directory/dn.js';
import type { ContentEntry } from './entry.js';

/** Attributes whose values are DNs, in 389-DS's and FreeIPA's schema. */
const DN_VALUED = new Set([
  'member',
  'uniquemember',
  'memberuser',
  'memberhost',
  'memberservice',
  'memberallowcmd',
  'memberdenycmd',
  'membermanager',
  'managedby',
  'manager',
  'secretary',
  'seealso',
  'owner',
  'roleoccupant',
  'nsroledn',
  'mepmanagedby',
  'mepmanagedentry',
  'ipasudorunas',
  'ipasudorunasgroup',
  'ipaallowedtarget',
  'ipamemberca',
  'ipamembercertprofile',
  'sourcehost',
  'krbpwdpolicyreference',
  'krbprincipalreferences',
]);

export function isDnValued(attr: string): boolean {
  return DN_VALUED.has(attr.split(';')[0]!);
}

/** The form two values are compared in. */
export function valueKey(attr: string, value: Buffer): string {
  const base = attr.split(';')[0]!;
  if (DN_VALUED.has(base)) return normalizeDn(value.toString('utf8'));
  if (base === 'objectclass') return value.toString('utf8').toLowerCase();
  return value.toString('latin1');
}

/** A value's key for every value of an attribute. */
export function valueKeys(attr: string, values: Buffer[]): Set<string> {
  return new Set(values.map((v) => valueKey(attr, v)));
}

/** SHA-256 over the entry's attributes and values in a fixed order: equal digests, equal data. */
export function entryDigest(entry: ContentEntry): string {
  // The same bytes as one update per piece, hashed in one call: diff digests every entry of both
  // sides, and the native calls, not the hashing, were the cost.
  let text = '';
  for (const name of [...entry.attrs.keys()].sort()) {
    const values = entry.attrs.get(name)!;
    const keys = values.length === 1 ? [valueKey(name, values[0]!)] : [...valueKeys(name, values)].sort();
    text += `${name}\0${keys.length}\0`;
    for (const k of keys) text += `${k.length}\0${k}`;
  }
  return createHash('sha256').update(text).digest('base64');
}
