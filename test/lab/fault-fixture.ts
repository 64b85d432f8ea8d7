// Fault injection for the lab's fault matrices: what to break (an SSH connection, ns-slapd, a whole
// host, the controller), when (a condition polled while the CLI child runs), and how to read a run's
// journal afterwards to tell where it stopped.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { startCli } from './fixture.js';

export type Fault = 'ssh-drop' | 'ds-kill' | 'power-off' | 'controller-kill';
export const FAULTS: readonly Fault[] = ['ssh-drop', 'ds-kill', 'power-off', 'controller-kill'];

export type Child = ReturnType<typeof startCli>;

export interface JournalLine {
  type: string;
  taskId?: string;
  host?: string;
  status?: string;
  message?: string;
  error?: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

export async function cmdlineOf(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0+$/, '').replace(/\0/g, ' ');
}

/** SIGKILLs every per-connection process below a host's sshd listener: each open SSH connection drops. */
export async function dropSshConnections(sshdPid: number): Promise<number> {
  let killed = 0;
  const queue = await childrenOf(sshdPid);
  while (queue.length) {
    const pid = queue.shift()!;
    queue.push(...(await childrenOf(pid)));
    // "sshd: root [priv]" and "sshd: root@notty"; which exist depends on the OpenSSH build and timing.
    if (!/^sshd(-session)?: root(@notty| \[priv\])/.test(await cmdlineOf(pid))) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed += 1;
    } catch {
      // gone already
    }
  }
  return killed;
}

/**
 * Drops the host's SSH connections as soon as there is one: a run opens a connection when its first
 * task on the host needs it, which can be just after the task started. Gives up when `child` ends.
 */
export async function dropSshConnectionsOnce(sshdPid: number, child: Child, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const killed = await dropSshConnections(sshdPid);
    if (killed > 0 || child.child.exitCode !== null || child.child.signalCode !== null || Date.now() > deadline)
      return killed;
    await sleep(10);
  }
}

/** A process on this machine whose command line matches (lab hosts share the process table). */
export async function processMatching(re: RegExp): Promise<number | undefined> {
  const { readdir } = await import('node:fs/promises');
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (re.test(await cmdlineOf(Number(name)))) return Number(name);
  }
  return undefined;
}

/** Polls `condition` every few ms while `child` runs; once it holds, runs `act`. False if the child ended first. */
export async function when(
  child: Child,
  condition: () => Promise<boolean>,
  act: () => Promise<void> | void,
  timeoutMs = 300_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (child.child.exitCode === null && child.child.signalCode === null && Date.now() < deadline) {
    if (await condition().catch(() => false)) {
      await act();
      return true;
    }
    await sleep(5);
  }
  return false;
}

/** The child's exit code (null: killed by a signal); SIGKILLs it and throws after `ms`. */
export async function exitOf(handle: Child, ms = 900_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), ms);
  });
  const code = await Promise.race([handle.exited, timeout]);
  clearTimeout(timer);
  if (code === 'timeout') {
    handle.child.kill('SIGKILL');
    throw new Error(
      `the command did not end within ${ms / 1000} s:\n${handle.output.stdout.slice(-3000)}\n${handle.output.stderr.slice(-3000)}`,
    );
  }
  return code;
}

export async function readJournal(runsDir: string, runId: string): Promise<JournalLine[]> {
  const text = await readFile(join(runsDir, runId, 'journal.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as JournalLine];
      } catch {
        return [];
      }
    });
}

/** Where the journal says the run stopped: the first task that failed, was interrupted, or started and never finished. */
export function stoppedAt(lines: JournalLine[]): string | undefined {
  const failed = lines.find(
    (l) => (l.type === 'task.finished' && l.status === 'failed') || l.type === 'task.interrupted',
  );
  if (failed) return failed.taskId;
  const finished = new Set(lines.filter((l) => l.type === 'task.finished').map((l) => l.taskId));
  return lines.find((l) => l.type === 'task.started' && !finished.has(l.taskId))?.taskId;
}

/** stderr ends with exactly one error line and holds no stack trace. */
export function cleanError(stderr: string): string | undefined {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('ipa-fleet: error:'));
  if (lines.length !== 1 || /\n\s+at .+:\d+:\d+\)?/.test(stderr) || /internal error/.test(stderr)) return undefined;
  return lines[0];
}

export interface Cell {
  operation: 'restore' | 'backup';
  phase: string;
  fault: Fault;
  /** The task the fault was injected at (or the moment, for backups). */
  injectedAt: string;
  exit: string;
  stoppedAt: string;
  message: string;
  healed: string;
  result: 'pass' | 'FAIL';
  why: string;
}

/** The matrix as a table: one row per cell, then the totals. */
export function printMatrix(title: string, cells: Cell[]): string {
  const rows = [
    ['OPERATION', 'PHASE', 'FAULT', 'EXIT', 'JOURNAL STOPPED AT', 'RESULT', 'MESSAGE / WHY'],
    ...cells.map((c) => [
      c.operation,
      c.phase,
      c.fault,
      c.exit,
      c.stoppedAt,
      c.result,
      (c.result === 'pass' ? c.message : c.why).slice(0, 110),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const text = rows.map((r) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]!))).join('  ')).join('\n');
  const passed = cells.filter((c) => c.result === 'pass').length;
  return `${title}\n${text}\nfault cells passed: ${passed}/${cells.length}`;
}
