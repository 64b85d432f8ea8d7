// `ipa-fleet schedule run`: a foreground process that fires each job on its cron expression.
//
// - A job whose previous run is still going (or still waiting for its deployment) skips the tick,
//   with a warning, and the skip is counted: runs are never doubled.
// - Runs of one deployment never overlap, whichever jobs they belong to (backups and drills alike):
//   a second job's run waits for the first. Inside a run, FULL backups take one host at a time (the
//   backup action's rule), so no two servers of a deployment are ever stopped together.
// - A drill job runs the drill operation (as `ipa-fleet drill` does); the drill records itself in the
//   state folder, the daemon keeps the job's summary (a drill that threw is a failed run).
// - SIGTERM/SIGINT (the context's signal) cancels the running backups cleanly (the store's staging
//   folder is removed, stopped services are started again), saves the state and returns.
import { setTimeout as delay } from 'node:timers/promises';
import { Cron } from 'croner';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import { loadPrivateKey, loadRecipients, type PrivateKey } from '../backup/keys.js';
import type { FleetEvent } from '../report/events.js';
import type { DrillJobConfig, JobConfig, ScheduleConfig, ScheduleJob } from './config.js';
import { failedDrillReport, runScheduledDrill } from './drill-job.js';
import { runHook } from './hooks.js';
import { runScheduledBackup } from './job.js';
import { renderMetrics, writeMetricsFile } from './metrics.js';
import {
  jobRecord,
  loadState,
  lockState,
  saveState,
  type DrillRunReport,
  type RunReport,
  type ScheduleState,
} from './state.js';
import { nextRun, scheduleView } from './view.js';
import { formatSeconds } from '../format.js';

export interface DaemonOptions {
  config: ScheduleConfig;
  /** Its signal is SIGTERM: the daemon stops when it aborts. */
  ctx: RunContext;
  /** The controller's state folder: the backup runs' journals, the drills' records and sandboxes. */
  stateDir: string;
  /** One line for the operator (stdout, so journald keeps it). */
  say: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** [0, 1): the jitter draw (tests pass a fixed one). */
  random?: () => number;
  /** How often the metrics file is rewritten when nothing happens (its heartbeat). */
  heartbeatMs?: number;
  /** One run of a job; the real backup unless a unit test passes its own. */
  runBackup?: typeof runScheduledBackup;
  /** One run of a drill job; the real drill unless a unit test passes its own. */
  runDrill?: typeof runScheduledDrill;
}

export class ScheduleDaemon {
  private state: ScheduleState | undefined;
  private readonly crons: Cron[] = [];
  /** job name → its current run, from the tick until it is recorded (waiting for the deployment included). */
  private readonly active = new Map<string, Promise<void>>();
  /** deployment → the end of the last run queued for it, and what that run is (backup, drill). */
  private readonly deploymentTail = new Map<string, { end: Promise<void>; kind: ScheduleJob['kind'] }>();
  private readonly verifyKeys = new Map<string, PrivateKey | undefined>();
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly opts: DaemonOptions) {}

  /** Runs until the context's signal aborts. Key or lock problems throw before any job is started. */
  async run(): Promise<void> {
    const { config, ctx } = this.opts;
    const release = await lockState(config.stateFile, config.file, (m) => this.opts.say('warn', m));
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      this.state = await loadState(config.stateFile, (m) => this.opts.say('warn', m));
      await this.checkKeys();
      await this.persist();
      for (const job of [...config.jobs, ...config.drills]) {
        this.crons.push(
          new Cron(job.cron, { ...(job.timezone ? { timezone: job.timezone } : {}), catch: true }, (self) =>
            this.tick(job, self.currentRun() ?? new Date()),
          ),
        );
        const next = nextRun(job)?.toISOString() ?? 'never';
        const when = `'${job.cron}'${job.timezone ? ` ${job.timezone}` : ''}`;
        const what = job.kind === 'drill' ? `drill of ${job.backup}` : job.type;
        this.opts.say('info', `job ${job.name} (${job.deployment}, ${what}): ${when}, next run ${next}`);
      }
      heartbeat = setInterval(() => void this.persist(), this.opts.heartbeatMs ?? 60_000);
      await new Promise<void>((resolveStop) => {
        if (ctx.signal.aborted) resolveStop();
        else ctx.signal.addEventListener('abort', () => resolveStop(), { once: true });
      });
      this.opts.say('info', `stopping${this.active.size ? `: cancelling ${[...this.active.keys()].join(', ')}` : ''}`);
    } finally {
      for (const cron of this.crons) cron.stop();
      if (heartbeat) clearInterval(heartbeat);
      await Promise.allSettled(this.active.values());
      if (this.state) await this.persist();
      await this.writes;
      await release();
    }
    this.opts.say('info', 'stopped; state saved');
  }

  /** Public keys must be usable and the verify keys must open, before the first tick. */
  private async checkKeys(): Promise<void> {
    for (const job of this.opts.config.jobs) {
      if (!job.noEncrypt) await loadRecipients(job.encryptTo);
      if (job.verify?.readData && job.verify.key) {
        const passphrase = job.verify.passphrase
          ? await this.opts.ctx.secrets.get(job.verify.passphrase, `jobs.${job.name}.verify.passphrase`)
          : undefined;
        this.verifyKeys.set(job.name, await loadPrivateKey(job.verify.key, passphrase));
      }
    }
    // A drill's key must open now, not at 3 a.m. in the sandbox.
    for (const job of this.opts.config.drills) {
      if (!job.key) continue;
      const passphrase = job.passphrase
        ? await this.opts.ctx.secrets.get(job.passphrase, `jobs.${job.name}.passphrase`)
        : undefined;
      await loadPrivateKey(job.key, passphrase);
    }
  }

  /** `scheduledAt`: the time cron was due, so a late tick shows in the report. */
  private tick(job: ScheduleJob, scheduledAt: Date): void {
    const state = this.state!;
    if (this.opts.ctx.signal.aborted) return;
    if (this.active.has(job.name)) {
      const skipped = ++jobRecord(state, job.name).skippedOverlaps;
      this.opts.say(
        'warn',
        `job ${job.name}: the previous run is still going; this tick is skipped (${skipped} skipped so far)`,
      );
      void this.persist();
      return;
    }
    const run = this.runJob(job, scheduledAt)
      .catch((err: unknown) =>
        this.opts.say(
          'error',
          `job ${job.name}: ${this.opts.ctx.redactor.mask(err instanceof Error ? err.message : String(err))}`,
        ),
      )
      .finally(() => this.active.delete(job.name));
    this.active.set(job.name, run);
  }

  private async runJob(job: ScheduleJob, scheduledAt: Date): Promise<void> {
    const { ctx } = this.opts;
    if (job.jitterSeconds > 0) {
      const delay = Math.floor((this.opts.random ?? Math.random)() * job.jitterSeconds * 1000);
      if (!(await sleep(delay, ctx.signal))) return;
    }
    // One deployment at a time, backups and drills alike: wait for whatever run of it is queued before this one.
    const before = this.deploymentTail.get(job.deployment);
    let done!: () => void;
    const mine = new Promise<void>((r) => {
      done = r;
    });
    const tail = { end: (before?.end ?? Promise.resolve()).then(() => mine), kind: job.kind };
    this.deploymentTail.set(job.deployment, tail);
    try {
      if (before) {
        this.opts.say('info', `job ${job.name}: waits for the running ${before.kind} of ${job.deployment}`);
        await before.end;
      }
      if (ctx.signal.aborted) return;
      if (job.kind === 'drill') await this.runDrill(job, scheduledAt);
      else await this.runBackup(job, scheduledAt);
    } finally {
      done();
      if (this.deploymentTail.get(job.deployment) === tail) this.deploymentTail.delete(job.deployment);
    }
  }

  private async runBackup(job: JobConfig, scheduledAt: Date): Promise<void> {
    const { ctx } = this.opts;
    const record = jobRecord(this.state!, job.name);
    const verifyDue =
      job.verify !== undefined &&
      (!record.lastVerify || Date.now() - new Date(record.lastVerify.at).getTime() >= job.verify.everySeconds * 1000);
    record.runs += 1;
    await this.persist();
    this.opts.say('info', `job ${job.name}: run ${record.runs} starts (${job.type}${verifyDue ? ', verify due' : ''})`);
    const started = new Date();
    const report = await (this.opts.runBackup ?? runScheduledBackup)(job, {
      ctx,
      stateDir: this.opts.stateDir,
      scheduledAt,
      verify: verifyDue ? { readData: job.verify!.readData, key: this.verifyKeys.get(job.name) } : undefined,
      onEvent: (e) => this.onEvent(job, e),
    }).catch((err: unknown) =>
      failedReport(job, scheduledAt, started, ctx.redactor.mask(err instanceof Error ? err.message : String(err))),
    );
    this.record(job, report);
    await this.persist();
    this.opts.say(
      report.result === 'succeeded' && report.errors.length === 0
        ? 'info'
        : report.result === 'cancelled'
          ? 'warn'
          : 'error',
      describeReport(report),
    );
    await this.hooks(job, report);
  }

  private async runDrill(job: DrillJobConfig, scheduledAt: Date): Promise<void> {
    const { ctx } = this.opts;
    const record = jobRecord(this.state!, job.name);
    record.runs += 1;
    await this.persist();
    this.opts.say('info', `job ${job.name}: run ${record.runs} starts (drill of ${job.deployment}, ${job.backup})`);
    const started = new Date();
    const report = await (this.opts.runDrill ?? runScheduledDrill)(job, {
      ctx,
      stateDir: this.opts.stateDir,
      scheduledAt,
    }).catch((err: unknown) =>
      failedDrillReport(
        job,
        scheduledAt,
        started,
        ctx.redactor.mask(err instanceof Error ? err.message : String(err)),
        ctx.signal.aborted,
      ),
    );
    record.lastDrill = report;
    if (report.result === 'failed') record.failedRuns += 1;
    await this.persist();
    const level = report.result === 'succeeded' ? 'info' : report.result === 'cancelled' ? 'warn' : 'error';
    this.opts.say(level, describeDrill(report));
    await this.hooks(job, report);
  }

  private record(job: JobConfig, report: RunReport): void {
    const state = this.state!;
    const record = jobRecord(state, job.name);
    record.lastRun = report;
    if (report.result === 'partial' || report.result === 'failed') record.failedRuns += 1;
    if (report.verify) record.lastVerify = report.verify;
    state.hosts[job.deployment] ??= {};
    const hosts = state.hosts[job.deployment];
    for (const [host, r] of Object.entries(report.perHost)) {
      // A cancelled host did not fail: its record stays as it was.
      if (report.result === 'cancelled' && !r.ok) continue;
      const previous = hosts[host];
      hosts[host] = {
        lastAttempt: report.startedAt,
        lastDurationSeconds: r.durationSeconds,
        consecutiveFailures: r.ok ? 0 : (previous?.consecutiveFailures ?? 0) + 1,
        ...(r.ok
          ? { lastSuccess: report.finishedAt, lastSnapshot: r.snapshot, lastSize: r.size }
          : {
              ...(previous?.lastSuccess
                ? {
                    lastSuccess: previous.lastSuccess,
                    lastSnapshot: previous.lastSnapshot,
                    lastSize: previous.lastSize,
                  }
                : {}),
              lastError: r.error,
            }),
      };
    }
  }

  private async hooks(job: ScheduleJob, report: RunReport | DrillRunReport): Promise<void> {
    if (report.result === 'cancelled') return;
    const failed = report.result !== 'succeeded' || ('errors' in report && report.errors.length > 0);
    const command = failed ? job.hooks.onFailure : job.hooks.onSuccess;
    if (!command) return;
    const outcome = await runHook(
      failed ? 'on_failure' : 'on_success',
      command,
      report,
      this.opts.ctx,
      job.hooks.timeoutSeconds,
    );
    if (!outcome.ok)
      this.opts.say(
        'warn',
        `job ${job.name}: hook ${failed ? 'on_failure' : 'on_success'} failed (${
          outcome.problem ?? `exit ${outcome.exitCode ?? outcome.signal}`
        }); see the log`,
      );
  }

  private onEvent(job: JobConfig, e: FleetEvent): void {
    if (e.type !== 'task.finished') return;
    const detail = e.error ?? e.message ?? '';
    this.opts.say(
      e.status === 'failed' ? 'warn' : 'info',
      `job ${job.name}: ${e.host} ${e.status} in ${formatSeconds(e.durationMs)}${detail ? `: ${detail}` : ''}`,
    );
  }

  /** Saves the state and rewrites the metrics file, one write after the other. */
  private persist(): Promise<void> {
    const { config } = this.opts;
    const state = this.state!;
    this.writes = this.writes.then(async () => {
      try {
        await saveState(config.stateFile, state);
        if (config.metrics) {
          const view = await scheduleView(config, state, this.opts.stateDir);
          await writeMetricsFile(
            config.metrics,
            renderMetrics({
              hosts: view.hosts,
              jobs: [...view.jobs, ...view.drills],
              drills: view.drillDeployments,
              writtenAt: new Date(),
            }),
          );
        }
      } catch (err) {
        this.opts.say(
          'error',
          `cannot save the state or the metrics: ${err instanceof FleetError ? err.message : (err as Error).message}`,
        );
      }
    });
    return this.writes;
  }
}

/** A run that threw instead of reporting still counts, and still reaches on_failure. */
function failedReport(job: JobConfig, scheduledAt: Date, started: Date, message: string): RunReport {
  const finished = new Date();
  return {
    job: job.name,
    deployment: job.deployment,
    type: job.type,
    runId: undefined,
    result: 'failed',
    scheduledAt: scheduledAt.toISOString(),
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: (finished.getTime() - started.getTime()) / 1000,
    hosts: { ok: [], failed: [] },
    perHost: {},
    errors: [{ message }],
    pruned: undefined,
    verify: undefined,
  };
}

function describeReport(r: RunReport): string {
  const hosts = `${r.hosts.ok.length} of ${r.hosts.ok.length + r.hosts.failed.length} host(s) backed up`;
  const failed = r.hosts.failed.length
    ? `; failed: ${r.hosts.failed.map((h) => `${h} (${r.perHost[h]?.error ?? '?'})`).join(', ')}`
    : '';
  const pruned = r.pruned ? `; pruned ${r.pruned.removed}, kept ${r.pruned.kept}` : '';
  const verify = r.verify ? `; verify${r.verify.readData ? ' (data)' : ''} ${r.verify.ok ? 'ok' : 'FAILED'}` : '';
  const other = r.errors
    .filter((e) => !e.host || !r.hosts.failed.includes(e.host))
    .filter((e) => e.snapshot === undefined); // said by `verify … FAILED`
  const rest = other.length && r.hosts.failed.length === 0 ? `; ${other.map((e) => e.message).join('; ')}` : '';
  const run = r.runId ? ` (run ${r.runId})` : '';
  const took = formatSeconds(r.durationSeconds * 1000);
  return `job ${r.job}: ${r.result} in ${took}: ${hosts}${failed}${pruned}${verify}${rest}${run}`;
}

function describeDrill(r: DrillRunReport): string {
  const took = formatSeconds(r.durationSeconds * 1000);
  const verdict =
    r.restorable === true
      ? `restorable, recovery ${formatSeconds((r.recoverySeconds ?? 0) * 1000)}`
      : r.restorable === false
        ? `NOT restorable${r.failedPhase ? ` (phase ${r.failedPhase})` : ''}`
        : 'no verdict';
  const snapshots = r.snapshots.length ? `; snapshots ${r.snapshots.map((s) => `${s.host} ${s.id}`).join(', ')}` : '';
  return `job ${r.job}: drill ${r.result} in ${took}: ${verdict}${r.error ? `: ${r.error}` : ''}${snapshots}`;
}

/** Waits `ms`; false when the signal aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return delay(ms, undefined, { signal }).then(
    () => true,
    () => false,
  );
}
