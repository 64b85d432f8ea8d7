// restore and rejoin: the restore-deployment and rejoin playbooks with their own options, and a
// per-host report with the seconds each phase took.
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { FleetError, UsageError } from '../errors.js';
import { parseSecretSource } from '../inventory/secrets.js';
import { RunJournal } from '../playbook/journal.js';
import type { Plan } from '../playbook/model.js';
import { defaultRegistry } from '../actions/index.js';
import { resumeRun, runPlaybook, type RunOutcome } from '../playbook/run.js';
import { EventStream } from '../report/events.js';
import { readQuarantine } from '../restore/quarantine.js';
import { phaseReport, phaseRows } from '../restore/report.js';
import { PASSPHRASE_PROMPT } from '../restore/source.js';
import { stateDir } from '../state-dir.js';
import type { CommandEnv, Wrap } from './command-env.js';
import { mostSpecific, reportedError } from './exit-codes.js';
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

export function registerRestoreCommands(program: Command, wrap: Wrap): void {
  program
    .command('restore')
    .description(
      'restore the whole deployment from a snapshot: fence every host, restore the master, re-initialize every replica breadth-first (domain and CA), unfence, prove convergence',
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
    )
    .action(
      wrap(async (env, opts: RestoreOpts) => {
        const events = new EventStream();
        attachRenderers(events, env, { live: true });
        const common = {
          ctx: env.ctx,
          events,
          stateDir: stateDir(),
          forks: opts.forks,
          confirm: (plan: Plan) => showAndConfirm(env, plan, opts.yes),
          registry: defaultRegistry(),
        };
        let outcome: RunOutcome;
        if (opts.resume) {
          if (opts.master || opts.backup)
            throw new UsageError('--resume continues the recorded restore: drop --master and --backup');
          const { plan } = await RunJournal.open(stateDir(), opts.resume);
          if (plan.playbook.name !== 'restore-deployment')
            throw new UsageError(
              `run ${opts.resume} is a ${plan.playbook.name} run, not a restore; use ipa-fleet run --resume`,
            );
          await askPassphrase(env, String(plan.params.passphrase ?? ''));
          outcome = await resumeRun(opts.resume, {
            ...common,
            ...(env.globals.inventory ? { inventory: await requireInventory(env.globals) } : {}),
          });
        } else {
          if (!env.globals.inventory) throw new UsageError('no inventory: pass -i/--inventory FILE');
          if (!opts.master) throw new UsageError('restore: name the host to restore with --master HOST');
          // A restore is of the whole deployment: a --limit would silently leave hosts out of it.
          if (env.globals.limit)
            throw new UsageError(
              'restore: --limit does not apply (a restore covers every host; name hosts that are down with --allow-offline)',
            );
          if (!opts.backup)
            throw new UsageError('restore: name the snapshot with --backup SNAPSHOT_ID (ipa-fleet backups list)');
          if (opts.init !== 'ldif' && opts.init !== 'online')
            throw new UsageError(`--init: ldif or online, not '${opts.init}'`);
          if (opts.type && opts.type !== 'data' && opts.type !== 'full')
            throw new UsageError(`--type: data or full, not '${opts.type}'`);
          for (const [name, v] of [
            ['--key', opts.key],
            ['--store', opts.store],
          ] as const) {
            if (v?.includes(',')) throw new UsageError(`${name}: the path may not contain a comma`);
          }
          const inventory = await requireInventory(env.globals);
          const known = inventory.hosts.map((h) => h.name);
          if (!known.includes(opts.master))
            throw new UsageError(`--master: '${opts.master}' is not a host of the inventory (${known.join(', ')})`);
          for (const name of opts.allowOffline) {
            if (!known.includes(name))
              throw new UsageError(`--allow-offline: '${name}' is not a host of the inventory (${known.join(', ')})`);
          }
          await askPassphrase(env, opts.passphrase ?? '');
          const sets = [
            `master=${opts.master}`,
            `backup=${opts.backup}`,
            `init=${opts.init}`,
            `force_version=${opts.forceVersion}`,
            `allow_offline=${opts.allowOffline.join(',')}`,
            ...(opts.store ? [`store=${resolve(opts.store)}`] : []),
            ...(opts.key ? [`key=${resolve(opts.key)}`] : []),
            ...(opts.passphrase ? [`passphrase=${opts.passphrase}`] : []),
            ...(opts.type ? [`type=${opts.type}`] : []),
            ...(opts.initTimeout ? [`init_timeout=${opts.initTimeout}`] : []),
            ...(opts.canaryTimeout ? [`canary_timeout=${opts.canaryTimeout}`] : []),
          ];
          try {
            outcome = await runPlaybook({
              ...common,
              playbook: 'restore-deployment',
              inventory,
              sets,
              limit: undefined,
            });
          } catch (caught) {
            const err = reportedError(caught);
            // Refused before any change because a host is down: say how to go on without it.
            if (err instanceof FleetError && err.kind === 'unreachable' && err.host === opts.master) {
              throw new FleetError(
                'unreachable',
                `${err.message}; nothing was changed (the master must be reachable: bring it back, or restore another host with --master)`,
                { host: err.host },
              );
            }
            if (err instanceof FleetError && err.kind === 'unreachable' && err.host) {
              throw new FleetError(
                'unreachable',
                `${err.message}; nothing was changed (to restore without it and quarantine it until 'ipa-fleet rejoin': --allow-offline ${err.host})`,
                { host: err.host },
              );
            }
            throw err;
          }
        }
        await finish(env, outcome, 'restore');
      }),
    );

  program
    .command('rejoin')
    .argument('<host>', 'the host to bring back (inventory name)')
    .description(
      'bring back a quarantined (or drifted) host: fence it first, re-initialize it from its BFS parent, unfence, prove convergence',
    )
    .option('--master <host>', 'the host whose data wins (default: the master recorded in the quarantine)')
    .option('--init <how>', 'online (total update from the BFS parent) or ldif', 'online')
    .option('--yes', 'do not ask for confirmation (required without a terminal)', false)
    .option('--forks <n>', 'tasks running at once, over all hosts', forks, 10)
    .addHelpText(
      'after',
      '\nExit code: 0 rejoined and converged; 2 bad options, or the host is not quarantined and no --master is given;\n4 a host unreachable; 12 authentication failed; 11 another run holds the deployment lock; 1 failed\n(ipa-fleet run --resume RUN finishes it).',
    )
    .action(
      wrap(async (env, target: string, opts: { master?: string; init: string; yes: boolean; forks: number }) => {
        if (!env.globals.inventory) throw new UsageError('no inventory: pass -i/--inventory FILE');
        if (opts.init !== 'ldif' && opts.init !== 'online')
          throw new UsageError(`--init: ldif or online, not '${opts.init}'`);
        const inventory = await requireInventory(env.globals);
        if (!inventory.hosts.some((h) => h.name === target))
          throw new UsageError(`rejoin: '${target}' is not a host of ${env.globals.inventory}`);
        const records = await readQuarantine(stateDir(), inventory.deployment);
        const master = opts.master ?? records[target]?.master;
        if (!master)
          throw new UsageError(
            `rejoin: ${target} is not quarantined; name the host whose data wins with --master HOST`,
          );
        if (master === target) throw new UsageError(`rejoin: ${target} cannot rejoin from itself`);
        const stillAway = Object.keys(records).filter((h) => h !== target);
        const events = new EventStream();
        attachRenderers(events, env, { live: true });
        const outcome = await runPlaybook({
          ctx: env.ctx,
          events,
          stateDir: stateDir(),
          forks: opts.forks,
          confirm: (plan: Plan) => showAndConfirm(env, plan, opts.yes),
          playbook: 'rejoin',
          inventory,
          registry: defaultRegistry(),
          limit: undefined,
          sets: [`target=${target}`, `master=${master}`, `init=${opts.init}`, `allow_offline=${stillAway.join(',')}`],
        });
        await finish(env, outcome, 'rejoin');
      }),
    );
}

/** A prompted passphrase is asked before the run starts, not in the middle of its progress lines. */
async function askPassphrase(env: CommandEnv, source: string): Promise<void> {
  if (!source) return;
  const src = parseSecretSource(source, { baseDir: process.cwd(), homeDir: homedir() });
  if ('problem' in src) throw new UsageError(`--passphrase: ${src.problem}`);
  await env.ctx.secrets.get(src, PASSPHRASE_PROMPT);
}

async function showAndConfirm(env: CommandEnv, plan: Plan, yes: boolean): Promise<boolean> {
  if (!env.globals.json) printPlan(env.out, plan);
  return confirm(env.out, plan, yes);
}

async function finish(env: CommandEnv, outcome: RunOutcome, what: string): Promise<void> {
  const { plan, entries } = await RunJournal.open(stateDir(), outcome.runId);
  const report = phaseReport(plan, entries);
  if (env.globals.json) {
    env.out.json({ runId: outcome.runId, state: outcome.state, runDir: outcome.runDir, phases: report });
  } else {
    env.out.line('');
    env.out.line(`${what} ${outcome.runId}: ${outcome.state}`);
    env.out.line(
      table(
        phaseRows(
          report,
          plan.tasks.map((t) => t.host),
        ),
      ),
    );
    for (const m of report.messages) env.out.line(`${m.phase}: ${m.message}`);
  }
  if (outcome.state === 'succeeded') return;
  const resume =
    what === 'restore' ? `ipa-fleet restore --resume ${outcome.runId}` : `ipa-fleet run --resume ${outcome.runId}`;
  if (outcome.state === 'interrupted')
    throw new FleetError('failure', `${what} ${outcome.runId} interrupted; finish it with: ${resume}`);
  // A restore is whole or not done: no "some hosts failed" (3) here, the failure that stopped it counts.
  const err =
    outcome.failures.length > 0
      ? mostSpecific(outcome.failures, 1)
      : new FleetError('failure', `${what} ${outcome.runId} did not finish`);
  // A refused preflight changed nothing: there is nothing to resume (a hostile snapshot stays hostile).
  const failed = entries
    .filter((e) => e.type === 'task.finished' && e.status === 'failed')
    .map((e) => (e as { taskId: string }).taskId);
  if (failed.length > 0 && failed.every((id) => plan.tasks.find((t) => t.id === id)?.action === 'restore-preflight'))
    throw err;
  throw Object.assign(err, { message: `${err.message} (fix it, then: ${resume})` });
}
