// The end of a restore: the gate before unfence (every host holds the master's generation), then the
// proof that the deployment converged (same generation everywhere, the snapshot's entry counts, a canary entry that
// travels to every host and is deleted everywhere, an audit without errors).
import type { RunContext } from '../context.js';
import { differenceSummary, type HostSource } from '../content/host-compare.js';
import { compareLive } from '../content/live-compare.js';
import { FleetError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import { normalizeDn, probeDn } from '../directory/dn.js';
import { auditDeployment } from '../topology/audit.js';
import type { Finding } from '../topology/findings.js';
import type { Transport } from '../transport/transport.js';
import type { SuffixKind } from './compatibility.js';
import { generationOf } from './reinit.js';
import { removeStrayProbes } from './unfence.js';

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

interface SuffixConvergence {
  kind: SuffixKind;
  suffix: string;
  generation: string;
  /** Entries (data) on each host; every host holds the same ones, and the snapshot's when there is one. */
  entries: Record<string, number>;
  /** ms until the canary was seen on each host, and until its deletion was. */
  canaryMs: Record<string, number>;
  canaryDeleteMs: Record<string, number>;
  /** Wall time of the content comparison (every host read once, against the snapshot). */
  contentMs: number;
}

export interface ConvergenceReport {
  suffixes: SuffixConvergence[];
  /** Audit findings left after leaving out quarantined hosts (warnings and info only). */
  findings: Finding[];
  /** Wall time of the closing audit. */
  auditMs: number;
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
  // The suffixes are separate replicas: their proofs run side by side (the CA's is small, and waits).
  // Both settle before a failure is reported, so that neither leaves its canary behind.
  const settled = await Promise.allSettled(req.suffixes.map((s) => proveSuffix(transport, ctx, req, s)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const out = settled.map((r) => (r as PromiseFulfilledResult<SuffixConvergence>).value);
  const audited = Date.now();
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
  return { suffixes: out, findings: relevant, auditMs: Date.now() - audited };
}

async function proveSuffix(
  transport: Transport,
  ctx: RunContext,
  req: ConvergenceRequest,
  s: ConvergenceRequest['suffixes'][number],
): Promise<SuffixConvergence> {
  const members = s.hosts;
  const generation = await requireGeneration(transport, req.master, members, s.suffix);
  // A probe or canary a fault left behind (its host died between the add and the delete) is not
  // data, and compare leaves it out; removed anyway so that nothing of ours stays behind.
  await Promise.all(members.map(async (h) => removeStrayProbes(await transport.ldap(h), s.suffix)));
  const compared = Date.now();
  const entries = await requireSameContent(transport, ctx, req, s);
  const contentMs = Date.now() - compared;
  const { seen, gone } = await canary(transport, ctx, req, s.suffix, members);
  return { kind: s.kind, suffix: s.suffix, generation, entries, canaryMs: seen, canaryDeleteMs: gone, contentMs };
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
    tunnels: { transport, ctx },
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
