// compare: do all hosts hold the same data? Every host of each suffix is read once, all at once, and
// compared entry by entry (content/live-compare.ts); what replication is still delivering is lag, not
// difference. Read-only: nothing on any host is written, no lock is taken.
import type { RunContext } from '../context.js';
import { compareLive, type LiveComparison, type LiveHost } from '../content/live-compare.js';
import type { Selection } from '../content/diff.js';
import { entryFilter } from '../content/filter.js';
import { normalizeDn, within } from '../directory/dn.js';
import { readRuv } from '../directory/ruv.js';
import { UsageError } from '../errors.js';
import { selectHosts } from '../inventory/limit.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { SuffixKind } from '../topology/findings.js';
import { Transport } from '../transport/transport.js';
import type { SuffixChoice } from './diff.js';

export interface CompareOptions {
  suffix?: SuffixChoice;
  base?: string;
  filter?: string;
  /** --limit pattern: only these hosts. */
  limit?: string;
  /** Seconds the differing entries must stay unchanged before they are reported (default 5). */
  quietWindowSeconds?: number;
  /** Seconds the re-reading may take at most (default 120). */
  maxWaitSeconds?: number;
}

export interface SuffixComparison extends LiveComparison {
  kind: SuffixKind;
  suffix: string;
  base: string;
  /** The hosts compared, in inventory order. */
  hosts: string[];
}

export interface CompareReport {
  deployment: string;
  suffixes: SuffixComparison[];
  seconds: number;
}

/** The hosts of one suffix, and the port their instance serves it on. */
export interface SuffixMembers {
  kind: SuffixKind;
  suffix: string;
  hosts: Array<{ host: Host; port: number }>;
}

export async function compareContent(
  inventory: Inventory,
  ctx: RunContext,
  opts: CompareOptions,
): Promise<CompareReport> {
  const started = Date.now();
  const hosts = selectHosts(inventory, opts.limit);
  const transport = new Transport(inventory, ctx);
  try {
    const members = await suffixMembers(transport, hosts, opts.suffix ?? 'domain');
    const suffixes: SuffixComparison[] = [];
    for (const m of chosen(members, opts)) suffixes.push(await compareSuffix(transport, ctx, m, opts));
    return { deployment: inventory.deployment, suffixes, seconds: (Date.now() - started) / 1000 };
  } finally {
    await transport.close();
  }
}

/** One suffix across its hosts (also audit --content's, with members from the audit's facts). */
export async function compareSuffix(
  transport: Transport,
  ctx: RunContext,
  m: SuffixMembers,
  opts: CompareOptions,
): Promise<SuffixComparison> {
  const base = opts.base ?? m.suffix;
  const selection: Selection = {
    base: normalizeDn(base),
    ...(opts.filter ? { test: entryFilter(opts.filter, '--filter') } : {}),
  };
  const live: LiveHost[] = await Promise.all(
    m.hosts.map(async ({ host, port }) => ({ host, port, ldap: await transport.ldap(host, port) })),
  );
  const result = await compareLive({
    suffix: m.suffix,
    base,
    selection,
    ...(opts.filter ? { filter: opts.filter } : {}),
    hosts: live,
    tunnels: { transport, ctx },
    quietWindowMs: (opts.quietWindowSeconds ?? 5) * 1000,
    maxWaitMs: (opts.maxWaitSeconds ?? 120) * 1000,
    signal: ctx.signal,
    onProgress: (message) => ctx.log.info(message),
  });
  return { kind: m.kind, suffix: m.suffix, base, hosts: m.hosts.map((h) => h.host.name), ...result };
}

/** Domain: every host. CA: hosts with role ca, or whose CA suffix is replicated. */
async function suffixMembers(transport: Transport, hosts: Host[], choice: SuffixChoice): Promise<SuffixMembers[]> {
  const first = hosts[0];
  if (!first) throw new UsageError('compare: no hosts selected');
  const out: SuffixMembers[] = [];
  if (choice !== 'ca') {
    out.push({
      kind: 'domain',
      suffix: first.suffixes.domain,
      hosts: hosts.map((h) => ({ host: h, port: h.ldap.port })),
    });
  }
  if (choice !== 'domain') {
    const caPort = (h: Host): number => h.suffixes.ca.port ?? h.ldap.port;
    const ca = await Promise.all(
      hosts.map(async (h) =>
        h.roles.includes('ca') || (await readRuv(await transport.ldap(h, caPort(h)), h.suffixes.ca.suffix))
          ? h
          : undefined,
      ),
    );
    const caHosts = ca.filter((h): h is Host => h !== undefined);
    if (caHosts.length > 0)
      out.push({
        kind: 'ca',
        suffix: first.suffixes.ca.suffix,
        hosts: caHosts.map((h) => ({ host: h, port: caPort(h) })),
      });
    else if (choice === 'ca') throw new UsageError('--suffix ca: no selected host holds the CA suffix');
  }
  return out;
}

/** The suffixes asked for, narrowed to the one holding --base. */
function chosen(members: SuffixMembers[], opts: CompareOptions): SuffixMembers[] {
  if (opts.base === undefined) return members;
  const nbase = normalizeDn(opts.base);
  const holding = members.filter((m) => within(nbase, normalizeDn(m.suffix)));
  if (holding.length === 0)
    throw new UsageError(`--base ${opts.base}: not under ${members.map((m) => m.suffix).join(' or ')}`);
  return holding;
}
