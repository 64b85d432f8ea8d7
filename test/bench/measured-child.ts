// A node child process measured as a benchmark sees it: wall time from spawn to exit, its peak resident
// set (VmHWM) and its own CPU time, sampled from /proc while it runs.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { statCpuSeconds } from './server-cpu.js';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  wallS: number;
  /** VmHWM of the child: its peak resident set. */
  peakBytes: number;
  /** utime + stime of the child at the last sample: the controller's own work, less load-sensitive than wall. */
  cpuS: number;
}

/**
 * A node child process, timed from spawn to exit; its VmHWM (monotonic: the last read is the peak) and CPU
 * time polled every 50 ms, so what it does in its last 50 ms can be missed.
 */
export function measured(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let peakBytes = 0;
  let cpuS = 0;
  const sample = async (): Promise<void> => {
    const [status, stat] = await Promise.all(
      ['status', 'stat'].map((f) => readFile(`/proc/${child.pid}/${f}`, 'utf8').catch(() => '')),
    );
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status!)?.[1];
    if (kb) peakBytes = Math.max(peakBytes, Number(kb) * 1024);
    cpuS = Math.max(cpuS, statCpuSeconds(stat!));
  };
  const timer = setInterval(() => void sample(), 50);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      clearInterval(timer);
      // 'exit' can come before the pipes are drained.
      child.once('close', () => resolve({ code, stdout, stderr, wallS, peakBytes, cpuS }));
    });
  });
}
