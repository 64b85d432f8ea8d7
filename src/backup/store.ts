// The snapshot store on the controller: one folder per snapshot,
//
//   <store>/<deployment>/<host>/<snapshot-id>/{manifest.json, <archive name>}
//
// A snapshot is written into a hidden staging folder `<store>/<deployment>/<host>/.<id>.partial/` and
// becomes visible only by one rename once its archive and manifest are on disk (fsynced). A folder is a
// snapshot exactly when its name is a snapshot id and it holds a valid manifest.json, so a crashed backup
// leaves only a `.partial` folder, which `list` never shows and `staleStaging` reports.
// Removal is the mirror image: rename to `.<id>.removing-<random>` (gone from `list` at once), then delete.
//
// Locking is separate (store-lock.ts): backup and verify hold the deployment's store lock shared, prune
// holds it exclusive; removing snapshots or staging folders belongs under the exclusive lock.
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { replaceJson, syncFolder } from '../atomic-file.js';
import { FleetError, UsageError } from '../errors.js';
import { checkDeploymentName, checkHostName } from '../inventory/names.js';
import { processAlive } from '../process-liveness.js';
import { stateDir } from '../state-dir.js';
import type {
  Manifest,
  ManifestFile,
  ManifestSuffix,
  SnapshotTopology,
  SnapshotType,
  TopologySuffix,
} from './manifest.js';
import { readFailure, readTextIfExists } from '../text-file.js';

const MANIFEST_FILE = 'manifest.json';
const MANIFEST_SCHEMA = 'ipa-fleet/snapshot/v1';
/** `20261126T101500Z-1a2b3c`: UTC time to the second, then 6 random hex digits. Sorts by time. */
const SNAPSHOT_ID_RE = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;
const STAGING_RE = /^\.(.+)\.partial$/;
/** In a staging folder: {pid, host} of the process writing it. */
const OWNER_FILE = '.owner';
const REMOVING_RE = /^\.(.+)\.removing-[0-9a-f]+$/;

export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'store');
}

export function newSnapshotId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** One valid snapshot in the store. */
export interface SnapshotEntry {
  id: string;
  deployment: string;
  /** Inventory name of the host (the folder name). */
  host: string;
  type: SnapshotType;
  /** When the snapshot was taken: manifest.time normalized to ISO 8601 UTC (`…Z`), so it sorts as text. */
  time: string;
  /** Size of the archive file in bytes (checked against the manifest). */
  size: number;
  /** The snapshot's folder. */
  dir: string;
  /** Path of the archive file. */
  archive: string;
  manifest: Manifest;
}

/** A folder in the store that looks like a snapshot but cannot be used: reported, never thrown. */
interface StoreProblem {
  deployment: string;
  host: string;
  /** The folder name (the snapshot id it claims to be). */
  id: string;
  dir: string;
  problem: string;
}

/** A leftover staging folder (a crashed backup) or a half-deleted snapshot (a crashed prune). */
export interface StagingLeftover {
  deployment: string;
  host: string;
  id: string;
  kind: 'partial' | 'removing';
  dir: string;
  /** Newest mtime of the folder and of anything directly inside it. */
  modified: Date;
  ageMs: number;
}

export interface StoreFilter {
  deployment?: string | undefined;
  host?: string | undefined;
}

export interface StoreScan {
  snapshots: SnapshotEntry[];
  problems: StoreProblem[];
}

/** Refuses names that could leave the store or hide in it (path separators, leading '.', …). */
function checkName(kind: 'deployment' | 'host' | 'snapshot id', value: string): void {
  let problem: string | undefined;
  if (typeof value !== 'string') problem = `${kind} must be a string`;
  else if (kind === 'deployment') problem = checkDeploymentName(value);
  else if (kind === 'host') problem = checkHostName(value);
  else if (!SNAPSHOT_ID_RE.test(value)) problem = `'${value}' is not a snapshot id (like 20261126T101500Z-1a2b3c)`;
  if (problem) throw new UsageError(problem);
}

/** A snapshot id as the store names snapshots (20261126T101500Z-1a2b3c). */
export function isSnapshotId(value: string): boolean {
  return SNAPSHOT_ID_RE.test(value);
}

export function checkStoreDeployment(deployment: string): void {
  checkName('deployment', deployment);
}

export class SnapshotStore {
  constructor(readonly root: string) {}

  deploymentDir(deployment: string): string {
    checkName('deployment', deployment);
    return join(this.root, deployment);
  }

  hostDir(deployment: string, host: string): string {
    checkName('host', host);
    return join(this.deploymentDir(deployment), host);
  }

  snapshotDir(deployment: string, host: string, id: string): string {
    checkName('snapshot id', id);
    return join(this.hostDir(deployment, host), id);
  }

  /** Creates the staging folder of a new snapshot. Write the archive to `archivePath(name)`, then `commit`. */
  async beginSnapshot(deployment: string, host: string, id: string): Promise<PendingSnapshot> {
    const finalDir = this.snapshotDir(deployment, host, id);
    const parent = this.hostDir(deployment, host);
    await mkdir(parent, { recursive: true, mode: 0o700 });
    if (await exists(finalDir))
      throw new FleetError('failure', `snapshot ${deployment}/${host}/${id} already exists (${finalDir})`, { host });
    const dir = join(parent, `.${id}.partial`);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new FleetError('failure', `snapshot ${deployment}/${host}/${id} is already being written (${dir})`, {
          host,
        });
      throw err;
    }
    await chmod(dir, 0o700); // whatever the umask
    // Who writes it: a later backup of the host can tell a crashed writer's folder from a live one.
    await writeFile(join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid, host: hostname() }), { mode: 0o600 });
    return new PendingSnapshot(deployment, host, id, dir, finalDir);
  }

  /**
   * Removes the host's staging folders whose writer is gone (a backup SIGKILLed or crashed on this
   * machine), so that the next backup of the host leaves no partial snapshot behind. Folders without
   * an owner, or written from another machine, are left to `prune`'s age rule. Returns what it removed.
   */
  async removeOrphanedStaging(deployment: string, host: string): Promise<string[]> {
    const hostDir = this.hostDir(deployment, host);
    const removed: string[] = [];
    for (const name of await subdirs(hostDir)) {
      if (!STAGING_RE.test(name)) continue;
      const dir = join(hostDir, name);
      let owner: { pid?: unknown; host?: unknown };
      try {
        owner = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as { pid?: unknown; host?: unknown };
      } catch {
        continue;
      }
      if (owner.host !== hostname() || typeof owner.pid !== 'number' || processAlive(owner.pid)) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
    return removed;
  }

  /** Every valid snapshot and every problem, sorted by deployment, host, time (then id). */
  async scan(filter: StoreFilter = {}): Promise<StoreScan> {
    const snapshots: SnapshotEntry[] = [];
    const problems: StoreProblem[] = [];
    for (const deployment of await this.deployments(filter)) {
      for (const host of await this.hosts(deployment, filter)) {
        const hostDir = join(this.root, deployment, host);
        for (const name of await subdirs(hostDir)) {
          if (name.startsWith('.')) continue; // staging, removal in progress, or not ours
          const dir = join(hostDir, name);
          const result = await readSnapshot(dir, deployment, host, name);
          if ('problem' in result) problems.push({ deployment, host, id: name, dir, problem: result.problem });
          else snapshots.push(result);
        }
      }
    }
    snapshots.sort(
      (a, b) => cmp(a.deployment, b.deployment) || cmp(a.host, b.host) || cmp(a.time, b.time) || cmp(a.id, b.id),
    );
    problems.sort((a, b) => cmp(a.deployment, b.deployment) || cmp(a.host, b.host) || cmp(a.id, b.id));
    return { snapshots, problems };
  }

  /** The valid snapshots only; `scan` also returns the folders that could not be read. */
  async list(filter: StoreFilter = {}): Promise<SnapshotEntry[]> {
    return (await this.scan(filter)).snapshots;
  }

  /**
   * One snapshot by id, by a unique prefix of an id, or by `<deployment>/<host>/<id or prefix>`.
   * An exact id wins over longer ids it is a prefix of. None or several → UsageError.
   */
  async find(idOrPrefix: string): Promise<SnapshotEntry> {
    const wanted = idOrPrefix.trim();
    if (!wanted) throw new UsageError('no snapshot id given; see ipa-fleet backups list');
    const parts = wanted.split('/');
    if (parts.length !== 1 && parts.length !== 3)
      throw new UsageError(`'${wanted}' is neither a snapshot id nor <deployment>/<host>/<id>`);
    const [deployment, host, prefix] =
      parts.length === 3 ? (parts as [string, string, string]) : [undefined, undefined, wanted];
    const scan = await this.scan({ deployment, host });
    const all = scan.snapshots;
    const exact = all.filter((e) => e.id === prefix);
    const matches = exact.length > 0 ? exact : all.filter((e) => e.id.startsWith(prefix));
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0) {
      // A folder that is there but unusable (edited manifest, swapped archive) is named with its problem.
      const broken = scan.problems
        .filter((p) => p.id === prefix)
        .concat(scan.problems.filter((p) => p.id !== prefix && p.id.startsWith(prefix)));
      if (broken.length > 0)
        throw new FleetError('failure', `snapshot ${broken[0]!.dir} cannot be used: ${broken[0]!.problem}`);
      throw new UsageError(`no snapshot '${wanted}' in ${this.root}; see ipa-fleet backups list`);
    }
    const shown = matches
      .slice(0, 5)
      .map((e) => `${e.deployment}/${e.host}/${e.id}`)
      .join(', ');
    const more = matches.length > 5 ? ` and ${matches.length - 5} more` : '';
    throw new UsageError(
      `snapshot '${wanted}' is ambiguous: it matches ${matches.length} ` +
        `snapshots (${shown}${more}); give more of the id or <deployment>/<host>/<id>`,
    );
  }

  /** Deletes one snapshot (prune; hold the exclusive store lock). It leaves `list` before it is deleted. */
  async remove(entry: Pick<SnapshotEntry, 'deployment' | 'host' | 'id'>): Promise<void> {
    const dir = this.snapshotDir(entry.deployment, entry.host, entry.id);
    const aside = join(
      this.hostDir(entry.deployment, entry.host),
      `.${entry.id}.removing-${randomBytes(4).toString('hex')}`,
    );
    try {
      await rename(dir, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // already gone
      throw err;
    }
    await syncFolder(join(this.root, entry.deployment, entry.host));
    await rm(aside, { recursive: true, force: true });
  }

  /**
   * Staging folders of crashed backups and half-deleted snapshots whose newest content is older than
   * `maxAgeMs`. A backup still running keeps writing its archive, so its folder stays young.
   */
  async staleStaging(maxAgeMs: number, filter: StoreFilter = {}, now = new Date()): Promise<StagingLeftover[]> {
    const out: StagingLeftover[] = [];
    for (const deployment of await this.deployments(filter)) {
      for (const host of await this.hosts(deployment, filter)) {
        const hostDir = join(this.root, deployment, host);
        for (const name of await subdirs(hostDir)) {
          const partial = STAGING_RE.exec(name);
          const removing = partial ? null : REMOVING_RE.exec(name);
          const id = partial?.[1] ?? removing?.[1];
          if (id === undefined) continue;
          const dir = join(hostDir, name);
          const modified = await newestMtime(dir);
          if (modified === undefined) continue; // vanished meanwhile
          const ageMs = now.getTime() - modified.getTime();
          if (ageMs < maxAgeMs) continue;
          out.push({ deployment, host, id, kind: partial ? 'partial' : 'removing', dir, modified, ageMs });
        }
      }
    }
    return out.sort((a, b) => cmp(a.deployment, b.deployment) || cmp(a.host, b.host) || cmp(a.id, b.id));
  }

  /** Deletes a leftover found by `staleStaging` (prune; hold the exclusive store lock). */
  async removeStaging(leftover: Pick<StagingLeftover, 'deployment' | 'host' | 'dir'>): Promise<void> {
    const hostDir = this.hostDir(leftover.deployment, leftover.host);
    const name = leftover.dir.slice(hostDir.length + 1);
    if (
      !leftover.dir.startsWith(`${hostDir}/`) ||
      name.includes('/') ||
      !(STAGING_RE.test(name) || REMOVING_RE.test(name))
    ) {
      throw new FleetError('failure', `${leftover.dir} is not a staging folder of ${hostDir}`);
    }
    await rm(leftover.dir, { recursive: true, force: true });
  }

  private async deployments(filter: StoreFilter): Promise<string[]> {
    if (filter.deployment !== undefined) {
      checkName('deployment', filter.deployment);
      return [filter.deployment];
    }
    return (await subdirs(this.root)).filter((n) => !n.startsWith('.')).sort(cmp);
  }

  private async hosts(deployment: string, filter: StoreFilter): Promise<string[]> {
    if (filter.host !== undefined) {
      checkName('host', filter.host);
      return [filter.host];
    }
    // `.locks` and anything else hidden is not a host.
    return (await subdirs(join(this.root, deployment))).filter((n) => !n.startsWith('.')).sort(cmp);
  }
}

/** A snapshot being written: nothing in it is visible to `list` until `commit` has returned. */
export class PendingSnapshot {
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    readonly deployment: string,
    readonly host: string,
    readonly id: string,
    /** The staging folder `.<id>.partial` (mode 0700). */
    readonly dir: string,
    /** Where the snapshot will be after `commit`. */
    readonly finalDir: string,
  ) {}

  /** Where to write the archive file `name` (a plain file name). */
  archivePath(name: string): string {
    const problem = fileNameProblem(name);
    if (problem) throw new FleetError('failure', `archive name ${JSON.stringify(name)}: ${problem}`);
    return join(this.dir, name);
  }

  /**
   * Validates the manifest (same checks as `list`), checks the archive is there with the size the
   * manifest says, writes manifest.json (0600) atomically, fsyncs every file and the folder, renames
   * the folder to its final name and fsyncs the host folder.
   */
  async commit(manifest: Manifest): Promise<string> {
    if (this.state !== 'open') throw new FleetError('failure', `snapshot ${this.id} is already ${this.state}`);
    const where = `snapshot ${this.deployment}/${this.host}/${this.id}`;
    const checked = validateManifest(JSON.parse(JSON.stringify(manifest)) as unknown, where);
    const mismatch = identityMismatch(checked, this.deployment, this.host, this.id);
    if (mismatch) throw new FleetError('failure', `${where}: ${mismatch}`);
    const archive = join(this.dir, checked.archive.name);
    let size: number;
    try {
      const st = await stat(archive);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (err) {
      throw new FleetError('failure', `${where}: archive ${archive} is missing (${(err as Error).message})`);
    }
    if (size !== checked.archive.size)
      throw new FleetError(
        'failure',
        `${where}: archive ${checked.archive.name} is ${size} bytes, the manifest says ${checked.archive.size}`,
      );

    await replaceJson(join(this.dir, MANIFEST_FILE), checked);
    await rm(join(this.dir, OWNER_FILE), { force: true });
    for (const name of await readdir(this.dir)) await fsyncFile(join(this.dir, name));
    await syncFolder(this.dir);
    if (await exists(this.finalDir)) throw new FleetError('failure', `${where}: ${this.finalDir} appeared meanwhile`);
    await rename(this.dir, this.finalDir);
    this.state = 'committed';
    await syncFolder(join(this.finalDir, '..'));
    return this.finalDir;
  }

  /** Removes the staging folder. Idempotent, and a no-op after `commit`: call it in a `finally`. */
  async abort(): Promise<void> {
    if (this.state === 'committed') return;
    this.state = 'aborted';
    await rm(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// Manifest validation. A manifest is read back from disk, where anyone may have edited it: every field
// is checked, and the error names the field. The result is a fresh object with only the known fields.

class ManifestProblem extends Error {}

function fail(field: string, problem: string): never {
  throw new ManifestProblem(`manifest.${field}: ${problem}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `a string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function obj(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(field, `must be an object, not ${describe(value)}`);
  return value as Record<string, unknown>;
}

function str(value: unknown, field: string, opts: { empty?: boolean } = {}): string {
  if (typeof value !== 'string') fail(field, `must be a string, not ${describe(value)}`);
  if (!opts.empty && value === '') fail(field, 'must not be empty');
  if (/[\0-\x08\x0b-\x1f\x7f]/.test(value)) fail(field, 'contains a control character');
  if (value.length > 4096) fail(field, 'is longer than 4096 characters');
  return value;
}

function optStr(value: unknown, field: string): string | undefined {
  return value === undefined || value === null ? undefined : str(value, field);
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(field, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, not ${describe(value)}`);
  }
  return value as T;
}

function bool(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') fail(field, `must be true or false, not ${describe(value)}`);
  return value;
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    fail(field, `must be a non-negative integer, not ${describe(value)}`);
  return value;
}

function optCount(value: unknown, field: string): number | undefined {
  return value === undefined || value === null ? undefined : count(value, field);
}

function arr(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) fail(field, `must be an array, not ${describe(value)}`);
  return value;
}

function strings(value: unknown, field: string): string[] {
  return arr(value, field).map((v, i) => str(v, `${field}[${i}]`));
}

function sha256(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value))
    fail(field, `must be 64 lowercase hex digits (SHA-256), not ${describe(value)}`);
  return value;
}

function name(value: unknown, field: string, check: (v: string) => string | undefined): string {
  const s = str(value, field);
  const problem = check(s);
  if (problem) fail(field, problem);
  return s;
}

/** A path inside the archive: relative, no `..`, no empty or `.` segments, no NUL or control characters. */
function archivePathProblem(path: string): string | undefined {
  if (path.startsWith('/')) return 'must be relative, not absolute';
  if (path.includes('\\')) return 'must not contain a backslash';
  const segments = path.replace(/\/$/, '').split('/');
  if (segments.some((s) => s === '..')) return "must not contain '..'";
  if (segments.some((s) => s === '' || s === '.')) return "must not contain empty or '.' segments";
  return undefined;
}

function archivePath(value: unknown, field: string): string {
  const s = str(value, field);
  const problem = archivePathProblem(s);
  if (problem) fail(field, `${problem} (${JSON.stringify(s)})`);
  return s;
}

/** A plain file name beside manifest.json. */
function fileNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name === '') return 'must be a non-empty file name';
  if (name.includes('/') || name.includes('\\')) return 'must be a plain file name, without a path';
  if (name.startsWith('.')) return "must not start with '.'";
  if (/[\0-\x1f\x7f]/.test(name)) return 'contains a control character';
  if (name === MANIFEST_FILE) return `must not be ${MANIFEST_FILE}`;
  if (Buffer.byteLength(name) > 255) return 'is longer than 255 bytes';
  return undefined;
}

/** ISO 8601 with or without a zone; without one it is UTC (ipa-backup writes UTC without a zone). */
export function parseManifestTime(value: string): Date | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)(Z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (!m) return undefined;
  const date = new Date(`${m[1]}T${m[2]!.replace(/(\.\d{3})\d+$/, '$1')}${m[3] ?? 'Z'}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A replica ID, when given: 1–65535. */
function optRid(value: unknown, field: string): number | undefined {
  const rid = optCount(value, field);
  if (rid !== undefined && (rid < 1 || rid > 65535)) fail(field, `must be between 1 and 65535, not ${rid}`);
  return rid;
}

function suffix(value: unknown, field: string): ManifestSuffix {
  const o = obj(value, field);
  const rid = optRid(o.rid, `${field}.rid`);
  const exportedEntries = optCount(o.exportedEntries, `${field}.exportedEntries`);
  return {
    kind: oneOf(o.kind, `${field}.kind`, ['domain', 'ca'] as const),
    suffix: str(o.suffix, `${field}.suffix`),
    backend: str(o.backend, `${field}.backend`),
    // Absent in older manifests: they stay as they were read.
    ...(exportedEntries !== undefined ? { exportedEntries } : {}),
    entryCount: optCount(o.entryCount, `${field}.entryCount`),
    rid,
    generation: optStr(o.generation, `${field}.generation`),
    ruv: strings(o.ruv, `${field}.ruv`),
    ldif: archivePath(o.ldif, `${field}.ldif`),
  };
}

function file(value: unknown, field: string): ManifestFile {
  const o = obj(value, field);
  return {
    path: archivePath(o.path, `${field}.path`),
    size: count(o.size, `${field}.size`),
    sha256: sha256(o.sha256, `${field}.sha256`),
  };
}

function checkManifest(json: unknown): Manifest {
  const m = obj(json, '(root)');
  if (m.schema !== MANIFEST_SCHEMA) fail('schema', `must be '${MANIFEST_SCHEMA}', not ${describe(m.schema)}`);
  const id = str(m.id, 'id');
  if (!SNAPSHOT_ID_RE.test(id)) fail('id', `${JSON.stringify(id)} is not a snapshot id (like 20261126T101500Z-1a2b3c)`);
  const files = arr(m.files, 'files').map((f, i) => file(f, `files[${i}]`));
  const seen = new Set<string>();
  files.forEach((f, i) => {
    if (seen.has(f.path)) fail(`files[${i}].path`, `${JSON.stringify(f.path)} is listed twice`);
    seen.add(f.path);
  });
  const a = obj(m.archive, 'archive');
  const archiveName = str(a.name, 'archive.name');
  const nameProblem = fileNameProblem(archiveName);
  if (nameProblem) fail('archive.name', `${nameProblem} (${JSON.stringify(archiveName)})`);
  const encrypted = bool(a.encrypted, 'archive.encrypted');
  const recipients = arr(a.recipients, 'archive.recipients').map((r, i) => {
    if (typeof r !== 'string' || !/^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(r))
      fail(`archive.recipients[${i}]`, `must be an OpenPGP fingerprint (40 or 64 hex digits), not ${describe(r)}`);
    return r;
  });
  if (encrypted && recipients.length === 0) fail('archive.recipients', 'is empty but the archive is encrypted');
  if (!encrypted && recipients.length > 0)
    fail('archive.recipients', 'lists recipients but the archive is not encrypted');
  const time = str(m.time, 'time');
  if (!parseManifestTime(time)) fail('time', `${JSON.stringify(time)} is not an ISO 8601 time`);
  return {
    schema: MANIFEST_SCHEMA,
    id,
    deployment: name(m.deployment, 'deployment', checkDeploymentName),
    hostName: name(m.hostName, 'hostName', checkHostName),
    fqdn: str(m.fqdn, 'fqdn'),
    toolVersion: str(m.toolVersion, 'toolVersion'),
    dsVersion: optStr(m.dsVersion, 'dsVersion'),
    instance: str(m.instance, 'instance'),
    profile: oneOf(m.profile, 'profile', ['389ds', 'freeipa'] as const),
    roles: strings(m.roles, 'roles'),
    suffixes: arr(m.suffixes, 'suffixes').map((s, i) => suffix(s, `suffixes[${i}]`)),
    missingPaths: strings(m.missingPaths, 'missingPaths'),
    files,
    archive: {
      name: archiveName,
      size: count(a.size, 'archive.size'),
      sha256: sha256(a.sha256, 'archive.sha256'),
      compression: oneOf(a.compression, 'archive.compression', ['gzip', 'none'] as const),
      encrypted,
      recipients,
    },
    type: oneOf(m.type, 'type', ['DATA', 'FULL'] as const),
    time,
    host: str(m.host, 'host'),
    ipa_version: optStr(m.ipa_version, 'ipa_version'),
    version: str(m.version, 'version'),
    services: strings(m.services, 'services'),
    ...(m.topology === undefined || m.topology === null ? {} : { topology: topology(m.topology, 'topology') }),
    ...(m.importedFrom === undefined || m.importedFrom === null
      ? {}
      : { importedFrom: str(m.importedFrom, 'importedFrom') }),
  };
}

/** The optional topology block (snapshots of older versions have none). */
function topology(value: unknown, field: string): SnapshotTopology {
  const t = obj(value, field);
  const port = count(t.port, `${field}.port`);
  if (port < 1 || port > 65535) fail(`${field}.port`, `must be a TCP port, not ${port}`);
  return {
    fqdn: str(t.fqdn, `${field}.fqdn`),
    instance: str(t.instance, `${field}.instance`),
    port,
    roles: strings(t.roles, `${field}.roles`),
    backends: arr(t.backends, `${field}.backends`).map((b, i) => {
      const o = obj(b, `${field}.backends[${i}]`);
      return {
        name: str(o.name, `${field}.backends[${i}].name`),
        suffix: str(o.suffix, `${field}.backends[${i}].suffix`),
      };
    }),
    suffixes: arr(t.suffixes, `${field}.suffixes`).map((s, i) => topologySuffix(s, `${field}.suffixes[${i}]`)),
  };
}

function topologySuffix(value: unknown, field: string): TopologySuffix {
  const o = obj(value, field);
  const rid = optRid(o.rid, `${field}.rid`);
  return {
    kind: oneOf(o.kind, `${field}.kind`, ['domain', 'ca'] as const),
    suffix: str(o.suffix, `${field}.suffix`),
    backend: optStr(o.backend, `${field}.backend`),
    rid,
    agreements: arr(o.agreements, `${field}.agreements`).map((a, i) => {
      const g = obj(a, `${field}.agreements[${i}]`);
      return {
        host: str(g.host, `${field}.agreements[${i}].host`),
        port: count(g.port, `${field}.agreements[${i}].port`),
        enabled: bool(g.enabled, `${field}.agreements[${i}].enabled`),
      };
    }),
  };
}

/**
 * Strict schema check of a manifest read from `where` (a file name or a description). Unknown fields
 * are dropped; a missing, mistyped or hostile field → FleetError('failure', `<where>: manifest.<field>: <problem>`).
 */
export function validateManifest(json: unknown, where: string): Manifest {
  try {
    return checkManifest(json);
  } catch (err) {
    if (err instanceof ManifestProblem) throw new FleetError('failure', `${where}: ${err.message}`);
    throw err;
  }
}

function identityMismatch(m: Manifest, deployment: string, host: string, id: string): string | undefined {
  if (m.id !== id) return `manifest.id: is '${m.id}' but the snapshot is '${id}'`;
  if (m.deployment !== deployment)
    return `manifest.deployment: is '${m.deployment}' but the snapshot belongs to '${deployment}'`;
  if (m.hostName !== host) return `manifest.hostName: is '${m.hostName}' but the snapshot belongs to host '${host}'`;
  return undefined;
}

async function readSnapshot(
  dir: string,
  deployment: string,
  host: string,
  id: string,
): Promise<SnapshotEntry | { problem: string }> {
  if (!SNAPSHOT_ID_RE.test(id)) return { problem: 'not a snapshot folder (the name is not a snapshot id)' };
  const file = join(dir, MANIFEST_FILE);
  let text: string | undefined;
  try {
    text = await readTextIfExists(file);
  } catch (err) {
    return { problem: `cannot read ${MANIFEST_FILE} (${readFailure(err)})` };
  }
  if (text === undefined) return { problem: `no ${MANIFEST_FILE}` };
  let manifest: Manifest;
  try {
    manifest = validateManifest(JSON.parse(text) as unknown, file);
  } catch (err) {
    if (err instanceof SyntaxError) return { problem: `${file}: not valid JSON (${err.message})` };
    return { problem: (err as Error).message };
  }
  const mismatch = identityMismatch(manifest, deployment, host, id);
  if (mismatch) return { problem: `${file}: ${mismatch}` };
  const archive = join(dir, manifest.archive.name);
  let size: number;
  try {
    const st = await lstat(archive);
    if (!st.isFile()) return { problem: `archive ${manifest.archive.name} is not a regular file` };
    size = st.size;
  } catch {
    return { problem: `archive ${manifest.archive.name} is missing` };
  }
  if (size !== manifest.archive.size)
    return { problem: `archive ${manifest.archive.name} is ${size} bytes, the manifest says ${manifest.archive.size}` };
  return {
    id,
    deployment,
    host,
    type: manifest.type === 'FULL' ? 'full' : 'data',
    time: parseManifestTime(manifest.time)!.toISOString(),
    size,
    dir,
    archive,
    manifest,
  };
}

// ---------------------------------------------------------------------------------------------------

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Names of the sub-folders (not symlinks) of `dir`; none when it does not exist. */
async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return [];
    throw err;
  }
}

async function newestMtime(dir: string): Promise<Date | undefined> {
  let newest: number;
  try {
    newest = (await lstat(dir)).mtimeMs;
    for (const name of await readdir(dir)) {
      try {
        newest = Math.max(newest, (await lstat(join(dir, name))).mtimeMs);
      } catch {
        // removed meanwhile
      }
    }
  } catch {
    return undefined;
  }
  return new Date(newest);
}

async function fsyncFile(path: string): Promise<void> {
  const st = await lstat(path);
  if (!st.isFile()) return;
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
