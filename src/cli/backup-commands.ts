import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { FleetError, PartialFailureError, UsageError } from '../errors.js';
import { parseSecretSource } from '../inventory/secrets.js';
import { loadPrivateKey, loadRecipients } from '../backup/keys.js';
import { pruneDeployment } from '../backup/prune.js';
import { parseRetentionPolicy, describeRetentionPolicy } from '../backup/retention.js';
import { acquireStoreLock, breakStoreLocks, describeLock } from '../backup/store-lock.js';
import { defaultStoreDir, SnapshotStore, type SnapshotEntry } from '../backup/store.js';
import { snapshotProblems } from '../backup/verify.js';
import { defaultRegistry } from '../actions/index.js';
import { runPlaybook } from '../playbook/run.js';
import { EventStream } from '../report/events.js';
import { stateDir } from '../state-dir.js';
import { loadInventory } from '../inventory/load.js';
import type { CommandEnv, Wrap } from './command-env.js';
import { mostSpecific } from './exit-codes.js';
import { requireInventory } from './inventory-command.js';
import { table } from './output.js';
import { attachRenderers } from './renderers.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

function storeOf(opts: { store?: string }): SnapshotStore {
  return new SnapshotStore(resolve(opts.store ?? defaultStoreDir()));
}

function mib(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KiB`;
  return bytes < 1073741824 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${(bytes / 1073741824).toFixed(2)} GiB`;
}

/** The deployment given by -i, to narrow the store; every deployment without it. */
async function deploymentFilter(env: CommandEnv): Promise<string | undefined> {
  return env.globals.inventory ? (await loadInventory(env.globals.inventory)).deployment : undefined;
}

export function registerBackupCommands(program: Command, wrap: Wrap): void {
  program
    .command('backup')
    .description('snapshot every selected host (after --limit) into the encrypted store; the backup-fleet playbook')
    .option(
      '--type <type>',
      'data (online LDIF exports with replication data) or full (services stopped; configuration too)',
      'data',
    )
    .option('--binary', "also the backup task's db2bak folder", false)
    .option('--store <dir>', `store folder (default: ${defaultStoreDir()})`)
    .option(
      '--encrypt-to <keyfile>',
      'OpenPGP public key file to encrypt to (repeatable; required unless --no-encrypt)',
      collect,
      [],
    )
    .option('--no-encrypt', 'store unencrypted (explicit opt-out)')
    .option('--no-compress', 'do not gzip before encrypting')
    .option('--forks <n>', 'hosts backed up at once', count, 10)
    .addHelpText(
      'after',
      "\nExit code: 0 every host backed up; 3 some hosts failed (listed; the others' snapshots are kept); 4 or 12 every\nhost failed unreachable or on authentication; 11 another run holds the deployment lock, or a prune the store lock;\n2 bad keys or options (refused before any host is touched).",
    )
    .action(
      wrap(
        async (
          env,
          opts: {
            type: string;
            binary: boolean;
            store?: string;
            encryptTo: string[];
            encrypt: boolean;
            compress: boolean;
            forks: number;
          },
        ) => {
          if (opts.type !== 'data' && opts.type !== 'full')
            throw new UsageError(`--type: '${opts.type}' is not data or full`);
          const inventory = await requireInventory(env.globals);
          const keyFiles = opts.encryptTo.map((k) => resolve(k));
          if (opts.encrypt && keyFiles.length === 0)
            throw new UsageError('name the public key(s) to encrypt to with --encrypt-to KEYFILE (or --no-encrypt)');
          if (!opts.encrypt && keyFiles.length > 0)
            throw new UsageError('--no-encrypt and --encrypt-to exclude each other');
          if (keyFiles.some((k) => k.includes(',')))
            throw new UsageError('--encrypt-to: key file paths may not contain a comma');
          // Unusable keys are refused before any host is touched.
          if (opts.encrypt) await loadRecipients(keyFiles);
          const store = storeOf(opts);
          const events = new EventStream();
          attachRenderers(events, env, { live: true });
          const started = new Date();
          const outcome = await runPlaybook({
            playbook: 'backup-fleet',
            inventory,
            registry: defaultRegistry(),
            limit: env.globals.limit,
            ctx: env.ctx,
            events,
            stateDir: stateDir(),
            forks: opts.forks,
            confirm: async () => true,
            sets: [
              `type=${opts.type}`,
              `binary=${opts.binary}`,
              `store=${store.root}`,
              `encrypt_to=${keyFiles.join(',')}`,
              `no_encrypt=${!opts.encrypt}`,
              `compress=${opts.compress}`,
            ],
          });
          const made = (await store.list({ deployment: inventory.deployment })).filter(
            (s) => new Date(s.time) >= new Date(started.getTime() - 1000),
          );
          if (env.globals.json)
            env.out.json({ runId: outcome.runId, state: outcome.state, snapshots: made.map(describe) });
          else if (made.length) {
            env.out.line('');
            env.out.line(
              table([
                ['HOST', 'SNAPSHOT', 'TYPE', 'SIZE', 'FILES'],
                ...made.map((s) => [s.host, s.id, s.type, mib(s.size), String(s.manifest.files.length)]),
              ]),
            );
          }
          if (outcome.state === 'succeeded') return;
          const hosts = Object.keys(outcome.recap).length;
          // In inventory order, not the order they failed in.
          const failedHosts = Object.keys(outcome.recap).filter((h) => outcome.failures.some((f) => f.host === h));
          if (outcome.failures.length === 0)
            throw new FleetError('failure', `backup run ${outcome.runId} ${outcome.state}`);
          const summary = `${failedHosts.length} of ${hosts} host(s) failed (${failedHosts.join(', ')}): ${outcome.failures[0]!.message}`;
          // Some hosts backed up: that is a partial result (3), whatever stopped the others.
          if (failedHosts.length < hosts) throw new PartialFailureError(summary, outcome.failures);
          const err = mostSpecific(outcome.failures, hosts);
          throw Object.assign(err, { message: summary });
        },
      ),
    );

  const backups = program.command('backups').description('the snapshot store: list, verify, prune, unlock');

  backups
    .command('list')
    .description('every snapshot in the store (only the -i deployment when given): id, host, type, time, size')
    .option('--store <dir>', `store folder (default: ${defaultStoreDir()})`)
    .addHelpText('after', '\nExit code: 0 (unfinished or unreadable snapshots are warned about); 2 bad inventory.')
    .action(
      wrap(async (env, opts: { store?: string }) => {
        const store = storeOf(opts);
        const deployment = await deploymentFilter(env);
        const scan = await store.scan(deployment ? { deployment } : {});
        const leftovers = await store.staleStaging(60 * 60_000, deployment ? { deployment } : {});
        if (env.globals.json)
          return env.out.json({
            store: store.root,
            snapshots: scan.snapshots.map(describe),
            problems: scan.problems,
            leftovers,
          });
        if (scan.snapshots.length === 0) env.out.line(`no snapshots in ${store.root}`);
        else {
          env.out.line(
            table([
              ['ID', 'DEPLOYMENT', 'HOST', 'TYPE', 'TIME', 'SIZE', 'ENCRYPTED'],
              ...scan.snapshots.map((s) => [
                s.id,
                s.deployment,
                s.host,
                s.type,
                s.time,
                mib(s.size),
                s.manifest.archive.encrypted ? 'yes' : 'NO',
              ]),
            ]),
          );
        }
        for (const p of scan.problems) env.out.warn(`${p.dir}: ${p.problem}`);
        for (const l of leftovers)
          env.out.warn(`unfinished snapshot left by a crashed backup: ${l.dir} (prune removes it)`);
      }),
    );

  backups
    .command('verify')
    .argument('[ids...]', 'snapshot ids (or unique prefixes); --all for every one')
    .description(
      'check archives against their manifests: size and SHA-256; with --read-data decrypt and check every file (no plaintext on disk)',
    )
    .option('--all', 'every snapshot (of the -i deployment when given)', false)
    .option('--read-data', 'decrypt and hash every file inside', false)
    .option('--key <file>', 'armored OpenPGP private key (for --read-data)')
    .option('--passphrase <source>', "the key's passphrase: file:PATH, env:NAME or prompt")
    .option('--store <dir>', `store folder (default: ${defaultStoreDir()})`)
    .addHelpText(
      'after',
      '\nExit code: 0 all intact; 1 some snapshot failed (named); 12 wrong key or passphrase; 2 no ids, an unknown\nid, or --read-data without --key; 11 a prune holds the store lock.',
    )
    .action(
      wrap(
        async (
          env,
          ids: string[],
          opts: { all: boolean; readData: boolean; key?: string; passphrase?: string; store?: string },
        ) => {
          const store = storeOf(opts);
          if (!opts.all && ids.length === 0) throw new UsageError('name snapshot ids, or --all');
          const deployment = await deploymentFilter(env);
          const scan = opts.all ? await store.scan(deployment ? { deployment } : {}) : undefined;
          const targets: SnapshotEntry[] = scan ? scan.snapshots : await Promise.all(ids.map((id) => store.find(id)));
          let key;
          if (opts.readData && targets.some((t) => t.manifest.archive.encrypted)) {
            if (!opts.key)
              throw new UsageError('--read-data of an encrypted snapshot needs --key FILE (the private key)');
            let passphrase: string | undefined;
            if (opts.passphrase) {
              const src = parseSecretSource(opts.passphrase, { baseDir: process.cwd(), homeDir: homedir() });
              if ('problem' in src) throw new UsageError(`--passphrase: ${src.problem}`);
              passphrase = await env.ctx.secrets.get(src, '--passphrase');
            }
            key = await loadPrivateKey(resolve(opts.key), passphrase);
          }
          const rows: string[][] = [];
          const failed: string[] = [];
          for (const deploymentName of [...new Set(targets.map((t) => t.deployment))]) {
            const release = await acquireStoreLock(store.root, deploymentName, 'shared', 'backups verify', (m) =>
              env.out.warn(m),
            );
            try {
              for (const t of targets.filter((x) => x.deployment === deploymentName)) {
                const problems = await snapshotProblems(t, { readData: opts.readData, key });
                if (problems.length) failed.push(`${t.id} (${t.host}): ${problems.join('; ')}`);
                rows.push([
                  t.id,
                  t.host,
                  problems.length ? env.out.bad('FAILED') : env.out.ok(opts.readData ? 'ok (data)' : 'ok (hash)'),
                  problems.join('; ') || '-',
                ]);
              }
            } finally {
              await release();
            }
          }
          // Folders the store cannot even read as snapshots fail --all too.
          for (const p of scan?.problems ?? []) {
            failed.push(`${p.id} (${p.host}): ${p.problem}`);
            rows.push([p.id, p.host, env.out.bad('FAILED'), p.problem]);
          }
          if (env.globals.json)
            env.out.json(
              rows.map(([id, host, state, problems]) => ({ id, host, ok: !/FAILED/.test(state!), problems })),
            );
          else env.out.line(table([['SNAPSHOT', 'HOST', 'RESULT', 'PROBLEMS'], ...rows]));
          if (failed.length)
            throw new FleetError('failure', `${failed.length} snapshot(s) failed verification: ${failed.join(' | ')}`);
        },
      ),
    );

  backups
    .command('prune')
    .description("remove snapshots a retention policy does not keep (restic's semantics, per host)")
    .option('--keep-last <n>', 'the n newest', count)
    .option('--keep-hourly <n>', 'the newest of each of the last n hours with snapshots', count)
    .option('--keep-daily <n>', 'the newest of each of the last n days with snapshots', count)
    .option('--keep-weekly <n>', 'the newest of each of the last n ISO weeks with snapshots', count)
    .option('--keep-monthly <n>', 'the newest of each of the last n months with snapshots', count)
    .option('--keep-yearly <n>', 'the newest of each of the last n years with snapshots', count)
    .option('--dry-run', 'print what would be kept and removed, remove nothing', false)
    .option('--store <dir>', `store folder (default: ${defaultStoreDir()})`)
    .addHelpText(
      'after',
      '\nAt least one --keep-* option; calendar buckets are UTC. Only the -i deployment when given, else every one.\nExit code: 0 pruned; 2 no or bad policy; 11 a backup or verify holds the store lock.',
    )
    .action(
      wrap(
        async (
          env,
          opts: Record<string, string | number | boolean | undefined> & { dryRun: boolean; store?: string },
        ) => {
          const policy = parseRetentionPolicy(
            Object.fromEntries(
              Object.entries(opts)
                .filter(([k]) => k.startsWith('keep'))
                .map(([k, v]) => [k, v as number | undefined]),
            ),
          );
          const store = storeOf(opts);
          const only = await deploymentFilter(env);
          const deployments = only ? [only] : [...new Set((await store.list()).map((s) => s.deployment))];
          const report: Array<{ id: string; host: string; deployment: string; keep: boolean; reasons: string[] }> = [];
          env.out.line(`policy: ${describeRetentionPolicy(policy)}${opts.dryRun ? ' (dry run)' : ''}`);
          for (const deployment of deployments) {
            const result = await pruneDeployment(store, deployment, policy, {
              dryRun: opts.dryRun,
              command: 'backups prune',
              warn: (m) => env.out.warn(m),
              onDecision: (d) => {
                report.push({ ...d, deployment });
                env.out.line(
                  `${d.keep ? 'keep  ' : opts.dryRun ? 'would remove' : 'remove'} ${deployment}/${d.host}/${d.id}${d.keep ? `  (${d.reasons.join(', ')})` : ''}`,
                );
              },
            });
            for (const leftover of result.leftovers)
              env.out.line(`${opts.dryRun ? 'would remove' : 'removed'} unfinished ${leftover.dir}`);
          }
          if (env.globals.json) env.out.json(report);
        },
      ),
    );

  backups
    .command('unlock')
    .argument('<deployment>', 'deployment whose store locks to break')
    .description('break the store locks of a deployment (after a crash left one behind)')
    .option('--store <dir>', `store folder (default: ${defaultStoreDir()})`)
    .addHelpText('after', '\nExit code: 0 (also when there was no lock).')
    .action(
      wrap(async (env, deployment: string, opts: { store?: string }) => {
        const removed = await breakStoreLocks(storeOf(opts).root, deployment);
        env.out.line(
          removed.length ? removed.map((l) => `removed ${describeLock(l)}`).join('\n') : `no locks for ${deployment}`,
        );
      }),
    );
}

function describe(s: SnapshotEntry): Record<string, unknown> {
  return {
    id: s.id,
    deployment: s.deployment,
    host: s.host,
    type: s.type,
    time: s.time,
    size: s.size,
    dir: s.dir,
    encrypted: s.manifest.archive.encrypted,
    sha256: s.manifest.archive.sha256,
  };
}
