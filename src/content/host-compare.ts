// Do all hosts hold the same data? The first host's entries become one digest per DN; every other host
// is then read once and compared against them as it streams, so memory grows with the entries (plus
// the differences), not with entries × hosts, and no pair of hosts is compared twice.
import { type EntrySource, type Selection, selects } from './diff.js';
import { entryDigest } from './values.js';

export interface HostSource {
  host: string;
  entries: EntrySource;
}

/** One DN on which the hosts disagree. */
export interface ContentDifference {
  dn: string;
  ndn: string;
  /** Hosts that lack the entry. */
  missingOn: string[];
  /** The hosts that hold it, grouped by what they hold: more than one group when values differ. */
  variants: string[][];
}

interface Reference {
  dn: string;
  digest: string;
  /** The entry's place in the per-host "seen" flags. */
  index: number;
}

/** What the other hosts hold where they differ from the first: their digests, and who lacks it. */
interface Odd {
  dn: string;
  digests: Map<string, string>;
  missing: Set<string>;
}

/** The differences among the hosts' entries inside the selection, sorted by DN. */
export async function compareHosts(sources: HostSource[], selection: Selection): Promise<ContentDifference[]> {
  const [first, ...others] = sources;
  if (!first) return [];
  const reference = new Map<string, Reference>();
  await first.entries((e) => {
    if (selects(selection, e)) reference.set(e.ndn, { dn: e.dn, digest: entryDigest(e), index: reference.size });
  });
  const odd = new Map<string, Odd>();
  const oddOf = (ndn: string, dn: string): Odd => {
    const found = odd.get(ndn) ?? { dn, digests: new Map(), missing: new Set() };
    odd.set(ndn, found);
    return found;
  };
  for (const source of others) {
    const seen = new Uint8Array(reference.size);
    await source.entries((e) => {
      if (!selects(selection, e)) return;
      const ref = reference.get(e.ndn);
      if (ref) seen[ref.index] = 1;
      const digest = entryDigest(e);
      if (ref?.digest !== digest) oddOf(e.ndn, ref?.dn ?? e.dn).digests.set(source.host, digest);
    });
    for (const [ndn, ref] of reference) if (seen[ref.index] === 0) oddOf(ndn, ref.dn).missing.add(source.host);
  }
  return [...odd].map(([ndn, o]) => difference(ndn, o, sources, reference.get(ndn))).sort(byDn);
}

function difference(ndn: string, odd: Odd, sources: HostSource[], ref: Reference | undefined): ContentDifference {
  const groups = new Map<string, string[]>();
  const missingOn: string[] = [];
  for (const [i, { host }] of sources.entries()) {
    // A host not named in `digests` holds the first host's version, unless it lacks the entry.
    const digest = odd.digests.get(host) ?? (ref && (i === 0 || !odd.missing.has(host)) ? ref.digest : undefined);
    if (digest === undefined) missingOn.push(host);
    else groups.set(digest, [...(groups.get(digest) ?? []), host]);
  }
  return { dn: odd.dn, ndn, missingOn, variants: [...groups.values()] };
}

const byDn = (a: ContentDifference, b: ContentDifference): number => (a.ndn < b.ndn ? -1 : a.ndn > b.ndn ? 1 : 0);
