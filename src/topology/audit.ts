// `ipa-fleet audit`: facts from every host in parallel → one graph per suffix → checks → findings.
import { scanConflicts, type ConflictScan } from '../directory/conflicts.js';
import { FleetError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { Transport } from '../transport/transport.js';
import { runChecks, DEFAULT_THRESHOLDS, type AuditThresholds, type Check } from './checks.js';
import { gatherAllFacts, type HostFacts } from './facts.js';
import { sortFindings, type Finding, type SuffixKind } from './findings.js';
import { buildTopology, suffixFactsOf, type Topology } from './graph.js';

export interface AuditOptions {
  suffixes: SuffixKind[];
  thresholds?: Partial<AuditThresholds>;
  /** Checks added by later milestones (backup freshness). */
  extraChecks?: Check[];
}

export interface AuditReport {
  deployment: string;
  generatedAt: string;
  suffixes: SuffixKind[];
  findings: Finding[];
  topology: Topology;
  facts: Map<string, HostFacts | FleetError>;
}

export async function auditDeployment(
  transport: Transport,
  inventory: Inventory,
  hosts: Host[],
  opts: AuditOptions,
): Promise<AuditReport> {
  const generatedAt = new Date();
  const facts = await gatherAllFacts(transport, hosts);
  const conflicts = new Map<string, Partial<Record<SuffixKind, ConflictScan>>>();
  await Promise.all(
    hosts.map(async (h) => {
      const f = facts.get(h.name);
      if (!f || f instanceof FleetError) return;
      const scans: Partial<Record<SuffixKind, ConflictScan>> = {};
      for (const kind of opts.suffixes) {
        const sf = suffixFactsOf(f, kind);
        if (!sf?.backend) continue;
        const ldap = await transport.ldap(h, sf.port);
        scans[kind] = await scanConflicts(ldap, sf.suffix);
      }
      conflicts.set(h.name, scans);
    }),
  );
  const topology = buildTopology(inventory, facts);
  const findings = runChecks(
    {
      inventory,
      facts,
      topology,
      conflicts,
      suffixes: opts.suffixes,
      thresholds: { ...DEFAULT_THRESHOLDS, ...opts.thresholds },
      now: generatedAt.getTime() / 1000,
    },
    opts.extraChecks,
  );
  return {
    deployment: inventory.deployment,
    generatedAt: generatedAt.toISOString(),
    suffixes: opts.suffixes,
    findings: sortFindings(findings),
    topology,
    facts,
  };
}

/** The documented `audit --json` document (schema version 1). */
export function auditJson(report: AuditReport): Record<string, unknown> {
  const count = (s: Finding['severity']): number => report.findings.filter((f) => f.severity === s).length;
  return {
    schema: 'ipa-fleet/audit/v1',
    deployment: report.deployment,
    generatedAt: report.generatedAt,
    suffixes: report.suffixes,
    summary: { errors: count('error'), warnings: count('warning'), infos: count('info') },
    findings: report.findings.map((f) => ({ ...f, suffix: f.suffix ?? null })),
    topology: Object.fromEntries(
      report.suffixes.map((kind) => {
        const g = report.topology[kind];
        return [
          kind,
          {
            suffix: g.suffix,
            hosts: g.nodes,
            agreements: g.edges.map((e) => ({
              from: e.from,
              to: e.to,
              name: e.agreement.name,
              enabled: e.agreement.enabled,
              state: e.state,
              hasReverse: e.hasReverse,
              lastUpdateStatus: e.agreement.lastUpdateStatus ?? null,
              lastInitStatus: e.agreement.lastInitStatus ?? null,
            })),
          },
        ];
      }),
    ),
  };
}
