// Hooks: an administrator's command (mail, a pager, a chat webhook) run on the controller after a
// scheduled run (a backup or a drill), with the run's JSON summary on stdin (never a secret). A hook
// that fails, hangs or is missing is logged; it never stops the daemon.
import { spawn } from 'node:child_process';
import type { RunContext } from '../context.js';
import type { DrillRunReport, RunReport } from './state.js';

export interface HookOutcome {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  /** Set when the hook could not start or ran out of time. */
  problem?: string;
  stderrTail: string;
}

export async function runHook(
  name: 'on_failure' | 'on_success',
  command: string,
  report: RunReport | DrillRunReport,
  ctx: Pick<RunContext, 'log' | 'redactor'>,
  timeoutSeconds: number,
): Promise<HookOutcome> {
  // Variables whose value is a secret (an env: source of a password) do not reach the hook.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([, v]) => v === undefined || ctx.redactor.mask(v) === v),
  );
  Object.assign(env, {
    IPA_FLEET_HOOK: name,
    IPA_FLEET_JOB: report.job,
    IPA_FLEET_JOB_KIND: 'kind' in report ? report.kind : 'backup',
    IPA_FLEET_DEPLOYMENT: report.deployment,
    IPA_FLEET_RESULT: report.result,
  });
  const outcome = await new Promise<HookOutcome>((resolveOutcome) => {
    let stderr = '';
    let problem: string | undefined;
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      problem = `did not finish within ${timeoutSeconds} s; killed`;
      // The whole process group: a hook that started curl or mail must not outlive its timeout.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutSeconds * 1000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-2000);
    });
    child.on('error', (err) => {
      problem = `could not start: ${err.message}`;
    });
    // A hook that does not read its stdin must not fail on EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${JSON.stringify(report)}\n`);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveOutcome({
        ok: code === 0 && !problem,
        exitCode: code,
        signal,
        ...(problem ? { problem } : {}),
        stderrTail: stderr.trim(),
      });
    });
  });
  const what = `hook ${name} of job ${report.job}`;
  if (outcome.ok) ctx.log.info(`${what}: ran (exit 0)`);
  else {
    const why = outcome.problem ?? (outcome.signal ? `killed by ${outcome.signal}` : `exit ${outcome.exitCode}`);
    const tail = outcome.stderrTail.split('\n').pop();
    ctx.log.warn(ctx.redactor.mask(`${what} failed: ${why}${tail ? `: ${tail}` : ''}`));
  }
  return outcome;
}
