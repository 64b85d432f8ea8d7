// The daemon's record, kept across restarts in one JSON file (replaced atomically after every
// change): counters per job, the last attempt per host, the last verification. What the store
// itself says (newest snapshot, how many are kept) is read from the store, not from here.
import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { replaceJson } from '../atomic-file.js';
import type { DrillPhase } from '../operations/drill.js';
import { FleetError } from '../errors.js';
import { processAlive } from '../process-liveness.js';
import { acquirePidLock } from '../playbook/lock.js';
import { readTextIfExists } from '../text-file.js';

export interface ScheduleState {
  version: 1;
  jobs: Record<string, JobRecord>;
  /** deployment → host → its last attempt. */
  hosts: Record<string, Record<string, HostRecord>>;
}

export interface JobRecord {
  runs: number;
  failedRuns: number;
  skippedOverlaps: number;
  lastRun?: RunReport;
  lastVerify?: VerifyReport;
  /** A drill job's last run. */
  lastDrill?: DrillRunReport;
}

interface HostRecord {
  lastAttempt: string;
  lastSuccess?: string;
  lastDurationSeconds: number;
  lastSnapshot?: string;
  lastSize?: number;
  consecutiveFailures: number;
  lastError?: string;
}

/** What a hook receives on stdin, and what `schedule status` shows as a job's last result. */
export interface RunReport {
  job: string;
  deployment: string;
  type: 'data' | 'full';
  runId: string | undefined;
  /** succeeded: every host; partial: some; failed: none (or the run did not start); cancelled: SIGTERM. */
  result: 'succeeded' | 'partial' | 'failed' | 'cancelled';
  scheduledAt: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  hosts: { ok: string[]; failed: string[] };
  perHost: Record<string, { ok: boolean; durationSeconds: number; snapshot?: string; size?: number; error?: string }>;
  /** `snapshot`: a stored snapshot verify found damaged (also in `verify`). */
  errors: Array<{ host?: string; snapshot?: string; message: string }>;
  pruned: { removed: number; kept: number } | undefined;
  verify: VerifyReport | undefined;
}

/** A scheduled drill's summary: what its hook receives on stdin and `schedule status` shows. */
export interface DrillRunReport {
  kind: 'drill';
  job: string;
  deployment: string;
  /** The snapshot asked for: 'latest' or an id. */
  backup: string;
  /** succeeded: restorable; failed: not restorable, or the drill did not run; cancelled: SIGTERM. */
  result: 'succeeded' | 'failed' | 'cancelled';
  scheduledAt: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  /** The drill's verdict; undefined when it stopped before reaching one. */
  restorable: boolean | undefined;
  /** The measured recovery time (first restore phase to the content proof). */
  recoverySeconds: number | undefined;
  failedPhase?: string;
  /** One line, secrets masked. */
  error?: string;
  hosts?: number;
  entries?: number;
  snapshots: Array<{ host: string; id: string }>;
  /** Per-phase times, when the drill reported them. */
  phases?: DrillPhase[];
}

export interface VerifyReport {
  at: string;
  readData: boolean;
  ok: boolean;
  snapshots: Array<{ host: string; id: string; ok: boolean; problems: string[] }>;
}

function emptyState(): ScheduleState {
  return { version: 1, jobs: {}, hosts: {} };
}

export function jobRecord(state: ScheduleState, job: string): JobRecord {
  state.jobs[job] ??= { runs: 0, failedRuns: 0, skippedOverlaps: 0 };
  return state.jobs[job];
}

/** Reads the state; a missing file is a first start, an unreadable one is set aside with a warning. */
export async function loadState(file: string, warn: (m: string) => void): Promise<ScheduleState> {
  const text = await readTextIfExists(file, `the schedule state ${file}`);
  if (text === undefined) return emptyState();
  try {
    return parseState(text);
  } catch (err) {
    const aside = `${file}.unreadable-${Date.now()}`;
    await rename(file, aside);
    warn(
      `the schedule state ${file} was unreadable (${(err as Error).message}); moved to ${aside}, counters start again`,
    );
    return emptyState();
  }
}

function parseState(text: string): ScheduleState {
  const parsed = JSON.parse(text) as ScheduleState;
  if (parsed?.version !== 1 || typeof parsed.jobs !== 'object' || typeof parsed.hosts !== 'object')
    throw new Error('not a schedule state');
  return parsed;
}

/** The state as the daemon last saved it, for readers (`schedule status`): nothing is moved; unreadable is empty. */
export async function readState(file: string): Promise<ScheduleState> {
  try {
    return parseState(await readFile(file, 'utf8'));
  } catch {
    return emptyState();
  }
}

/** The running daemon of this state file, if any. */
export async function daemonOf(file: string): Promise<{ pid: number; host: string; since: string } | undefined> {
  try {
    const holder = JSON.parse(await readFile(`${file}.lock`, 'utf8')) as DaemonHolder;
    return holder.host !== hostname() || processAlive(holder.pid) ? holder : undefined;
  } catch {
    return undefined;
  }
}

export async function saveState(file: string, state: ScheduleState): Promise<void> {
  await replaceJson(file, state);
}

interface DaemonHolder {
  pid: number;
  host: string;
  schedule: string;
  since: string;
}

/** One daemon per state file: a second `schedule run` of the same schedule exits 11. */
export async function lockState(
  file: string,
  schedule: string,
  warn: (m: string) => void,
): Promise<() => Promise<void>> {
  const lockFile = `${file}.lock`;
  const me: DaemonHolder = { pid: process.pid, host: hostname(), schedule, since: new Date().toISOString() };
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  return acquirePidLock(lockFile, me, {
    held: (h) =>
      new FleetError(
        'lock',
        `schedule ${schedule} is already running (pid ${h.pid} on ${h.host}, since ${h.since}); lock file ${lockFile}`,
      ),
    stale: (h) =>
      warn(`removing the stale lock of a schedule daemon${h ? ` (pid ${h.pid} is gone)` : ''}: ${lockFile}`),
  });
}
