import type { Command } from 'commander';
import { loadSchedule } from '../schedule/config.js';
import { ScheduleDaemon } from '../schedule/daemon.js';
import { daemonOf, readState } from '../schedule/state.js';
import { scheduleView, type DrillJobView, type HostView, type JobView, type ScheduleView } from '../schedule/view.js';
import { stateDir } from '../state-dir.js';
import type { Wrap } from './command-env.js';
import { formatSeconds } from '../format.js';
import { table, type Output } from './output.js';

const SCHEDULE_HELP = `
The schedule file (YAML; paths are relative to it):
  metrics: FILE          node_exporter textfile (e.g. /var/lib/prometheus/node-exporter/ipa-fleet.prom)
  state: FILE            the daemon's counters (default: <state dir>/schedule/<name>.state.json)
  jobs:
    - name: NAME
      inventory: FILE    one deployment per inventory; several jobs and deployments per file
      cron: EXPR         5 fields, or 6 with seconds first ('*/30 * * * * *')
      timezone: ZONE     default: the controller's
      type: data|full    full stops one server of the deployment at a time
      store: DIR         default: <state dir>/store
      encrypt_to: [FILE] public keys (or no_encrypt: true)
      binary, compress, limit, forks
      jitter: DURATION   random delay before each run
      retention: {keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly}
      verify: {every: 7d, read_data: true, key: FILE, passphrase: file:PATH|env:NAME}
      hooks: {on_failure: CMD, on_success: CMD, timeout: 60s}   the run's JSON summary on stdin
    - name: NAME         a restore drill (ipa-fleet drill) of the deployment's snapshots in a sandbox
      kind: drill        (kind: backup is the default)
      inventory, cron, timezone, store, jitter, hooks   as above
      backup: latest|ID  the master's snapshot to drill (default: latest)
      key: FILE          private key that decrypts the snapshots
      passphrase: file:PATH|env:NAME`;

export function registerScheduleCommands(program: Command, wrap: Wrap): void {
  const schedule = program
    .command('schedule')
    .description('scheduled backups and restore drills of whole fleets: the daemon and its status');

  schedule
    .command('run')
    .description('run the schedule in the foreground until SIGTERM/SIGINT (for systemd: Type=simple)')
    .requiredOption('-c, --config <file>', 'the schedule file')
    .addHelpText(
      'after',
      `${SCHEDULE_HELP}

A job whose previous run is still going skips its tick (warned and counted). Runs of one deployment
never overlap. SIGTERM cancels a running backup cleanly (no partial snapshot), saves the state, exits 0.
Exit code: 0 stopped by a signal; 2 bad schedule file, inventory or key; 11 the schedule is already running.`,
    )
    .action(
      wrap(async (env, opts: { config: string }) => {
        const config = await loadSchedule(opts.config);
        const daemon = new ScheduleDaemon({
          config,
          ctx: env.ctx,
          stateDir: stateDir(),
          say: (level, message) => {
            const text = env.ctx.redactor.mask(message);
            env.out.progress(`${new Date().toISOString()} ${level.padEnd(5)} ${text}`);
            env.ctx.log[level](text);
          },
        });
        await daemon.run();
      }),
    );

  schedule
    .command('status')
    .description(
      'next run of each job, last result and newest snapshot of each host, snapshots kept; ' +
        'drill jobs: last verdict and recovery time',
    )
    .requiredOption('-c, --config <file>', 'the schedule file')
    .addHelpText('after', '\nExit code: 0; 2 bad schedule file. Reads the store and the state file; changes nothing.')
    .action(
      wrap(async (env, opts: { config: string }) => {
        const config = await loadSchedule(opts.config);
        const state = await readState(config.stateFile);
        const view = await scheduleView(config, state, stateDir());
        const daemon = await daemonOf(config.stateFile);
        if (env.globals.json) {
          env.out.json({
            schedule: config.file,
            daemon: daemon ?? null,
            jobs: view.jobs,
            hosts: view.hosts,
            drills: view.drills,
          });
          return;
        }
        printStatus(env.out, view, daemon);
      }),
    );
}

function printStatus(out: Output, view: ScheduleView, daemon: Awaited<ReturnType<typeof daemonOf>>): void {
  out.line(
    daemon ? `daemon: running (pid ${daemon.pid} on ${daemon.host}, since ${daemon.since})` : 'daemon: not running',
  );
  // A schedule of drills only has no backup job and no host to show.
  if (view.jobs.length > 0) {
    out.line('');
    out.line(
      table([
        ['JOB', 'DEPLOYMENT', 'TYPE', 'CRON', 'NEXT RUN', 'LAST RUN', 'RUNS', 'FAILED', 'SKIPPED'],
        ...view.jobs.map(jobRow),
      ]),
    );
    out.line('');
    out.line(
      table([
        ['DEPLOYMENT', 'HOST', 'NEWEST SNAPSHOT', 'AGE', 'KEPT', 'LAST ATTEMPT', 'FAILURES', 'LAST ERROR'],
        ...view.hosts.map(hostRow),
      ]),
    );
  }
  if (view.drills.length === 0) return;
  out.line('');
  out.line(
    table([
      [
        'DRILL JOB',
        'DEPLOYMENT',
        'SNAPSHOT',
        'CRON',
        'NEXT RUN',
        'LAST RUN',
        'LAST PASSED',
        'RECOVERY',
        'RUNS',
        'FAILED',
      ],
      ...view.drills.map(drillRow),
    ]),
  );
}

function jobRow(j: JobView): string[] {
  const last = j.lastRun
    ? `${j.lastRun.result} ${j.lastRun.finishedAt} ` +
      `(${j.lastRun.hosts.ok.length}/${j.lastRun.hosts.ok.length + j.lastRun.hosts.failed.length} hosts)`
    : '-';
  return [
    j.job,
    j.deployment,
    j.type,
    j.cron + (j.timezone ? ` ${j.timezone}` : ''),
    j.nextRun?.toISOString() ?? 'never',
    last,
    String(j.runs),
    String(j.failedRuns),
    String(j.skippedOverlaps),
  ];
}

function drillRow(d: DrillJobView): string[] {
  const r = d.lastRun;
  const verdict = !r
    ? '-'
    : r.restorable === true
      ? 'restorable'
      : `${r.restorable === false ? 'NOT restorable' : 'no verdict'}${r.failedPhase ? ` (${r.failedPhase})` : ''}`;
  const last = r ? `${r.result} ${r.finishedAt}: ${verdict}${r.error ? `: ${r.error}` : ''}` : '-';
  return [
    d.job,
    d.deployment,
    d.backup,
    d.cron + (d.timezone ? ` ${d.timezone}` : ''),
    d.nextRun?.toISOString() ?? 'never',
    last,
    d.lastPassed ? `${d.lastPassed.toISOString()} (${age(Date.now() - d.lastPassed.getTime())} ago)` : 'never',
    d.recoverySeconds !== undefined ? formatSeconds(d.recoverySeconds * 1000) : '-',
    String(d.runs),
    String(d.failedRuns),
  ];
}

function hostRow(h: HostView): string[] {
  return [
    h.deployment,
    h.host,
    h.newestSnapshot ?? 'none',
    h.lastSuccess ? age(Date.now() - h.lastSuccess.getTime()) : '-',
    String(h.snapshotsKept),
    h.lastAttempt?.toISOString() ?? '-',
    String(h.consecutiveFailures),
    h.consecutiveFailures > 0 ? (h.lastError ?? '-') : '-',
  ];
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
}
