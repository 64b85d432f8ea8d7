// Restoring the master from a snapshot. The archive is decrypted and read on the controller; only
// the files the restore uses reach the host, into one staging folder under the instance's ldif/
// folder (each path checked, regular files only), and the folder is removed in a finally.
// Each LDIF loses its RUV tombstone on the way, so the restored server starts a new replica
// generation (as ipa-restore does): no peer holding the old data can replicate into it.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import type { ManifestSuffix, SnapshotType } from '../backup/manifest.js';
import { fullPaths } from '../backup/snapshot.js';
import type { SnapshotEntry } from '../backup/store.js';
import { unpackSnapshot } from '../backup/unpack.js';
import type { PrivateKey } from '../backup/keys.js';
import { disableAgreementsInDse } from '../directory/dse.js';
import { configDir, ldifDir } from '../directory/instance.js';
import { stripRuvTombstone } from '../directory/ldif.js';
import { startServices, stopServices } from '../directory/service.js';
import { runTask } from '../directory/tasks.js';
import { countEntries } from '../topology/facts.js';
import { uploadStream } from '../transport/files.js';
import type { LdapSession } from '../transport/ldap.js';
import { shellQuote } from '../transport/shell.js';
import type { SshSession } from '../transport/session.js';
import type { Transport } from '../transport/transport.js';
import type { SuffixKind } from './compatibility.js';
import { mapOwner } from './rebuild.js';
import { generationOf } from './reinit.js';

export interface MasterRestoreOptions {
  snapshot: SnapshotEntry;
  key: PrivateKey | undefined;
  type: SnapshotType;
  suffixes: SuffixKind[];
  signal: AbortSignal;
  importTimeoutMs?: number;
  onProgress?: (message: string) => void;
}

interface RestoredSuffix {
  kind: SuffixKind;
  suffix: string;
  backend: string;
  entries: number;
  generation: string;
  /** The generation recorded in the snapshot (the one peers still hold). */
  snapshotGeneration: string | undefined;
  importMs: number;
}

export interface MasterRestoreResult {
  suffixes: RestoredSuffix[];
  /** Configuration files put back (FULL). */
  configFiles: number;
  /** RUV tombstone entries removed from the LDIFs. */
  ruvEntriesRemoved: number;
}

export async function restoreMaster(
  transport: Transport,
  host: Host,
  ctx: RunContext,
  opts: MasterRestoreOptions,
): Promise<MasterRestoreResult> {
  const m = opts.snapshot.manifest;
  const ssh = await transport.ssh(host);
  const ldifFolder = ldifDir(host.ldap.instance);
  const staging = `${ldifFolder}/ipa-fleet-restore-${m.id}`;
  const restored = m.suffixes.filter((s) => opts.suffixes.includes(s.kind));
  const stagedLdif = new Map(restored.map((s) => [s.ldif, `${staging}/${s.backend}.ldif`]));
  // FULL: configuration paths as stored in the archive (below /, without the leading slash).
  const configRoots = opts.type === 'full' ? fullPaths(host).map((p) => p.replace(/^\/+/, '')) : [];
  let stopped = false;
  try {
    await ssh.run(
      `rm -rf ${shellQuote(staging)} && mkdir -m 700 ${shellQuote(staging)} ` +
        `&& chown --reference=${shellQuote(ldifFolder)} ${shellQuote(staging)}`,
    );
    opts.onProgress?.('unpacking the snapshot');
    const staged = await stageSnapshot(ssh, opts, { staging, ldifFolder, stagedLdif, configRoots });
    const { config } = staged;

    const results: RestoredSuffix[] = [];
    if (opts.type === 'full') {
      // Set first: a stop cut short may still have stopped the server (a second start is harmless).
      stopped = true;
      await stopServices(transport, host, ctx, 'for a FULL restore');
      opts.onProgress?.(`putting back ${config.length} configuration file(s)`);
      await putBackConfig(transport, host, staging, await ownedByThisHost(ssh, host.ldap.instance, config));
      for (const s of restored) {
        const started = Date.now();
        opts.onProgress?.(`ldif2db ${s.backend}`);
        await ssh.run(
          `dsctl ${shellQuote(host.ldap.instance)} ldif2db ${shellQuote(s.backend)} ` +
            `${shellQuote(stagedLdif.get(s.ldif)!)}`,
          { timeoutMs: opts.importTimeoutMs ?? 3_600_000 },
        );
        results.push(await pendingResult(s, Date.now() - started));
      }
      stopped = false;
      await startServices(transport, host, ctx, 'the FULL restore');
    } else {
      results.push(...(await importOnline(await transport.ldap(host), restored, stagedLdif, opts)));
    }
    for (const r of results) await checkRestored(transport, host, r, restored.find((s) => s.kind === r.kind)!);
    return { suffixes: results, configFiles: config.length, ruvEntriesRemoved: staged.ruvEntriesRemoved };
  } finally {
    if (stopped) await startServices(transport, host, ctx, 'the FULL restore');
    await transport
      .ssh(host)
      .then((session) => session.exec(`rm -rf ${shellQuote(staging)}`))
      .catch((err: Error) => ctx.log.warn(`${host.name}: could not remove ${staging}: ${err.message}`));
  }
}

/** Where the restore stages the snapshot's files on the host. */
interface StagingPlan {
  staging: string;
  ldifFolder: string;
  /** Archive path of each restored suffix's LDIF → its staged path. */
  stagedLdif: Map<string, string>;
  /** FULL: configuration paths as stored in the archive; empty for DATA. */
  configRoots: string[];
}

interface StagedConfigFile {
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

/** Unpacks the snapshot onto the host: the restored LDIFs without their RUV tombstone, and (FULL) the configuration. */
async function stageSnapshot(
  ssh: SshSession,
  opts: MasterRestoreOptions,
  { staging, ldifFolder, stagedLdif, configRoots }: StagingPlan,
): Promise<{ config: StagedConfigFile[]; ruvEntriesRemoved: number }> {
  const m = opts.snapshot.manifest;
  const config: StagedConfigFile[] = [];
  let ruvEntriesRemoved = 0;
  await unpackSnapshot(
    opts.snapshot.archive,
    m,
    opts.key,
    async (file, content) => {
      const ldifTarget = stagedLdif.get(file.path);
      if (ldifTarget) {
        const strip = stripRuvTombstone();
        await Promise.all([
          pipeline(content, strip),
          uploadStream(ssh, ldifTarget, strip, { ownerLike: ldifFolder, display: `write ${ldifTarget}` }),
        ]);
        ruvEntriesRemoved += strip.removed();
        return;
      }
      if (configRoots.some((root) => file.path === root || file.path.startsWith(`${root}/`))) {
        const target = `${staging}/config/${file.path}`;
        const source =
          /(^|\/)dse\.ldif$/.test(file.path) && file.path.startsWith('etc/dirsrv/')
            ? await agreementsOff(content)
            : content;
        await uploadStream(ssh, target, source, { display: `write ${target}` });
        config.push({ path: file.path, mode: file.mode ?? 0o600, uid: file.uid ?? 0, gid: file.gid ?? 0 });
        return;
      }
      // db2bak folders and anything else the restore does not use: read past it.
      content.resume();
      await new Promise<void>((resolve, reject) => content.once('end', resolve).once('error', reject));
    },
    { signal: opts.signal },
  );

  return { config, ruvEntriesRemoved };
}

/** DATA: an import task per suffix, with the server running. */
async function importOnline(
  ldap: LdapSession,
  restored: ManifestSuffix[],
  stagedLdif: Map<string, string>,
  opts: MasterRestoreOptions,
): Promise<RestoredSuffix[]> {
  const results: RestoredSuffix[] = [];
  for (const s of restored) {
    const started = Date.now();
    await runTask(
      ldap,
      'import',
      { nsInstance: s.backend, nsFilename: stagedLdif.get(s.ldif)! },
      {
        timeoutMs: opts.importTimeoutMs ?? 3_600_000,
        signal: opts.signal,
        onProgress: (done) => opts.onProgress?.(`import ${s.backend}${done !== undefined ? `: ${done} entries` : ''}`),
      },
    );
    results.push(await pendingResult(s, Date.now() - started));
  }
  return results;
}

async function pendingResult(s: ManifestSuffix, importMs: number): Promise<RestoredSuffix> {
  return {
    kind: s.kind,
    suffix: s.suffix,
    backend: s.backend,
    entries: 0,
    generation: '',
    snapshotGeneration: s.generation,
    importMs,
  };
}

/** Entry count as in the manifest, and a generation that is not the snapshot's. Fills `r`. */
async function checkRestored(transport: Transport, host: Host, r: RestoredSuffix, s: ManifestSuffix): Promise<void> {
  const ldap = await transport.ldap(host);
  r.entries = await countEntries(ldap, s.suffix);
  if (s.entryCount !== undefined && r.entries !== s.entryCount) {
    throw new FleetError(
      'failure',
      `${host.name}: ${s.suffix} holds ${r.entries} entries after the restore, the snapshot recorded ${s.entryCount}`,
      { host: host.name },
    );
  }
  const generation = await generationOf(transport, host, s.suffix, 30_000, s.generation);
  if (!generation)
    throw new FleetError('failure', `${host.name}: ${s.suffix} has no replica generation after the import`, {
      host: host.name,
    });
  if (generation === s.generation) {
    throw new FleetError(
      'failure',
      `${host.name}: ${s.suffix} kept the snapshot's replica generation ` +
        `${generation}: the RUV was not reset, peers could replay old changes`,
      { host: host.name },
    );
  }
  r.generation = generation;
}

/** Reads a (small) dse.ldif whole and turns its agreements off. */
async function agreementsOff(content: Readable): Promise<Readable> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk as Buffer);
  return Readable.from([Buffer.from(disableAgreementsInDse(Buffer.concat(chunks).toString('utf8')).text, 'utf8')]);
}

/**
 * The staged files with the owners of this host: a rebuilt machine may number the instance's user
 * differently from the one the snapshot was taken on (the owner of its dse.ldif in the archive).
 */
async function ownedByThisHost(
  ssh: SshSession,
  instance: string,
  files: StagedConfigFile[],
): Promise<StagedConfigFile[]> {
  const archived = files.find((f) => f.path === `${configDir(instance).replace(/^\/+/, '')}/dse.ldif`);
  if (!archived) return files;
  const [uid, gid] = (await ssh.run(`stat -c '%u %g' ${shellQuote(configDir(instance))}`))
    .trim()
    .split(' ')
    .map(Number);
  if (uid === undefined || gid === undefined || Number.isNaN(uid) || Number.isNaN(gid)) return files;
  return files.map((f) => ({ ...f, ...mapOwner(f, archived, { uid, gid }) }));
}

/** Copies the staged configuration into place with the owner and mode the archive recorded. */
async function putBackConfig(
  transport: Transport,
  host: Host,
  staging: string,
  files: Array<{ path: string; mode: number; uid: number; gid: number }>,
): Promise<void> {
  if (files.length === 0) return;
  const ssh = await transport.ssh(host);
  const lines = files.map(
    (f) =>
      `install -D -o ${f.uid} -g ${f.gid} -m ${(f.mode & 0o7777).toString(8)} ` +
      `${shellQuote(`${staging}/config/${f.path}`)} ${shellQuote(`/${f.path}`)}`,
  );
  // One script on stdin: hundreds of files cost one round trip.
  await ssh.run('sh -e', {
    stdin: `${lines.join('\n')}\n`,
    timeoutMs: 600_000,
    display: `put back ${files.length} configuration file(s)`,
  });
}
