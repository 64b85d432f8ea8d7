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
import { importSummary, type ImportSummary } from '../directory/task-counts.js';
import { runTask } from '../directory/tasks.js';
import { countLiveEntries } from '../topology/facts.js';
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
  /**
   * Entries the import processed, as the server reported them (snapshots with `exportedEntries`);
   * for older snapshots the live entries counted after the import; undefined when neither is known.
   */
  entries: number | undefined;
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

/** A suffix's import as the server reported it, and the RUV tombstones the staged LDIF lost. */
interface ImportOutcome {
  summary: ImportSummary | undefined;
  ruvRemoved: number;
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
    const imports = new Map<SuffixKind, ImportOutcome>();
    if (opts.type === 'full') {
      // Set first: a stop cut short may still have stopped the server (a second start is harmless).
      stopped = true;
      await stopServices(transport, host, ctx, 'for a FULL restore');
      opts.onProgress?.(`putting back ${config.length} configuration file(s)`);
      await putBackConfig(transport, host, staging, await ownedByThisHost(ssh, host.ldap.instance, config));
      for (const s of restored) {
        const started = Date.now();
        opts.onProgress?.(`ldif2db ${s.backend}`);
        const summary = await importOffline(ssh, host.ldap.instance, s.backend, stagedLdif.get(s.ldif)!, opts);
        results.push(pendingResult(s, Date.now() - started));
        imports.set(s.kind, { summary, ruvRemoved: staged.ruvRemoved.get(s.ldif) ?? 0 });
      }
      stopped = false;
      await startServices(transport, host, ctx, 'the FULL restore');
    } else {
      const ldap = await transport.ldap(host);
      for (const s of restored) {
        const started = Date.now();
        const summary = await importOnline(ldap, s, stagedLdif.get(s.ldif)!, opts);
        results.push(pendingResult(s, Date.now() - started));
        imports.set(s.kind, { summary, ruvRemoved: staged.ruvRemoved.get(s.ldif) ?? 0 });
      }
    }
    for (const r of results) {
      const s = restored.find((x) => x.kind === r.kind)!;
      r.entries = await checkImported(transport, host, s, imports.get(r.kind)!);
      r.generation = await checkGeneration(transport, host, s);
    }
    const ruvEntriesRemoved = [...staged.ruvRemoved.values()].reduce((a, b) => a + b, 0);
    return { suffixes: results, configFiles: config.length, ruvEntriesRemoved };
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
): Promise<{ config: StagedConfigFile[]; ruvRemoved: Map<string, number> }> {
  const m = opts.snapshot.manifest;
  const config: StagedConfigFile[] = [];
  /** Archive path of each staged LDIF → the RUV tombstone entries it lost. */
  const ruvRemoved = new Map<string, number>();
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
        ruvRemoved.set(file.path, strip.removed());
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

  return { config, ruvRemoved };
}

/** DATA: the suffix's import task, with the server running; what its log says of the import. */
async function importOnline(
  ldap: LdapSession,
  s: ManifestSuffix,
  file: string,
  opts: MasterRestoreOptions,
): Promise<ImportSummary | undefined> {
  const task = await runTask(
    ldap,
    'import',
    { nsInstance: s.backend, nsFilename: file },
    {
      timeoutMs: opts.importTimeoutMs ?? 3_600_000,
      signal: opts.signal,
      onProgress: (done) => opts.onProgress?.(`import ${s.backend}${done !== undefined ? `: ${done} entries` : ''}`),
    },
  );
  return importSummary(task.log);
}

const SUMMARY_MARK = '@@ipa-fleet-import-summary';

/**
 * FULL: ldif2db with the instance stopped. dsctl prints no count; the server writes its summary to
 * its errors log, so the lines the log gained during this import are read back (the path from
 * dse.ldif, 389-DS's default without one). Undefined when the log did not say (another log level,
 * the log rotated meanwhile).
 */
async function importOffline(
  ssh: SshSession,
  instance: string,
  backend: string,
  file: string,
  opts: MasterRestoreOptions,
): Promise<ImportSummary | undefined> {
  const dse = shellQuote(`${configDir(instance)}/dse.ldif`);
  const script = [
    `log=$(sed -n 's/^nsslapd-errorlog: *//p' ${dse} | head -n 1)`,
    `[ -n "$log" ] || log=${shellQuote(`/var/log/dirsrv/slapd-${instance}/errors`)}`,
    'before=$(stat -c %s -- "$log" 2>/dev/null || echo 0)',
    `dsctl ${shellQuote(instance)} ldif2db ${shellQuote(backend)} ${shellQuote(file)} >&2 || exit $?`,
    `echo ${SUMMARY_MARK}`,
    `tail -c +$((before + 1)) -- "$log" 2>/dev/null | grep -a -i -F ${shellQuote(`import ${backend}: `)} || true`,
  ].join('\n');
  const out = await ssh.run(script, {
    timeoutMs: opts.importTimeoutMs ?? 3_600_000,
    display: `dsctl ${instance} ldif2db ${backend} ${file}`,
  });
  return importSummary(out.slice(out.indexOf(SUMMARY_MARK) + SUMMARY_MARK.length));
}

function pendingResult(s: ManifestSuffix, importMs: number): RestoredSuffix {
  return {
    kind: s.kind,
    suffix: s.suffix,
    backend: s.backend,
    entries: undefined,
    generation: '',
    snapshotGeneration: s.generation,
    importMs,
  };
}

/**
 * The import took the whole snapshot: the server's own count of what it imported equals what the
 * export wrote, less the RUV tombstone the restore removed, and nothing was skipped. Snapshots of
 * older versions recorded a live count instead: that one is compared by counting again. Returns
 * the entries to report.
 */
async function checkImported(
  transport: Transport,
  host: Host,
  s: ManifestSuffix,
  { summary, ruvRemoved }: ImportOutcome,
): Promise<number | undefined> {
  if (summary && summary.skipped > 0)
    throw new FleetError(
      'failure',
      `${host.name}: ${s.suffix}: the import skipped ${summary.skipped} entries; the server's errors log names them`,
      { host: host.name },
    );
  if (s.exportedEntries !== undefined) {
    const expected = s.exportedEntries - ruvRemoved;
    if (summary === undefined) {
      // The content proof after the re-initialization still compares every host with the snapshot.
      transport.ctx.warn(`${host.name}: ${s.suffix}: the server reported no import count; not compared here`);
      return undefined;
    }
    if (summary.processed !== expected)
      throw new FleetError(
        'failure',
        `${host.name}: ${s.suffix}: the import processed ${summary.processed} entries, the snapshot's export ` +
          `holds ${expected}`,
        { host: host.name },
      );
    return summary.processed;
  }
  if (s.entryCount === undefined) return summary?.processed;
  const live = await countLiveEntries(await transport.ldap(host), s.suffix);
  if (live !== s.entryCount)
    throw new FleetError(
      'failure',
      `${host.name}: ${s.suffix} holds ${live} entries after the restore, the snapshot recorded ${s.entryCount}`,
      { host: host.name },
    );
  return live;
}

/** A generation after the import, and not the snapshot's. */
async function checkGeneration(transport: Transport, host: Host, s: ManifestSuffix): Promise<string> {
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
  return generation;
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
