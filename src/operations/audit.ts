// Auditing the replication topology: facts from every selected host, both suffixes, the checks,
// the quarantine, (with backupMaxAge) backup freshness and (with drillMaxAge) drill freshness;
// optionally the topology drawn to a file.
import { resolve } from 'node:path';
import { backupFreshnessCheck } from '../backup/freshness.js';
import { defaultStoreDir, SnapshotStore } from '../backup/store.js';
import type { RunContext } from '../context.js';
import { UsageError } from '../errors.js';
import { selectHosts } from '../inventory/limit.js';
import type { Host, Inventory } from '../inventory/model.js';
import { parseDuration } from '../playbook/params.js';
import { drillFreshnessCheck } from '../restore/drill-freshness.js';
import { readDrills } from '../restore/drill-records.js';
import { quarantineCheck, readQuarantine } from '../restore/quarantine.js';
import { auditDeployment, type AuditReport } from '../topology/audit.js';
import { writeGraph } from '../topology/draw.js';
import { type Finding, type SuffixKind, sortFindings } from '../topology/findings.js';
import { suffixFactsOf } from '../topology/graph.js';
import { contentFindings } from './content-findings.js';
import { compareSuffix, type SuffixMembers } from './compare.js';
import { Transport } from '../transport/transport.js';

export interface AuditOptions {
  suffixes: SuffixKind[];
  /** --limit pattern: only these hosts. */
  limit?: string;
  /** Seconds behind a supplier RID that count as lagging (default 300). */
  lagSeconds?: number;
  /** Seconds clocks may be apart (default 30). */
  skewSeconds?: number;
  /** Warn about hosts whose newest snapshot is older than this duration (e.g. 26h). */
  backupMaxAge?: string;
  /** The snapshot store for backupMaxAge. */
  store?: string;
  /** Also draw the topology: FILE.svg, FILE.dot or FILE.mmd. */
  graph?: string;
  /** Warn when no restore drill of the deployment passed within this duration (e.g. 8d). */
  drillMaxAge?: string;
  /** The controller's state folder (quarantine and drill records). */
  stateDir: string;
  /** Also compare every entry across the hosts of each suffix (content-differs findings). */
  content?: boolean;
  /** For content: seconds differing entries must stay unchanged before they count (default 5). */
  quietWindowSeconds?: number;
}

/** clean: info findings at most; warnings: warnings but no error; errors: any error finding. */
export type AuditSeverity = 'clean' | 'warnings' | 'errors';

export interface AuditResult {
  report: AuditReport;
  hosts: Host[];
  severity: AuditSeverity;
}

export async function audit(inventory: Inventory, ctx: RunContext, opts: AuditOptions): Promise<AuditResult> {
  const hosts = selectHosts(inventory, opts.limit);
  const extraChecks = [quarantineCheck(await readQuarantine(opts.stateDir, inventory.deployment))];
  if (opts.store && !opts.backupMaxAge) throw new UsageError('--store is for --backup-max-age; give both');
  if (opts.backupMaxAge) {
    const maxAge = parseDuration(opts.backupMaxAge, '--backup-max-age');
    const store = new SnapshotStore(resolve(opts.store ?? defaultStoreDir()));
    const snapshots = await store.list({ deployment: inventory.deployment });
    const newest = new Map(hosts.map((h) => [h.name, snapshots.filter((s) => s.host === h.name).at(-1)]));
    extraChecks.push(backupFreshnessCheck(newest, maxAge, store.root));
  }
  if (opts.drillMaxAge) {
    const maxAge = parseDuration(opts.drillMaxAge, '--drill-max-age', Number.POSITIVE_INFINITY);
    const records = await readDrills(opts.stateDir, inventory.deployment);
    extraChecks.push(
      drillFreshnessCheck(
        records,
        maxAge,
        hosts.map((h) => h.name),
      ),
    );
  }
  const transport = new Transport(inventory, ctx);
  let report: AuditReport;
  try {
    report = await auditDeployment(transport, inventory, hosts, {
      suffixes: opts.suffixes,
      thresholds: {
        ...(opts.lagSeconds !== undefined ? { lagSeconds: opts.lagSeconds } : {}),
        ...(opts.skewSeconds !== undefined ? { skewSeconds: opts.skewSeconds } : {}),
      },
      extraChecks,
    });
    if (opts.content) report = await withContentFindings(transport, ctx, report, opts);
  } finally {
    await transport.close();
  }
  if (opts.graph) await drawReport(opts.graph, report, inventory);
  return { report, hosts, severity: severityOf(report.findings) };
}

/** The audit's report with the content comparison of each suffix among its reachable hosts added. */
async function withContentFindings(
  transport: Transport,
  ctx: RunContext,
  report: AuditReport,
  opts: AuditOptions,
): Promise<AuditReport> {
  const found: Finding[] = [];
  for (const kind of report.suffixes) {
    const members = suffixMembersOf(transport.inventory, report, kind);
    if (!members || members.hosts.length < 2) continue;
    const opt = opts.quietWindowSeconds !== undefined ? { quietWindowSeconds: opts.quietWindowSeconds } : {};
    found.push(...contentFindings(await compareSuffix(transport, ctx, members, opt)));
  }
  return { ...report, findings: sortFindings([...report.findings, ...found]) };
}

/** The hosts whose facts show the suffix replicated, and the port that serves it. */
function suffixMembersOf(inventory: Inventory, report: AuditReport, kind: SuffixKind): SuffixMembers | undefined {
  let suffix: string | undefined;
  const hosts: SuffixMembers['hosts'] = [];
  for (const host of inventory.hosts) {
    const sf = suffixFactsOf(report.facts.get(host.name), kind);
    if (!sf?.backend || !sf.replica) continue;
    suffix ??= sf.suffix;
    hosts.push({ host, port: sf.port });
  }
  return suffix === undefined ? undefined : { kind, suffix, hosts };
}

/** Draws the topology the hosts report to FILE.svg, .dot or .mmd (`inventory graph`); unreachable hosts in red. */
export async function drawTopology(
  inventory: Inventory,
  ctx: RunContext,
  opts: { suffixes: SuffixKind[]; limit?: string; output: string },
): Promise<AuditReport> {
  const transport = new Transport(inventory, ctx);
  try {
    const report = await auditDeployment(transport, inventory, selectHosts(inventory, opts.limit), {
      suffixes: opts.suffixes,
    });
    await drawReport(opts.output, report, inventory);
    return report;
  } finally {
    await transport.close();
  }
}

function drawReport(file: string, report: AuditReport, inventory: Inventory): Promise<void> {
  return writeGraph(file, report.topology, {
    suffixes: report.suffixes,
    findings: report.findings,
    title: `${inventory.deployment} replication topology`,
  });
}

export function severityOf(findings: readonly Finding[]): AuditSeverity {
  if (findings.some((f) => f.severity === 'error')) return 'errors';
  if (findings.some((f) => f.severity === 'warning')) return 'warnings';
  return 'clean';
}
