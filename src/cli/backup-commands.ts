// backup, backups list/verify/prune/unlock: options → one operation → output → exit code.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { parseRetentionPolicy, describeRetentionPolicy } from '../backup/retention.js';
import { breakStoreLocks, describeLock } from '../backup/store-lock.js';
import { defaultStoreDir, SnapshotStore, type SnapshotEntry } from '../backup/store.js';
import { FleetError, UsageError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { backupFleet, type BackupFleetResult } from '../operations/backup-fleet.js';
import { importIpaBackup } from '../operations/import-ipa-backup.js';
import { prune, type PruneResult } from '../operations/prune.js';
import { verifySnapshots, type VerifyResult } from '../operations/verify.js';
import { EventStream } from '../report/events.js';
import { stateDir } from '../state-dir.js';
import { collect, type CommandEnv, type Wrap } from './command-env.js';
import { runFailure } from './exit-codes.js';
import { requireInventory } from './inventory-command.js';
import { table } from './output.js';
import { attachRenderers } from './renderers.js';
import { formatBytes } from '../format.js';

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

function storeOf(opts: { store?: string }): SnapshotStore {
  return new SnapshotStore(resolve(opts.store ?? defaultStoreDir()));
}

/** The deployment given by -i, to narrow the store; every deployment without it. */
async function deploymentFilter(env: CommandEnv): Promise<string | undefined> {
  return env.globals.inventory ? (await loadInventory(env.globals.inventory)).deployment : undefined;
}

export function registerBackupCommands(program: Command, wrap: Wrap): void {
  registerBackup(program, wrap);
  const backups = program
    .command('backups')
    .description('the snapshot store: list, verify, prune, unlock, import (ipa-backup folders)');
  registerList(backups, wrap);
  registerVerify(backups, wrap);
  registerPrune(backups, wrap);
  registerUnlock(backups, wrap);
  registerImport(backups, wrap);
}

interface BackupOpts {
  type: string;
  binary: boolean;
  store?: string;
  encryptTo: string[];
  encrypt: boolean;
  compress: boolean;
  forks: number;
}

function registerBackup(program: Command, wrap: Wrap): void {
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
      "\nExit code: 0 every host backed up; 3 some hosts failed (listed; the others' snapshots are kept); " +
        '4 or 12 every\nhost failed unreachable or on authentication; 11 another run holds the deployment lock, ' +
        'or a prune the store lock;\n2 bad keys or options (refused before any host is touched).',
    )
    .action(wrap(backupAction));
}

async function backupAction(env: CommandEnv, opts: BackupOpts): Promise<void> {
  if (opts.type !== 'data' && opts.type !== 'full') throw new UsageError(`--type: '${opts.type}' is not data or full`);
  const inventory = await requireInventory(env.globals);
  const events = new EventStream();
  attachRenderers(events, env, { live: true });
  const result = await backupFleet(inventory, env.ctx, {
    type: opts.type,
    binary: opts.binary,
    store: storeOf(opts).root,
    encryptTo: opts.encryptTo,
    encrypt: opts.encrypt,
    compress: opts.compress,
    forks: opts.forks,
    limit: env.globals.limit,
    stateDir: stateDir(),
    events,
  });
  if (env.globals.json)
    env.out.json({ runId: result.runId, state: result.state, snapshots: result.snapshots.map(describe) });
  else if (result.snapshots.length) {
    env.out.line('');
    env.out.line(
      table([
        ['HOST', 'SNAPSHOT', 'TYPE', 'SIZE', 'FILES'],
        ...result.snapshots.map((s) => [s.host, s.id, s.type, formatBytes(s.size), String(s.manifest.files.length)]),
      ]),
    );
  }
  if (result.state !== 'succeeded') throw backupFailure(result);
}

/** Some hosts backed up is a partial result (3), whatever stopped the others. */
function backupFailure(result: BackupFleetResult): FleetError {
  if (result.failures.length === 0) return new FleetError('failure', `backup run ${result.runId} ${result.state}`);
  // In inventory order, not the order they failed in.
  const failedHosts = result.hosts.filter((h) => result.failures.some((f) => f.host === h.host)).map((h) => h.host);
  const summary =
    `${failedHosts.length} of ${result.hosts.length} host(s) failed (${failedHosts.join(', ')}): ` +
    result.failures[0]!.message;
  return runFailure(result.failures, result.hosts.length, {
    partial: failedHosts.length < result.hosts.length,
    message: () => summary,
  });
}

function registerList(backups: Command, wrap: Wrap): void {
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
        else env.out.line(snapshotTable(scan.snapshots));
        for (const p of scan.problems) env.out.warn(`${p.dir}: ${p.problem}`);
        for (const l of leftovers)
          env.out.warn(`unfinished snapshot left by a crashed backup: ${l.dir} (prune removes it)`);
      }),
    );
}

function snapshotTable(snapshots: SnapshotEntry[]): string {
  return table([
    ['ID', 'DEPLOYMENT', 'HOST', 'TYPE', 'TIME', 'SIZE', 'ENCRYPTED'],
    ...snapshots.map((s) => [
      s.id,
      s.deployment,
      s.host,
      s.type,
      s.time,
      formatBytes(s.size),
      s.manifest.archive.encrypted ? 'yes' : 'NO',
    ]),
  ]);
}

interface VerifyOpts {
  all: boolean;
  readData: boolean;
  key?: string;
  passphrase?: string;
  store?: string;
}

function registerVerify(backups: Command, wrap: Wrap): void {
  backups
    .command('verify')
    .argument('[ids...]', 'snapshot ids (or unique prefixes); --all for every one')
    .description(
      'check archives against their manifests: size and SHA-256; with --read-data decrypt and check every file (no ' +
        'plaintext on disk)',
    )
    .option('--all', 'every snapshot (of the -i deployment when given)', false)
    .option('--read-data', 'decrypt and hash every file inside', false)
    .option('--key <file>', 'armored OpenPGP private key (for --read-data)')
    .option('--passphrase <source>', "the key's passphrase: file:PATH, env:NAME or prompt")
    .option('--store <dir>', `store folder (default: ${defaultStoreDir()})`)
    .addHelpText(
      'after',
      '\nExit code: 0 all intact; 1 some snapshot failed (named); 12 wrong key or passphrase; 2 no ids, an ' +
        'unknown\nid, or --read-data without --key; 11 a prune holds the store lock.',
    )
    .action(
      wrap(async (env, ids: string[], opts: VerifyOpts) => {
        const deployment = opts.all || ids.length ? await deploymentFilter(env) : undefined;
        const result = await verifySnapshots(storeOf(opts), env.ctx, {
          targets: opts.all ? { all: true, ...(deployment ? { deployment } : {}) } : { ids },
          readData: opts.readData,
          ...(opts.key ? { key: { file: opts.key, ...(opts.passphrase ? { passphrase: opts.passphrase } : {}) } } : {}),
          command: 'backups verify',
          warn: (m) => env.out.warn(m),
        });
        if (env.globals.json) env.out.json(result.snapshots);
        else env.out.line(verifyTable(env, result));
        const failed = result.snapshots
          .filter((s) => !s.ok)
          .map((s) => `${s.id} (${s.host}): ${s.problems.join('; ')}`);
        if (failed.length)
          throw new FleetError('failure', `${failed.length} snapshot(s) failed verification: ${failed.join(' | ')}`);
      }),
    );
}

function verifyTable(env: CommandEnv, result: VerifyResult): string {
  const passed = env.out.ok(result.readData ? 'ok (data)' : 'ok (hash)');
  return table([
    ['SNAPSHOT', 'HOST', 'RESULT', 'PROBLEMS'],
    ...result.snapshots.map((s) => [s.id, s.host, s.ok ? passed : env.out.bad('FAILED'), s.problems.join('; ') || '-']),
  ]);
}

type PruneOpts = Record<string, string | number | boolean | undefined> & { dryRun: boolean; store?: string };

function registerPrune(backups: Command, wrap: Wrap): void {
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
      '\nAt least one --keep-* option; calendar buckets are UTC. Only the -i deployment when given, else every ' +
        'one.\nExit code: 0 pruned; 2 no or bad policy; 11 a backup or verify holds the store lock.',
    )
    .action(
      wrap(async (env, opts: PruneOpts) => {
        const keep = Object.entries(opts).filter(([k]) => k.startsWith('keep'));
        const policy = parseRetentionPolicy(Object.fromEntries(keep.map(([k, v]) => [k, v as number | undefined])));
        const store = storeOf(opts);
        const deployment = await deploymentFilter(env);
        env.out.line(`policy: ${describeRetentionPolicy(policy)}${opts.dryRun ? ' (dry run)' : ''}`);
        const result = await prune(store, env.ctx, {
          policy,
          ...(deployment ? { deployment } : {}),
          dryRun: opts.dryRun,
          command: 'backups prune',
          warn: (m) => env.out.warn(m),
        });
        printPrune(env, result);
        if (env.globals.json)
          env.out.json(result.deployments.flatMap((d) => d.decisions.map((x) => ({ ...x, deployment: d.deployment }))));
      }),
    );
}

function printPrune(env: CommandEnv, result: PruneResult): void {
  const removing = result.dryRun ? 'would remove' : 'remove';
  for (const { deployment, decisions, leftovers } of result.deployments) {
    for (const d of decisions)
      env.out.line(
        `${d.keep ? 'keep  ' : removing} ${deployment}/${d.host}/${d.id}${d.keep ? `  (${d.reasons.join(', ')})` : ''}`,
      );
    for (const leftover of leftovers)
      env.out.line(`${result.dryRun ? 'would remove' : 'removed'} unfinished ${leftover.dir}`);
  }
}

function registerUnlock(backups: Command, wrap: Wrap): void {
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

interface ImportOpts {
  from: string;
  store?: string;
  encryptTo: string[];
  encrypt: boolean;
  compress: boolean;
  gpgKey?: string;
  gpgPassphrase?: string;
}

function registerImport(backups: Command, wrap: Wrap): void {
  backups
    .command('import')
    .description(
      'stream a FreeIPA ipa-backup folder (ipa-data-… or ipa-full-…, gpg-encrypted or not) from an inventory host ' +
        'into the store as a snapshot',
    )
    .requiredOption(
      '--from <host:path>',
      'HOST:/var/lib/ipa/backup/ipa-data-YYYY-MM-DD-HH-MM-SS (HOST: an inventory host)',
    )
    .option('--store <dir>', `store folder (default: ${defaultStoreDir()})`)
    .option(
      '--encrypt-to <keyfile>',
      'OpenPGP public key file to encrypt the snapshot to (repeatable; required unless --no-encrypt)',
      collect,
      [],
    )
    .option('--no-encrypt', 'store unencrypted (explicit opt-out)')
    .option('--no-compress', 'do not gzip before encrypting')
    .option('--gpg-key <file>', 'for a .gpg backup: its private key (gpg --export-secret-keys --armor KEYID)')
    .option('--gpg-passphrase <source>', "that key's passphrase: file:PATH, env:NAME or prompt")
    .addHelpText(
      'after',
      '\nExit code: 0 imported; 2 what cannot be used (not an ipa-backup folder, an unknown header, a .gpg ' +
        'backup without\n--gpg-key, another instance or host, no LDIF of the domain suffix; nothing is stored); ' +
        '12 wrong key or passphrase;\n1 the transfer failed or the archive is damaged; 4 the host is unreachable; ' +
        '11 a prune holds the store lock.',
    )
    .action(
      wrap(async (env, opts: ImportOpts) => {
        const inventory = await requireInventory(env.globals);
        let shown = Date.now();
        const result = await importIpaBackup(inventory, env.ctx, {
          // A large backup takes minutes: a line every 5 s says how far the transfer is.
          onProgress: (bytes) => {
            if (Date.now() - shown < 5000) return;
            shown = Date.now();
            env.out.progress(`import: ${formatBytes(bytes)} of the archive read`);
          },
          from: opts.from,
          store: storeOf(opts).root,
          encryptTo: opts.encryptTo,
          encrypt: opts.encrypt,
          compress: opts.compress,
          ...(opts.gpgKey ? { gpgKey: opts.gpgKey } : {}),
          ...(opts.gpgPassphrase ? { gpgPassphrase: opts.gpgPassphrase } : {}),
        });
        const s = result.snapshot;
        const c = result.conversion;
        if (env.globals.json)
          return env.out.json({
            ...describe(s),
            source: result.source,
            header: result.header,
            ldifs: c.ldifs.map((l) => l.target),
            configFiles: c.configFiles,
            bakFiles: c.bakFiles,
            leftOut: c.leftOut,
            skipped: c.skipped,
          });
        env.out.line(snapshotTable([s]));
        env.out.line(
          `from ${result.source} ` +
            `(${result.header.type}, ${result.header.time} UTC, IPA ${result.header.ipaVersion}): ` +
            `${c.ldifs.length} LDIF(s), ${c.bakFiles} db2bak file(s)` +
            (result.header.type === 'FULL'
              ? `, ${c.configFiles} configuration file(s), ${c.leftOut} other file(s) of files.tar not taken`
              : ''),
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
