// audit and inventory graph: options → one operation → output → exit code.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { defaultStoreDir } from '../backup/store.js';
import { audit, drawTopology, type AuditResult } from '../operations/audit.js';
import { parseDuration } from '../playbook/params.js';
import { stateDir } from '../state-dir.js';
import { auditJson } from '../topology/audit.js';
import type { SuffixKind } from '../topology/findings.js';
import type { Wrap } from './command-env.js';
import { auditExitCode } from './exit-codes.js';
import { targetHosts } from './inventory-command.js';
import { table, type Output } from './output.js';

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
  registerGraph(program, wrap);
  registerAudit(program, wrap);
}

function registerGraph(program: Command, wrap: Wrap): void {
  const inventory = program.commands.find((c) => c.name() === 'inventory');
  inventory
    ?.command('graph')
    .description('draw the replication topology the hosts report (both suffixes) to FILE.svg, .dot or .mmd')
    .requiredOption('-o, --output <file>', 'FILE.svg, FILE.dot or FILE.mmd')
    .option('--suffix <which>', 'domain | ca | all', suffixChoice, ['domain', 'ca'] as SuffixKind[])
    .addHelpText(
      'after',
      '\nUnreachable hosts are drawn with a red outline. Exit code: 0 drawn; 2 bad options, inventory or file ' +
        'extension; 1 failed.',
    )
    .action(
      wrap(async ({ globals, out, ctx }, opts: { output: string; suffix: SuffixKind[] }) => {
        const { inventory } = await targetHosts(globals);
        await drawTopology(inventory, ctx, { suffixes: opts.suffix, limit: globals.limit, output: opts.output });
        out.line(`topology of ${inventory.deployment} drawn to ${opts.output}`);
      }),
    );
}

interface AuditOpts {
  suffix: SuffixKind[];
  graph?: string;
  lagThreshold: number;
  skewThreshold: number;
  backupMaxAge?: string;
  store?: string;
  content: boolean;
  quietWindow: string;
  drillMaxAge?: string;
}

function registerAudit(program: Command, wrap: Wrap): void {
  program
    .command('audit')
    .description(
      'audit the replication topology of every host (after --limit), both suffixes: agreements, status, ' +
        'generations, RIDs, lag, conflicts, changelog, CA, clocks',
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
    .option('--content', 'also compare every entry across the hosts of each suffix (content-differs)', false)
    .option('--quiet-window <duration>', 'with --content: how long differing entries must stay unchanged', '5s')
    .option(
      '--drill-max-age <duration>',
      'warn (drill-stale) when no restore drill of the deployment passed within this duration (e.g. 8d), or none did',
    )
    .addHelpText(
      'after',
      '\nExit code: 0 clean (info only), 1 any error finding, 3 warnings only; 2 usage. --json: see README "Audit ' +
        'JSON".',
    )
    .action(
      wrap(async ({ globals, out, ctx }, opts: AuditOpts) => {
        const { inventory } = await targetHosts(globals);
        const result = await audit(inventory, ctx, {
          suffixes: opts.suffix,
          limit: globals.limit,
          lagSeconds: opts.lagThreshold,
          skewSeconds: opts.skewThreshold,
          ...(opts.backupMaxAge ? { backupMaxAge: opts.backupMaxAge } : {}),
          ...(opts.store ? { store: opts.store } : {}),
          ...(opts.drillMaxAge ? { drillMaxAge: opts.drillMaxAge } : {}),
          ...(opts.graph ? { graph: opts.graph } : {}),
          ...(opts.content
            ? { content: true, quietWindowSeconds: parseDuration(opts.quietWindow, '--quiet-window') }
            : {}),
          stateDir: stateDir(),
        });
        if (globals.json) out.json(auditJson(result.report));
        else printAudit(out, result, opts);
        return auditExitCode(result.severity);
      }),
    );
}

function printAudit(out: Output, { report, hosts }: AuditResult, opts: AuditOpts): void {
  const { findings } = report;
  out.line(
    `audit of ${report.deployment}: ${hosts.length} host(s), ` +
      `${opts.suffix.join(' + ')} suffix${opts.suffix.length > 1 ? 'es' : ''}`,
  );
  if (findings.length === 0) out.line(out.ok('clean: no findings'));
  else {
    const sev = (s: string): string => (s === 'error' ? out.bad('ERROR') : s === 'warning' ? 'WARNING' : 'info');
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
