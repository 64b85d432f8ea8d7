// Recreating a host's 389-DS instance from its FULL snapshot, when the host was rebuilt (package
// installed, same FQDN, no /etc/dirsrv/slapd-INST). What lib389's setup makes, made from the
// snapshot instead of templates: the folders its dse.ldif names, owned by its user with mode 0770,
// then the whole configuration folder (dse.ldif with every agreement off, schema, the NSS
// certificate database and its pin file) with the modes the archive recorded, then a start. The
// data comes afterwards, from the restore itself. Until the instance answers, a failure removes
// everything this made (the host is left as it was found: without the instance).
import { Readable } from 'node:stream';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import type { Manifest } from '../backup/manifest.js';
import type { PrivateKey } from '../backup/keys.js';
import type { SnapshotEntry } from '../backup/store.js';
import { unpackSnapshot } from '../backup/unpack.js';
import { disableAgreementsInDse } from '../directory/dse.js';
import { configDir, dseLdifPath, instanceLayout, type InstanceLayout } from '../directory/instance.js';
import { uploadStream } from '../transport/files.js';
import { majorMinor, versionOf } from './compatibility.js';
import { shellQuote } from '../transport/shell.js';
import type { SshSession } from '../transport/session.js';
import type { Transport } from '../transport/transport.js';

/** The configuration folder's path inside a snapshot archive (paths below /, no leading slash). */
function archivedConfigDir(instance: string): string {
  return configDir(instance).replace(/^\/+/, '');
}

/** The snapshot's files of the instance's configuration folder. */
export function configFilesOf(manifest: Manifest, instance: string): Manifest['files'] {
  const root = `${archivedConfigDir(instance)}/`;
  return manifest.files.filter((f) => f.path.startsWith(root));
}

/**
 * The owner a restored file gets: files the old instance's user or group owned (the owner of its
 * dse.ldif in the archive) go to that user's ids on this host, which a rebuilt machine may number
 * differently; root and other owners keep their numbers.
 */
export function mapOwner(
  file: { uid: number; gid: number },
  archived: { uid: number; gid: number },
  current: { uid: number; gid: number },
): { uid: number; gid: number } {
  return {
    uid: file.uid === archived.uid ? current.uid : file.uid,
    gid: file.gid === archived.gid ? current.gid : file.gid,
  };
}

/** What a host offers for recreating an instance, read in one command (changes nothing). */
export interface RebuildProbe {
  fqdn: string;
  /** Paths of ns-slapd and dsctl, undefined when missing. */
  nsSlapd: string | undefined;
  dsctl: string | undefined;
  /** The installed 389-DS, as `ns-slapd -v` names it (389-Directory/2.3.1). */
  dsVersion: string | undefined;
  /** The instance's user and its primary group on this host; undefined when the account is missing. */
  user: { uid: number; gid: number } | undefined;
  /** The instance's dse.ldif is there (then there is nothing to recreate). */
  instancePresent: boolean;
  /** Free bytes where the instance's data goes (nearest existing parent of /var/lib/dirsrv/slapd-INST). */
  freeBytes: number | undefined;
  freePath: string;
}

export async function probeRebuild(ssh: SshSession, instance: string, user: string): Promise<RebuildProbe> {
  const varLib = `/var/lib/dirsrv/slapd-${instance}`;
  const script = [
    'h=$(hostname -f 2>/dev/null) && [ -n "$h" ] || h=$(hostname); printf "fqdn=%s\\n" "$h"',
    'printf "ns-slapd=%s\\n" "$(command -v ns-slapd || ls /usr/sbin/ns-slapd 2>/dev/null)"',
    'printf "dsctl=%s\\n" "$(command -v dsctl || ls /usr/sbin/dsctl 2>/dev/null)"',
    'printf "version=%s\\n" "$(ns-slapd -v 2>&1 | grep -o "389-Directory/[0-9.]*" | head -n 1)"',
    `printf "uid=%s\\n" "$(id -u ${shellQuote(user)} 2>/dev/null)"`,
    `printf "gid=%s\\n" "$(id -g ${shellQuote(user)} 2>/dev/null)"`,
    `if [ -e ${shellQuote(dseLdifPath(instance))} ]; then echo present=yes; else echo present=no; fi`,
    `d=${shellQuote(varLib)}; while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done; printf "dfpath=%s\\n" "$d"`,
    `printf "free=%s\\n" "$(df -P -B1 -- "$d" | awk 'NR==2 {print $4}')"`,
  ].join('\n');
  const values = new Map(
    (await ssh.run(script, { display: `check the host for recreating instance ${instance}` }))
      .split('\n')
      .map((l) => /^([a-z-]+)=(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!.trim()]),
  );
  const num = (name: string): number | undefined =>
    /^\d+$/.test(values.get(name) ?? '') ? Number(values.get(name)) : undefined;
  const uid = num('uid');
  const gid = num('gid');
  return {
    fqdn: values.get('fqdn') ?? '',
    nsSlapd: values.get('ns-slapd') || undefined,
    dsctl: values.get('dsctl') || undefined,
    dsVersion: values.get('version') || undefined,
    user: uid !== undefined && gid !== undefined ? { uid, gid } : undefined,
    instancePresent: values.get('present') === 'yes',
    freeBytes: num('free'),
    freePath: values.get('dfpath') ?? varLib,
  };
}

export interface RebuildCheckInput {
  host: Host;
  deployment: string;
  manifest: Manifest;
  /** The snapshot's dse.ldif is in the archive. */
  layout: InstanceLayout | undefined;
  probe: RebuildProbe;
  /** Bytes the host must have free: the configuration, staged and installed, and the data to come. */
  spaceNeeded: number;
  /** Recreate under another 389-DS major.minor than the snapshot's. */
  forceVersion: boolean;
}

/** One line per reason the instance must not be recreated from this snapshot; empty when it may. */
export function rebuildProblems(input: RebuildCheckInput): string[] {
  const { host, manifest: m, probe } = input;
  const instance = host.ldap.instance;
  const problems: string[] = [];
  if (m.type !== 'FULL')
    problems.push(
      `${host.name}: instance ${instance} is missing and snapshot ${m.id} is a DATA backup: ` +
        `recreating an instance needs a FULL snapshot of ${host.name} (ipa-fleet backup --type full)`,
    );
  if (m.deployment !== input.deployment)
    problems.push(`snapshot ${m.id} belongs to deployment '${m.deployment}', the inventory is '${input.deployment}'`);
  if (m.instance !== instance)
    problems.push(`snapshot ${m.id} is of instance ${m.instance}, ${host.name} runs ${instance}`);
  if (probe.fqdn && m.fqdn.toLowerCase() !== probe.fqdn.toLowerCase())
    problems.push(
      `snapshot ${m.id} is a backup of ${m.fqdn}: ${host.name} is now ${probe.fqdn} ` +
        '(a rebuilt host must keep its FQDN: the certificates and agreements name it)',
    );
  if (m.type === 'FULL' && !input.layout)
    problems.push(`snapshot ${m.id} holds no ${dseLdifPath(instance)}: it cannot recreate the instance`);
  if (!probe.nsSlapd || !probe.dsctl)
    problems.push(
      `${host.name}: ${[!probe.nsSlapd && 'ns-slapd', !probe.dsctl && 'dsctl'].filter(Boolean).join(' and ')} ` +
        'not found: install the 389-ds-base package (FreeIPA: the ipa-server packages) first',
    );
  const [theirs, ours] = [versionOf(m.dsVersion), versionOf(probe.dsVersion)];
  if (theirs && ours && majorMinor(theirs) !== majorMinor(ours) && !input.forceVersion)
    problems.push(
      `snapshot ${m.id} was taken with 389-DS ${theirs}, ${host.name} has ${ours} installed: ` +
        'install the same major.minor (--force-version to recreate anyway)',
    );
  if (input.layout && !probe.user)
    problems.push(`${host.name}: no user '${input.layout.user}' (nsslapd-localuser): install 389-ds-base first`);
  if (probe.freeBytes !== undefined && probe.freeBytes < input.spaceNeeded)
    problems.push(
      `${host.name}: ${probe.freePath} has ${probe.freeBytes} bytes free, recreating the instance ` +
        `needs ${input.spaceNeeded}`,
    );
  return problems;
}

/** Reads one (small) file of a snapshot whole; undefined when the archive does not hold it. */
export async function readSnapshotFile(
  snapshot: SnapshotEntry,
  key: PrivateKey | undefined,
  path: string,
  signal: AbortSignal,
): Promise<string | undefined> {
  if (!snapshot.manifest.files.some((f) => f.path === path)) return undefined;
  let text: string | undefined;
  await unpackSnapshot(
    snapshot.archive,
    snapshot.manifest,
    key,
    async (file, content) => {
      if (file.path !== path) return;
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    },
    { signal },
  );
  return text;
}

export interface RecreateResult {
  /** Folders made (mode 0770, owned by the instance's user). */
  folders: string[];
  /** Configuration files put back. */
  files: number;
  /** Agreements in the restored dse.ldif, all turned off until the restore's unfence. */
  agreementsOff: number;
}

interface StagedFile {
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Recreates `host`'s instance from the FULL snapshot and starts it (empty backends: the restore
 * brings the data). Refuses when the instance exists. Everything it made is removed again when it
 * fails before the instance answered.
 */
export async function recreateInstance(
  transport: Transport,
  host: Host,
  ctx: RunContext,
  opts: { snapshot: SnapshotEntry; key: PrivateKey | undefined; signal: AbortSignal; onProgress?: (m: string) => void },
): Promise<RecreateResult> {
  const m = opts.snapshot.manifest;
  const instance = host.ldap.instance;
  const ssh = await transport.ssh(host);
  const archivedDse = `${archivedConfigDir(instance)}/dse.ldif`;
  const { layout, current } = await checkStillMissing(ssh, host, opts);
  // Outside every folder the instance owns, so removing what was made never touches it.
  const staging = `/var/lib/dirsrv/.ipa-fleet-rebuild-${m.id}`;
  const made: string[] = [];
  let answered = false;
  try {
    await ssh.run(`rm -rf ${shellQuote(staging)} && mkdir -p -m 700 ${shellQuote(staging)}`);
    opts.onProgress?.('unpacking the configuration');
    const staged = await stageConfig(ssh, opts, instance, staging);
    const archivedOwner = staged.files.find((f) => f.path === archivedDse) ?? { uid: current.uid, gid: current.gid };
    // Folders that do not exist yet are the ones to remove on failure (/run/dirsrv may be shared).
    const missing = (
      await ssh.run(
        [
          ...[...layout.folders, ...layout.ownedParents].map((f) => `[ -e ${shellQuote(f)} ] || echo ${shellQuote(f)}`),
          'true',
        ].join('; '),
      )
    )
      .split('\n')
      .filter(Boolean);
    made.push(...missing);
    opts.onProgress?.(`making ${layout.folders.length} folder(s), putting back ${staged.files.length} file(s)`);
    await ssh.run('sh -e', {
      stdin: installScript(instance, layout, current, archivedOwner, staging, staged.files),
      timeoutMs: 600_000,
      display: `recreate the folders and configuration of instance ${instance}`,
    });
    opts.onProgress?.(`starting instance ${instance}`);
    // dsctl, not ipactl: on a rebuilt FreeIPA server the rest of the stack comes back with the restore.
    await ssh.run(`dsctl ${shellQuote(instance)} start`, { timeoutMs: 600_000, abortable: false });
    await transport.forgetLdap(host);
    await transport.ldap(host);
    answered = true;
    return { folders: layout.folders, files: staged.files.length, agreementsOff: staged.agreementsOff };
  } finally {
    const cleanup = [`rm -rf ${shellQuote(staging)}`];
    if (!answered) {
      // Back to a host without the instance: stop what may have started, remove what was made.
      cleanup.unshift(`dsctl ${shellQuote(instance)} stop >/dev/null 2>&1 || true`);
      if (made.length > 0) cleanup.push(`rm -rf ${made.map(shellQuote).join(' ')}`);
    }
    await transport
      .ssh(host)
      .then((session) => session.run(cleanup.join('; '), { abortable: false, timeoutMs: 600_000 }))
      .catch((err: Error) =>
        ctx.log.warn(`${host.name}: could not clean up after recreating ${instance}: ${err.message}`),
      );
  }
}

/** The snapshot's layout and the instance's user here, checked again just before anything is made. */
async function checkStillMissing(
  ssh: SshSession,
  host: Host,
  opts: { snapshot: SnapshotEntry; key: PrivateKey | undefined; signal: AbortSignal },
): Promise<{ layout: InstanceLayout; current: { uid: number; gid: number } }> {
  const instance = host.ldap.instance;
  const archivedDse = `${archivedConfigDir(instance)}/dse.ldif`;
  const dse = await readSnapshotFile(opts.snapshot, opts.key, archivedDse, opts.signal);
  const refuse = (why: string): FleetError => new FleetError('usage', why, { host: host.name });
  if (dse === undefined)
    throw refuse(`snapshot ${opts.snapshot.id} holds no ${dseLdifPath(instance)}: it cannot recreate the instance`);
  const layout = instanceLayout(instance, dse);
  const probe = await probeRebuild(ssh, instance, layout.user);
  if (probe.instancePresent)
    throw refuse(`${host.name}: instance ${instance} exists (${dseLdifPath(instance)}); nothing to recreate`);
  if (!probe.user)
    throw refuse(`${host.name}: no user '${layout.user}' (nsslapd-localuser): install 389-ds-base first`);
  return { layout, current: probe.user };
}

/** Streams the instance's configuration folder from the archive into `staging` (dse.ldif with agreements off). */
async function stageConfig(
  ssh: SshSession,
  opts: { snapshot: SnapshotEntry; key: PrivateKey | undefined; signal: AbortSignal },
  instance: string,
  staging: string,
): Promise<{ files: StagedFile[]; agreementsOff: number }> {
  const root = `${archivedConfigDir(instance)}/`;
  const files: StagedFile[] = [];
  let agreementsOff = 0;
  await unpackSnapshot(
    opts.snapshot.archive,
    opts.snapshot.manifest,
    opts.key,
    async (file, content) => {
      if (!file.path.startsWith(root)) return;
      let source: Readable = content;
      if (file.path === `${root}dse.ldif`) {
        const chunks: Buffer[] = [];
        for await (const chunk of content) chunks.push(chunk as Buffer);
        const off = disableAgreementsInDse(Buffer.concat(chunks).toString('utf8'));
        agreementsOff = off.agreements;
        source = Readable.from([Buffer.from(off.text, 'utf8')]);
      }
      await uploadStream(ssh, `${staging}/${file.path}`, source, { display: `stage ${file.path}` });
      files.push({ path: file.path, mode: file.mode ?? 0o600, uid: file.uid ?? 0, gid: file.gid ?? 0 });
    },
    { signal: opts.signal },
  );
  return { files, agreementsOff };
}

/** The shell script that makes the folders (as lib389's setup does) and installs the staged files. */
function installScript(
  instance: string,
  layout: InstanceLayout,
  current: { uid: number; gid: number },
  archived: { uid: number; gid: number },
  staging: string,
  files: StagedFile[],
): string {
  const owner = `${current.uid}:${current.gid}`;
  const lines = [
    ...layout.folders.map((f) => `install -d -m 770 -o ${current.uid} -g ${current.gid} ${shellQuote(f)}`),
    // Setup also gives the instance's user the parents a restore recreates folders in.
    ...layout.ownedParents.map((p) => `mkdir -p ${shellQuote(p)} && chown ${owner} ${shellQuote(p)}`),
    ...files.map((f) => {
      const o = mapOwner(f, archived, current);
      return (
        `install -D -o ${o.uid} -g ${o.gid} -m ${(f.mode & 0o7777).toString(8)} ` +
        `${shellQuote(`${staging}/${f.path}`)} ${shellQuote(`/${f.path}`)}`
      );
    }),
    // systemd hosts: the unit lib389's setup enables (the lab and containers start ns-slapd through dsctl).
    'if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then ' +
      `systemctl enable ${shellQuote(`dirsrv@${instance}`)} >/dev/null 2>&1 || true; fi`,
  ];
  return `${lines.join('\n')}\n`;
}
