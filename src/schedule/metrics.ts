// The Prometheus textfile the daemon keeps for node_exporter's textfile collector
// (--collector.textfile.directory): per deployment and host the freshness of its backups, per job
// the counters. Rendering is pure; the file is replaced atomically, so a scrape never sees half.
//
// "Last success" is the time of the host's newest snapshot in the store (what a restore could use),
// not a counter the daemon keeps: a backup made by hand counts, a pruned or deleted one does not.
// A host with no snapshot gets 0, so `time() - last_success > N` alerts on it as well.
// Restore drills are per deployment: the newest drill that passed (from the state folder's drill
// records, so it survives a restart and counts a drill run by hand), and the newest drill's duration
// and verdict (a scheduled drill that stopped before recording counts as failed).
// The job's label is `schedule_job`, not `job`: Prometheus sets `job` itself on every scrape and would
// rename ours to `exported_job`.
import { replaceFile } from '../atomic-file.js';

export interface HostMetrics {
  deployment: string;
  host: string;
  lastSuccess: Date | undefined;
  lastAttempt: Date | undefined;
  lastDurationSeconds: number | undefined;
  lastSizeBytes: number | undefined;
  consecutiveFailures: number;
  snapshotsKept: number;
}

export interface JobMetrics {
  job: string;
  deployment: string;
  runs: number;
  failedRuns: number;
  skippedOverlaps: number;
  nextRun: Date | undefined;
  lastVerify: { at: Date; ok: boolean } | undefined;
}

export interface DrillMetrics {
  deployment: string;
  /** When the newest drill that passed finished (0: none). */
  lastSuccess: Date | undefined;
  /** The newest drill, passed or not; undefined before the first. */
  last: { durationSeconds: number; ok: boolean } | undefined;
  /** The measured recovery time of the newest drill that passed. */
  recoverySeconds: number | undefined;
}

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

export function renderMetrics(input: {
  hosts: HostMetrics[];
  jobs: JobMetrics[];
  drills?: DrillMetrics[];
  writtenAt: Date;
}): string {
  const families: Family[] = [
    ...hostFamilies(input.hosts),
    ...jobFamilies(input.jobs),
    ...drillFamilies(input.drills ?? []),
    {
      name: 'ipa_fleet_schedule_metrics_written_timestamp_seconds',
      type: 'gauge',
      help: 'When the daemon last wrote this file (a stale value: the daemon is not running).',
      samples: [{ labels: {}, value: seconds(input.writtenAt) }],
    },
  ];
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(`${f.name}${labels(s.labels)} ${s.value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Unix seconds; 0 for never. */
function seconds(d: Date | undefined): number {
  return d ? Math.floor(d.getTime() / 1000) : 0;
}

function hostFamilies(hosts: HostMetrics[]): Family[] {
  const perHost = familyOf(hosts, (h) => ({ deployment: h.deployment, host: h.host }));
  return [
    perHost(
      'ipa_fleet_backup_last_success_timestamp_seconds',
      'Time of the newest snapshot of the host in the store (0: none).',
      (h) => seconds(h.lastSuccess),
    ),
    perHost(
      'ipa_fleet_backup_last_attempt_timestamp_seconds',
      'When the scheduler last tried to back up the host (0: never).',
      (h) => seconds(h.lastAttempt),
    ),
    perHost(
      'ipa_fleet_backup_last_duration_seconds',
      "Duration of the host's last backup attempt.",
      (h) => h.lastDurationSeconds,
    ),
    perHost('ipa_fleet_backup_last_size_bytes', "Archive size of the host's newest snapshot.", (h) => h.lastSizeBytes),
    perHost(
      'ipa_fleet_backup_consecutive_failures',
      'Scheduled backups of the host that failed in a row (0 after a success).',
      (h) => h.consecutiveFailures,
    ),
    perHost('ipa_fleet_backup_snapshots_kept', 'Snapshots of the host in the store.', (h) => h.snapshotsKept),
  ];
}

function jobFamilies(jobs: JobMetrics[]): Family[] {
  const perJob = familyOf(jobs, (j) => ({ schedule_job: j.job, deployment: j.deployment }));
  return [
    perJob('ipa_fleet_schedule_runs_total', 'Scheduled runs of the job started.', (j) => j.runs, 'counter'),
    perJob(
      'ipa_fleet_schedule_failed_runs_total',
      'Scheduled runs of the job in which some host failed.',
      (j) => j.failedRuns,
      'counter',
    ),
    perJob(
      'ipa_fleet_schedule_skipped_overlaps_total',
      'Ticks skipped because the previous run of the job was still going.',
      (j) => j.skippedOverlaps,
      'counter',
    ),
    perJob('ipa_fleet_schedule_next_run_timestamp_seconds', 'When the job runs next.', (j) =>
      j.nextRun ? seconds(j.nextRun) : undefined,
    ),
    perJob(
      'ipa_fleet_backup_verify_last_timestamp_seconds',
      'When the newest snapshots of the job were last re-verified.',
      (j) => (j.lastVerify ? seconds(j.lastVerify.at) : undefined),
    ),
    perJob('ipa_fleet_backup_verify_ok', '1 when the last re-verification found every snapshot intact, else 0.', (j) =>
      j.lastVerify ? (j.lastVerify.ok ? 1 : 0) : undefined,
    ),
  ];
}

// The names are the ones issue 15 gives (no _seconds suffix on the timestamp), so alert rules can rely on them.
function drillFamilies(drills: DrillMetrics[]): Family[] {
  const perDeployment = familyOf(drills, (d) => ({ deployment: d.deployment }));
  return [
    perDeployment(
      'ipa_fleet_drill_last_success_timestamp',
      'When the newest restore drill of the deployment that passed finished, unix seconds (0: none).',
      (d) => seconds(d.lastSuccess),
    ),
    perDeployment(
      'ipa_fleet_drill_duration_seconds',
      'Duration of the newest restore drill of the deployment, passed or not.',
      (d) => d.last?.durationSeconds,
    ),
    perDeployment(
      'ipa_fleet_drill_ok',
      '1 when the newest restore drill of the deployment passed (its snapshots restored with their content), else 0.',
      (d) => (d.last ? (d.last.ok ? 1 : 0) : undefined),
    ),
    perDeployment(
      'ipa_fleet_drill_recovery_seconds',
      'Measured recovery time of the newest drill that passed: first restore phase to the content proof.',
      (d) => d.recoverySeconds,
    ),
  ];
}

/** A family maker: one sample per item that has a value, labelled by `labelsOf`. */
function familyOf<T>(items: T[], labelsOf: (item: T) => Record<string, string>) {
  return (
    name: string,
    help: string,
    value: (item: T) => number | undefined,
    type: Family['type'] = 'gauge',
  ): Family => ({
    name,
    type,
    help,
    samples: items.flatMap((item) => {
      const v = value(item);
      return v === undefined ? [] : [{ labels: labelsOf(item), value: v }];
    }),
  });
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** node_exporter reads *.prom files; the file is world-readable, it holds no secret. */
export async function writeMetricsFile(file: string, text: string): Promise<void> {
  await replaceFile(file, text, 0o644);
}
