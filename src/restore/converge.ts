// The end of a restore: unfence once every host holds the master's generation, then prove that the
// deployment converged (same generation everywhere, the snapshot's entry counts, a canary entry that
// travels to every host and is deleted everywhere, an audit without errors).
import type { RunContext } from '../context.js';
import { differenceSummary, type HostSource } from '../content/host-compare.js';
import { compareLive } from '../content/live-compare.js';
import { FleetError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import { listAgreements, type Agreement } from '../directory/agreements.js';
import { normalizeDn, PROBE_FILTER, probeDn } from '../directory/dn.js';
import { setAgreementsEnabled, type AgreementToggle } from '../directory/fence.js';
import { isNoSuchObject } from '../directory/ruv.js';
import { auditDeployment } from '../topology/audit.js';
import type { Finding } from '../topology/findings.js';
import { statusState, targetsAny } from '../topology/graph.js';
import type { LdapSession } from '../transport/ldap.js';
import type { Transport } from '../transport/transport.js';
import type { SuffixKind } from './compatibility.js';
import { generationOf } from './reinit.js';

/** Differing entries must stay so this long before the proof fails (replication may still deliver them). */
const CONTENT_QUIET_MS = 5_000;

/** Every host must hold `master`'s generation of the suffix before anything is re-enabled. */
export async function requireGeneration(
  transport: Transport,
  master: Host,
  hosts: Host[],
  suffix: string,
): Promise<string> {
  const want = await generationOf(transport, master, suffix);
  if (!want)
    throw new FleetError('failure', `${master.name}: ${suffix} has no replica generation`, { host: master.name });
  const gens = await Promise.all(hosts.map(async (h) => [h, await generationOf(transport, h, suffix, 0)] as const));
  const behind = gens.filter(([, g]) => g !== want);
  if (behind.length > 0) {
    throw new FleetError(
      'failure',
      `${suffix}: ${behind.map(([h, g]) => `${h.name} has generation ${g ?? 'none'}`).join(', ')}, the master ` +
        `${master.name} has ${want}: re-initialize them first (nothing was re-enabled)`,
    );
  }
  return want;
}

export interface UnfenceResult {
  toggles: Array<AgreementToggle & { host: string }>;
  /** Agreements left off because they lead to a quarantined host. */
  keptOff: Array<{ host: string; name: string; target: string }>;
  greenMs: number;
}

/** What to unfence: the suffix on these hosts, agreements to quarantined hosts kept off, within a time. */
interface UnfenceRequest {
  hosts: Host[];
  quarantined: Host[];
  suffix: string;
  timeoutMs: number;
  signal: AbortSignal;
  onProgress?: (m: string) => void;
}

/**
 * Re-enables every agreement of the suffix on every host (mesh edges too), except those leading to
 * quarantined hosts, then waits until every enabled agreement has run a session since and reports
 * green. An agreement with nothing to send starts no session (389-DS 2.3.1; the schedule "poke"
 * did not start one in 4 of 5 tries), so every host writes a probe entry and deletes it again:
 * each write makes all of that host's agreements run.
 */
export async function unfenceSuffix(transport: Transport, p: UnfenceRequest): Promise<UnfenceResult> {
  const toggles: UnfenceResult['toggles'] = [];
  const keptOff: UnfenceResult['keptOff'] = [];
  // Status stamps from before the enable: an agreement counts once its status changed.
  const before = new Map<string, string | undefined>();
  await Promise.all(
    p.hosts.map(async (h) => {
      const ldap = await transport.ldap(h);
      await removeStrayProbes(ldap, p.suffix);
      for (const a of await listAgreements(ldap, p.suffix)) before.set(`${h.name} ${a.dn}`, statusStamp(a));
      const done = await setAgreementsEnabled(ldap, p.suffix, true, (a) => {
        const quarantined = targetsAny(a, p.quarantined);
        if (quarantined) keptOff.push({ host: h.name, name: a.name, target: a.targetHost });
        return !quarantined;
      });
      toggles.push(...done.map((t) => ({ ...t, host: h.name })));
    }),
  );
  const started = Date.now();
  await waitGreen(transport, p, before, started);
  return { toggles, keptOff, greenMs: Date.now() - started };
}

async function waitGreen(
  transport: Transport,
  p: UnfenceRequest,
  before: ReadonlyMap<string, string | undefined>,
  started: number,
): Promise<void> {
  const nudged = new Map<string, number>();
  await Promise.all(
    p.hosts.map(async (h) => {
      await nudge(transport, h, p.suffix);
      nudged.set(h.name, Date.now());
    }),
  );
  for (;;) {
    if (p.signal.aborted) throw new FleetError('failure', `${p.suffix}: waiting for green agreements interrupted`);
    const waiting: Array<{ host: Host; a: Agreement }> = [];
    await Promise.all(
      p.hosts.map(async (h) => {
        const ldap = await transport.ldap(h);
        for (const a of await listAgreements(ldap, p.suffix)) {
          if (!a.enabled || targetsAny(a, p.quarantined)) continue;
          if (!isGreen(a) || statusStamp(a) === before.get(`${h.name} ${a.dn}`)) waiting.push({ host: h, a });
        }
      }),
    );
    if (waiting.length === 0) return;
    const elapsed = Date.now() - started;
    p.onProgress?.(`${Math.round(elapsed / 1000)} s: ${waiting.length} agreement(s) not green yet`);
    if (elapsed > p.timeoutMs) {
      throw new FleetError(
        'failure',
        `${p.suffix}: agreements not green after ${Math.round(p.timeoutMs / 1000)} s: ${waiting
          .slice(0, 4)
          .map(({ host, a }) => `${host.name} ${a.name}: ${a.lastUpdateStatus ?? 'no status'}`)
          .join('; ')}`,
      );
    }
    for (const host of new Set(waiting.map((w) => w.host))) {
      if (Date.now() - (nudged.get(host.name) ?? 0) < 5_000) continue;
      nudged.set(host.name, Date.now());
      // Still waiting after a write: the agreement may be backing off after errors from the
      // re-initialization (up to minutes). Turning it off and on restarts it at once.
      const ldap = await transport.ldap(host);
      for (const { a } of waiting.filter((w) => w.host === host)) {
        await ldap.modify(a.dn, [{ op: 'replace', attr: 'nsds5ReplicaEnabled', values: ['off'] }]);
        await ldap.modify(a.dn, [{ op: 'replace', attr: 'nsds5ReplicaEnabled', values: ['on'] }]);
      }
      await nudge(transport, host, p.suffix);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Deletes probe and canary entries left on a host by an earlier, interrupted attempt. */
async function removeStrayProbes(ldap: LdapSession, suffix: string): Promise<void> {
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

/** One replicated change on `host` (a probe entry added and deleted): its agreements run a session. */
async function nudge(transport: Transport, host: Host, suffix: string): Promise<void> {
  const ldap = await transport.ldap(host);
  const dn = probeDn('probe', suffix);
  await ldap.add(dn, { objectClass: ['top', 'nsContainer'], cn: dn.slice(3, dn.indexOf(',')) });
  await ldap.delete(dn);
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

interface SuffixConvergence {
  kind: SuffixKind;
  suffix: string;
  generation: string;
  /** Entries (data) on each host; every host holds the same ones, and the snapshot's when there is one. */
  entries: Record<string, number>;
  /** ms until the canary was seen on each host, and until its deletion was. */
  canaryMs: Record<string, number>;
  canaryDeleteMs: Record<string, number>;
}

export interface ConvergenceReport {
  suffixes: SuffixConvergence[];
  /** Audit findings left after leaving out quarantined hosts (warnings and info only). */
  findings: Finding[];
}

export interface ConvergenceRequest {
  inventory: Inventory;
  master: Host;
  hosts: Host[];
  quarantined: Host[];
  /** Per suffix: the hosts that replicate it (quarantined ones left out), and the snapshot they must hold. */
  suffixes: Array<{ kind: SuffixKind; suffix: string; snapshot: HostSource | undefined; hosts: Host[] }>;
  canaryTimeoutMs: number;
  signal: AbortSignal;
  onProgress?: (m: string) => void;
}

export async function proveConvergence(
  transport: Transport,
  ctx: RunContext,
  req: ConvergenceRequest,
): Promise<ConvergenceReport> {
  const out: SuffixConvergence[] = [];
  for (const s of req.suffixes) {
    const members = s.hosts;
    const generation = await requireGeneration(transport, req.master, members, s.suffix);
    // A probe or canary a fault left behind (its host died between the add and the delete) is not
    // data, and compare leaves it out; removed anyway so that nothing of ours stays behind.
    for (const h of members) await removeStrayProbes(await transport.ldap(h), s.suffix);
    const entries = await requireSameContent(transport, ctx, req, s);
    const { seen, gone } = await canary(transport, ctx, req, s.suffix, members);
    out.push({ kind: s.kind, suffix: s.suffix, generation, entries, canaryMs: seen, canaryDeleteMs: gone });
  }
  const report = await auditDeployment(transport, req.inventory, req.hosts, {
    suffixes: req.suffixes.map((s) => s.kind),
  });
  const quarantined = new Set(req.quarantined.map((h) => h.name));
  const relevant = report.findings.filter((f) => !f.hosts.some((h) => quarantined.has(h)));
  const errors = relevant.filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    throw new FleetError(
      'failure',
      `audit after the restore: ${errors.length} error(s): ${errors
        .slice(0, 3)
        .map((f) => `${f.id} (${f.hosts.join(',')}): ${f.message}`)
        .join('; ')}`,
    );
  }
  return { suffixes: out, findings: relevant };
}

/**
 * Every host holds the same entries, and the snapshot's when there is one: each host read once and
 * compared entry by entry with the others and the snapshot. Counts alone miss a value lost or changed.
 */
async function requireSameContent(
  transport: Transport,
  ctx: RunContext,
  req: ConvergenceRequest,
  s: ConvergenceRequest['suffixes'][number],
): Promise<Record<string, number>> {
  const hosts = await Promise.all(
    s.hosts.map(async (host) => ({ host, port: host.ldap.port, ldap: await transport.ldap(host) })),
  );
  const found = await compareLive({
    suffix: s.suffix,
    base: s.suffix,
    selection: { base: normalizeDn(s.suffix) },
    hosts,
    fixed: s.snapshot ? [s.snapshot] : [],
    workers: { transport, ctx },
    quietWindowMs: CONTENT_QUIET_MS,
    maxWaitMs: req.canaryTimeoutMs,
    signal: req.signal,
    ...(req.onProgress ? { onProgress: req.onProgress } : {}),
  });
  const wrong = [...found.differences, ...found.lag];
  if (wrong.length > 0) {
    const against = s.snapshot ? `${s.snapshot.host} and the hosts` : 'the hosts';
    throw new FleetError(
      'failure',
      `${s.suffix}: ${wrong.length} entr${wrong.length === 1 ? 'y differs' : 'ies differ'} between ${against}: ` +
        `${found.differences.slice(0, 3).map(differenceSummary).join('; ')}` +
        (found.lag.length > 0 ? `; ${found.lag.length} still in flight` : ''),
    );
  }
  return Object.fromEntries(s.hosts.map((h) => [h.name, found.entries[h.name] ?? 0]));
}

/** Writes a canary on the master, waits until every host has it, deletes it and waits until it is gone everywhere. */
async function canary(
  transport: Transport,
  ctx: RunContext,
  req: ConvergenceRequest,
  suffix: string,
  hosts: Host[],
): Promise<{ seen: Record<string, number>; gone: Record<string, number> }> {
  const dn = probeDn('canary', suffix);
  const master = await transport.ldap(req.master);
  const started = Date.now();
  await master.add(dn, { objectClass: ['top', 'nsContainer'], cn: dn.slice(3, dn.indexOf(',')) });
  try {
    const seen = await waitAll(transport, hosts, dn, true, started, req);
    const deleted = Date.now();
    await master.delete(dn);
    const gone = await waitAll(transport, hosts, dn, false, deleted, req);
    return { seen, gone };
  } catch (err) {
    // Never leave the canary behind: delete it (if it is still there) before giving up.
    await master.delete(dn).catch((e: Error) => ctx.log.debug(`${req.master.name}: canary ${dn}: ${e.message}`));
    throw err;
  }
}

async function waitAll(
  transport: Transport,
  hosts: Host[],
  dn: string,
  present: boolean,
  since: number,
  req: ConvergenceRequest,
): Promise<Record<string, number>> {
  const at: Record<string, number> = {};
  for (;;) {
    if (req.signal.aborted) throw new FleetError('failure', `canary ${dn}: interrupted`);
    await Promise.all(
      hosts
        .filter((h) => at[h.name] === undefined)
        .map(async (h) => {
          const entry = await (await transport.ldap(h)).read(dn, ['1.1']);
          if ((entry !== undefined) === present) at[h.name] = Date.now() - since;
        }),
    );
    const missing = hosts.filter((h) => at[h.name] === undefined);
    if (missing.length === 0) return at;
    if (Date.now() - since > req.canaryTimeoutMs) {
      throw new FleetError(
        'failure',
        `canary ${dn} ${present ? 'did not reach' : 'was not deleted on'} ${missing.map((h) => h.name).join(', ')} ` +
          `within ${Math.round(req.canaryTimeoutMs / 1000)} s`,
      );
    }
    req.onProgress?.(`canary ${present ? 'on' : 'gone from'} ${hosts.length - missing.length}/${hosts.length} host(s)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
