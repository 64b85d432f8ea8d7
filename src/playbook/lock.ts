// One run per deployment at a time: a lock file in the state dir, created with O_EXCL.
import { hostname } from 'node:os';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FleetError } from '../errors.js';
import { processAlive } from '../process-liveness.js';

export interface LockHolder {
  pid: number;
  host: string;
  runId: string;
  playbook: string;
  since: string;
}

export class LockHeldError extends FleetError {
  constructor(
    readonly deployment: string,
    readonly holder: LockHolder,
    file: string,
  ) {
    super(
      'lock',
      `deployment '${deployment}' is locked by run ${holder.runId} (${holder.playbook}, ` +
        `pid ${holder.pid} on ${holder.host}, since ${holder.since}); lock file ${file}`,
    );
    this.name = 'LockHeldError';
  }
}

/** Takes the deployment lock; a lock whose process is gone (same machine) is stale and replaced. */
export async function acquireLock(
  stateDir: string,
  deployment: string,
  holder: Omit<LockHolder, 'pid' | 'host' | 'since'>,
  warn: (m: string) => void,
): Promise<() => Promise<void>> {
  const dir = join(stateDir, 'locks');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${deployment.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`);
  const me: LockHolder = { ...holder, pid: process.pid, host: hostname(), since: new Date().toISOString() };
  return acquirePidLock(file, me, {
    held: (current) => new LockHeldError(deployment, current, file),
    stale: (current) =>
      warn(
        `removing stale lock of deployment '${deployment}'` +
          (current ? ` (run ${current.runId}, pid ${current.pid} is gone)` : ''),
      ),
  });
}

/**
 * A lock file created with O_EXCL holding its owner as JSON. A lock whose process is gone (on this
 * machine), or that cannot be read, is stale: it is replaced after `stale` is told.
 */
export async function acquirePidLock<T extends { pid: number; host: string }>(
  file: string,
  me: T,
  on: { held: (current: T) => FleetError; stale: (current: T | undefined) => void },
): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
      return async () => {
        await unlink(file).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let current: T | undefined;
    try {
      current = JSON.parse(await readFile(file, 'utf8')) as T;
    } catch {
      current = undefined; // unreadable or half-written: treat as stale
    }
    if (current && (current.host !== hostname() || processAlive(current.pid))) throw on.held(current);
    on.stale(current);
    await unlink(file).catch(() => undefined);
  }
  throw new FleetError('lock', `cannot take the lock ${file}`);
}
