// Store locks, per deployment: backup and verify hold them shared (many at once), prune holds one
// exclusive (alone). One file per holder in `<store>/<deployment>/.locks/`:
//
//   shared-<pid>-<random>.json   exclusive.json
//
// holding {kind, pid, host, command, time, token}. A file is first written and fsynced under a temporary
// name, then hard-linked to its lock name: link(2) fails with EEXIST like O_EXCL, and a lock file is
// never seen half-written. Both kinds re-check after creating their file (an exclusive looks for shared
// files, a shared one for an exclusive file) and back off on a conflict, so two racing takers can both
// fail but can never both win.
//
// A lock whose pid is gone on this host is removed with a warning. A lock older than `staleAfterMs`, or
// one whose file cannot be read, is reported as stale through `warn` but still counts: only
// `ipa-fleet backups unlock` (breakStoreLocks) removes it.
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createFileExclusively } from '../atomic-file.js';
import { FleetError } from '../errors.js';
import { processAlive } from '../process-liveness.js';
import { checkStoreDeployment } from './store.js';
import { readTextIfExists } from '../text-file.js';

export type StoreLockKind = 'shared' | 'exclusive';

const DEFAULT_STALE_AFTER_MS = 24 * 60 * 60 * 1000;
const EXCLUSIVE_FILE = 'exclusive.json';
const SHARED_RE = /^shared-\d+-[0-9a-f]+\.json$/;

interface StoreLockRecord {
  kind: StoreLockKind;
  pid: number;
  host: string;
  command: string;
  /** ISO time the lock was taken. */
  time: string;
  /** Random; tells this holder's file from a later one with the same name. */
  token: string;
}

export interface StoreLockInfo {
  deployment: string;
  file: string;
  kind: StoreLockKind;
  /** Undefined when the file cannot be read. */
  pid: number | undefined;
  host: string | undefined;
  command: string | undefined;
  time: string | undefined;
  /**
   * Why the lock looks abandoned: its process is gone (this host), it is older than staleAfterMs, or
   * its file cannot be read. Undefined for a live lock.
   */
  stale: 'dead' | 'old' | 'unreadable' | undefined;
  /** For a stale lock: the explanation shown to the user. */
  reason: string | undefined;
}

export interface StoreLockOptions {
  /** Stale locks (reported, kept) and dead-pid locks (removed) are told here. */
  warn?: (message: string, lock: StoreLockInfo) => void;
  staleAfterMs?: number;
  now?: () => Date;
}

export type ReleaseStoreLock = () => Promise<void>;

export class StoreLockHeldError extends FleetError {
  constructor(
    readonly deployment: string,
    readonly wanted: StoreLockKind,
    readonly holders: StoreLockInfo[],
    dir: string,
  ) {
    super(
      'lock',
      `cannot take the ${wanted} store lock of deployment '${deployment}': ` +
        `${holders.map(describeLock).join('; ')}; lock files in ${dir}` +
        (holders.some((h) => h.stale) ? `; if that run is really gone: ipa-fleet backups unlock ${deployment}` : ''),
    );
    this.name = 'StoreLockHeldError';
  }
}

export function describeLock(lock: StoreLockInfo): string {
  const by = lock.command ? `'${lock.command}'` : 'a run';
  const who =
    lock.pid === undefined
      ? `${lock.kind} lock with an unreadable file ${lock.file}`
      : `${lock.kind} lock by ${by} (pid ${lock.pid} on ${lock.host}, since ${lock.time})`;
  return lock.stale && lock.stale !== 'unreadable' ? `${who}, stale: ${lock.reason}` : who;
}

function locksDir(storeRoot: string, deployment: string): string {
  checkStoreDeployment(deployment);
  return join(storeRoot, deployment, '.locks');
}

/**
 * Takes the deployment's store lock. Exclusive fails when any lock is held; shared fails when an
 * exclusive one is. Failure → StoreLockHeldError (kind 'lock', exit 11) naming every holder.
 * The returned function releases it (idempotent; it never removes a file that is no longer ours).
 * The last argument is the options, or just the `warn` callback.
 */
export async function acquireStoreLock(
  storeRoot: string,
  deployment: string,
  kind: StoreLockKind,
  command: string,
  optsOrWarn: StoreLockOptions | ((message: string, lock: StoreLockInfo) => void) = {},
): Promise<ReleaseStoreLock> {
  let opts: StoreLockOptions = typeof optsOrWarn === 'function' ? { warn: optsOrWarn } : optsOrWarn;
  const dir = locksDir(storeRoot, deployment);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const now = opts.now ?? (() => new Date());
  // Each lock is scanned up to twice (before and after creating ours): tell about it once.
  const told = new Set<string>();
  const userWarn = opts.warn;
  opts = {
    ...opts,
    warn: (message, lock) => {
      if (!told.has(lock.file)) {
        told.add(lock.file);
        userWarn?.(message, lock);
      }
    },
  };
  const record: StoreLockRecord = {
    kind,
    pid: process.pid,
    host: hostname(),
    command,
    time: now().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const name = kind === 'exclusive' ? EXCLUSIVE_FILE : `shared-${process.pid}-${randomBytes(4).toString('hex')}.json`;
  const file = join(dir, name);
  const conflicts = (locks: StoreLockInfo[]): StoreLockInfo[] =>
    locks.filter((l) => l.file !== file && (kind === 'exclusive' || l.kind === 'exclusive'));

  // A dead holder's exclusive.json can be replaced once; a second EEXIST is a live holder.
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = conflicts(await scanLocks(storeRoot, deployment, opts, true));
    if (before.length > 0) throw new StoreLockHeldError(deployment, kind, before, dir);
    // Someone took exclusive.json meanwhile: scan again.
    if (!(await createFileExclusively(file, `${JSON.stringify(record)}\n`))) continue;
    const release = async (): Promise<void> => {
      await unlinkIfOurs(file, record.token);
    };
    // Someone may have created a conflicting lock between our scan and our create: back off.
    const after = conflicts(await scanLocks(storeRoot, deployment, opts, true));
    if (after.length > 0) {
      await release();
      throw new StoreLockHeldError(deployment, kind, after, dir);
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await release();
    };
  }
  const holders = conflicts(await scanLocks(storeRoot, deployment, opts, false));
  throw new StoreLockHeldError(deployment, kind, holders, dir);
}

/** Every lock of every deployment in the store (or of one), with its staleness. Removes nothing. */
export async function listStoreLocks(
  storeRoot: string,
  opts: StoreLockOptions & { deployment?: string } = {},
): Promise<StoreLockInfo[]> {
  const deployments = opts.deployment !== undefined ? [opts.deployment] : await deploymentNames(storeRoot);
  const out: StoreLockInfo[] = [];
  for (const deployment of deployments)
    out.push(...(await scanLocks(storeRoot, deployment, { ...opts, warn: undefined }, false)));
  return out;
}

/** `ipa-fleet backups unlock`: removes every lock file of the deployment and returns what it removed. */
export async function breakStoreLocks(
  storeRoot: string,
  deployment: string,
  opts: StoreLockOptions = {},
): Promise<StoreLockInfo[]> {
  const locks = await scanLocks(storeRoot, deployment, { ...opts, warn: undefined }, false);
  const removed: StoreLockInfo[] = [];
  for (const lock of locks) {
    try {
      await unlink(lock.file);
      removed.push(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------------

async function deploymentNames(storeRoot: string): Promise<string[]> {
  try {
    return (await readdir(storeRoot, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Reads every lock file of the deployment. With `clean`, locks whose pid is gone on this host are
 * removed (with a warning) and left out; stale ones are warned about and kept.
 */
async function scanLocks(
  storeRoot: string,
  deployment: string,
  opts: StoreLockOptions,
  clean: boolean,
): Promise<StoreLockInfo[]> {
  const dir = locksDir(storeRoot, deployment);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const now = (opts.now ?? (() => new Date()))().getTime();
  const me = hostname();
  const out: StoreLockInfo[] = [];
  for (const name of names.sort()) {
    const kind: StoreLockKind | undefined =
      name === EXCLUSIVE_FILE ? 'exclusive' : SHARED_RE.test(name) ? 'shared' : undefined;
    if (!kind) continue; // temporary files and anything else
    const file = join(dir, name);
    // Unreadable: judged like a half-written record below.
    const text = await readTextIfExists(file).catch(() => '');
    if (text === undefined) continue; // released meanwhile
    const record = parseRecord(text);
    if (!record) {
      out.push(unreadableLock(deployment, file, kind, opts));
      continue;
    }
    const info: StoreLockInfo = {
      deployment,
      file,
      kind,
      pid: record.pid,
      host: record.host,
      command: record.command,
      time: record.time,
      stale: undefined,
      reason: undefined,
    };
    if (record.host === me && !processAlive(record.pid)) {
      info.stale = 'dead';
      info.reason = `pid ${record.pid} is gone`;
      if (clean) {
        if (await removeDeadLock(file, text)) {
          const holder = `${record.command}, pid ${record.pid} on ${record.host} is gone, since ${record.time}`;
          opts.warn?.(`removed the stale ${kind} store lock of deployment '${deployment}' (${holder})`, info);
        }
        continue;
      }
    } else {
      await checkAge(info, record, { now, staleAfterMs, me }, opts);
    }
    out.push(info);
  }
  return out;
}

/** A lock file that cannot be parsed: reported and kept (only `backups unlock` removes it). */
function unreadableLock(deployment: string, file: string, kind: StoreLockKind, opts: StoreLockOptions): StoreLockInfo {
  const info: StoreLockInfo = {
    deployment,
    file,
    kind,
    pid: undefined,
    host: undefined,
    command: undefined,
    time: undefined,
    stale: 'unreadable',
    reason: 'the lock file cannot be read',
  };
  opts.warn?.(
    `store lock of deployment '${deployment}': ${file} cannot be read; ` +
      `it is kept (ipa-fleet backups unlock ${deployment} removes it)`,
    info,
  );
  return info;
}

/** Marks a lock held longer than `staleAfterMs` as stale (it is kept: its holder may still run). */
async function checkAge(
  info: StoreLockInfo,
  record: StoreLockRecord,
  { now, staleAfterMs, me }: { now: number; staleAfterMs: number; me: string },
  opts: StoreLockOptions,
): Promise<void> {
  let taken = Date.parse(record.time);
  if (Number.isNaN(taken)) taken = (await mtime(info.file)) ?? now;
  const ageMs = now - taken;
  if (ageMs > staleAfterMs) {
    info.stale = 'old';
    const elsewhere =
      record.host !== me ? ` by another machine (${record.host}), which cannot be checked from here` : '';
    info.reason = `held for ${formatAge(ageMs)}${elsewhere}`;
    opts.warn?.(
      `the ${info.kind} store lock of deployment '${info.deployment}' looks stale: ${describeLock(info)}; ` +
        `it is kept (ipa-fleet backups unlock ${info.deployment} removes it)`,
      info,
    );
  }
}

function parseRecord(text: string): StoreLockRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<StoreLockRecord> | null;
    if (!r || typeof r !== 'object') return undefined;
    if (r.kind !== 'shared' && r.kind !== 'exclusive') return undefined;
    if (typeof r.pid !== 'number' || !Number.isSafeInteger(r.pid) || r.pid <= 0) return undefined;
    if (typeof r.host !== 'string' || typeof r.command !== 'string' || typeof r.time !== 'string') return undefined;
    return {
      kind: r.kind,
      pid: r.pid,
      host: r.host,
      command: r.command,
      time: r.time,
      token: typeof r.token === 'string' ? r.token : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * Removes a lock judged dead from `text`. It is first moved aside and compared, so a fresh lock that
 * replaced the dead one meanwhile (another taker was faster) is put back rather than deleted.
 */
async function removeDeadLock(file: string, text: string): Promise<boolean> {
  const aside = join(file, '..', `.dead-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // someone else removed it
    throw err;
  }
  let moved = '';
  try {
    moved = await readFile(aside, 'utf8');
  } catch {
    // unreadable now: treat as not the one we judged
  }
  if (moved === text) {
    await unlink(aside).catch(() => undefined);
    return true;
  }
  await link(aside, file).catch(() => undefined); // put the fresh lock back (unless yet another took the name)
  await unlink(aside).catch(() => undefined);
  return false;
}

async function unlinkIfOurs(file: string, token: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return; // already gone (released, or broken by backups unlock)
  }
  if (parseRecord(text)?.token !== token) return; // not ours any more
  await unlink(file).catch(() => undefined);
}

async function mtime(file: string): Promise<number | undefined> {
  try {
    return (await lstat(file)).mtimeMs;
  } catch {
    return undefined;
  }
}

function formatAge(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  if (h >= 48) return `${Math.floor(h / 24)} days`;
  if (h >= 1) return `${h} h`;
  return `${Math.max(1, Math.floor(ms / 60_000))} min`;
}
