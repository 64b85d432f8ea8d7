// Content across live hosts (and, for a restore's proof, a snapshot): one concurrent pass over every
// host, streamed to the controller, then only the differing DNs re-read until they agree, until the
// hosts' RUVs show nothing in flight, or until a quiet window passes. What still differs is lag when a
// host's RUV has not seen the change and replication can still bring it, and divergence otherwise.
import { listAgreements } from '../directory/agreements.js';
import { entryCsn, tombstoneCsn } from '../directory/entry-state.js';
import { readRuv, type Ruv } from '../directory/ruv.js';
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import { statusState, targetsAny } from '../topology/graph.js';
import type { LdapSession } from '../transport/ldap.js';
import type { Transport } from '../transport/transport.js';
import type { RunContext } from '../context.js';
import { attributeChanges } from './compare.js';
import { type Selection, selects } from './diff.js';
import type { ContentEntry } from './entry.js';
import {
  compareHosts,
  type ContentDifference,
  type DigestSource,
  differenceOf,
  digestsOf,
  type HostSource,
} from './host-compare.js';
import { tunnelDigests } from './tunnel-digests.js';
import { type Behind, canArrive, type Feed, type HeldState, hostsBehind, ruvsAgree, sameRuvs } from './lag.js';
import { liveEntry, liveSource } from './live-entries.js';
import { entryDigest } from './values.js';

export interface LiveHost {
  host: Host;
  ldap: LdapSession;
  /** The port of the instance that serves the suffix. */
  port: number;
}

export interface LiveCompareRequest {
  suffix: string;
  /** The subtree read (as given), and what of it is compared. */
  base: string;
  selection: Selection;
  hosts: LiveHost[];
  /** The --filter text of the selection: a tunnel read builds the selection again from it. */
  filter?: string;
  /** Sources that do not change (a snapshot): compared with the hosts, never re-read. */
  fixed?: HostSource[];
  /** The pass reads hosts through their SSH tunnels (tunnel-digests.ts), else over the sessions' ldapts. */
  tunnels?: { transport: Transport; ctx: RunContext };
  /** How long the differing entries must stay as they are before what remains is reported. */
  quietWindowMs: number;
  /** The longest the re-reading goes on, quiet or not. */
  maxWaitMs: number;
  signal: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface Divergence extends ContentDifference {
  /** Attributes whose values differ among the live hosts that hold the entry. */
  attributes: string[];
  /** Hosts behind on this DN that no working agreement feeds: the change will not arrive by itself. */
  unreplicated: Behind[];
}

export interface Lagging {
  dn: string;
  ndn: string;
  behind: Behind[];
}

export interface LiveComparison {
  /** Entries compared (data inside the selection) per source, from the pass. */
  entries: Record<string, number>;
  differences: Divergence[];
  lag: Lagging[];
  /** Re-reads of the differing DNs. */
  rounds: number;
  /** Time from the end of the pass to the verdict. */
  settleMs: number;
}

/** What a re-read found: per DN, per live host, the entry. */
type Reads = Map<string, Map<string, ContentEntry>>;

/** Above this many differing DNs a re-read is one more full pass, and lag is not told apart per DN. */
const ONE_BY_ONE = 2000;
const READS_IN_FLIGHT = 32;
const ROUND_PAUSE_MS = 500;

export async function compareLive(req: LiveCompareRequest): Promise<LiveComparison> {
  const entries: Record<string, number> = {};
  const counted = (host: string, source: DigestSource): HostSource => {
    entries[host] = 0;
    return {
      host,
      digests: (visit) =>
        source((ndn, dn, digest) => {
          entries[host]!++;
          visit(ndn, dn, digest);
        }),
    };
  };
  const pass = [
    ...req.hosts.map((h) => counted(h.host.name, passRead(req, h))),
    ...(req.fixed ?? []).map((f) => counted(f.host, digestsOf(f, req.selection))),
  ];
  const first = await compareHosts(pass, req.selection);
  const frozen = { ...entries };
  if (first.length === 0) return { entries: frozen, differences: [], lag: [], rounds: 0, settleMs: 0 };
  const started = Date.now();
  const { verdict, rounds } = await settle(req, first, pass);
  return { entries: frozen, ...verdict, rounds, settleMs: Date.now() - started };
}

/** One host's pass: decoded from the wire when the host is reached through an SSH tunnel. */
function passRead(req: LiveCompareRequest, h: LiveHost): DigestSource {
  if (!req.tunnels || h.host.ldap.direct) {
    const live: HostSource = { host: h.host.name, entries: liveSource(h.ldap, req.base) };
    return digestsOf(live, req.selection);
  }
  return tunnelDigests(req.tunnels.transport, req.tunnels.ctx, {
    host: h.host,
    port: h.port,
    base: req.base,
    selectionBase: req.selection.base,
    filter: req.filter,
  });
}

interface Settled {
  diffs: ContentDifference[];
  reads: Reads;
  ruvs: Map<string, Ruv | undefined>;
}

type Verdict = { differences: Divergence[]; lag: Lagging[] };

/**
 * Re-reads the differing DNs until they agree; until the hosts' RUVs agree and stood still over a
 * re-read (all that was sent has arrived: what differs stays so); or, once a quiet window has passed,
 * until what is not lag stayed the same for a quiet window (an entry written again and again is lag
 * for as long as it is hot: it must not hold the verdict back). The longest: maxWaitMs.
 */
async function settle(
  req: LiveCompareRequest,
  first: ContentDifference[],
  pass: HostSource[],
): Promise<{ verdict: Verdict; rounds: number }> {
  const started = Date.now();
  let s: Settled = { diffs: first, reads: new Map(), ruvs: await readRuvs(req) };
  let shape = shapeOf(first);
  let quietSince = started;
  for (let rounds = 1; ; rounds++) {
    if (req.signal.aborted) throw new FleetError('failure', `${req.suffix}: compare interrupted`);
    const before = s.ruvs;
    const again = await reread(req, s.diffs, pass);
    s = { ...again, ruvs: await readRuvs(req) };
    if (s.diffs.length === 0 || (sameRuvs(before, s.ruvs) && ruvsAgree(s.ruvs)))
      return { verdict: await classify(req, s), rounds };
    const elapsed = Date.now() - started;
    const verdict = elapsed >= req.quietWindowMs ? await classify(req, s) : undefined;
    const now = shapeOf(verdict ? verdict.differences : s.diffs);
    if (now !== shape) [shape, quietSince] = [now, Date.now()];
    const quiet = Date.now() - quietSince >= req.quietWindowMs;
    if (verdict && (quiet || verdict.differences.length === 0)) return { verdict, rounds };
    if (elapsed >= req.maxWaitMs) return { verdict: verdict ?? (await classify(req, s)), rounds };
    req.onProgress?.(
      `${req.suffix}: ${s.diffs.length} entr(ies) still differ, re-reading (replication may be in flight)`,
    );
    await new Promise((r) => setTimeout(r, ROUND_PAUSE_MS));
  }
}

/** The differing DNs again: one read per DN and live host, fixed sources keeping what they held. */
async function reread(
  req: LiveCompareRequest,
  diffs: ContentDifference[],
  pass: HostSource[],
): Promise<{ diffs: ContentDifference[]; reads: Reads }> {
  if (diffs.length > ONE_BY_ONE) {
    const wanted = new Set(diffs.map((d) => d.ndn));
    return { diffs: (await compareHosts(pass, req.selection)).filter((d) => wanted.has(d.ndn)), reads: new Map() };
  }
  const reads: Reads = new Map(diffs.map((d) => [d.ndn, new Map()]));
  await Promise.all(
    req.hosts.map(async ({ host, ldap }) => {
      for (let i = 0; i < diffs.length; i += READS_IN_FLIGHT) {
        await Promise.all(
          diffs.slice(i, i + READS_IN_FLIGHT).map(async (d) => {
            const e = await liveEntry(ldap, d.dn);
            if (e && selects(req.selection, e)) reads.get(d.ndn)!.set(host.name, e);
          }),
        );
      }
    }),
  );
  const live = new Set(req.hosts.map((h) => h.host.name));
  const order = [...live, ...(req.fixed ?? []).map((f) => f.host)];
  const again = diffs.map((d) => {
    const digests = new Map([...d.digests].filter(([host]) => !live.has(host)));
    for (const [host, e] of reads.get(d.ndn)!) digests.set(host, entryDigest(e));
    return differenceOf(d.dn, d.ndn, order, digests);
  });
  // Still a difference: holders disagree, or some hold it and some do not. Held by none (a live entry
  // deleted everywhere during the pass, and no snapshot holds it) is agreement.
  return {
    diffs: again.filter((d) => d.variants.length > 1 || (d.variants.length > 0 && d.missingOn.length > 0)),
    reads,
  };
}

async function readRuvs(req: LiveCompareRequest): Promise<Map<string, Ruv | undefined>> {
  const read = await Promise.all(
    req.hosts.map(async ({ host, ldap }) => [host.name, (await readRuv(ldap, req.suffix))?.ruv] as const),
  );
  return new Map(read);
}

/** What the differing DNs look like, to tell whether anything changed between two re-reads. */
function shapeOf(diffs: ContentDifference[]): string {
  return diffs.map((d) => `${d.ndn}\0${[...d.digests].sort().join('\0')}`).join('\n');
}

/** Lag (a host's RUV has not seen the change, and an agreement can still bring it) or divergence. */
async function classify(req: LiveCompareRequest, s: Settled): Promise<Verdict> {
  const differences: Divergence[] = [];
  const lag: Lagging[] = [];
  const judge = s.diffs.length <= ONE_BY_ONE && !ruvsAgree(s.ruvs);
  const feeds = judge ? await workingFeeds(req) : [];
  for (const d of s.diffs) {
    const behind = judge ? hostsBehind(await heldStates(req, d), s.ruvs) : [];
    if (behind.length > 0 && behind.every((b) => canArrive(b, feeds, s.ruvs)))
      lag.push({ dn: d.dn, ndn: d.ndn, behind });
    else differences.push({ ...d, attributes: differingAttributes(s.reads.get(d.ndn)), unreplicated: behind });
  }
  return { differences, lag };
}

/** Per live host: the newest CSN of its entry at the DN, or of the tombstone its delete left. */
function heldStates(req: LiveCompareRequest, d: ContentDifference): Promise<HeldState[]> {
  return Promise.all(
    req.hosts.map(async ({ host, ldap }) => ({
      host: host.name,
      csn: d.digests.has(host.name) ? await entryCsn(ldap, d.dn) : await tombstoneCsn(ldap, req.suffix, d.dn),
    })),
  );
}

/** The enabled, not failing agreements among the live hosts. */
async function workingFeeds(req: LiveCompareRequest): Promise<Feed[]> {
  const feeds: Feed[] = [];
  await Promise.all(
    req.hosts.map(async ({ host, ldap }) => {
      for (const a of await listAgreements(ldap, req.suffix)) {
        if (!a.enabled || statusState(a.lastUpdateStatusJson) === 'red') continue;
        for (const h of req.hosts) if (h.host !== host && targetsAny(a, [h.host])) feeds.push([host.name, h.host.name]);
      }
    }),
  );
  return feeds;
}

function differingAttributes(read: Map<string, ContentEntry> | undefined): string[] {
  const [first, ...rest] = [...(read?.values() ?? [])];
  if (!first) return [];
  const names = new Set<string>();
  for (const other of rest) for (const c of attributeChanges(first, other)) names.add(c.attr);
  return [...names].sort();
}
