import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import { backupFreshnessCheck } from '../backup/freshness.js';
import { defaultStoreDir, SnapshotStore } from '../backup/store.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../playbook/params.js';
import { readQuarantine, quarantineCheck } from '../restore/quarantine.js';
import { stateDir } from '../state-dir.js';
import { auditDeployment, auditJson } from '../topology/audit.js';
import { writeGraph } from '../topology/draw.js';
import { auditExitCode, type SuffixKind } from '../topology/findings.js';
import { Transport } from '../transport/transport.js';
import { targetHosts } from './inventory-command.js';
import type { Wrap } from './command-env.js';
import { table } from './output.js';

function suffixChoice(value: string): SuffixKind[] {
  if (value === 'all') return ['domain', 'ca'];
  if (value === 'domain' || value === 'ca') return [value];
  throw new InvalidArgumentError('must be domain, ca or all');
}

function seconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('must be a number of seconds');
  return Number(value);
}

export function registerAuditCommands(program: Command, wrap: Wrap): void {
  const inventory = program.commands.find((c) => c.name() === 'inventory');
  inventory
    ?.command('graph')
    .description('draw the replication topology the hosts report (both suffixes) to FILE.svg, .dot or .mmd')
    .requiredOption('-o, --output <file>', 'FILE.svg, FILE.dot or FILE.mmd')
    .option('--suffix <which>', 'domain | ca | all', suffixChoice, ['domain', 'ca'] as SuffixKind[])
    .addHelpText(
      'after',
      '\nUnreachable hosts are drawn with a red outline. Exit code: 0 drawn; 2 bad options, inventory or file extension; 1 failed.',
    )
    .action(
      wrap(async ({ globals, out, ctx }, opts: { output: string; suffix: SuffixKind[] }) => {
        const { inventory: inv, hosts } = await targetHosts(globals);
        const transport = new Transport(inv, ctx);
        try {
          const report = await auditDeployment(transport, inv, hosts, { suffixes: opts.suffix });
          await writeGraph(opts.output, report.topology, {
            suffixes: opts.suffix,
            findings: report.findings,
            title: `${inv.deployment} replication topology`,
          });
        } finally {
          await transport.close();
        }
        out.line(`topology of ${inv.deployment} drawn to ${opts.output}`);
      }),
    );

  program
    .command('audit')
    .description(
      'audit the replication topology of every host (after --limit), both suffixes: agreements, status, generations, RIDs, lag, conflicts, changelog, CA, clocks',
    )
    .option('--suffix <which>', 'domain | ca | all', suffixChoice, ['domain', 'ca'] as SuffixKind[])
    .option('--graph <file>', 'also draw the topology: FILE.svg, FILE.dot or FILE.mmd (Mermaid)')
    .option('--lag-threshold <seconds>', 'a host this far behind a supplier RID is lagging', seconds, 300)
    .option('--skew-threshold <seconds>', 'clocks further apart than this are skewed', seconds, 30)
    .option(
      '--backup-max-age <duration>',
      'warn (backup-stale) about hosts whose newest snapshot in the store is older than this (e.g. 26h, 8d)',
    )
    .option('--store <dir>', `the snapshot store for --backup-max-age (default: ${defaultStoreDir()})`)
    .addHelpText(
      'after',
      '\nExit code: 0 clean (info only), 1 any error finding, 3 warnings only; 2 usage. --json: see README "Audit JSON".',
    )
    .action(
      wrap(
        async (
          { globals, out, ctx },
          opts: {
            suffix: SuffixKind[];
            graph?: string;
            lagThreshold: number;
            skewThreshold: number;
            backupMaxAge?: string;
            store?: string;
          },
        ) => {
          const { inventory, hosts } = await targetHosts(globals);
          const extraChecks = [quarantineCheck(await readQuarantine(stateDir(), inventory.deployment))];
          if (opts.store && !opts.backupMaxAge) throw new UsageError('--store is for --backup-max-age; give both');
          if (opts.backupMaxAge) {
            const maxAge = parseDuration(opts.backupMaxAge, '--backup-max-age');
            const store = new SnapshotStore(resolve(opts.store ?? defaultStoreDir()));
            const snapshots = await store.list({ deployment: inventory.deployment });
            extraChecks.push(
              backupFreshnessCheck(
                new Map(hosts.map((h) => [h.name, snapshots.filter((s) => s.host === h.name).at(-1)])),
                maxAge,
                store.root,
              ),
            );
          }
          const transport = new Transport(inventory, ctx);
          let report;
          try {
            report = await auditDeployment(transport, inventory, hosts, {
              suffixes: opts.suffix,
              thresholds: { lagSeconds: opts.lagThreshold, skewSeconds: opts.skewThreshold },
              extraChecks,
            });
          } finally {
            await transport.close();
          }
          if (opts.graph)
            await writeGraph(opts.graph, report.topology, {
              suffixes: opts.suffix,
              findings: report.findings,
              title: `${inventory.deployment} replication topology`,
            });
          if (globals.json) out.json(auditJson(report));
          else {
            const { findings } = report;
            out.line(
              `audit of ${inventory.deployment}: ${hosts.length} host(s), ${opts.suffix.join(' + ')} suffix${opts.suffix.length > 1 ? 'es' : ''}`,
            );
            if (findings.length === 0) out.line(out.ok('clean: no findings'));
            else {
              const sev = (s: string): string =>
                s === 'error' ? out.bad('ERROR') : s === 'warning' ? 'WARNING' : 'info';
              out.line(
                table([
                  ['SEVERITY', 'CHECK', 'SUFFIX', 'HOSTS', 'FINDING'],
                  ...findings.map((f) => [sev(f.severity), f.id, f.suffix ?? '-', f.hosts.join(','), f.message]),
                ]),
              );
              out.line('');
              out.line('How to fix:');
              for (const f of findings) out.line(`  ${f.id} (${f.hosts.join(',')}): ${f.fix}`);
              const errors = findings.filter((f) => f.severity === 'error').length;
              const warnings = findings.filter((f) => f.severity === 'warning').length;
              out.line('');
              out.line(`${errors} error(s), ${warnings} warning(s), ${findings.length - errors - warnings} info`);
            }
            if (opts.graph) out.line(`topology drawn to ${opts.graph}`);
          }
          return auditExitCode(report.findings);
        },
      ),
    );
}
