// A run's directory: plan.json (the plan as executed), journal.jsonl (one line per task event,
// fsynced, so a crashed controller leaves an exact record) and summary.json.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceJson } from '../atomic-file.js';
import { UsageError } from '../errors.js';
import type { HostRecap, RunState, TaskStatus } from '../report/events.js';
import type { Plan } from './model.js';
import type { JsonValue } from '../json.js';
import { processAlive } from '../process-liveness.js';

export type JournalEntry =
  | { at: string; type: 'run.started' | 'run.resumed'; pid: number }
  | { at: string; type: 'task.started'; taskId: string; host: string }
  | {
      at: string;
      type: 'task.finished';
      taskId: string;
      host: string;
      status: TaskStatus;
      message?: string;
      error?: string;
      results?: JsonValue;
      changes?: JsonValue[];
      data?: JsonValue;
    }
  | { at: string; type: 'task.interrupted'; taskId: string; host: string }
  | { at: string; type: 'run.finished'; state: RunState };

export interface RunSummary {
  runId: string;
  playbook: string;
  deployment: string;
  startedAt: string;
  finishedAt: string | undefined;
  state: RunState;
  pid: number;
  recap: Record<string, HostRecap>;
  tasks: { total: number; done: number; failed: number; notRun: number };
}

export function runsDir(stateDir: string): string {
  return join(stateDir, 'runs');
}

export function newRunId(playbook: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${playbook}-${randomBytes(2).toString('hex')}`;
}

export class RunJournal {
  private constructor(
    readonly runId: string,
    readonly dir: string,
  ) {}

  static async create(stateDir: string, runId: string, plan: Plan): Promise<RunJournal> {
    const dir = join(runsDir(stateDir), runId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await replaceJson(join(dir, 'plan.json'), plan);
    return new RunJournal(runId, dir);
  }

  static async open(
    stateDir: string,
    runId: string,
  ): Promise<{ journal: RunJournal; plan: Plan; entries: JournalEntry[] }> {
    if (!/^[A-Za-z0-9TZ._-]+$/.test(runId))
      throw new UsageError(`run id '${runId}' is not valid; see ipa-fleet runs list`);
    const dir = join(runsDir(stateDir), runId);
    let plan: Plan;
    try {
      plan = JSON.parse(await readFile(join(dir, 'plan.json'), 'utf8')) as Plan;
    } catch {
      throw new UsageError(`no run '${runId}' in ${runsDir(stateDir)}; see ipa-fleet runs list`);
    }
    return { journal: new RunJournal(runId, dir), plan, entries: await readEntries(dir) };
  }

  /** Appends one entry and fsyncs: after a crash the journal says exactly what had happened. */
  append(entry: JournalEntry): void {
    const file = join(this.dir, 'journal.jsonl');
    // A crash can leave a last line without its newline: start on a fresh line after it.
    const torn = endsTorn(file);
    const fd = openSync(file, 'a', 0o600);
    try {
      writeSync(fd, `${torn ? '\n' : ''}${JSON.stringify(entry)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  async writeSummary(summary: RunSummary): Promise<void> {
    await replaceJson(join(this.dir, 'summary.json'), summary);
  }
}

function endsTorn(file: string): boolean {
  try {
    const size = statSync(file).size;
    if (size === 0) return false;
    const fd = openSync(file, 'r');
    try {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      return last[0] !== 10;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

async function readEntries(dir: string): Promise<JournalEntry[]> {
  let text = '';
  try {
    text = await readFile(join(dir, 'journal.jsonl'), 'utf8');
  } catch {
    return [];
  }
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      // A line cut short by a crash: everything before it is intact.
    }
  }
  return entries;
}

/** Tasks the journal records as finished ok/changed/skipped: a resumed run does not repeat them. */
export function doneTasks(entries: JournalEntry[]): Set<string> {
  const done = new Set<string>();
  for (const e of entries) if (e.type === 'task.finished' && e.status !== 'failed') done.add(e.taskId);
  return done;
}

/** What an earlier attempt journalled of the tasks it finished: when each started, how long, what it said. */
export function earlierAttempts(
  entries: JournalEntry[],
): Map<string, { startedAt: string; durationMs: number; message?: string; data?: JsonValue }> {
  const started = new Map<string, string>();
  const finished = new Map<string, { startedAt: string; durationMs: number; message?: string; data?: JsonValue }>();
  for (const e of entries) {
    if (e.type === 'task.started') started.set(e.taskId, e.at);
    if (e.type !== 'task.finished' || e.status === 'failed') continue;
    const startedAt = started.get(e.taskId) ?? e.at;
    finished.set(e.taskId, {
      startedAt,
      durationMs: Math.max(0, Date.parse(e.at) - Date.parse(startedAt)),
      ...(e.message !== undefined ? { message: e.message } : {}),
      ...(e.data !== undefined ? { data: e.data } : {}),
    });
  }
  return finished;
}

export interface RunListing {
  runId: string;
  playbook: string;
  deployment: string;
  startedAt: string;
  state: RunState | 'crashed';
}

export async function listRuns(stateDir: string): Promise<RunListing[]> {
  let ids: string[];
  try {
    ids = (await readdir(runsDir(stateDir))).sort();
  } catch {
    return [];
  }
  const out: RunListing[] = [];
  for (const runId of ids) {
    const dir = join(runsDir(stateDir), runId);
    try {
      const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as RunSummary;
      const state = summary.state === 'running' && !processAlive(summary.pid) ? 'crashed' : summary.state;
      out.push({
        runId,
        playbook: summary.playbook,
        deployment: summary.deployment,
        startedAt: summary.startedAt,
        state,
      });
    } catch {}
  }
  return out;
}

export async function readSummary(stateDir: string, runId: string): Promise<RunSummary | undefined> {
  try {
    return JSON.parse(await readFile(join(runsDir(stateDir), runId, 'summary.json'), 'utf8')) as RunSummary;
  } catch {
    return undefined;
  }
}
