// restore and rejoin: options → restoreDeployment / resumeRestore / rejoin → a per-host table of the
// seconds each phase took, and the error that stopped the run with how to finish it.
import type { Command } from 'commander';
import { FleetError, UsageError } from '../errors.js';
import type { Plan } from '../playbook/model.js';
import { phaseRows } from '../operations/phase-report.js';
import type { PhasedRunResult, RunSettings } from '../operations/phased-run.js';
import { rejoin } from '../operations/rejoin.js';
import { initMode, restoreDeployment, resumeRestore, snapshotType } from '../operations/restore-deployment.js';
import { EventStream } from '../report/events.js';
import { stateDir } from '../state-dir.js';
import type { CommandEnv, Wrap } from './command-env.js';
import { requireInventory } from './inventory-command.js';
import { table } from './output.js';
import { confirm, forks, printPlan } from './playbook-commands.js';
import { attachRenderers } from './renderers.js';

function collectList(value: string, previous: string[]): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

interface RestoreOpts {
  master?: string;
  backup?: string;
  store?: string;
  key?: string;
  passphrase?: string;
  type?: string;
  init: string;
  allowOffline: string[];
  forceVersion: boolean;
  yes: boolean;
  forks: number;
  resume?: string;
  initTimeout?: string;
  canaryTimeout?: string;
}

interface RejoinOpts {
  master?: string;
  init: string;
  yes: boolean;
  forks: number;
}

export function registerRestoreCommands(program: Command, wrap: Wrap): void {
  restoreCommand(program).action(wrap(runRestore));
  program
    .command('rejoin')
    .argument('<host>', 'the host to bring back (inventory name)')
    .description(
      'bring back a quarantined (or drifted) host: fence it first, re-initialize it from its BFS parent, ' +
        'unfence, prove convergence',
    )
    .option('--master <host>', 'the host whose data wins (default: the master recorded in the quarantine)')
    .option('--init <how>', 'online (total update from the BFS parent) or ldif', 'online')
    .option('--yes', 'do not ask for confirmation (required without a terminal)', false)
    .option('--forks <n>', 'tasks running at once, over all hosts', forks, 10)
    .addHelpText(
      'after',
      [
        '',
        'Exit code: 0 rejoined and converged; 2 bad options, or the host is not quarantined and no --master is given;',
        '4 a host unreachable; 12 authentication failed; 11 another run holds the deployment lock; 1 failed',
        '(ipa-fleet run --resume RUN finishes it).',
      ].join('\n'),
    )
    .action(wrap(runRejoin));
}

function restoreCommand(program: Command): Command {
  return program
    .command('restore')
    .description(
      'restore the whole deployment from a snapshot: fence every host, restore the master, ' +
        're-initialize every replica breadth-first (domain and CA), unfence, prove convergence',
    )
    .option('--master <host>', 'the host to restore (inventory name; required unless --resume)')
    .option(
      '--backup <snapshot-id>',
      'the snapshot, an id or unique prefix from ipa-fleet backups list (required unless --resume)',
    )
    .option('--store <dir>', "snapshot store folder (default: the state dir's store, ~/.local/state/ipa-fleet/store)")
    .option('--key <file>', 'OpenPGP private key that decrypts the snapshot (required for an encrypted snapshot)')
    .option('--passphrase <source>', "the key's passphrase: file:PATH, env:NAME or prompt")
    .option('--type <type>', "data or full (default: the snapshot's type)")
    .option(
      '--init <how>',
      'ldif (export once, import on every replica) or online (total updates, breadth-first)',
      'ldif',
    )
    .option(
      '--allow-offline <host>',
      'a host that may be down: it is quarantined until ipa-fleet rejoin (repeatable)',
      collectList,
      [],
    )
    .option(
      '--force-version',
      'restore across 389-DS major.minor versions (the FreeIPA version is not compared)',
      false,
    )
    .option('--init-timeout <duration>', 'limit per export, import or total update, like 90s, 30m, 2h (default 1h)')
    .option(
      '--canary-timeout <duration>',
      'how long the canary may take to reach every host, like 30s, 5m (default 2m)',
    )
    .option('--yes', 'do not ask for confirmation (required without a terminal)', false)
    .option('--forks <n>', 'tasks running at once, over all hosts', forks, 10)
    .option(
      '--resume <run-id>',
      'finish a stopped restore with its recorded plan: done phases are skipped (no --master/--backup)',
    )
    .addHelpText(
      'after',
      [
        '',
        'The same plan: ipa-fleet plan restore-deployment --set master=HOST --set backup=ID …',
        'Exit code: 0 restored and converged; 2 bad options or a snapshot the preflight refuses (nothing changed);',
        '4 a host unreachable (name it with --allow-offline to go on without it); 12 wrong key or passphrase, or',
        'a snapshot not encrypted to that key; 11 another run holds the deployment lock; 1 failed, also a damaged',
        'snapshot (the message says which phase; finish with --resume RUN).',
      ].join('\n'),
    );
}

async function runRestore(env: CommandEnv, opts: RestoreOpts): Promise<void> {
  const settings = runSettings(env, opts);
  if (opts.resume) {
    if (opts.master || opts.backup)
      throw new UsageError('--resume continues the recorded restore: drop --master and --backup');
    const inventory = env.globals.inventory ? await requireInventory(env.globals) : undefined;
    const result = await resumeRestore(opts.resume, env.ctx, { ...settings, ...(inventory ? { inventory } : {}) });
    return report(env, result, 'restore');
  }
  if (!env.globals.inventory) throw new UsageError('no inventory: pass -i/--inventory FILE');
  if (!opts.master) throw new UsageError('restore: name the host to restore with --master HOST');
  // A restore is of the whole deployment: a --limit would silently leave hosts out of it.
  if (env.globals.limit)
    throw new UsageError(
      'restore: --limit does not apply (a restore covers every host; name hosts that are down with --allow-offline)',
    );
  if (!opts.backup)
    throw new UsageError('restore: name the snapshot with --backup SNAPSHOT_ID (ipa-fleet backups list)');
  const init = initMode(opts.init);
  const type = opts.type ? snapshotType(opts.type) : undefined;
  const inventory = await requireInventory(env.globals);
  const result = await restoreDeployment(inventory, env.ctx, {
    ...settings,
    ...{ master: opts.master, backup: opts.backup, init, allowOffline: opts.allowOffline },
    ...{ forceVersion: opts.forceVersion, ...(type ? { type } : {}) },
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.key ? { key: opts.key } : {}),
    ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
    ...(opts.initTimeout ? { initTimeout: opts.initTimeout } : {}),
    ...(opts.canaryTimeout ? { canaryTimeout: opts.canaryTimeout } : {}),
  });
  report(env, result, 'restore');
}

async function runRejoin(env: CommandEnv, host: string, opts: RejoinOpts): Promise<void> {
  if (!env.globals.inventory) throw new UsageError('no inventory: pass -i/--inventory FILE');
  const init = initMode(opts.init);
  const inventory = await requireInventory(env.globals);
  const result = await rejoin(inventory, env.ctx, {
    ...runSettings(env, opts),
    host,
    init,
    ...(opts.master ? { master: opts.master } : {}),
  });
  report(env, result, 'rejoin');
}

/** The live progress lines, the state folder, and the plan shown before it is confirmed. */
export function runSettings(env: CommandEnv, opts: { forks: number; yes: boolean }): RunSettings {
  const events = new EventStream();
  attachRenderers(events, env, { live: true });
  return {
    stateDir: stateDir(),
    forks: opts.forks,
    events,
    confirm: async (plan: Plan) => {
      if (!env.globals.json) printPlan(env.out, plan);
      return confirm(env.out, plan, opts.yes);
    },
  };
}

/** The phase table (or its JSON); a run that did not succeed ends in its error, with how to finish it. */
export function report(
  env: CommandEnv,
  result: PhasedRunResult & { recreated?: PhasedRunResult },
  what: 'restore' | 'rejoin' | 'restore-entries',
): void {
  const { runId, state, runDir, phases, recreated } = result;
  const first = recreated && recreated.runId !== runId ? recreated : undefined;
  if (env.globals.json) {
    const before = recreated
      ? {
          recreated: {
            runId: recreated.runId,
            state: recreated.state,
            runDir: recreated.runDir,
            phases: recreated.phases,
          },
        }
      : {};
    env.out.json({ runId, state, runDir, phases, ...before });
  } else {
    if (first) {
      env.out.line('');
      env.out.line(`recreate-instance ${first.runId}: ${first.state}`);
      env.out.line(table(phaseRows(first.phases, first.hostOrder)));
    }
    env.out.line('');
    env.out.line(`${recreated?.runId === runId ? 'recreate-instance' : what} ${runId}: ${state}`);
    env.out.line(table(phaseRows(phases, result.hostOrder)));
    for (const m of phases.messages) env.out.line(`${m.phase}: ${m.message}`);
  }
  if (state === 'succeeded') return;
  const resume = what === 'restore' ? `ipa-fleet restore --resume ${runId}` : `ipa-fleet run --resume ${runId}`;
  if (state === 'interrupted')
    throw new FleetError('failure', `${what} ${runId} interrupted; finish it with: ${resume}`);
  const failure = result.failure ?? new FleetError('failure', `${what} ${runId} did not finish`);
  // A refused preflight changed nothing: there is nothing to resume (a hostile snapshot stays hostile).
  const message = result.resumable ? `${failure.message} (fix it, then: ${resume})` : failure.message;
  throw new FleetError(failure.kind, message, { ...(failure.host ? { host: failure.host } : {}), cause: failure });
}
