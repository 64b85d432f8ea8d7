// One directory entry as data, the same whether it was read from a snapshot's LDIF or live over
// LDAP: the DN as written, its normalized form for matching, and the attributes that are data,
// each value as bytes (binary keys and hashes compare and travel unchanged).
//
// Attribute names are lower-cased and keep their options other than replication state
// (`cn;lang-de` stays; `cn;vucsn-…` is `cn`). What is not data (operational attributes,
// plugin-computed ones, per-host counters, replication state) never enters `attrs`: the reader
// on each side drops it with `isDataAttribute` (data.ts).

export interface ContentEntry {
  /** The DN as the source wrote it. */
  dn: string;
  /** normalizeDn(dn): the key entries are matched by across sources. */
  ndn: string;
  /** Data attributes by lower-cased name; values in source order. */
  attrs: Map<string, Buffer[]>;
}
