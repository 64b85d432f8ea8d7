// What the schedule looks like right now, for `schedule status` and the metrics file alike: per
// job its counters, last result and next run; per host the store's newest snapshot and the
// daemon's last attempt. One function, so the two can never disagree.
import { Cron } from 'croner';
import { SnapshotStore, type SnapshotEntry } from '../backup/store.js';
import type { JobConfig, ScheduleConfig } from './config.js';
import { jobHosts } from './job.js';
import type { HostMetrics, JobMetrics } from './metrics.js';
import type { RunReport, ScheduleState } from './state.js';

export interface JobView extends JobMetrics {
  cron: string;
  timezone: string | undefined;
  type: 'data' | 'full';
  store: string;
  lastRun: Pick<RunReport, 'result' | 'startedAt' | 'finishedAt' | 'durationSeconds' | 'runId' | 'hosts'> | undefined;
}

export interface HostView extends HostMetrics {
  jobs: string[];
  newestSnapshot: string | undefined;
  lastError: string | undefined;
}

export interface ScheduleView {
  jobs: JobView[];
  hosts: HostView[];
}

export function nextRun(job: Pick<JobConfig, 'cron' | 'timezone'>, after?: Date): Date | undefined {
  const cron = new Cron(job.cron, { paused: true, ...(job.timezone ? { timezone: job.timezone } : {}) });
  try {
    return cron.nextRun(after) ?? undefined;
  } finally {
    cron.stop();
  }
}

export async function scheduleView(config: ScheduleConfig, state: ScheduleState): Promise<ScheduleView> {
  const jobs: JobView[] = config.jobs.map((job) => {
    const record = state.jobs[job.name];
    const last = record?.lastRun;
    return {
      job: job.name,
      deployment: job.deployment,
      cron: job.cron,
      timezone: job.timezone,
      type: job.type,
      store: job.store,
      runs: record?.runs ?? 0,
      failedRuns: record?.failedRuns ?? 0,
      skippedOverlaps: record?.skippedOverlaps ?? 0,
      nextRun: nextRun(job),
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
  return { jobs, hosts };
}
