// One host's snapshot: export each replicated suffix with replication data (an export task, or
// db2ldif with the instance stopped for FULL), stream exactly those files (and, for FULL, the
// configuration) as a tar over SSH into the encrypted store, and write the manifest.
// Nothing is staged on the host beyond the export files, which are removed in a finally.
import { randomBytes } from 'node:crypto';
import type { PublicKey } from 'openpgp';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import { bakDir as instanceBak, ldifDir as instanceLdif } from '../directory/instance.js';
import { startServices, stopServices } from '../directory/service.js';
import { exportedEntries } from '../directory/task-counts.js';
import { runTask } from '../directory/tasks.js';
import { gatherFacts, type HostFacts } from '../topology/facts.js';
import type { LdapSession } from '../transport/ldap.js';
import { shellQuote } from '../transport/shell.js';
import type { SshSession } from '../transport/session.js';
import type { Transport } from '../transport/transport.js';
import { ingestArchive, type IngestResult } from './archive.js';
import type { Manifest, ManifestSuffix, SnapshotTopology, SnapshotType } from './manifest.js';
import { FREEIPA_FULL_PATHS, NEVER_ARCHIVED } from './paths.js';
import type { SnapshotStore } from './store.js';
import { newSnapshotId } from './store.js';

export interface SnapshotOptions {
  type: SnapshotType;
  /** Add the backup task's db2bak folder (DATA and FULL). */
  binary: boolean;
  compress: boolean;
  /** undefined = --no-encrypt. */
  recipients: { keys: PublicKey[]; fingerprints: string[] } | undefined;
  store: SnapshotStore;
  toolVersion: string;
  onProgress?: (bytes: number) => void;
  signal: AbortSignal;
  exportTimeoutMs?: number;
}

export interface SnapshotResult {
  manifest: Manifest;
  dir: string;
}

type SuffixFacts = NonNullable<HostFacts['suffixes']['ca']>;

/** One suffix's export: where it is written on the host and its name in the archive. */
interface SuffixExport {
  s: SuffixFacts;
  remote: string;
  inArchive: string;
}

export async function takeSnapshot(
  transport: Transport,
  host: Host,
  ctx: RunContext,
  opts: SnapshotOptions,
): Promise<SnapshotResult> {
  const facts = await gatherFacts(transport, host);
  const ssh = await transport.ssh(host);
  const ipaVersion = host.profile === 'freeipa' ? await readIpaVersion(transport, host) : undefined;
  const id = newSnapshotId();
  const instance = host.ldap.instance;
  const ldifDir = instanceLdif(instance);
  const tag = `ipa-fleet-${id}`;
  const exports = suffixExports(host, facts, `${ldifDir}/${tag}`);
  const bakDir = `${instanceBak(instance)}/${tag}`;
  // What a SIGKILLed backup of this host left: its staging folder here, its export files there.
  for (const dir of await opts.store.removeOrphanedStaging(hostDeployment(transport), host.name)) {
    ctx.warn(`${host.name}: removed ${dir}, left by a backup that did not finish`);
  }
  await removeStaleExports(transport, host, ctx);
  const pending = await opts.store.beginSnapshot(hostDeployment(transport), host.name, id);
  let stopped = false;
  try {
    let exported: Array<number | undefined>;
    if (opts.type === 'full') {
      // Set first: a stop cut short by Ctrl-C / SIGTERM may still have stopped the server, and
      // starting a running instance again is harmless.
      stopped = true;
      await stopServices(transport, host, ctx, 'for a FULL backup');
      // The stop is not cancellable; a cancellation that came meanwhile ends the backup here.
      if (opts.signal.aborted)
        throw new FleetError('failure', `${host.name}: the FULL backup was cancelled`, { host: host.name });
      exported = await exportOffline(ssh, instance, exports, opts.binary ? bakDir : undefined, opts);
    } else {
      exported = await exportOnline(await transport.ldap(host), exports, opts.binary ? bakDir : undefined, opts);
    }

    const config =
      opts.type === 'full' ? await existingPaths(transport, host, fullPaths(host)) : { present: [], missing: [] };
    const tar = { ldifDir, tag, exports, bakDir: opts.binary ? bakDir : undefined, configPaths: config.present };
    const { archiveName, ingested } = await transferArchive(ssh, host, opts, tar, (name) => pending.archivePath(name));
    const manifest = buildManifest({
      id,
      host,
      facts,
      deployment: hostDeployment(transport),
      type: opts.type,
      toolVersion: opts.toolVersion,
      ipaVersion,
      suffixes: exports.map((e, i) => manifestSuffix(e.s, e.inArchive, exported[i])),
      missingPaths: config.missing,
      files: ingested.files,
      archive: {
        name: archiveName,
        size: ingested.size,
        sha256: ingested.sha256,
        compression: opts.compress ? 'gzip' : 'none',
        encrypted: opts.recipients !== undefined,
        recipients: opts.recipients?.fingerprints ?? [],
      },
    });
    const dir = await pending.commit(manifest);
    return { manifest, dir };
  } catch (err) {
    await pending.abort();
    throw err;
  } finally {
    // The export files (and the db2bak folder) never outlive the backup; transport.ssh()
    // reconnects when the connection was lost on the way.
    await transport
      .ssh(host)
      .then((session) =>
        session.exec(`rm -rf ${exports.map((e) => shellQuote(e.remote)).join(' ')} ${shellQuote(bakDir)}`),
      )
      .catch((err: Error) => ctx.log.warn(`${host.name}: could not remove the export files: ${err.message}`));
    if (stopped) await startServices(transport, host, ctx, 'the FULL backup');
  }
}

/** The replicated suffixes this instance holds, each with its export file (`<prefix>-<backend>.ldif`). */
function suffixExports(host: Host, facts: HostFacts, prefix: string): SuffixExport[] {
  const suffixes = [facts.suffixes.domain, facts.suffixes.ca].filter(
    (s): s is NonNullable<typeof s> =>
      s !== undefined &&
      s.backend !== undefined &&
      s.replica !== undefined &&
      // A CA suffix in a separate (old-style) instance is exported through that instance.
      s.instance === host.ldap.instance,
  );
  if (suffixes.length === 0)
    throw new FleetError(
      'failure',
      `${host.name}: no replicated suffix to back up (is ${host.suffixes.domain} a replica here?)`,
    );
  return suffixes.map((s) => ({
    s,
    remote: `${prefix}-${s.backend}.ldif`,
    inArchive: `ldif/${s.backend}.ldif`,
  }));
}

/**
 * FULL, with the instance stopped: db2ldif with replication data, and db2bak when `bakDir` is given.
 * Returns each export's records.
 */
async function exportOffline(
  ssh: SshSession,
  instance: string,
  exports: SuffixExport[],
  bakDir: string | undefined,
  opts: SnapshotOptions,
): Promise<Array<number | undefined>> {
  const exported: Array<number | undefined> = [];
  for (const e of exports) {
    // Offline export with replication data (db2ldif -r); dsctl runs it as the dirsrv user. dsctl
    // prints no count (the server's goes to its errors log): the records are the file's dn lines,
    // read once on the host, where tar reads the file next anyway.
    const out = await ssh.run(
      `dsctl ${shellQuote(instance)} db2ldif --replication ${shellQuote(e.s.backend!)} ${shellQuote(e.remote)} >&2 ` +
        `|| exit $?; grep -c '^dn:' ${shellQuote(e.remote)} || test $? -eq 1`,
      { timeoutMs: opts.exportTimeoutMs ?? 3_600_000 },
    );
    const records = /^\d+$/.test(out.trim()) ? Number(out.trim()) : undefined;
    exported.push(records);
  }
  if (bakDir)
    await ssh.run(`dsctl ${shellQuote(instance)} db2bak ${shellQuote(bakDir)}`, {
      timeoutMs: opts.exportTimeoutMs ?? 3_600_000,
    });
  return exported;
}

/**
 * DATA, with the instance running: export tasks with replication data, and a backup task when
 * `bakDir` is given. Returns each export's records as its task log counts them.
 */
async function exportOnline(
  ldap: LdapSession,
  exports: SuffixExport[],
  bakDir: string | undefined,
  opts: SnapshotOptions,
): Promise<Array<number | undefined>> {
  const exported: Array<number | undefined> = [];
  for (const e of exports) {
    const task = await runTask(
      ldap,
      'export',
      {
        nsInstance: e.s.backend!,
        nsFilename: e.remote,
        nsExportReplica: 'true',
        nsUseOneFile: 'true',
        nsNoWrap: 'false',
      },
      { timeoutMs: opts.exportTimeoutMs ?? 3_600_000, signal: opts.signal },
    );
    exported.push(exportedEntries(task.log));
  }
  if (bakDir) {
    await runTask(
      ldap,
      'backup',
      { nsArchiveDir: bakDir, nsDatabaseType: 'ldbm database' },
      { timeoutMs: opts.exportTimeoutMs ?? 3_600_000, signal: opts.signal },
    );
  }
  return exported;
}

/** Streams the host's tar into the store's archive file; a tar that fails or a lost connection is an error. */
async function transferArchive(
  ssh: SshSession,
  host: Host,
  opts: SnapshotOptions,
  tar: TarContents,
  archivePath: (name: string) => string,
): Promise<{ archiveName: string; ingested: IngestResult }> {
  const configNote = tar.configPaths.length ? ` + ${tar.configPaths.length} config path(s)` : '';
  const stream = await ssh.execStream(buildTarCommand(tar), {
    display: `tar of ${tar.exports.length} export(s)${opts.binary ? ' + db2bak' : ''}${configNote}`,
  });
  const archiveName = `archive.tar${opts.compress ? '.gz' : ''}${opts.recipients ? '.pgp' : ''}`;
  let ingested: IngestResult;
  try {
    ingested = await ingestArchive(stream.stdout, {
      dest: archivePath(archiveName),
      recipients: opts.recipients?.keys,
      compress: opts.compress,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      signal: opts.signal,
    });
  } catch (err) {
    stream.cancel();
    // A reader error is often only the symptom (a tar cut short): say when the connection went.
    if (!ssh.isOpen) {
      throw new FleetError(
        'unreachable',
        `${host.name}: the SSH connection was lost during the transfer (${(err as Error).message})`,
        { host: host.name, cause: err },
      );
    }
    throw err;
  }
  const result = await stream.result;
  if (!result.ok) {
    const status = result.exitCode ?? result.signal ?? 'no exit status';
    throw new FleetError(
      'failure',
      `${host.name}: tar on the host failed (${status}): ${result.stderrTail.trim().split('\n').pop() ?? ''}`,
      { host: host.name },
    );
  }
  return { archiveName, ingested };
}

/**
 * Export files and db2bak folders of earlier backups that never reached their finally (the
 * controller was killed). Only ours match (`ipa-fleet-<snapshot id>…`), and no other backup of the
 * deployment runs now: the run holds the deployment lock.
 */
async function removeStaleExports(transport: Transport, host: Host, ctx: RunContext): Promise<void> {
  const instance = host.ldap.instance;
  const pattern =
    'ipa-fleet-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z-' +
    '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*';
  const out = await (await transport.ssh(host)).exec(
    `for f in ${shellQuote(instanceLdif(instance))}/${pattern} ${shellQuote(instanceBak(instance))}/${pattern}; ` +
      'do [ -e "$f" ] && rm -rf -- "$f" && echo "$f"; done; true',
  );
  for (const f of out.stdout.split('\n').filter(Boolean))
    ctx.warn(`${host.name}: removed ${f}, left by a backup that did not finish`);
}

/** FreeIPA's package version (RPM or Debian), for the manifest's ipa_version. */
async function readIpaVersion(transport: Transport, host: Host): Promise<string | undefined> {
  const out = await (await transport.ssh(host)).exec(
    [
      "rpm -q --qf '%{VERSION}-%{RELEASE}' freeipa-server 2>/dev/null",
      "rpm -q --qf '%{VERSION}-%{RELEASE}' ipa-server 2>/dev/null",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
      "dpkg-query -W -f='${Version}' freeipa-server 2>/dev/null",
    ].join(' || '),
  );
  const version = out.stdout.trim();
  return out.ok && version && !/not installed/.test(version) ? version : undefined;
}

function hostDeployment(transport: Transport): string {
  return transport.inventory.deployment;
}

/** FULL: the instance's configuration, and for FreeIPA its file list. */
export function fullPaths(host: Host): string[] {
  const own = [`/etc/dirsrv/slapd-${host.ldap.instance}`];
  return host.profile === 'freeipa' ? [...own, ...FREEIPA_FULL_PATHS] : own;
}

async function existingPaths(
  transport: Transport,
  host: Host,
  paths: string[],
): Promise<{ present: string[]; missing: string[] }> {
  const ssh = await transport.ssh(host);
  const out = await ssh.run(
    paths.map((p) => `if [ -e ${shellQuote(p)} ]; then echo "+"; else echo "-"; fi`).join('; '),
  );
  const flags = out.trim().split('\n');
  return { present: paths.filter((_p, i) => flags[i] === '+'), missing: paths.filter((_p, i) => flags[i] !== '+') };
}

/** What the tar of a snapshot holds: the export files, the db2bak folder, configuration paths. */
interface TarContents {
  ldifDir: string;
  tag: string;
  exports: Array<{ remote: string }>;
  bakDir: string | undefined;
  configPaths: string[];
}

/**
 * GNU tar to stdout. Exports are renamed to ldif/<backend>.ldif and the db2bak folder to bak/;
 * configuration paths keep their path below /. PID files and lock folders never go in.
 */
function buildTarCommand(p: TarContents): string {
  const excludes = NEVER_ARCHIVED.map((x) => `--exclude=${shellQuote(x)}`).join(' ');
  const transforms = [
    `--transform=${shellQuote(`s,^${escapeSed(p.tag)}-,ldif/,`)}`,
    ...(p.bakDir ? [`--transform=${shellQuote(`s,^${escapeSed(p.tag)},bak,`)}`] : []),
  ].join(' ');
  const ldifs = p.exports.map((e) => shellQuote(e.remote.slice(p.ldifDir.length + 1))).join(' ');
  // Links are stored as the files they point to: the store's tar may hold regular files only
  // (ingest refuses links, which a restore could be tricked into following).
  const parts = [
    `tar --create --file=- --numeric-owner --dereference --hard-dereference ${excludes} ${transforms}`,
    `-C ${shellQuote(p.ldifDir)} ${ldifs}`,
  ];
  if (p.bakDir) parts.push(`-C ${shellQuote(p.bakDir.slice(0, p.bakDir.lastIndexOf('/')))} ${shellQuote(p.tag)}`);
  if (p.configPaths.length) parts.push(`-C / ${p.configPaths.map((c) => shellQuote(c.replace(/^\/+/, ''))).join(' ')}`);
  return parts.join(' ');
}

function escapeSed(text: string): string {
  return text.replace(/[\\.*[\]^$,]/g, '\\$&');
}

function manifestSuffix(s: SuffixFacts, ldif: string, exportedEntries: number | undefined): ManifestSuffix {
  return {
    kind: s.kind,
    suffix: s.suffix,
    backend: s.backend!,
    exportedEntries,
    // Older versions' live count; facts no longer count (a search of every entry).
    entryCount: undefined,
    rid: s.replica?.rid,
    generation: s.ruv?.generation,
    ruv: s.ruv
      ? [
          `{replicageneration} ${s.ruv.generation ?? ''}`.trim(),
          ...s.ruv.elements.map((el) => {
            const csns = `${el.minCsn ? ` ${el.minCsn}` : ''}${el.maxCsn ? ` ${el.maxCsn}` : ''}`;
            return `{replica ${el.rid}${el.url ? ` ${el.url}` : ''}}${csns}`;
          }),
        ]
      : [],
    ldif,
  };
}

function buildManifest(p: {
  id: string;
  host: Host;
  facts: HostFacts;
  deployment: string;
  type: SnapshotType;
  toolVersion: string;
  ipaVersion: string | undefined;
  suffixes: ManifestSuffix[];
  missingPaths: string[];
  files: Manifest['files'];
  archive: Manifest['archive'];
}): Manifest {
  const time = new Date().toISOString();
  return {
    schema: 'ipa-fleet/snapshot/v1',
    id: p.id,
    deployment: p.deployment,
    hostName: p.host.name,
    fqdn: p.facts.fqdn,
    toolVersion: p.toolVersion,
    dsVersion: p.facts.dsVersion,
    instance: p.host.ldap.instance,
    profile: p.host.profile,
    roles: p.host.roles,
    suffixes: p.suffixes,
    missingPaths: p.missingPaths,
    files: p.files,
    archive: p.archive,
    type: p.type === 'full' ? 'FULL' : 'DATA',
    time,
    host: p.facts.fqdn,
    ipa_version: p.ipaVersion,
    version: '1',
    services: p.host.profile === 'freeipa' ? ['ipactl'] : [`dirsrv@${p.host.ldap.instance}`],
    topology: snapshotTopology(p.host, p.facts),
  };
}

/** The host's replication topology from the facts the backup gathered anyway (no extra round trip). */
function snapshotTopology(host: Host, facts: HostFacts): SnapshotTopology {
  const suffixes = [facts.suffixes.domain, facts.suffixes.ca].filter(
    (s): s is SuffixFacts => s !== undefined && s.instance === host.ldap.instance,
  );
  return {
    fqdn: facts.fqdn,
    instance: host.ldap.instance,
    port: host.ldap.port,
    roles: host.roles,
    backends: facts.backends.map((b) => ({ name: b.name, suffix: b.suffix })),
    suffixes: suffixes.map((s) => ({
      kind: s.kind,
      suffix: s.suffix,
      backend: s.backend,
      rid: s.replica?.rid,
      agreements: s.agreements.map((a) => ({ host: a.targetHost, port: a.targetPort, enabled: a.enabled })),
    })),
  };
}

function _randomTag(): string {
  return randomBytes(3).toString('hex');
}
