// drill: options → drill → the verdict, the phases and the recovery time, as text or JSON.
import type { Command } from 'commander';
import { type DrillReport, drill } from '../operations/drill.js';
import { EventStream } from '../report/events.js';
import { stateDir } from '../state-dir.js';
import type { CommandEnv, Wrap } from './command-env.js';
import { drillExitCode } from './exit-codes.js';
import { requireInventory } from './inventory-command.js';
import { table } from './output.js';
import { attachRenderers } from './renderers.js';

interface DrillFlags {
  backup?: string;
  master?: string;
  store?: string;
  key?: string;
  passphrase?: string;
  keep: boolean;
  net?: string;
}

export function registerDrillCommand(program: Command, wrap: Wrap): void {
  program
    .command('drill')
    .description(
      'prove a backup restores: rebuild the deployment in a sandbox on this machine from its snapshots, run the ' +
        'restore into it and compare every sandbox host with the snapshot; the deployment is never contacted',
    )
    .option('--backup <snapshot-id>', "the master's snapshot, an id or unique prefix, or latest", 'latest')
    .option('--master <host>', "the host whose snapshot is restored (default: the inventory's first)")
    .option('--store <dir>', "snapshot store folder (default: the state dir's store, ~/.local/state/ipa-fleet/store)")
    .option('--key <file>', 'OpenPGP private key that decrypts the snapshots (required for encrypted snapshots)')
    .option('--passphrase <source>', "the key's passphrase: file:PATH, env:NAME or prompt")
    .option('--keep', 'leave the sandbox running afterwards (the next drill, or lab down --dir, removes it)', false)
    .option('--net <a.b.c>', 'loopback net for the sandbox hosts, like 127.0.200 (default: a free one)')
    .addHelpText(
      'after',
      [
        '',
        'Needs root (the sandbox hosts are namespaces with their own sshd and 389-DS) and free disk and memory',
        'for one 389-DS instance per host plus the data; the drill says how much before it builds anything.',
        'Exit code: 0 restorable; 1 not restorable (the report names the phase and its error);',
        '2 bad options, no snapshot of the master, or not enough disk or memory; 11 another drill of the',
        'deployment is running; 12 wrong key or passphrase.',
      ].join('\n'),
    )
    .action(wrap(runDrill));
}

async function runDrill(env: CommandEnv, flags: DrillFlags): Promise<number> {
  const inventory = await requireInventory(env.globals);
  const events = new EventStream();
  // --json prints one report at the end; the restore's progress then goes to the log file only.
  attachRenderers(events, env, { live: !env.globals.json });
  const report = await drill(inventory, env.ctx, {
    stateDir: stateDir(),
    keep: flags.keep,
    events,
    onProgress: (line) => (env.globals.json ? env.ctx.log.info(line) : env.out.line(line)),
    ...(flags.backup ? { backup: flags.backup } : {}),
    ...(flags.master ? { master: flags.master } : {}),
    ...(flags.store ? { store: flags.store } : {}),
    ...(flags.key ? { key: flags.key } : {}),
    ...(flags.passphrase ? { passphrase: flags.passphrase } : {}),
    ...(flags.net ? { net: flags.net } : {}),
  });
  if (env.globals.json) env.out.json(report);
  else env.out.line(drillText(report, env));
  return drillExitCode(report.restorable);
}

function drillText(r: DrillReport, env: CommandEnv): string {
  const verdict = r.restorable ? env.out.ok('RESTORABLE') : env.out.bad('NOT RESTORABLE');
  const lines = [
    '',
    `drill of ${r.deployment}: ${verdict}`,
    `  snapshot ${r.backup} of ${r.master}; ${r.hosts} host(s); topology from the ` +
      `${r.topologySource === 'snapshot' ? "snapshots' manifests" : 'inventory (snapshots without a topology record)'}`,
    '',
    table([['PHASE', 'SECONDS', 'OK'], ...r.phases.map((p) => [p.name, p.seconds.toFixed(1), p.ok ? 'yes' : 'NO'])]),
  ];
  if (r.restorable) lines.push(`recovery: ${r.recoverySeconds} s for ${r.entries} entries on ${r.hosts} host(s)`);
  else lines.push(`failed at ${r.failedPhase}: ${r.error}`);
  for (const d of r.differences)
    lines.push(`  ${d.dn}: ${d.missingOn.length ? `missing on ${d.missingOn.join(', ')}` : 'values differ'}`);
  if (r.differenceCount > r.differences.length) lines.push(`  … and ${r.differenceCount - r.differences.length} more`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  if (r.sandbox) lines.push(`sandbox kept: ${r.sandbox.dir} (inventory ${r.sandbox.inventory})`);
  return lines.join('\n');
}
