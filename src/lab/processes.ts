// Local process control for the lab. The lab ends only its own processes, by pid from pid
// files, and checks /proc/<pid>/cmdline first so a recycled pid is never signalled.
import { execFile, spawn, type ExecFileOptions } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True when `pid` runs and its command line contains `expect` (e.g. "ns-slapd"). */
export async function isRunning(pid: number | undefined, expect: string): Promise<boolean> {
  if (pid === undefined) return false;
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent has not collected it yet.
    if (/^\d+ \(.*\) Z /.test(stat)) return false;
    return cmdline.includes(expect);
  } catch {
    return false;
  }
}

/** SIGTERM, wait up to `graceMs` (ns-slapd needs seconds to flush), then SIGKILL and wait. */
export async function stopProcess(pid: number | undefined, expect: string, graceMs: number): Promise<boolean> {
  if (!(await isRunning(pid, expect))) return false;
  signal(pid!, 'SIGTERM');
  if (await waitForExit(pid!, expect, graceMs)) return true;
  signal(pid!, 'SIGKILL');
  await waitForExit(pid!, expect, 10_000);
  return true;
}

export async function killProcess(pid: number | undefined, expect: string): Promise<boolean> {
  if (!(await isRunning(pid, expect))) return false;
  signal(pid!, 'SIGKILL');
  await waitForExit(pid!, expect, 10_000);
  return true;
}

async function waitForExit(pid: number, expect: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await isRunning(pid, expect))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !(await isRunning(pid, expect));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* exited in between */
  }
}

/** Starts a detached process (own session) with its output appended to `logFile`; returns its pid. */
export function spawnDetached(command: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): number {
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], ...(env ? { env } : {}) });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Waits until a TCP port accepts connections. */
export async function waitForPort(address: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: address, port });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
      sock.setTimeout(1000, () => {
        sock.destroy();
        resolve(false);
      });
    });
    if (open) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * Runs a controller program with `input` on its stdin, the way the lab hands secrets to a tool
 * (kdb5_util, kadmin.local, kinit, chpasswd): never in argv. Resolves to its stdout.
 */
export async function runWithInput(
  program: string,
  args: string[],
  input: string,
  options: ExecFileOptions = {},
): Promise<string> {
  const pending = execFileAsync(program, args, { ...options, encoding: 'utf8' });
  pending.child.stdin?.end(input);
  return (await pending).stdout;
}
