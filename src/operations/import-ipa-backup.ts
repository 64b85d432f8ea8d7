// `backups import`: an existing FreeIPA ipa-backup folder on an inventory host, streamed into the
// store as an ipa-fleet snapshot (manifest, hashes, encryption to the store's recipients), so that
// list, verify, restore and drills use it like a snapshot `ipa-fleet backup` made.
//
//   cat ipa-*.tar[.gpg] over SSH ─► [openpgp decrypt] ─► convertIpaBackup ─► ingestArchive ─► store
//
// Everything that decides whether the backup can be used and is cheap to know (the folder name,
// the header, the archive's presence, the decryption key, the host's FQDN) is checked before the
// transfer; what only the content tells (the instance of the LDIFs, their suffixes) stops the
// transfer, and the staging folder is removed: nothing appears in the store unless it is whole.
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { toolVersion } from '../actions/backup.js';
import { ingestArchive } from '../backup/archive.js';
import {
  importedManifest,
  importedSuffixes,
  ipaBackupArchive,
  parseIpaBackupFolder,
  parseIpaBackupHeader,
  type IpaBackupHeader,
} from '../backup/ipa-backup-archive.js';
import { convertIpaBackup, type ConversionResult } from '../backup/ipa-backup-stream.js';
import { loadPrivateKey, type PrivateKey } from '../backup/keys.js';
import { fullPaths } from '../backup/snapshot.js';
import { acquireStoreLock } from '../backup/store-lock.js';
import { newSnapshotId, parseManifestTime, SnapshotStore, type SnapshotEntry } from '../backup/store.js';
import { decryptingStream } from '../backup/verify.js';
import type { RunContext } from '../context.js';
import { FleetError, UsageError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import { parseSecretSource } from '../inventory/secrets.js';
import { shellQuote } from '../transport/shell.js';
import type { SshSession } from '../transport/session.js';
import { Transport } from '../transport/transport.js';
import { storeRecipients } from './backup-fleet.js';

export interface ImportIpaBackupOptions {
  /** `HOST:/var/lib/ipa/backup/ipa-data-…` (or `ipa-full-…`); HOST is an inventory host name. */
  from: string;
  store: string;
  encryptTo: string[];
  encrypt: boolean;
  compress?: boolean;
  /** The OpenPGP private key an encrypted (`.gpg`) backup is encrypted to, as `gpg --export-secret-keys` writes it. */
  gpgKey?: string;
  /** The key's passphrase: a secret source (file:PATH, env:NAME, prompt). */
  gpgPassphrase?: string;
  /** Bytes read from the host so far. */
  onProgress?: (bytes: number) => void;
  /** Stops the transfer (default: the run context's, which Ctrl-C aborts). */
  signal?: AbortSignal;
}

export interface ImportIpaBackupResult {
  snapshot: SnapshotEntry;
  header: IpaBackupHeader;
  /** The archive read: `HOST:PATH/ipa-data.tar[.gpg]`. */
  source: string;
  encryptedSource: boolean;
  conversion: ConversionResult;
}

/** What the checks before the transfer found: where to read, and with which key. */
interface ImportSource {
  host: Host;
  folder: string;
  header: IpaBackupHeader;
  archive: { name: string; encrypted: boolean };
  key: PrivateKey | undefined;
}

export async function importIpaBackup(
  inventory: Inventory,
  ctx: RunContext,
  opts: ImportIpaBackupOptions,
): Promise<ImportIpaBackupResult> {
  const { recipients } = await storeRecipients(opts);
  const store = new SnapshotStore(resolve(opts.store));
  const transport = new Transport(inventory, ctx);
  try {
    const src = await inspectSource(inventory, transport, ctx, opts);
    const release = await acquireStoreLock(store.root, inventory.deployment, 'shared', 'backups import', (m) =>
      ctx.warn(m),
    );
    try {
      const id = newSnapshotId(parseManifestTime(src.header.time));
      const pending = await store.beginSnapshot(inventory.deployment, src.host.name, id);
      const ssh = await transport.ssh(src.host);
      const where = `${src.host.name}:${src.folder}/${src.archive.name}`;
      const archiveName = `archive.tar${opts.compress === false ? '' : '.gz'}${recipients ? '.pgp' : ''}`;
      try {
        const configRoots = src.header.type === 'FULL' ? fullPaths(src.host).map((p) => p.replace(/^\/+/, '')) : [];
        const { conversion, ingested } = await transfer(ssh, src, where, {
          configRoots,
          onArchive: (tar) =>
            ingestArchive(tar, {
              dest: pending.archivePath(archiveName),
              recipients: recipients?.keys,
              compress: opts.compress !== false,
              signal: opts.signal ?? ctx.signal,
            }),
          ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        });
        if (src.header.type === 'FULL' && !conversion.filesTar)
          throw new UsageError(`${where}: a FULL backup without files.tar (the configuration)`);
        const manifest = importedManifest(src.header, {
          id,
          deployment: inventory.deployment,
          host: src.host,
          toolVersion: await toolVersion(),
          importedFrom: `${src.host.name}:${src.folder}`,
          suffixes: importedSuffixes(conversion.ldifs, src.host, src.header.host, where),
          missingPaths: configRoots.filter((r) => !conversion.configRootsSeen.includes(r)).map((r) => `/${r}`),
          files: ingested.files,
          archive: {
            name: archiveName,
            size: ingested.size,
            sha256: ingested.sha256,
            compression: opts.compress === false ? 'none' : 'gzip',
            encrypted: recipients !== undefined,
            recipients: recipients?.fingerprints ?? [],
          },
        });
        await pending.commit(manifest);
        for (const skipped of conversion.skipped) ctx.warn(`${where}: not imported, not a regular file: ${skipped}`);
        const snapshot = await store.find(`${inventory.deployment}/${src.host.name}/${id}`);
        return { snapshot, header: src.header, source: where, encryptedSource: src.archive.encrypted, conversion };
      } finally {
        await pending.abort();
      }
    } finally {
      await release();
    }
  } finally {
    await transport.close();
  }
}

/** The folder, its header and archive, the host's FQDN and the decryption key: checked before any transfer. */
async function inspectSource(
  inventory: Inventory,
  transport: Transport,
  ctx: RunContext,
  opts: ImportIpaBackupOptions,
): Promise<ImportSource> {
  const colon = opts.from.indexOf(':');
  if (colon <= 0) throw new UsageError(`--from: '${opts.from}' is not HOST:/var/lib/ipa/backup/ipa-…`);
  const hostName = opts.from.slice(0, colon);
  const host = inventory.hosts.find((h) => h.name === hostName);
  if (!host) {
    const hosts = inventory.hosts.map((h) => h.name).join(', ');
    throw new UsageError(`--from: '${hostName}' is not a host of ${inventory.file} (hosts: ${hosts})`);
  }
  const folder = parseIpaBackupFolder(opts.from.slice(colon + 1));
  const ssh = await transport.ssh(host);
  const listing = await ssh.exec(`ls -1A -- ${shellQuote(folder.path)}`);
  if (!listing.ok)
    throw new UsageError(`--from: ${host.name}:${folder.path} cannot be read (${lastLine(listing.stderrTail)})`);
  const names = listing.stdout.split('\n').filter(Boolean);
  const where = `${host.name}:${folder.path}`;
  if (!names.includes('header')) throw new UsageError(`${where}: no header file (not an ipa-backup folder)`);
  const read = await ssh.exec(`cat -- ${shellQuote(`${folder.path}/header`)} && echo && (hostname -f || hostname)`);
  if (!read.ok) throw new UsageError(`${where}/header cannot be read (${lastLine(read.stderrTail)})`);
  const [headerText, fqdnLine] = splitLastLine(read.stdout);
  const header = parseIpaBackupHeader(headerText, `${where}/header`);
  if (header.type !== folder.type)
    throw new UsageError(`${where}/header: type ${header.type} but the folder is named for a ${folder.type} backup`);
  if (header.host.toLowerCase() !== fqdnLine.trim().toLowerCase())
    throw new UsageError(
      `${where}/header: the backup was made on ${header.host}, but ${host.name} is ${fqdnLine.trim() || '(no name)'}` +
        ' (ipa-restore refuses another host too)',
    );
  const archive = ipaBackupArchive(header.type, names, where);
  if (archive.encrypted && !opts.gpgKey)
    throw new UsageError(
      `${where}/${archive.name} is encrypted with gpg: give its private key with --gpg-key FILE ` +
        '(gpg --export-secret-keys --armor KEYID)',
    );
  if (!archive.encrypted && opts.gpgKey) ctx.warn(`${where}/${archive.name} is not encrypted: --gpg-key is not used`);
  const key = archive.encrypted ? await decryptionKey(ctx, opts.gpgKey!, opts.gpgPassphrase) : undefined;
  return { host, folder: folder.path, header, archive, key };
}

async function decryptionKey(ctx: RunContext, file: string, passphrase: string | undefined): Promise<PrivateKey> {
  let secret: string | undefined;
  if (passphrase) {
    const src = parseSecretSource(passphrase, { baseDir: process.cwd(), homeDir: homedir() });
    if ('problem' in src) throw new UsageError(`--gpg-passphrase: ${src.problem}`);
    secret = await ctx.secrets.get(src, GPG_PASSPHRASE_PROMPT);
  }
  return loadPrivateKey(resolve(file), secret);
}

/** What the CLI's prompt for --gpg-passphrase prompt asks. */
const GPG_PASSPHRASE_PROMPT = "the ipa-backup key's passphrase";

/**
 * Streams the archive from the host through decryption and conversion into `onArchive` (the store's
 * ingest). The first real cause wins: a refusal or damaged data over the store's "source ended".
 */
async function transfer<T>(
  ssh: SshSession,
  src: ImportSource,
  where: string,
  opts: { configRoots: string[]; onArchive: (tar: Readable) => Promise<T>; onProgress?: (bytes: number) => void },
): Promise<{ conversion: ConversionResult; ingested: T }> {
  const remote = await ssh.execStream(`cat -- ${shellQuote(`${src.folder}/${src.archive.name}`)}`, {
    display: `read ${src.folder}/${src.archive.name}`,
  });
  let bytes = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      opts.onProgress?.(bytes);
      callback(null, chunk);
    },
  });
  const reading = pipeline(remote.stdout, counted);
  try {
    const plain = src.key ? await decryptingStream(where, counted, src.key, false) : counted;
    const { tar, done } = convertIpaBackup(plain, {
      type: src.header.type,
      instance: src.host.ldap.instance,
      configRoots: opts.configRoots,
      where,
    });
    const [conversion, ingested, read] = await Promise.allSettled([done, opts.onArchive(tar), reading]);
    const failed = [conversion, ingested, read].filter((r) => r.status === 'rejected').map((r) => r.reason);
    if (failed.length > 0) throw failed.find((e) => e instanceof FleetError) ?? failed[0];
    const result = await remote.result;
    if (!result.ok)
      throw new FleetError(
        'failure',
        `${where}: reading it failed (${lastLine(result.stderrTail) || 'no exit status'})`,
        {
          host: src.host.name,
        },
      );
    return {
      conversion: (conversion as PromiseFulfilledResult<ConversionResult>).value,
      ingested: (ingested as PromiseFulfilledResult<T>).value,
    };
  } catch (err) {
    remote.cancel();
    counted.destroy();
    throw decryptionProblem(err, where);
  }
}

/** openpgp's integrity and packet errors, named as the archive's. */
function decryptionProblem(err: unknown, where: string): unknown {
  if (err instanceof FleetError || !(err instanceof Error)) return err;
  if (/decrypt|session key|packet|modification detected|integrity|armored/i.test(err.message))
    return new FleetError('failure', `${where}: cannot be decrypted (${err.message})`, { cause: err });
  return err;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

function splitLastLine(text: string): [string, string] {
  const trimmed = text.replace(/\n+$/, '');
  const at = trimmed.lastIndexOf('\n');
  return at < 0 ? ['', trimmed] : [trimmed.slice(0, at), trimmed.slice(at + 1)];
}
