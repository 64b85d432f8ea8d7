// The replica update vector (RUV) of a suffix: which changes of which supplier this replica has seen.
// Read from the RUV tombstone (DIRECTORY-OPS.md): `nsds50ruv` and `nsds5agmtmaxcsn` values.
import { ResultCodeError } from 'ldapts';
import { FleetError } from '../errors.js';
import type { DirEntry, LdapSession } from '../transport/ldap.js';
import { parseCsn } from './csn.js';
import { RUV_FILTER } from './dn.js';

export interface Ruv {
  /** `{replicageneration}`: the data set's identity; replicas of one suffix must agree on it. */
  generation: string | undefined;
  /** In the server's order (the local replica first). */
  elements: RuvElement[];
}

export interface RuvElement {
  rid: number;
  /** Supplier URL (`ldap://host:port`); absent for ghost RIDs, which are kept. */
  url: string | undefined;
  /** Oldest change of this RID still known (changelog); absent when none was seen. */
  minCsn: string | undefined;
  /** Newest change of this RID seen here. */
  maxCsn: string | undefined;
}

/** One `nsds5agmtmaxcsn` value: the newest change sent through one agreement. */
export interface AgmtMaxCsn {
  suffix: string;
  /** Agreement name (the cn of the agreement entry). */
  agreement: string;
  host: string;
  port: number;
  /** The consumer's replica ID, undefined when the server wrote `unavailable`. */
  consumerRid: number | undefined;
  maxCsn: string | undefined;
}

export interface RuvReading {
  ruv: Ruv;
  agmtMaxCsns: AgmtMaxCsn[];
}

const GENERATION = /^\{replicageneration\}\s*(\S*)/i;
// `{replica <rid>[ <url>]}[ <mincsn>[ <maxcsn>[ <anything older servers appended>]]]`
const ELEMENT = /^\{replica\s+(\d+)(?:\s+([^}\s]+))?\s*\}\s*(.*)$/i;

/**
 * Parses the `nsds50ruv` values. Elements without URL and/or CSNs are kept (lib389 drops
 * elements without a URL, which hides ghost RIDs). Values it cannot read are ignored.
 */
export function parseRuv(values: readonly string[]): Ruv {
  const ruv: Ruv = { generation: undefined, elements: [] };
  for (const value of values) {
    const text = value.trim();
    const gen = GENERATION.exec(text);
    if (gen) {
      ruv.generation = gen[1] ? gen[1] : undefined;
      continue;
    }
    const element = parseRuvElement(text);
    if (element) ruv.elements.push(element);
  }
  return ruv;
}

/** One `{replica …}` value, or undefined when it is not one. */
export function parseRuvElement(value: string): RuvElement | undefined {
  const m = ELEMENT.exec(value.trim());
  if (!m) return undefined;
  const rid = Number(m[1]);
  if (!Number.isSafeInteger(rid)) return undefined;
  const csns = (m[3] ?? '').split(/\s+/).filter(Boolean);
  return {
    rid,
    url: m[2] || undefined,
    minCsn: validCsn(csns[0]),
    maxCsn: validCsn(csns[1]),
  };
}

/**
 * Parses one `nsds5agmtmaxcsn` value: `suffix;agmt;host;port;consumerRID|unavailable;maxcsn`.
 * Separators are the unescaped `;` (a DN may hold `\;`). Undefined when the shape is wrong.
 */
export function parseAgmtMaxCsn(value: string): AgmtMaxCsn | undefined {
  const parts = value.trim().split(/(?<!\\);/);
  if (parts.length < 6) return undefined;
  const [host, portText, ridText, csnText] = parts.slice(-4) as [string, string, string, string];
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || !Number.isSafeInteger(port)) return undefined;
  let consumerRid: number | undefined;
  if (/^\d+$/.test(ridText)) consumerRid = Number(ridText);
  else if (ridText.toLowerCase() !== 'unavailable') return undefined;
  return {
    suffix: parts[0]!,
    agreement: parts.slice(1, -4).join(';'),
    host,
    port,
    consumerRid,
    maxCsn: validCsn(csnText),
  };
}

/** Parses every `nsds5agmtmaxcsn` value, skipping unreadable ones. */
export function parseAgmtMaxCsns(values: readonly string[]): AgmtMaxCsn[] {
  return values.map(parseAgmtMaxCsn).filter((v): v is AgmtMaxCsn => v !== undefined);
}

/** The element of `rid`, if the RUV has one. */
export function ruvElement(ruv: Ruv, rid: number): RuvElement | undefined {
  return ruv.elements.find((e) => e.rid === rid);
}

/**
 * Reads the RUV of `suffix` (read-only). Undefined when the suffix is not replicated or has no
 * entries (no RUV tombstone), or does not exist on this server.
 * On 389-DS 2.3.1 the entry comes back under the replica's config DN (`cn=replica,cn=…,cn=mapping
 * tree,cn=config`), not under `nsuniqueid=ffffffff-…,<suffix>`: match on the attribute, not the DN.
 */
export async function readRuv(ldap: LdapSession, suffix: string): Promise<RuvReading | undefined> {
  let entries: DirEntry[];
  try {
    entries = await ldap.search(suffix, {
      scope: 'sub',
      filter: RUV_FILTER,
      attributes: ['nsds50ruv', 'nsds5agmtmaxcsn'],
    });
  } catch (err) {
    if (isNoSuchObject(err)) return undefined;
    throw err;
  }
  const entry = entries.find((e) => e.has('nsds50ruv'));
  if (!entry) return undefined;
  return { ruv: parseRuv(entry.getAll('nsds50ruv')), agmtMaxCsns: parseAgmtMaxCsns(entry.getAll('nsds5agmtmaxcsn')) };
}

/** LDAP result 32 (noSuchObject), as thrown by LdapSession. */
export function isNoSuchObject(err: unknown): boolean {
  const cause = err instanceof FleetError ? err.cause : err;
  return cause instanceof ResultCodeError && cause.code === 32;
}

function validCsn(s: string | undefined): string | undefined {
  return s !== undefined && parseCsn(s) ? s : undefined;
}
