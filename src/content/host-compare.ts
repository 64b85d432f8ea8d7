// Do all hosts hold the same data? Every host is read once, all at the same time, into one table keyed
// by DN: the first digest seen for a DN and a bit per host that holds it, plus the odd digests of hosts
// that hold something else. Memory grows with the entries (and the differences), not entries × hosts,
// and the wall time is the slowest host's read, not the sum.
import { UsageError } from '../errors.js';
import { type EntrySource, type Selection, selects } from './diff.js';
import { entryDigest } from './values.js';

/** Calls `visit` with every selected entry's normalized DN, DN and digest, in the source's order. */
export type DigestSource = (visit: (ndn: string, dn: string, digest: string) => void) => Promise<void>;

/** A host (or a snapshot) whose entries are compared: as entries, or already digested (tunnel-digests.ts). */
export type HostSource = { host: string; entries: EntrySource } | { host: string; digests: DigestSource };

/** A source's selected entries as digests. */
export function digestsOf(source: HostSource, selection: Selection): DigestSource {
  if ('digests' in source) return source.digests;
  return (visit) =>
    source.entries((e) => {
      if (selects(selection, e)) visit(e.ndn, e.dn, entryDigest(e));
    });
}

/** One DN on which the hosts disagree. */
export interface ContentDifference {
  dn: string;
  ndn: string;
  /** Hosts that lack the entry. */
  missingOn: string[];
  /** The hosts that hold it, grouped by what they hold (sources' order): more than one group when values differ. */
  variants: string[][];
  /** What each host that holds it holds (entry digests). */
  digests: Map<string, string>;
}

interface Held {
  dn: string;
  digest: string;
  /** Bit i set: source i holds `digest`. */
  holders: number;
  /** Sources holding another digest. */
  others?: Map<number, string>;
}

/** Host bits are kept in a double's 53-bit integer range. */
const MAX_HOSTS = 52;

const bit = (i: number): number => 2 ** i;
const has = (holders: number, i: number): boolean => Math.floor(holders / bit(i)) % 2 === 1;

/** The differences among the hosts' entries inside the selection, sorted by DN. */
export async function compareHosts(sources: HostSource[], selection: Selection): Promise<ContentDifference[]> {
  if (sources.length > MAX_HOSTS) throw new UsageError(`compare: at most ${MAX_HOSTS} hosts at once`);
  const table = new Map<string, Held>();
  await Promise.all(
    sources.map((source, i) =>
      digestsOf(
        source,
        selection,
      )((ndn, dn, digest) => {
        const held = table.get(ndn);
        if (!held) table.set(ndn, { dn, digest, holders: bit(i) });
        else if (held.digest === digest) held.holders += bit(i);
        else {
          held.others ??= new Map();
          held.others.set(i, digest);
        }
      }),
    ),
  );
  const everyone = bit(sources.length) - 1;
  const out: ContentDifference[] = [];
  for (const [ndn, held] of table)
    if (held.holders !== everyone || held.others) out.push(difference(ndn, held, sources));
  return out.sort(byDn);
}

function difference(ndn: string, held: Held, sources: HostSource[]): ContentDifference {
  const digests = new Map<string, string>();
  for (const [i, { host }] of sources.entries()) {
    const digest = has(held.holders, i) ? held.digest : held.others?.get(i);
    if (digest !== undefined) digests.set(host, digest);
  }
  return differenceOf(
    held.dn,
    ndn,
    sources.map((s) => s.host),
    digests,
  );
}

/** A DN's difference from what each host holds (`hosts` in report order; a host without a digest lacks it). */
export function differenceOf(
  dn: string,
  ndn: string,
  hosts: string[],
  digests: Map<string, string>,
): ContentDifference {
  const groups = new Map<string, string[]>();
  const missingOn: string[] = [];
  for (const host of hosts) {
    const digest = digests.get(host);
    if (digest === undefined) missingOn.push(host);
    else groups.set(digest, [...(groups.get(digest) ?? []), host]);
  }
  return { dn, ndn, missingOn, variants: [...groups.values()], digests };
}

const byDn = (a: ContentDifference, b: ContentDifference): number => (a.ndn < b.ndn ? -1 : a.ndn > b.ndn ? 1 : 0);

/** One line for a difference: the DN and who lacks it or how the holders split. */
export function differenceSummary(d: ContentDifference): string {
  const missing = d.missingOn.length > 0 ? `missing on ${d.missingOn.join(', ')}` : '';
  const split = d.variants.length > 1 ? `values differ: ${d.variants.map((g) => g.join(', ')).join(' | ')}` : '';
  return `${d.dn} (${[missing, split].filter(Boolean).join('; ')})`;
}
