// Scheduled restore drills, without a lab: drill jobs in the schedule file, the drill metrics, the
// status view, the audit's drill-freshness check, and the daemon running a drill job (with a fake
// drill run) next to a backup job of the same deployment.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultStoreDir } from '../../src/backup/store.js';
import { createRunContext, type RunContext } from '../../src/context.js';
import { audit } from '../../src/operations/audit.js';
import { drillFreshnessCheck } from '../../src/restore/drill-freshness.js';
import { type DrillRecord, readDrills, recordDrill } from '../../src/restore/drill-records.js';
import { closeLog } from '../../src/report/log.js';
import { type DrillJobConfig, type JobConfig, parseSchedule, type ScheduleConfig } from '../../src/schedule/config.js';
import { ScheduleDaemon } from '../../src/schedule/daemon.js';
import { runHook } from '../../src/schedule/hooks.js';
import type { DrillRunOptions } from '../../src/schedule/drill-job.js';
import type { JobRunOptions } from '../../src/schedule/job.js';
import { renderMetrics } from '../../src/schedule/metrics.js';
import type { DrillRunReport, RunReport, ScheduleState } from '../../src/schedule/state.js';
import { scheduleView } from '../../src/schedule/view.js';
import type { AuditInput } from '../../src/topology/checks.js';
import { assertLocatedError } from './located-error.js';

const FILE = '/sched/conf/drills.yml';
const HOME = '/home/op';
const SNAP = '20261126T101500Z-1a2b3c';

let tmp: string;
const contexts: RunContext[] = [];
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-schedule-drill-'));
});
after(async () => {
  for (const ctx of contexts) await closeLog(ctx.log);
  rmSync(tmp, { recursive: true, force: true });
});

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function dir(name: string): string {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  return d;
}

function rejects(text: string, line: number | undefined, key: string | undefined, problem: RegExp): string {
  return assertLocatedError(() => parseSchedule(text, FILE, HOME), FILE, line, key, problem);
}

/** Lines 1–5: a drill job valid up to here. */
const DRILL = ['jobs:', '  - name: weekly', '    kind: drill', '    inventory: inv.yml', "    cron: '0 4 * * 0'"];

function record(over: Partial<DrillRecord> & { finishedAt: string }): DrillRecord {
  return {
    deployment: 'prod',
    restorable: true,
    startedAt: new Date(Date.parse(over.finishedAt) - 600_000).toISOString(),
    recoverySeconds: 420,
    hosts: 3,
    entries: 20000,
    snapshots: [{ host: 'ipa1.example.com', id: SNAP }],
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
describe('schedule drill jobs: parseSchedule', () => {
  it('reads a drill job with every key; a backup job next to it stays a backup job', () => {
    const config = parseSchedule(
      yaml(
        'jobs:', // 1
        '  - name: nightly', // 2
        '    inventory: prod.yml', // 3
        "    cron: '0 2 * * *'", // 4
        '    no_encrypt: true', // 5
        '  - name: weekly-drill', // 6
        '    kind: drill', // 7
        '    inventory: prod.yml', // 8
        "    cron: '0 4 * * 0'", // 9
        '    timezone: Europe/Berlin', // 10
        '    store: /srv/ipa-store', // 11
        `    backup: ${SNAP}`, // 12
        '    key: ~/keys/ops-private.asc', // 13
        '    passphrase: env:OPS_PASS', // 14
        '    jitter: 10m', // 15
        '    hooks:', // 16
        '      on_failure: page-me', // 17
        '      on_success: ping-hc', // 18
        '      timeout: 30s', // 19
      ),
      FILE,
      HOME,
    );
    assert.deepEqual(
      config.jobs.map((j) => [j.kind, j.name]),
      [['backup', 'nightly']],
    );
    assert.deepEqual(config.drills, [
      {
        kind: 'drill',
        name: 'weekly-drill',
        line: 6,
        inventory: '/sched/conf/prod.yml',
        deployment: '',
        cron: '0 4 * * 0',
        timezone: 'Europe/Berlin',
        store: '/srv/ipa-store',
        jitterSeconds: 600,
        backup: SNAP,
        key: '/home/op/keys/ops-private.asc',
        passphrase: { kind: 'env', name: 'OPS_PASS' },
        hooks: { onFailure: 'page-me', onSuccess: 'ping-hc', timeoutSeconds: 30 },
      },
    ] satisfies DrillJobConfig[]);
  });

  it('defaults: the latest snapshot, no key (unencrypted snapshots), the default store, no hooks', () => {
    const config = parseSchedule(yaml(...DRILL), FILE, HOME);
    assert.deepEqual(config.jobs, []);
    const [d] = config.drills;
    assert.equal(d!.backup, 'latest');
    assert.equal(d!.key, undefined);
    assert.equal(d!.passphrase, undefined);
    assert.equal(d!.store, defaultStoreDir());
    assert.equal(d!.jitterSeconds, 0);
    assert.deepEqual(d!.hooks, { onFailure: undefined, onSuccess: undefined, timeoutSeconds: 60 });
  });

  it('kind: backup written out is the default kind', () => {
    const config = parseSchedule(
      yaml(
        'jobs:',
        '  - name: n',
        '    kind: backup',
        '    inventory: i.yml',
        "    cron: '0 2 * * *'",
        '    no_encrypt: true',
      ),
      FILE,
      HOME,
    );
    assert.equal(config.jobs[0]!.kind, 'backup');
    assert.deepEqual(config.drills, []);
  });

  it('an unknown kind', () => {
    rejects(
      yaml('jobs:', '  - name: n', '    kind: restore', '    inventory: i.yml', "    cron: '0 2 * * *'"),
      3,
      'jobs[0].kind',
      /'restore' is not backup or drill/,
    );
  });

  it('a backup that is neither latest nor a snapshot id', () => {
    rejects(
      yaml(...DRILL, '    backup: yesterday'),
      6,
      'jobs.weekly.backup',
      /'yesterday' is not latest or a snapshot id \(like 20261126T101500Z-1a2b3c\)/,
    );
  });

  it('a passphrase without a key', () => {
    rejects(
      yaml(...DRILL, '    passphrase: env:OPS_PASS'),
      6,
      'jobs.weekly.passphrase',
      /is the passphrase of key: FILE, which is missing/,
    );
  });

  it('a passphrase to prompt for (a daemon has no terminal), and a bad secret source', () => {
    rejects(
      yaml(...DRILL, '    key: k.asc', '    passphrase: prompt'),
      7,
      'jobs.weekly.passphrase',
      /a daemon cannot prompt; use file:PATH or env:NAME/,
    );
    rejects(yaml(...DRILL, '    key: k.asc', '    passphrase: hunter2'), 7, 'jobs.weekly.passphrase', /./);
  });

  it('a backup-only key in a drill job is named as such', () => {
    rejects(
      yaml(...DRILL, '    encrypt_to: k.asc'),
      6,
      'jobs[0].encrypt_to',
      /is for backup jobs; a drill job takes name, kind, inventory, cron, timezone, store, jitter, hooks, backup, key, passphrase/,
    );
    rejects(yaml(...DRILL, '    retention:', '      keep_last: 3'), 6, 'jobs[0].retention', /is for backup jobs/);
  });

  it('an unknown key gets a suggestion', () => {
    rejects(yaml(...DRILL, '    bakup: latest'), 6, 'jobs[0].bakup', /unknown key \(did you mean backup\?\)/);
  });

  it('a drill-only key in a backup job is unknown there', () => {
    rejects(
      yaml(
        'jobs:',
        '  - name: n',
        '    inventory: i.yml',
        "    cron: '0 2 * * *'",
        '    no_encrypt: true',
        '    backup: latest',
      ),
      6,
      'jobs[0].backup',
      /unknown key/,
    );
  });

  it('missing inventory or cron; a bad cron; a bad hook', () => {
    rejects(
      yaml('jobs:', '  - name: weekly', '    kind: drill', "    cron: '0 4 * * 0'"),
      2,
      'jobs[0].inventory',
      /missing \(the inventory file of the deployment\)/,
    );
    rejects(yaml('jobs:', '  - name: weekly', '    kind: drill', '    inventory: i.yml'), 2, 'jobs[0].cron', /missing/);
    rejects(
      yaml('jobs:', '  - name: weekly', '    kind: drill', '    inventory: i.yml', "    cron: '61 * * * *'"),
      5,
      'jobs.weekly.cron',
      /'61 \* \* \* \*' is not a cron expression/,
    );
    rejects(yaml(...DRILL, '    hooks:', "      on_failure: ''"), 7, 'jobs.weekly.hooks.on_failure', /is empty/);
  });

  it('a drill job may not take the name of a backup job', () => {
    rejects(
      yaml(
        'jobs:',
        '  - name: weekly',
        '    inventory: i.yml',
        "    cron: '0 2 * * *'",
        '    no_encrypt: true',
        ...DRILL.slice(1),
      ),
      6,
      'jobs[1].name',
      /'weekly' is already the name of the job at line 2/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('schedule drill jobs: metrics', () => {
  const text = renderMetrics({
    hosts: [],
    jobs: [],
    drills: [
      {
        deployment: 'prod',
        lastSuccess: new Date('2026-12-06T04:12:30.900Z'),
        last: { durationSeconds: 754.5, ok: true },
        recoverySeconds: 420,
      },
      {
        deployment: 'stage',
        lastSuccess: undefined,
        last: { durationSeconds: 12.25, ok: false },
        recoverySeconds: undefined,
      },
      { deployment: 'new', lastSuccess: undefined, last: undefined, recoverySeconds: undefined },
    ],
    writtenAt: new Date('2026-12-07T12:00:00Z'),
  });
  const lines = text.split('\n');

  it('HELP and TYPE (gauge) lines for each drill family, before its samples', () => {
    for (const name of [
      'ipa_fleet_drill_last_success_timestamp',
      'ipa_fleet_drill_duration_seconds',
      'ipa_fleet_drill_ok',
      'ipa_fleet_drill_recovery_seconds',
    ]) {
      const help = lines.findIndex((l) => l.startsWith(`# HELP ${name} `));
      assert.ok(help >= 0, `HELP ${name}`);
      assert.equal(lines[help + 1], `# TYPE ${name} gauge`);
      const samples = lines.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith(`${name}{`));
      assert.ok(
        samples.every(([, i]) => i > help + 1),
        `${name}: samples after HELP/TYPE`,
      );
    }
  });

  it('per deployment: last success in unix seconds (0: none), duration, ok 1/0, recovery time', () => {
    const sample = (l: string): boolean => lines.includes(l);
    assert.ok(sample('ipa_fleet_drill_last_success_timestamp{deployment="prod"} 1796530350'), text);
    assert.ok(sample('ipa_fleet_drill_duration_seconds{deployment="prod"} 754.5'));
    assert.ok(sample('ipa_fleet_drill_ok{deployment="prod"} 1'));
    assert.ok(sample('ipa_fleet_drill_recovery_seconds{deployment="prod"} 420'));
    assert.ok(sample('ipa_fleet_drill_last_success_timestamp{deployment="stage"} 0'));
    assert.ok(sample('ipa_fleet_drill_duration_seconds{deployment="stage"} 12.25'));
    assert.ok(sample('ipa_fleet_drill_ok{deployment="stage"} 0'));
    assert.ok(!text.includes('ipa_fleet_drill_recovery_seconds{deployment="stage"}'));
  });

  it('a deployment never drilled: last success 0 (so an age alert fires), no duration or verdict sample', () => {
    assert.ok(lines.includes('ipa_fleet_drill_last_success_timestamp{deployment="new"} 0'));
    assert.ok(!text.includes('ipa_fleet_drill_ok{deployment="new"}'));
    assert.ok(!text.includes('ipa_fleet_drill_duration_seconds{deployment="new"}'));
  });
});

// ---------------------------------------------------------------------------------------------
describe('schedule drill jobs: the status view', () => {
  function drillJob(d: string, over: Partial<DrillJobConfig> = {}): DrillJobConfig {
    return {
      kind: 'drill',
      name: 'weekly',
      line: 2,
      inventory: join(d, 'prod.yml'),
      deployment: 'prod',
      cron: '0 4 * * 0',
      timezone: undefined,
      store: join(d, 'store'),
      jitterSeconds: 0,
      backup: 'latest',
      key: undefined,
      passphrase: undefined,
      hooks: { onFailure: undefined, onSuccess: undefined, timeoutSeconds: 60 },
      ...over,
    };
  }
  const configOf = (d: string, drills: DrillJobConfig[]): ScheduleConfig => ({
    file: join(d, 'schedule.yml'),
    metrics: undefined,
    stateFile: join(d, 'state.json'),
    jobs: [],
    drills,
  });

  it('after a restart (empty schedule state): the last success and verdict come from the drill records', async () => {
    const d = dir('view-restart');
    await recordDrill(d, record({ finishedAt: '2026-11-29T04:10:00.000Z' }));
    await recordDrill(d, record({ finishedAt: '2026-12-06T04:10:00.000Z', restorable: false, failedPhase: 'import' }));
    const view = await scheduleView(configOf(d, [drillJob(d)]), { version: 1, jobs: {}, hosts: {} }, d);
    assert.deepEqual(view.drillDeployments, [
      {
        deployment: 'prod',
        lastSuccess: new Date('2026-11-29T04:10:00.000Z'),
        last: { durationSeconds: 600, ok: false },
        recoverySeconds: 420,
      },
    ]);
    assert.equal(view.drills.length, 1);
    assert.equal(view.drills[0]!.lastRun, undefined);
    assert.equal(view.drills[0]!.backup, 'latest');
    assert.deepEqual(view.drills[0]!.lastPassed, new Date('2026-11-29T04:10:00.000Z'));
    assert.equal(view.drills[0]!.recoverySeconds, 420);
    assert.ok(view.drills[0]!.nextRun instanceof Date);
    assert.deepEqual(view.jobs, []);
  });

  it("a drill job's last run that threw before recording: the newest verdict is a failure", async () => {
    const d = dir('view-threw');
    await recordDrill(d, record({ finishedAt: '2026-11-29T04:10:00.000Z' }));
    const lastDrill: DrillRunReport = {
      kind: 'drill',
      job: 'weekly',
      deployment: 'prod',
      backup: 'latest',
      result: 'failed',
      scheduledAt: '2026-12-06T04:00:00.000Z',
      startedAt: '2026-12-06T04:00:00.100Z',
      finishedAt: '2026-12-06T04:00:03.100Z',
      durationSeconds: 3,
      restorable: undefined,
      recoverySeconds: undefined,
      error: 'not enough free disk for the sandbox',
      snapshots: [],
    };
    const state: ScheduleState = {
      version: 1,
      jobs: { weekly: { runs: 4, failedRuns: 1, skippedOverlaps: 0, lastDrill } },
      hosts: {},
    };
    const view = await scheduleView(configOf(d, [drillJob(d)]), state, d);
    assert.deepEqual(view.drillDeployments[0]!.last, { durationSeconds: 3, ok: false });
    assert.deepEqual(view.drillDeployments[0]!.lastSuccess, new Date('2026-11-29T04:10:00.000Z'));
    const job = view.drills[0]!;
    assert.equal(job.runs, 4);
    assert.equal(job.failedRuns, 1);
    assert.equal(job.lastRun?.result, 'failed');
    assert.equal(job.lastRun?.error, 'not enough free disk for the sandbox');
  });

  it('one entry per drilled deployment, whichever number of drill jobs it has', async () => {
    const d = dir('view-two-jobs');
    const view = await scheduleView(
      configOf(d, [drillJob(d), drillJob(d, { name: 'pinned', backup: SNAP })]),
      { version: 1, jobs: {}, hosts: {} },
      d,
    );
    assert.deepEqual(view.drillDeployments, [
      { deployment: 'prod', lastSuccess: undefined, last: undefined, recoverySeconds: undefined },
    ]);
    assert.deepEqual(
      view.drills.map((j) => [j.job, j.backup]),
      [
        ['weekly', 'latest'],
        ['pinned', SNAP],
      ],
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('audit: drill freshness (--drill-max-age)', () => {
  const NOW = Date.parse('2026-12-07T12:00:00Z') / 1000;
  const input = { inventory: { deployment: 'prod', hosts: [] }, now: NOW } as unknown as AuditInput;
  const EIGHT_DAYS = 8 * 86400;
  const HOSTS = ['ipa1.example.com', 'ipa2.example.com'];

  it('a drill passed within the limit: no finding, even with a newer failure', () => {
    const records = [
      record({ finishedAt: '2026-12-01T04:00:00Z' }),
      record({ finishedAt: '2026-12-06T04:00:00Z', restorable: false, failedPhase: 'converge' }),
    ];
    assert.deepEqual(drillFreshnessCheck(records, EIGHT_DAYS, HOSTS)(input), []);
  });

  it('the newest drill that passed is older than the limit: one drill-stale warning with its age', () => {
    const findings = drillFreshnessCheck([record({ finishedAt: '2026-11-20T12:00:00Z' })], EIGHT_DAYS, HOSTS)(input);
    assert.equal(findings.length, 1);
    const [f] = findings;
    assert.equal(f!.id, 'drill-stale');
    assert.equal(f!.severity, 'warning');
    assert.equal(f!.suffix, undefined);
    assert.deepEqual(f!.hosts, HOSTS);
    assert.match(f!.message, /newest restore drill of prod that passed finished 17\.0 d ago \(2026-11-20T12:00:00Z\)/);
    assert.match(f!.message, /the limit is 8\.0 d$/);
    assert.match(f!.fix, /ipa-fleet -i <inventory> drill/);
    assert.match(f!.fix, /kind: drill/);
    assert.deepEqual(f!.details, {
      lastPassed: '2026-11-20T12:00:00Z',
      ageSeconds: 17 * 86400,
      maxAgeSeconds: EIGHT_DAYS,
      snapshots: [`ipa1.example.com ${SNAP}`],
    });
  });

  it('stale, with failures since: says how many and the newest failure', () => {
    const [f] = drillFreshnessCheck(
      [
        record({ finishedAt: '2026-11-20T12:00:00Z' }),
        record({ finishedAt: '2026-11-27T12:00:00Z', restorable: false, failedPhase: 'import', error: 'bad LDIF' }),
        record({ finishedAt: '2026-12-04T12:00:00Z', restorable: false, failedPhase: 'restore', error: 'no space' }),
      ],
      EIGHT_DAYS,
      HOSTS,
    )(input);
    assert.match(
      f!.message,
      /2 drill\(s\) failed since, the newest \(2026-12-04T12:00:00Z\) failed in phase restore: no space/,
    );
  });

  it('no drill recorded at all: a warning that says so', () => {
    const findings = drillFreshnessCheck([], EIGHT_DAYS, HOSTS)(input);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.id, 'drill-stale');
    assert.equal(findings[0]!.severity, 'warning');
    assert.match(findings[0]!.message, /^no restore drill of prod is recorded; the limit is 8\.0 d$/);
  });

  it('only failed drills, however recent: a warning naming the newest failure and its phase', () => {
    const findings = drillFreshnessCheck(
      [
        record({ finishedAt: '2026-12-06T04:00:00Z', restorable: false, failedPhase: 'import', error: 'bad LDIF' }),
        record({ finishedAt: '2026-12-07T04:00:00Z', restorable: false, failedPhase: 'converge' }),
      ],
      EIGHT_DAYS,
      HOSTS,
    )(input);
    assert.equal(findings.length, 1);
    assert.match(
      findings[0]!.message,
      /^no restore drill of prod has passed: 2 recorded, the newest \(2026-12-07T04:00:00Z\) failed in phase converge;/,
    );
  });

  it('the audit operation reads the drill records of the state folder (refused duration: usage)', async () => {
    const d = dir('audit-usage');
    const inventory = { deployment: 'prod', hosts: [] } as never;
    const ctx = createRunContext({ logFile: join(d, 'log'), verbosity: 0 });
    contexts.push(ctx);
    await assert.rejects(
      audit(inventory, ctx, { suffixes: ['domain'], drillMaxAge: 'soon', stateDir: d }),
      (err: Error & { kind?: string }) => err.kind === 'usage' && /--drill-max-age/.test(err.message),
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('schedule drill jobs: the daemon (fake drill runs)', () => {
  const INVENTORY = yaml(
    'all:',
    '  vars:',
    '    deployment: lab-a',
    '    ldap:',
    '      instance: EXAMPLE-COM',
    '      password: env:DM_PASSWORD',
    '    suffixes:',
    '      domain: dc=example,dc=com',
    '  hosts:',
    '    ipa1.example.test:',
  );
  const hooks = (d: string): DrillJobConfig['hooks'] => ({
    onFailure: `cat > ${join(d, 'on_failure.json')}`,
    onSuccess: `cat > ${join(d, 'on_success.json')}`,
    timeoutSeconds: 10,
  });

  function drillJob(d: string, name = 'drill'): DrillJobConfig {
    return {
      kind: 'drill',
      name,
      line: 2,
      inventory: join(d, 'lab-a.yml'),
      deployment: 'lab-a',
      cron: '* * * * * *',
      timezone: undefined,
      store: join(d, 'store'),
      jitterSeconds: 0,
      backup: 'latest',
      key: undefined,
      passphrase: undefined,
      hooks: hooks(d),
    };
  }

  function backupJob(d: string): JobConfig {
    return {
      kind: 'backup',
      name: 'backup',
      line: 8,
      inventory: join(d, 'lab-a.yml'),
      deployment: 'lab-a',
      cron: '* * * * * *',
      timezone: undefined,
      type: 'data',
      binary: false,
      compress: true,
      store: join(d, 'store'),
      encryptTo: [],
      noEncrypt: true,
      limit: undefined,
      forks: 10,
      jitterSeconds: 0,
      retention: undefined,
      verify: undefined,
      hooks: { onFailure: undefined, onSuccess: undefined, timeoutSeconds: 10 },
    };
  }

  function setUp(name: string, jobs: JobConfig[], drills: (d: string) => DrillJobConfig[]) {
    const d = dir(name);
    writeFileSync(join(d, 'lab-a.yml'), INVENTORY);
    const config: ScheduleConfig = {
      file: join(d, 'schedule.yml'),
      metrics: join(d, 'metrics', 'ipa-fleet.prom'),
      stateFile: join(d, 'state', 'schedule.state.json'),
      jobs,
      drills: drills(d),
    };
    return { d, config };
  }

  type RunDrill = (job: DrillJobConfig, opts: DrillRunOptions) => Promise<DrillRunReport>;
  type RunBackup = (job: JobConfig, opts: JobRunOptions) => Promise<RunReport>;

  function run(d: string, config: ScheduleConfig, runDrill: RunDrill, runBackup?: RunBackup) {
    const controller = new AbortController();
    const ctx = createRunContext({ logFile: join(d, 'log'), verbosity: 0, signal: controller.signal });
    contexts.push(ctx);
    const said: Array<[string, string]> = [];
    const daemon = new ScheduleDaemon({
      config,
      ctx,
      stateDir: join(d, 'state-dir'),
      say: (level, message) => void said.push([level, message]),
      runDrill,
      ...(runBackup ? { runBackup } : {}),
    });
    const running = daemon.run();
    return {
      said,
      stop: async (): Promise<void> => {
        controller.abort();
        await running;
      },
    };
  }

  /** A drill that passes after `ms`, recording itself as the real one does. */
  const passingDrill =
    (ms: number, intervals: Array<[string, number, number]>): RunDrill =>
    async (job, opts) => {
      const start = Date.now();
      await sleep(ms);
      const end = Date.now();
      intervals.push([job.name, start, end]);
      const r = record({ deployment: job.deployment, finishedAt: new Date(end).toISOString() });
      await recordDrill(opts.stateDir, r);
      return {
        kind: 'drill',
        job: job.name,
        deployment: job.deployment,
        backup: job.backup,
        result: 'succeeded',
        scheduledAt: opts.scheduledAt.toISOString(),
        startedAt: new Date(start).toISOString(),
        finishedAt: new Date(end).toISOString(),
        durationSeconds: (end - start) / 1000,
        restorable: true,
        recoverySeconds: 420,
        snapshots: r.snapshots,
      };
    };

  async function waitForFile(file: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!existsSync(file) && Date.now() < deadline) await sleep(50);
  }

  it('a passing drill: its three metrics for the deployment, on_success with the summary, status counters', async () => {
    const { d, config } = setUp('daemon-pass', [], (x) => [drillJob(x)]);
    const s = run(d, config, passingDrill(100, []));
    await waitForFile(join(d, 'on_success.json'));
    await sleep(200);
    await s.stop();
    const metrics = readFileSync(config.metrics!, 'utf8');
    assert.match(metrics, /^ipa_fleet_drill_last_success_timestamp\{deployment="lab-a"\} [1-9]\d+$/m);
    assert.match(metrics, /^ipa_fleet_drill_duration_seconds\{deployment="lab-a"\} [\d.]+$/m);
    assert.match(metrics, /^ipa_fleet_drill_ok\{deployment="lab-a"\} 1$/m);
    assert.match(metrics, /^ipa_fleet_schedule_runs_total\{schedule_job="drill",deployment="lab-a"\} [1-9]/m);
    const summary = JSON.parse(readFileSync(join(d, 'on_success.json'), 'utf8')) as DrillRunReport;
    assert.equal(summary.kind, 'drill');
    assert.equal(summary.job, 'drill');
    assert.equal(summary.deployment, 'lab-a');
    assert.equal(summary.result, 'succeeded');
    assert.equal(summary.restorable, true);
    assert.equal(summary.recoverySeconds, 420);
    assert.ok(!existsSync(join(d, 'on_failure.json')));
    const state = JSON.parse(readFileSync(config.stateFile, 'utf8')) as ScheduleState;
    assert.equal(state.jobs.drill!.lastDrill?.result, 'succeeded');
    assert.equal(state.jobs.drill!.failedRuns, 0);
  });

  it('a hook of a drill job: IPA_FLEET_JOB_KIND=drill and the summary on stdin', async () => {
    const d = dir('hook-kind');
    const ctx = createRunContext({ logFile: join(d, 'log'), verbosity: 0 });
    contexts.push(ctx);
    const summary: DrillRunReport = {
      kind: 'drill',
      job: 'weekly',
      deployment: 'prod',
      backup: 'latest',
      result: 'failed',
      scheduledAt: '2026-12-06T04:00:00.000Z',
      startedAt: '2026-12-06T04:00:00.000Z',
      finishedAt: '2026-12-06T04:01:00.000Z',
      durationSeconds: 60,
      restorable: false,
      recoverySeconds: 0,
      failedPhase: 'import',
      error: 'bad LDIF',
      snapshots: [{ host: 'ipa1', id: SNAP }],
    };
    const out = join(d, 'env.txt');
    const outcome = await runHook('on_failure', `env > '${out}'; cat > '${out}.json'`, summary, ctx, 10);
    assert.equal(outcome.ok, true);
    const env = readFileSync(out, 'utf8').split('\n');
    for (const line of ['IPA_FLEET_JOB_KIND=drill', 'IPA_FLEET_JOB=weekly', 'IPA_FLEET_RESULT=failed'])
      assert.ok(env.includes(line), line);
    assert.deepEqual(JSON.parse(readFileSync(`${out}.json`, 'utf8')), summary);
  });

  it('a drill that throws before recording: a failed run (ok 0, on_failure, failedRuns), no drill record', async () => {
    const { d, config } = setUp('daemon-throws', [], (x) => [drillJob(x)]);
    const secret = 'pass-W0rd-never-shown';
    const s = run(d, config, async (_job, opts) => {
      opts.ctx.redactor.add(secret);
      throw new Error(`sandbox: cannot build (key passphrase ${secret})`);
    });
    await waitForFile(join(d, 'on_failure.json'));
    await sleep(200);
    await s.stop();
    const metrics = readFileSync(config.metrics!, 'utf8');
    assert.match(metrics, /^ipa_fleet_drill_ok\{deployment="lab-a"\} 0$/m);
    assert.match(metrics, /^ipa_fleet_drill_last_success_timestamp\{deployment="lab-a"\} 0$/m);
    assert.match(metrics, /^ipa_fleet_drill_duration_seconds\{deployment="lab-a"\} [\d.]+$/m);
    const raw = readFileSync(join(d, 'on_failure.json'), 'utf8');
    assert.ok(!raw.includes(secret), 'the hook never sees a secret');
    const summary = JSON.parse(raw) as DrillRunReport;
    assert.equal(summary.result, 'failed');
    assert.equal(summary.restorable, undefined);
    assert.match(summary.error!, /sandbox: cannot build/);
    assert.deepEqual(await readDrills(join(d, 'state-dir'), 'lab-a'), []);
    const state = JSON.parse(readFileSync(config.stateFile, 'utf8')) as ScheduleState;
    assert.ok(state.jobs.drill!.failedRuns >= 1);
    assert.ok(s.said.some(([level, m]) => level === 'error' && /job drill: drill failed in .*no verdict/.test(m)));
    assert.ok(s.said.every(([, m]) => !m.includes(secret)));
  });

  it('a drill and a backup of the same deployment never run at once', async () => {
    const intervals: Array<[string, number, number]> = [];
    const fakeBackup: RunBackup = async (job, opts) => {
      const start = Date.now();
      await sleep(700);
      const end = Date.now();
      intervals.push([job.name, start, end]);
      return {
        job: job.name,
        deployment: job.deployment,
        type: job.type,
        runId: undefined,
        result: 'succeeded',
        scheduledAt: opts.scheduledAt.toISOString(),
        startedAt: new Date(start).toISOString(),
        finishedAt: new Date(end).toISOString(),
        durationSeconds: (end - start) / 1000,
        hosts: { ok: ['ipa1.example.test'], failed: [] },
        perHost: { 'ipa1.example.test': { ok: true, durationSeconds: 0.7, snapshot: SNAP, size: 1 } },
        errors: [],
        pruned: undefined,
        verify: undefined,
      };
    };
    const { d, config } = setUp('daemon-serial', [], (x) => [drillJob(x)]);
    config.jobs.push(backupJob(d));
    const s = run(d, config, passingDrill(700, intervals), fakeBackup);
    await sleep(3500);
    await s.stop();
    const sorted = [...intervals].sort((a, b) => a[1] - b[1]);
    assert.ok(new Set(sorted.map((i) => i[0])).size === 2, `both jobs ran: ${JSON.stringify(sorted)}`);
    for (let i = 1; i < sorted.length; i++)
      assert.ok(sorted[i]![1] >= sorted[i - 1]![2], `${sorted[i]![0]} started before ${sorted[i - 1]![0]} ended`);
    assert.ok(s.said.some(([, m]) => /waits for the running (backup|drill) of lab-a/.test(m)));
  });
});
