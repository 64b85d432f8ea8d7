// Unfence: the restored suffix's agreements turned on again, in rounds that never let two suppliers
// reach for the same consumer at once, each agreement's first session watched until it is green.
//
// Why rounds (389-DS 2.3, replication debug log of a 5-host chain): enabling an agreement starts an
// incremental session at once, even with nothing to send. When every agreement came on together, a
// consumer with two suppliers answered one of them
//   "Unable to acquire replica: error: replica busy locked by conn=24 id=6 for incremental update"
// and that supplier logged "the replica is currently being updatedby another supplier. Will try later",
// then "State: ready_to_acquire_replica -> start_backoff -> backoff": 3 s, then 6 s and more. Probe
// writes on every host and the old "off and on again" retries every 5 s re-created the collision,
// so unfence took 16–48 s on 5 hosts although each session takes milliseconds.
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import { listAgreements, type Agreement } from '../directory/agreements.js';
import { PROBE_FILTER, probeDn } from '../directory/dn.js';
import type { AgreementToggle } from '../directory/fence.js';
import { isNoSuchObject } from '../directory/ruv.js';
import { statusState, targetsAny } from '../topology/graph.js';
import type { LdapSession } from '../transport/ldap.js';
import type { Transport } from '../transport/transport.js';

export interface UnfenceResult {
  toggles: Array<AgreementToggle & { host: string }>;
  /** Agreements left off because they lead to a quarantined host. */
  keptOff: Array<{ host: string; name: string; target: string }>;
  greenMs: number;
  /** How many rounds the agreements came on in (the most suppliers any consumer has). */
  rounds: number;
  /** Sessions restarted because they met a busy consumer (or did not start): which, and the status they had. */
  restarts: string[];
}

/** What to unfence: the suffix on these hosts, agreements to quarantined hosts kept off, within a time. */
export interface UnfenceRequest {
  hosts: Host[];
  quarantined: Host[];
  suffix: string;
  timeoutMs: number;
  signal: AbortSignal;
  onProgress?: (m: string) => void;
}

/** One agreement to turn on: where it lives and its state before. */
interface Pending {
  host: Host;
  a: Agreement;
  /** Its status stamp before it came on: its first session changes it. */
  before: string | undefined;
}

/** A session refused by a busy consumer is started again (off and on) after this long... */
const RESTART_REFUSED_MS = 1_000;
/** ...one that has reported nothing yet gets a change on its supplier after this long... */
const NUDGE_SILENT_MS = 1_500;
/** ...and is turned off and on only after this long: toggling a protocol that is still starting wedged it. */
const TOGGLE_SILENT_MS = 10_000;
const POLL_MS = 100;

/**
 * Re-enables every agreement of the suffix on every host (mesh edges too), except those leading to
 * quarantined hosts, round by round, and waits until each one's first session since is green.
 */
export async function unfenceSuffix(transport: Transport, p: UnfenceRequest): Promise<UnfenceResult> {
  const keptOff: UnfenceResult['keptOff'] = [];
  const pending: Pending[] = [];
  await Promise.all(
    p.hosts.map(async (h) => {
      const ldap = await transport.ldap(h);
      await removeStrayProbes(ldap, p.suffix);
      for (const a of await listAgreements(ldap, p.suffix)) {
        if (targetsAny(a, p.quarantined)) keptOff.push({ host: h.name, name: a.name, target: a.targetHost });
        else pending.push({ host: h, a, before: statusStamp(a) });
      }
    }),
  );
  const rounds = enableRounds(pending, (x) => `${x.a.targetHost.toLowerCase()}:${x.a.targetPort}`);
  const started = Date.now();
  const toggles: UnfenceResult['toggles'] = [];
  const restarts: string[] = [];
  for (const [i, round] of rounds.entries()) {
    for (const x of round) toggles.push(await turnOn(transport, x));
    // An agreement left on by an online total update is not toggled (turned off and on right after
    // the update, 389-DS 2.3.1 kept its status at "agreement disabled" for 300 s): a change on its
    // supplier starts its session.
    for (const h of new Set(round.filter((x) => x.a.enabled).map((x) => x.host))) await nudge(transport, h, p.suffix);
    p.onProgress?.(`round ${i + 1}/${rounds.length}: ${round.length} agreement(s) on`);
    restarts.push(...(await waitRound(transport, p, round, started)));
  }
  return { toggles, keptOff, greenMs: Date.now() - started, rounds: rounds.length, restarts };
}

/**
 * Rounds in which no consumer appears twice: each item goes into the first round that does not yet
 * hold its consumer. As many rounds as the most suppliers any one consumer has (2 in a chain).
 */
export function enableRounds<T>(items: readonly T[], consumer: (item: T) => string): T[][] {
  const rounds: Array<{ items: T[]; consumers: Set<string> }> = [];
  for (const item of items) {
    const c = consumer(item);
    let round = rounds.find((r) => !r.consumers.has(c));
    if (!round) {
      round = { items: [], consumers: new Set() };
      rounds.push(round);
    }
    round.items.push(item);
    round.consumers.add(c);
  }
  return rounds.map((r) => r.items);
}

/** On: the modify starts an incremental session at once. One that is on already is left as it is. */
async function turnOn(transport: Transport, x: Pending): Promise<AgreementToggle & { host: string }> {
  if (!x.a.enabled) await setEnabled(await transport.ldap(x.host), x.a, 'on');
  return {
    dn: x.a.dn,
    name: x.a.name,
    suffix: x.a.suffix,
    target: x.a.targetHost,
    host: x.host.name,
    before: x.a.enabled ? 'on' : 'off',
    after: 'on',
  };
}

function setEnabled(ldap: LdapSession, a: Agreement, value: 'on' | 'off'): Promise<void> {
  return ldap.modify(a.dn, [{ op: 'replace', attr: 'nsds5ReplicaEnabled', values: [value] }]);
}

/**
 * Until every agreement of the round reads on and green with a session newer than its enable. One that
 * met a busy consumer (a forwarded change from an earlier round can still be arriving there) is turned
 * off and on rather than left to its back-off; one that has not reported gets a change to send on its
 * supplier, and is toggled only after TOGGLE_SILENT_MS. Returns the restarts (toggles) it took.
 */
async function waitRound(
  transport: Transport,
  p: UnfenceRequest,
  round: Pending[],
  started: number,
): Promise<string[]> {
  const startedAt = new Map(round.map((x) => [x, Date.now()]));
  // The status each (re)start left behind: a different one is that session's own report.
  const stampAtStart = new Map(round.map((x) => [x, x.before]));
  const nudgedAt = new Map<Pending, number>();
  const restarts: string[] = [];
  for (;;) {
    if (p.signal.aborted) throw new FleetError('failure', `${p.suffix}: waiting for green agreements interrupted`);
    const waiting = await notGreen(transport, p.suffix, round);
    if (waiting.length === 0) return restarts;
    if (Date.now() - started > p.timeoutMs) {
      throw new FleetError(
        'failure',
        `${p.suffix}: agreements not green after ${Math.round(p.timeoutMs / 1000)} s: ${waiting
          .slice(0, 4)
          .map(({ x, now }) => `${x.host.name} ${x.a.name}: ${now?.lastUpdateStatus ?? 'no status'}`)
          .join('; ')}`,
      );
    }
    const nudged = new Set<Host>();
    for (const { x, now } of waiting) {
      const reported = now !== undefined && statusStamp(now) !== stampAtStart.get(x);
      const waited = Date.now() - startedAt.get(x)!;
      if (reported ? waited >= RESTART_REFUSED_MS : waited >= TOGGLE_SILENT_MS) {
        // Off and on again starts the session now instead of after its back-off (3 s and doubling).
        const ldap = await transport.ldap(x.host);
        await setEnabled(ldap, x.a, 'off');
        await setEnabled(ldap, x.a, 'on');
        startedAt.set(x, Date.now());
        stampAtStart.set(x, now ? statusStamp(now) : x.before);
        restarts.push(`${x.host.name} ${x.a.name}: ${now?.lastUpdateStatus ?? 'no session yet'}`);
        p.onProgress?.(`restarted ${restarts.at(-1)}`);
      }
      // Silent: a change on its supplier (once per host and pause) makes it run a session.
      if (reported || nudged.has(x.host) || Date.now() - (nudgedAt.get(x) ?? startedAt.get(x)!) < NUDGE_SILENT_MS)
        continue;
      await nudge(transport, x.host, p.suffix);
      nudged.add(x.host);
      for (const y of round.filter((r) => r.host === x.host)) nudgedAt.set(y, Date.now());
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The round's agreements whose first session since the enable is not (yet) green, as the hosts read now. */
async function notGreen(
  transport: Transport,
  suffix: string,
  round: Pending[],
): Promise<Array<{ x: Pending; now: Agreement | undefined }>> {
  const hosts = [...new Set(round.map((x) => x.host))];
  const read = new Map<string, Agreement>();
  await Promise.all(
    hosts.map(async (h) => {
      for (const a of await listAgreements(await transport.ldap(h), suffix)) read.set(`${h.name} ${a.dn}`, a);
    }),
  );
  return round
    .map((x) => ({ x, now: read.get(`${x.host.name} ${x.a.dn}`) }))
    .filter(({ x, now }) => !now?.enabled || !isGreen(now) || statusStamp(now) === x.before);
}

/** One replicated change on `host` (a probe entry added and deleted): its agreements run a session. */
async function nudge(transport: Transport, host: Host, suffix: string): Promise<void> {
  const ldap = await transport.ldap(host);
  const dn = probeDn('probe', suffix);
  await ldap.add(dn, { objectClass: ['top', 'nsContainer'], cn: dn.slice(3, dn.indexOf(',')) });
  await ldap.delete(dn);
}

/** Deletes probe and canary entries left on a host by an earlier, interrupted attempt. */
export async function removeStrayProbes(ldap: LdapSession, suffix: string): Promise<void> {
  const strays = await ldap.search(suffix, {
    scope: 'one',
    filter: PROBE_FILTER,
    attributes: ['1.1'],
  });
  for (const e of strays) {
    // Replication may have deleted it meanwhile.
    await ldap.delete(e.dn).catch((err: unknown) => {
      if (!isNoSuchObject(err)) throw err;
    });
  }
}

/** What changes when an agreement runs a session: the JSON status's date (else the text). */
function statusStamp(a: Pick<Agreement, 'lastUpdateStatus' | 'lastUpdateStatusJson'>): string | undefined {
  if (a.lastUpdateStatusJson) {
    try {
      const date = (JSON.parse(a.lastUpdateStatusJson) as { date?: unknown }).date;
      if (typeof date === 'string') return date;
    } catch {
      // fall through to the text
    }
  }
  return a.lastUpdateStatus;
}

/** Green incremental status: the JSON state, or the text of servers that have no JSON. */
export function isGreen(a: Pick<Agreement, 'lastUpdateStatus' | 'lastUpdateStatusJson'>): boolean {
  // "No replication sessions started since server startup" and "agreement disabled" are green in
  // the JSON too, yet say nothing has been sent.
  if (/no replication sessions started|agreement disabled/i.test(a.lastUpdateStatus ?? '')) return false;
  const state = statusState(a.lastUpdateStatusJson);
  if (state !== undefined) return state === 'green';
  return (
    /^error \(0\)/i.test(a.lastUpdateStatus ?? '') && /succeeded|acquired successfully/i.test(a.lastUpdateStatus ?? '')
  );
}
