// What the schedule looks like right now, for `schedule status` and the metrics file alike: per
// job its counters, last result and next run; per host the store's newest snapshot and the
// daemon's last attempt; per drill job its last drill, per deployment drilled its newest drills.
// One function, so the two can never disagree.
import { Cron } from 'croner';
import { SnapshotStore, type SnapshotEntry } from '../backup/store.js';
import { type DrillRecord, lastPassed, readDrills } from '../restore/drill-records.js';
import type { DrillJobConfig, JobConfig, ScheduleConfig } from './config.js';
import { jobHosts } from './job.js';
import type { DrillMetrics, HostMetrics, JobMetrics } from './metrics.js';
import type { DrillRunReport, RunReport, ScheduleState } from './state.js';

export interface JobView extends JobMetrics {
  cron: string;
  timezone: string | undefined;
  type: 'data' | 'full';
  store: string;
  lastRun: Pick<RunReport, 'result' | 'startedAt' | 'finishedAt' | 'durationSeconds' | 'runId' | 'hosts'> | undefined;
}

export interface DrillJobView extends JobMetrics {
  cron: string;
  timezone: string | undefined;
  /** 'latest' or a snapshot id. */
  backup: string;
  store: string;
  lastRun:
    | Pick<
        DrillRunReport,
        | 'result'
        | 'startedAt'
        | 'finishedAt'
        | 'durationSeconds'
        | 'restorable'
        | 'recoverySeconds'
        | 'failedPhase'
        | 'error'
      >
    | undefined;
  /** When the newest drill of the deployment that passed finished (scheduled or by hand). */
  lastPassed: Date | undefined;
  /** That drill's measured recovery time. */
  recoverySeconds: number | undefined;
}

export interface HostView extends HostMetrics {
  jobs: string[];
  newestSnapshot: string | undefined;
  lastError: string | undefined;
}

export interface ScheduleView {
  jobs: JobView[];
  hosts: HostView[];
  drills: DrillJobView[];
  /** Per deployment with a drill job: its newest drills. */
  drillDeployments: DrillMetrics[];
}

export function nextRun(job: Pick<JobConfig, 'cron' | 'timezone'>, after?: Date): Date | undefined {
  const cron = new Cron(job.cron, { paused: true, ...(job.timezone ? { timezone: job.timezone } : {}) });
  try {
    return cron.nextRun(after) ?? undefined;
  } finally {
    cron.stop();
  }
}

/** `stateDir`: the controller's state folder, where drills keep their records. */
export async function scheduleView(
  config: ScheduleConfig,
  state: ScheduleState,
  stateDir: string,
): Promise<ScheduleView> {
  const jobs: JobView[] = config.jobs.map((job) => {
    const record = state.jobs[job.name];
    const last = record?.lastRun;
    return {
      ...commonView(job, record),
      type: job.type,
      lastVerify: record?.lastVerify ? { at: new Date(record.lastVerify.at), ok: record.lastVerify.ok } : undefined,
      lastRun: last
        ? {
            result: last.result,
            startedAt: last.startedAt,
            finishedAt: last.finishedAt,
            durationSeconds: last.durationSeconds,
            runId: last.runId,
            hosts: last.hosts,
          }
        : undefined,
    };
  });

  // deployment/host → the jobs and stores that back it up.
  const targets = new Map<string, { deployment: string; host: string; jobs: string[]; stores: Set<string> }>();
  for (const job of config.jobs) {
    for (const host of await jobHosts(job).catch(() => [] as string[])) {
      const key = `${job.deployment}\0${host}`;
      const t = targets.get(key) ?? { deployment: job.deployment, host, jobs: [], stores: new Set<string>() };
      t.jobs.push(job.name);
      t.stores.add(job.store);
      targets.set(key, t);
    }
  }
  const listings = new Map<string, SnapshotEntry[]>();
  const snapshotsOf = async (store: string, deployment: string): Promise<SnapshotEntry[]> => {
    const key = `${store}\0${deployment}`;
    if (!listings.has(key)) listings.set(key, await new SnapshotStore(store).list({ deployment }));
    return listings.get(key)!;
  };

  const hosts: HostView[] = [];
  for (const t of targets.values()) {
    const snapshots: SnapshotEntry[] = [];
    for (const store of t.stores)
      snapshots.push(...(await snapshotsOf(store, t.deployment)).filter((s) => s.host === t.host));
    snapshots.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
    const newest = snapshots.at(-1);
    const record = state.hosts[t.deployment]?.[t.host];
    hosts.push({
      deployment: t.deployment,
      host: t.host,
      jobs: t.jobs,
      lastSuccess: newest ? new Date(newest.time) : undefined,
      lastAttempt: record ? new Date(record.lastAttempt) : undefined,
      lastDurationSeconds: record?.lastDurationSeconds,
      lastSizeBytes: newest?.size,
      consecutiveFailures: record?.consecutiveFailures ?? 0,
      snapshotsKept: snapshots.length,
      newestSnapshot: newest?.id,
      lastError: record?.lastError,
    });
  }
  const drilled = await drillDeployments(config.drills, state, stateDir);
  const drills = config.drills.map((job) => drillJobView(job, state, drilled));
  return { jobs, hosts, drills, drillDeployments: drilled };
}

/** What a backup job's view and a drill job's share: names, schedule, store and the run counters. */
function commonView(
  job: JobConfig | DrillJobConfig,
  record: ScheduleState['jobs'][string] | undefined,
): Omit<JobMetrics, 'lastVerify'> & Pick<JobView, 'cron' | 'timezone' | 'store'> {
  return {
    job: job.name,
    deployment: job.deployment,
    cron: job.cron,
    timezone: job.timezone,
    store: job.store,
    runs: record?.runs ?? 0,
    failedRuns: record?.failedRuns ?? 0,
    skippedOverlaps: record?.skippedOverlaps ?? 0,
    nextRun: nextRun(job),
  };
}

function drillJobView(job: DrillJobConfig, state: ScheduleState, drilled: DrillMetrics[]): DrillJobView {
  const record = state.jobs[job.name];
  const last = record?.lastDrill;
  const deployment = drilled.find((d) => d.deployment === job.deployment);
  return {
    ...commonView(job, record),
    backup: job.backup,
    lastVerify: undefined,
    lastPassed: deployment?.lastSuccess,
    recoverySeconds: deployment?.recoverySeconds,
    lastRun: last
      ? {
          result: last.result,
          startedAt: last.startedAt,
          finishedAt: last.finishedAt,
          durationSeconds: last.durationSeconds,
          restorable: last.restorable,
          recoverySeconds: last.recoverySeconds,
          ...(last.failedPhase ? { failedPhase: last.failedPhase } : {}),
          ...(last.error ? { error: last.error } : {}),
        }
      : undefined,
  };
}

/**
 * The drill records (every drill, scheduled or by hand, kept across restarts) and the drill jobs'
 * last runs (a drill that stopped before recording) of each drilled deployment: the newest of them
 * for duration and verdict, the newest that passed for the last success.
 */
async function drillDeployments(
  jobs: DrillJobConfig[],
  state: ScheduleState,
  stateDir: string,
): Promise<DrillMetrics[]> {
  const deployments = [...new Set(jobs.map((j) => j.deployment))];
  return Promise.all(
    deployments.map(async (deployment) => {
      // An unreadable record file must not take the whole metrics file down; the audit names it.
      const records = await readDrills(stateDir, deployment).catch((): DrillRecord[] => []);
      const runs = jobs
        .filter((j) => j.deployment === deployment)
        .flatMap((j) => state.jobs[j.name]?.lastDrill ?? [])
        .filter((r) => r.result !== 'cancelled');
      const outcomes = [
        ...records.map((r) => ({
          at: r.finishedAt,
          seconds: secondsBetween(r.startedAt, r.finishedAt),
          ok: r.restorable,
        })),
        ...runs.map((r) => ({ at: r.finishedAt, seconds: r.durationSeconds, ok: r.result === 'succeeded' })),
      ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
      const newest = outcomes.at(-1);
      const passed = lastPassed(records);
      const passedRun = runs.filter((r) => r.result === 'succeeded').at(-1);
      const lastSuccess = [passed?.finishedAt, passedRun?.finishedAt]
        .filter((t): t is string => t !== undefined)
        .sort((a, b) => Date.parse(a) - Date.parse(b))
        .at(-1);
      return {
        deployment,
        lastSuccess: lastSuccess ? new Date(lastSuccess) : undefined,
        last: newest ? { durationSeconds: newest.seconds, ok: newest.ok } : undefined,
        recoverySeconds: passed?.recoverySeconds ?? passedRun?.recoverySeconds,
      };
    }),
  );
}

function secondsBetween(from: string, to: string): number {
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}
