// Shared by the lab tests: run the real CLI, bring a real lab up and down.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRunContext, type RunContext } from '../../src/context.js';
import { LabPaths } from '../../src/lab/paths.js';

const here = fileURLToPath(new URL('.', import.meta.url));
/** dist/test/lab → repository root. */
export const ROOT = resolve(here, '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'ipa-fleet.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: { ...process.env, NO_COLOR: '1', ...opts.env },
        timeout: opts.timeoutMs ?? 600_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolvePromise({ code, stdout, stderr, ms: Date.now() - started });
      },
    );
  });
}

/** The CLI as a child process that the test can signal while it runs; output collected as it comes. */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; output: { stdout: string; stderr: string }; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => {
    output.stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output.stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

export interface TestLab {
  paths: LabPaths;
  tmp: string;
  logFile: string;
  upOutput: CliResult;
  down(): Promise<void>;
}

/** `ipa-fleet lab up` through the CLI, as a user would, in a fresh folder on its own loopback net. */
export async function bringUpLab(net: string, args: string[] = []): Promise<TestLab> {
  const tmp = await mkdtemp(join(tmpdir(), 'ipa-fleet-test-'));
  const paths = new LabPaths(join(tmp, 'lab'));
  const logFile = join(tmp, 'ipa-fleet.log');
  const upOutput = await cli(['--log-file', logFile, 'lab', 'up', '--dir', paths.root, '--net', net, ...args]);
  const down = async (): Promise<void> => {
    await cli(['--log-file', logFile, 'lab', 'down', '--dir', paths.root]);
    await rm(tmp, { recursive: true, force: true });
  };
  if (upOutput.code !== 0) {
    await down();
    throw new Error(`lab up failed (exit ${upOutput.code}):\n${upOutput.stdout}\n${upOutput.stderr}`);
  }
  return { paths, tmp, logFile, upOutput, down };
}

export function testContext(logFile: string): RunContext {
  return createRunContext({ logFile, verbosity: 3 });
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
