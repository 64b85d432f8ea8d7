// One directory entry as data, the same whether it was read from a snapshot's LDIF or live over
// LDAP: the DN as written, its normalized form for matching, and the attributes that are data,
// each value as bytes (binary keys and hashes compare and travel unchanged).
//
// Attribute names are lower-cased and keep their options other than replication state
// (`cn;lang-de` stays; `cn;vucsn-…` is `cn`). What is not data (operational attributes,
// plugin-computed ones, per-host counters, replication state) never enters `attrs`: the reader
// on each side drops it with `isDataAttribute` (data.ts).

import { normalizeDn } from '../directory/dn.js';
import { describeAttribute, isDataAttribute, isNotDataEntry } from './data.js';

export interface ContentEntry {
  /** The DN as the source wrote it. */
  dn: string;
  /** normalizeDn(dn): the key entries are matched by across sources. */
  ndn: string;
  /** Data attributes by lower-cased name; values in source order. */
  attrs: Map<string, Buffer[]>;
  /** nsUniqueId: not data (a re-created entry gets a new one), but it tells one object from another. */
  uniqueId?: string;
}

/**
 * The entry these attribute lines make, as data: values the replication state marks deleted and
 * attributes that are not data dropped; undefined for entries that are not data (tombstones, RUV,
 * probes). Both readers (LDIF and live) build entries here, so both sides drop the same things. A
 * line holds one value (LDIF) or all of an attribute's values (LDAP), so neither reader copies.
 */
export function contentEntry(
  dn: string,
  lines: Iterable<readonly [description: string, value: Buffer | readonly Buffer[]]>,
): ContentEntry | undefined {
  const ndn = normalizeDn(dn);
  const attrs = new Map<string, Buffer[]>();
  const classes: string[] = [];
  let uniqueId: string | undefined;
  for (const [description, value] of lines) {
    const { name, deleted } = describeAttribute(description);
    if (deleted) continue;
    const values: readonly Buffer[] = Buffer.isBuffer(value) ? [value] : value;
    if (name === 'objectclass') for (const v of values) classes.push(v.toString('utf8'));
    if (name === 'nsuniqueid' && values[0]) uniqueId = values[0].toString('utf8').toLowerCase();
    if (!isDataAttribute(name)) continue;
    const held = attrs.get(name);
    if (held) held.push(...values);
    else attrs.set(name, [...values]);
  }
  if (isNotDataEntry(ndn, classes)) return undefined;
  return uniqueId ? { dn, ndn, attrs, uniqueId } : { dn, ndn, attrs };
}
