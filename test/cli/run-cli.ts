// The CLI contract tests' one runner: the compiled CLI (bin/ipa-fleet.js) as a child process, as a
// script would run it. The lab fixture (test/lab/fixture.ts) runs the CLI through it too.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/cli → repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin/ipa-fleet.js');

export interface CliRun {
  /** null: killed by a signal (or by the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliOptions {
  cwd?: string;
  /** Added to this process's environment (and NO_COLOR=1). */
  env?: NodeJS.ProcessEnv;
  /** 20 s unless said. */
  timeoutMs?: number;
}

function runOnce(args: string[], opts: CliOptions): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        timeout: opts.timeoutMs ?? 20_000,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: '1', ...opts.env },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - started });
      },
    );
  });
}

// A command that died of a SyntaxError in dist/ ran while `npm run build` (another worktree's, on a
// shared machine) rewrote the file it loaded: it runs again, up to five times, rather than fail a
// test for it. The CLI's own errors start with "ipa-fleet: ".
const rebuilding = (r: CliRun): boolean =>
  /^SyntaxError: /m.test(r.stderr) && /\/dist\//.test(r.stderr) && !r.stderr.startsWith('ipa-fleet: ');

export async function runCli(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  for (let attempt = 1; ; attempt++) {
    const r = await runOnce(args, opts);
    if (attempt >= 5 || !rebuilding(r)) return r;
    console.log(`# dist/ was being rebuilt (${/^SyntaxError: .*$/m.exec(r.stderr)?.[0]}): running ${args[0]} again`);
    await new Promise((res) => setTimeout(res, 1500 * attempt));
  }
}

/**
 * The CLI run in `dir`, its state in `dir/state` and its log in `logFile` (default `dir/ipa-fleet.log`),
 * so that no run writes under the real home.
 */
export function cliIn(
  dir: string,
  opts: { logFile?: string; stateDir?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): (...args: string[]) => Promise<CliRun> {
  const logFile = opts.logFile ?? join(dir, 'ipa-fleet.log');
  const env = { XDG_STATE_HOME: opts.stateDir ?? join(dir, 'state'), ...opts.env };
  return (...args) =>
    runCli(['--log-file', logFile, ...args], {
      cwd: dir,
      env,
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
}

/** stderr is exactly one `ipa-fleet: error: ` line matching `pattern`, and no stack trace. */
export function assertOneErrorLine(r: CliRun, pattern: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr:\n${r.stderr}`);
  assert.match(lines[0]!, /^ipa-fleet: error: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}
