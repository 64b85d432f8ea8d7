// Scheduled fleet backups, without a lab: the schedule file, the metrics textfile, the audit's
// backup-freshness check, hooks, and the daemon's timing rules (with a fake backup run).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupFreshnessCheck, type NewestSnapshot } from '../../src/backup/freshness.js';
import { defaultStoreDir } from '../../src/backup/store.js';
import { createRunContext, type RunContext } from '../../src/context.js';
import { FleetError } from '../../src/errors.js';
import { LocatedError } from '../../src/located/located-error.js';
import { Redactor } from '../../src/report/redact.js';
import { closeLog, type Logger } from '../../src/report/log.js';
import { loadSchedule, parseSchedule, type JobConfig, type ScheduleConfig } from '../../src/schedule/config.js';
import { ScheduleDaemon } from '../../src/schedule/daemon.js';
import { runHook } from '../../src/schedule/hooks.js';
import type { JobRunOptions } from '../../src/schedule/job.js';
import { renderMetrics, writeMetricsFile, type HostMetrics, type JobMetrics } from '../../src/schedule/metrics.js';
import type { RunReport, ScheduleState } from '../../src/schedule/state.js';
import { stateDir } from '../../src/state-dir.js';
import type { AuditInput } from '../../src/topology/checks.js';
import { assertLocatedError } from './located-error.js';

const FILE = '/sched/conf/nightly.yml';
const HOME = '/home/op';

let tmp: string;
const contexts: RunContext[] = [];

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-schedule-'));
});
after(async () => {
  for (const ctx of contexts) await closeLog(ctx.log);
  rmSync(tmp, { recursive: true, force: true });
});

/** One string per line, so that line N of the YAML is argument N. */
function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** A fresh directory under the test's temp dir. */
function dir(name: string): string {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  return d;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Lines 1–5: a job that is valid up to here (name, inventory, cron, no_encrypt). */
const JOB = ['jobs:', '  - name: nightly', '    inventory: inv.yml', "    cron: '0 2 * * *'", '    no_encrypt: true'];

const _escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Asserts the exact location, the one-line message and the problem; returns the message. */
function rejects(text: string, line: number | undefined, key: string | undefined, problem: RegExp): string {
  return assertLocatedError(() => parseSchedule(text, FILE, HOME), FILE, line, key, problem);
}

/** A minimal valid inventory of `hosts` in deployment `deployment`. */
function inventoryText(deployment: string, hosts: string[]): string {
  return yaml(
    'all:',
    '  vars:',
    `    deployment: ${deployment}`,
    '    ldap:',
    '      instance: EXAMPLE-COM',
    '      password: env:DM_PASSWORD',
    '    suffixes:',
    '      domain: dc=example,dc=com',
    '  hosts:',
    ...hosts.map((h) => `    ${h}:`),
  );
}

// ---------------------------------------------------------------------------------------------
describe('schedule: parseSchedule, a valid file', () => {
  const FULL = yaml(
    'metrics: ../prom/ipa-fleet.prom', // 1
    'state: state/nightly.json', // 2
    'jobs:', // 3
    '  - name: prod-data', // 4
    '    inventory: inventories/prod.yml', // 5
    "    cron: '30 2 * * *'", // 6
    '    timezone: Europe/Berlin', // 7
    '    type: full', // 8
    '    binary: true', // 9
    '    compress: false', // 10
    '    store: /srv/ipa-store', // 11
    '    encrypt_to: keys/ops.asc', // 12
    "    limit: 'ipa1*'", // 13
    '    forks: 3', // 14
    '    jitter: 5m', // 15
    '    retention:', // 16
    '      keep_last: 3', // 17
    '      keep_hourly: 24', // 18
    '      keep_daily: 7', // 19
    '      keep_weekly: 4', // 20
    '      keep_monthly: 12', // 21
    '      keep_yearly: 2', // 22
    '    verify:', // 23
    '      every: 7d', // 24
    '      read_data: true', // 25
    '      key: ~/keys/ops-private.asc', // 26
    '      passphrase: file:secrets/ops-pass', // 27
    '    hooks:', // 28
    '      on_failure: mail -s "backup failed" root', // 29
    "      on_success: 'curl -fsS https://hc.example/ping'", // 30
    '      timeout: 2m', // 31
    '  - name: stage', // 32
    '    inventory: /etc/ipa-fleet/stage.yml', // 33
    "    cron: '*/30 * * * * *'", // 34
    '    encrypt_to: [k1.asc, /abs/k2.asc]', // 35
  );

  it('reads every key, resolving paths against the schedule file and durations to seconds', () => {
    const config = parseSchedule(FULL, FILE, HOME);
    assert.equal(config.file, FILE);
    assert.equal(config.metrics, '/sched/prom/ipa-fleet.prom');
    assert.equal(config.stateFile, '/sched/conf/state/nightly.json');
    assert.equal(config.jobs.length, 2);
    const [prod, stage] = config.jobs;
    assert.deepEqual(prod, {
      kind: 'backup',
      name: 'prod-data',
      line: 4,
      inventory: '/sched/conf/inventories/prod.yml',
      deployment: '',
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      type: 'full',
      binary: true,
      compress: false,
      store: '/srv/ipa-store',
      encryptTo: ['/sched/conf/keys/ops.asc'],
      noEncrypt: false,
      limit: 'ipa1*',
      forks: 3,
      jitterSeconds: 300,
      retention: { last: 3, hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 2 },
      verify: {
        everySeconds: 7 * 86400,
        readData: true,
        key: '/home/op/keys/ops-private.asc',
        passphrase: { kind: 'file', path: '/sched/conf/secrets/ops-pass' },
      },
      hooks: {
        onFailure: 'mail -s "backup failed" root',
        onSuccess: 'curl -fsS https://hc.example/ping',
        timeoutSeconds: 120,
      },
    });
    // the second job: a 6-field cron (seconds first), an encrypt_to list, and every default
    assert.ok(stage);
    assert.equal(stage.name, 'stage');
    assert.equal(stage.line, 32);
    assert.equal(stage.inventory, '/etc/ipa-fleet/stage.yml');
    assert.equal(stage.cron, '*/30 * * * * *');
    assert.equal(stage.timezone, undefined);
    assert.deepEqual(stage.encryptTo, ['/sched/conf/k1.asc', '/abs/k2.asc']);
    assert.equal(stage.type, 'data');
    assert.equal(stage.binary, false);
    assert.equal(stage.compress, true);
    assert.equal(stage.noEncrypt, false);
    assert.equal(stage.forks, 10);
    assert.equal(stage.jitterSeconds, 0);
    assert.equal(stage.limit, undefined);
    assert.equal(stage.retention, undefined);
    assert.equal(stage.verify, undefined);
    assert.equal(stage.store, defaultStoreDir());
    assert.deepEqual(stage.hooks, { onFailure: undefined, onSuccess: undefined, timeoutSeconds: 60 });
  });

  it('defaults: no metrics, the state file under the state dir named after the schedule, verify without data', () => {
    const config = parseSchedule(
      yaml(
        ...JOB,
        '    verify:',
        '      every: 12h',
        '      passphrase: env:OPS_PASS',
        '    hooks:',
        '      on_failure: /usr/local/bin/page-me',
        '    jitter: 30',
      ),
      FILE,
      HOME,
    );
    assert.equal(config.metrics, undefined);
    assert.equal(config.stateFile, join(stateDir(), 'schedule', 'nightly.state.json'));
    const job = config.jobs[0]!;
    assert.equal(job.noEncrypt, true);
    assert.deepEqual(job.encryptTo, []);
    assert.deepEqual(job.verify, {
      everySeconds: 43200,
      readData: false,
      key: undefined,
      passphrase: { kind: 'env', name: 'OPS_PASS' },
    });
    assert.deepEqual(job.hooks, { onFailure: '/usr/local/bin/page-me', onSuccess: undefined, timeoutSeconds: 60 });
    assert.equal(job.jitterSeconds, 30, 'a bare number is seconds');
  });

  it('a 5-field and a 6-field cron both parse; a job name with . _ - is fine', () => {
    for (const cron of ['30 2 * * 1-5', '0 30 2 * * *', '*/15 * * * * *']) {
      const config = parseSchedule(
        yaml('jobs:', '  - name: a.b_c-1', '    inventory: i.yml', `    cron: '${cron}'`, '    no_encrypt: true'),
        FILE,
        HOME,
      );
      assert.equal(config.jobs[0]!.cron, cron);
      assert.equal(config.jobs[0]!.name, 'a.b_c-1');
    }
  });
});

describe('schedule: parseSchedule, invalid files (one line: file:line: key: problem)', () => {
  it("a cron field out of range ('61 * * * *')", () => {
    rejects(
      yaml('jobs:', '  - name: nightly', '    inventory: inv.yml', "    cron: '61 * * * *'", '    no_encrypt: true'),
      4,
      'jobs.nightly.cron',
      /'61 \* \* \* \*' is not a cron expression: .*minute.*61/i,
    );
  });

  it("a cron that is not one ('bad cron')", () => {
    rejects(
      yaml('jobs:', '  - name: nightly', '    inventory: inv.yml', "    cron: 'bad cron'", '    no_encrypt: true'),
      4,
      'jobs.nightly.cron',
      /'bad cron' is not a cron expression/,
    );
  });

  it('a time zone that does not exist', () => {
    rejects(
      yaml(...JOB, '    timezone: Mars/Olympus_Mons'),
      6,
      'jobs.nightly.timezone',
      /'Mars\/Olympus_Mons' is not a time zone/,
    );
  });

  it('an unknown top-level key, with a hint (job: for jobs:)', () => {
    rejects(yaml('metrics: m.prom', 'job:', '  - name: a'), 2, 'job', /unknown key \(did you mean jobs\?\)/);
  });

  it('an unknown top-level key without a near miss lists the allowed keys', () => {
    rejects(yaml('frobnicate: 1', ...JOB), 1, 'frobnicate', /unknown key; expected metrics, state, jobs/);
  });

  it('an unknown job key (retension), with a hint', () => {
    const message = rejects(
      yaml(...JOB, '    retension:', '      keep_last: 3'),
      6,
      'jobs[0].retension',
      /unknown key \(did you mean retention\?\)/,
    );
    assert.match(message, /retension/);
  });

  it('an unknown retention key', () => {
    rejects(
      yaml(...JOB, '    retention:', '      keep_lats: 3'),
      7,
      'jobs.nightly.retention.keep_lats',
      /unknown key \(did you mean keep_last\?\)/,
    );
  });

  it('a retention policy that keeps nothing', () => {
    rejects(
      yaml(...JOB, '    retention:', '      keep_last: 0'),
      7,
      'jobs.nightly.retention',
      /keeps nothing, so every snapshot would be removed; set one of keep_last/,
    );
  });

  it('no jobs key', () => {
    rejects(yaml('metrics: m.prom'), 1, 'jobs', /missing/);
  });

  it('an empty jobs list, and jobs: with no value', () => {
    rejects(yaml('metrics: m.prom', 'jobs: []'), 2, 'jobs', /must be a non-empty list of jobs/);
    rejects(yaml('metrics: m.prom', 'jobs:'), 2, 'jobs', /must be a non-empty list of jobs/);
  });

  it('a job without a name, an inventory or a cron', () => {
    rejects(
      yaml('jobs:', '  - inventory: inv.yml', "    cron: '0 2 * * *'", '    no_encrypt: true'),
      2,
      'jobs[0].name',
      /missing/,
    );
    rejects(
      yaml('jobs:', '  - name: nightly', "    cron: '0 2 * * *'", '    no_encrypt: true'),
      2,
      'jobs[0].inventory',
      /missing/,
    );
    rejects(
      yaml('jobs:', '  - name: nightly', '    inventory: inv.yml', '    no_encrypt: true'),
      2,
      'jobs[0].cron',
      /missing \(a cron expression/,
    );
  });

  it('a job that is not a mapping, and a name with a space', () => {
    rejects(yaml('jobs:', '  - nightly'), 2, 'jobs[0]', /a job is a mapping/);
    rejects(
      yaml('jobs:', '  - name: my job', '    inventory: inv.yml', "    cron: '0 2 * * *'", '    no_encrypt: true'),
      2,
      'jobs[0].name',
      /letters, digits/,
    );
  });

  it('two jobs with the same name name both lines', () => {
    rejects(
      yaml(...JOB, '  - name: nightly', '    inventory: other.yml', "    cron: '0 3 * * *'", '    no_encrypt: true'),
      6,
      'jobs[1].name',
      /'nightly' is already the name of the job at line 2/,
    );
  });

  it("type 'fast'", () => {
    rejects(yaml(...JOB, '    type: fast'), 6, 'jobs.nightly.type', /'fast' is not data or full/);
  });

  it('no encrypt_to and no no_encrypt', () => {
    rejects(
      yaml('jobs:', '  - name: nightly', '    inventory: inv.yml', "    cron: '0 2 * * *'"),
      2,
      'jobs.nightly.encrypt_to',
      /missing: name the public key/,
    );
  });

  it('both no_encrypt and encrypt_to', () => {
    rejects(yaml(...JOB, '    encrypt_to: [ops.asc]'), 6, 'jobs.nightly.encrypt_to', /exclude each other/);
  });

  it('a literal passphrase is refused without repeating it', () => {
    const message = rejects(
      yaml(...JOB, '    verify:', '      every: 7d', '      passphrase: Tr0ub4dor-and-3'),
      8,
      'jobs.nightly.verify.passphrase',
      /literal password is not allowed/,
    );
    assert.ok(!message.includes('Tr0ub4dor'), message);
    // a number is a literal too
    const numeric = rejects(
      yaml(...JOB, '    verify:', '      every: 7d', '      passphrase: 83910274'),
      8,
      'jobs.nightly.verify.passphrase',
      /literal password is not allowed/,
    );
    assert.ok(!numeric.includes('83910274'), numeric);
  });

  it('passphrase: prompt is refused (a daemon has no terminal)', () => {
    rejects(
      yaml(...JOB, '    verify:', '      every: 7d', '      passphrase: prompt'),
      8,
      'jobs.nightly.verify.passphrase',
      /cannot prompt; use file:PATH or env:NAME/,
    );
  });

  // A problem of a whole mapping points at its first entry (as in the inventory).
  it('read_data without a key', () => {
    rejects(
      yaml(...JOB, '    verify:', '      every: 7d', '      read_data: true'),
      7,
      'jobs.nightly.verify.key',
      /read_data needs the private key/,
    );
  });

  it('verify without every', () => {
    rejects(yaml(...JOB, '    verify:', '      read_data: false'), 7, 'jobs.nightly.verify.every', /missing/);
  });

  it('a jitter that is not a duration', () => {
    const message = rejects(
      yaml(...JOB, '    jitter: soon'),
      6,
      'jobs.nightly.jitter',
      /duration like 30s, 5m, 2h or 7d, got 'soon'/,
    );
    // the key is named once, not repeated inside the problem
    assert.equal(message.split('jobs.nightly.jitter').length, 2, message);
  });

  it('forks: 0, and forks that are not a whole number', () => {
    rejects(yaml(...JOB, '    forks: 0'), 6, 'jobs.nightly.forks', /at least 1/);
    rejects(yaml(...JOB, '    forks: 2.5'), 6, 'jobs.nightly.forks', /whole number/);
  });

  it('an empty hook command', () => {
    rejects(
      yaml(...JOB, '    hooks:', "      on_failure: '   '"),
      7,
      'jobs.nightly.hooks.on_failure',
      /is empty; give a command/,
    );
    rejects(yaml(...JOB, '    hooks:', '      on_success:'), 7, 'jobs.nightly.hooks.on_success', /must be a string/);
  });

  it('a hook timeout of 0 is refused (every hook would be killed at once)', () => {
    rejects(
      yaml(...JOB, '    hooks:', '      on_failure: page-me', '      timeout: 0'),
      8,
      'jobs.nightly.hooks.timeout',
      /./,
    );
  });

  it('a key given twice in a job', () => {
    rejects(yaml(...JOB, "    cron: '0 3 * * *'"), 6, 'jobs[0].cron', /duplicate key \(first set at line 4\)/);
  });

  it('an unknown hooks key', () => {
    rejects(
      yaml(...JOB, '    hooks:', '      on_fail: x'),
      7,
      'jobs.nightly.hooks.on_fail',
      /unknown key \(did you mean on_failure\?\)/,
    );
  });

  it('a YAML syntax error names file and line', () => {
    let caught: unknown;
    try {
      parseSchedule(yaml('jobs:', '  - name: [nightly', '  b: {'), FILE, HOME);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof LocatedError, String(caught));
    assert.equal(caught.kind, 'usage');
    assert.equal(caught.file, FILE);
    assert.ok(typeof caught.line === 'number' && caught.line >= 2, caught.message);
    assert.ok(caught.message.startsWith(`${FILE}:${caught.line}`), caught.message);
    assert.match(caught.message, /YAML/);
    assert.ok(!caught.message.includes('\n'), caught.message);
  });

  it('an empty file, and one with only a comment', () => {
    rejects('', 1, undefined, /the schedule is empty; it needs a jobs: list/);
    rejects('# nothing yet\n', 1, undefined, /the schedule is empty/);
  });

  it('a top level that is a list', () => {
    rejects(yaml('- name: nightly'), 1, undefined, /a schedule is a mapping/);
  });
});

// ---------------------------------------------------------------------------------------------
describe('schedule: loadSchedule', () => {
  it('reads each inventory and takes its deployment name', async () => {
    const d = dir('load-ok');
    writeFileSync(join(d, 'inv.yml'), inventoryText('lab-a', ['ipa1.example.test', 'ipa2.example.test']));
    writeFileSync(join(d, 'schedule.yml'), yaml(...JOB));
    const config = await loadSchedule(join(d, 'schedule.yml'));
    assert.equal(config.jobs[0]!.deployment, 'lab-a');
    assert.equal(config.jobs[0]!.inventory, join(d, 'inv.yml'));
  });

  it('a missing inventory: one line naming the schedule file, the job line and jobs.<name>.inventory', async () => {
    const d = dir('load-missing');
    writeFileSync(join(d, 'inv.yml'), inventoryText('lab-a', ['ipa1.example.test']));
    const file = join(d, 'schedule.yml');
    writeFileSync(
      file,
      yaml(
        ...JOB,
        '  - name: weekly',
        '    inventory: nowhere/missing.yml',
        "    cron: '0 3 * * 0'",
        '    no_encrypt: true',
      ),
    );
    await assert.rejects(loadSchedule(file), (err: unknown) => {
      assert.ok(err instanceof LocatedError, String(err));
      assert.equal(err.kind, 'usage');
      assert.equal(err.file, file);
      assert.equal(err.line, 6);
      assert.equal(err.key, 'jobs.weekly.inventory');
      assert.equal(
        err.message,
        `${file}:6: jobs.weekly.inventory: cannot read ${join(d, 'nowhere/missing.yml')}: no such file`,
      );
      return true;
    });
  });

  it('an inventory path that is a directory is not reported as a missing file', async () => {
    const d = dir('load-dir');
    mkdirSync(join(d, 'inv.yml'));
    const file = join(d, 'schedule.yml');
    writeFileSync(file, yaml(...JOB));
    await assert.rejects(loadSchedule(file), (err: unknown) => {
      assert.ok(err instanceof LocatedError, String(err));
      assert.match(err.message, /jobs\.nightly\.inventory/);
      assert.doesNotMatch(err.message, /no such file/);
      assert.match(err.message, /directory/);
      return true;
    });
  });

  it('a broken inventory reports the inventory itself', async () => {
    const d = dir('load-broken');
    writeFileSync(join(d, 'inv.yml'), yaml('all:', '  hostz: {}'));
    writeFileSync(join(d, 'schedule.yml'), yaml(...JOB));
    await assert.rejects(loadSchedule(join(d, 'schedule.yml')), (err: unknown) => {
      assert.ok(err instanceof LocatedError, String(err));
      assert.equal(err.file, join(d, 'inv.yml'));
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  });

  it('a missing schedule file', async () => {
    const file = join(tmp, 'no-such-schedule.yml');
    await assert.rejects(loadSchedule(file), (err: unknown) => {
      assert.ok(err instanceof LocatedError, String(err));
      assert.equal(err.message, `${file}: cannot read the schedule: no such file`);
      return true;
    });
  });
});

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
interface Sample {
  labels: Record<string, string>;
  value: number;
}
interface ParsedFamily {
  help: string | undefined;
  type: string | undefined;
  samples: Sample[];
}

/** A strict reader of the Prometheus text exposition format (0.0.4), enough for our files. */
function parseExposition(text: string): Map<string, ParsedFamily> {
  assert.ok(text.endsWith('\n'), 'the file ends with a newline');
  const families = new Map<string, ParsedFamily>();
  const family = (name: string): ParsedFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { help: undefined, type: undefined, samples: [] }));
    return f;
  };
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      const f = family(m[1]!);
      assert.equal(f.help, undefined, `second HELP: ${where}`);
      assert.equal(f.samples.length, 0, `HELP after samples: ${where}`);
      assert.doesNotMatch(m[2]!, /\\(?![\\n])/, `HELP escapes only \\\\ and \\n: ${where}`);
      f.help = m[2]!;
      continue;
    }
    if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      const f = family(m[1]!);
      assert.equal(f.type, undefined, `second TYPE: ${where}`);
      assert.equal(f.samples.length, 0, `TYPE after samples: ${where}`);
      f.type = m[2]!;
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${where}`);
    m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    assert.ok(m, `not a sample: ${where}`);
    const f = families.get(m[1]!);
    assert.ok(f?.help !== undefined && f.type !== undefined, `sample before its HELP and TYPE: ${where}`);
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3] === 'NaN' ? NaN : Number(m[3]);
    assert.ok(m[3] === 'NaN' || !Number.isNaN(value), `bad value: ${where}`);
    f.samples.push({ labels: m[2] === undefined ? {} : parseLabels(m[2], where), value });
  }
  return families;
}

function parseLabels(body: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(body.slice(i));
    assert.ok(name, `label name expected at ${i}: ${where}`);
    i += name[0].length;
    assert.equal(body.slice(i, i + 2), '="', `="" expected: ${where}`);
    i += 2;
    let value = '';
    for (;;) {
      assert.ok(i < body.length, `unterminated label value: ${where}`);
      const c = body[i]!;
      if (c === '"') {
        i++;
        break;
      }
      if (c === '\n') assert.fail(`raw newline in a label: ${where}`);
      if (c === '\\') {
        const next = body[i + 1];
        assert.ok(next === '\\' || next === '"' || next === 'n', `bad escape \\${next}: ${where}`);
        value += next === 'n' ? '\n' : next;
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    assert.ok(!(name[0] in labels), `label ${name[0]} twice: ${where}`);
    labels[name[0]] = value;
    if (i < body.length) {
      assert.equal(body[i], ',', `, expected: ${where}`);
      i++;
    }
  }
  return labels;
}

describe('schedule: renderMetrics', () => {
  const WEIRD = 'we"ird\\host\nname';
  const hosts: HostMetrics[] = [
    {
      deployment: 'prod',
      host: 'ipa1.example.com',
      lastSuccess: new Date('2025-03-10T02:00:00.750Z'),
      lastAttempt: new Date('2025-03-10T02:00:09.999Z'),
      lastDurationSeconds: 42.5,
      lastSizeBytes: 123456789,
      consecutiveFailures: 0,
      snapshotsKept: 14,
    },
    {
      // never backed up: 0 for the timestamps, no duration or size sample
      deployment: 'prod',
      host: 'ipa2.example.com',
      lastSuccess: undefined,
      lastAttempt: undefined,
      lastDurationSeconds: undefined,
      lastSizeBytes: undefined,
      consecutiveFailures: 3,
      snapshotsKept: 0,
    },
    {
      deployment: 'odd"dep',
      host: WEIRD,
      lastSuccess: new Date('2025-01-01T00:00:00Z'),
      lastAttempt: new Date('2025-01-01T00:00:00Z'),
      lastDurationSeconds: 0,
      lastSizeBytes: 0,
      consecutiveFailures: 1,
      snapshotsKept: 2,
    },
  ];
  const jobs: JobMetrics[] = [
    {
      job: 'nightly',
      deployment: 'prod',
      runs: 17,
      failedRuns: 2,
      skippedOverlaps: 5,
      nextRun: new Date('2025-03-11T02:00:00.500Z'),
      lastVerify: { at: new Date('2025-03-09T03:00:01Z'), ok: true },
    },
    {
      job: 'hourly',
      deployment: 'prod',
      runs: 0,
      failedRuns: 0,
      skippedOverlaps: 0,
      nextRun: undefined,
      lastVerify: { at: new Date('2025-03-09T04:00:00Z'), ok: false },
    },
    {
      job: 'plain',
      deployment: 'odd"dep',
      runs: 1,
      failedRuns: 1,
      skippedOverlaps: 0,
      nextRun: undefined,
      lastVerify: undefined,
    },
  ];
  const writtenAt = new Date('2025-03-10T12:34:56.789Z');
  const text = renderMetrics({ hosts, jobs, writtenAt });
  // Parsed in the tests, not here: a file that does not parse fails each test, not the suite's setup.
  let parsed: Map<string, ParsedFamily> | undefined;
  const families = (): Map<string, ParsedFamily> => (parsed ??= parseExposition(text));
  const s = (d: string): number => Math.floor(Date.parse(d) / 1000);

  /** The value of `name` for the sample with exactly these labels; undefined when there is none. */
  function value(name: string, labels: Record<string, string>): number | undefined {
    const f = families().get(name);
    assert.ok(f, `family ${name}`);
    const found = f.samples.filter(
      (x) => JSON.stringify(Object.entries(x.labels).sort()) === JSON.stringify(Object.entries(labels).sort()),
    );
    assert.ok(found.length <= 1, `one sample per label set in ${name}`);
    return found[0]?.value;
  }
  const H1 = { deployment: 'prod', host: 'ipa1.example.com' };
  const H2 = { deployment: 'prod', host: 'ipa2.example.com' };
  const H3 = { deployment: 'odd"dep', host: WEIRD };

  it('every line parses; every family has HELP and TYPE before its samples', () => {
    assert.ok(families().size >= 13);
    for (const [name, f] of families()) {
      assert.ok(f.help && f.help.length > 0, `${name} has HELP`);
      assert.ok(f.type === 'gauge' || f.type === 'counter', `${name} has TYPE`);
      assert.ok(name.startsWith('ipa_fleet_'), name);
    }
  });

  it('counters are typed counter and end in _total; the rest are gauges', () => {
    for (const name of [
      'ipa_fleet_schedule_runs_total',
      'ipa_fleet_schedule_failed_runs_total',
      'ipa_fleet_schedule_skipped_overlaps_total',
    ]) {
      assert.equal(families().get(name)?.type, 'counter', name);
    }
    for (const [name, f] of families()) if (f.type === 'counter') assert.match(name, /_total$/);
    for (const name of [
      'ipa_fleet_backup_last_success_timestamp_seconds',
      'ipa_fleet_backup_consecutive_failures',
      'ipa_fleet_schedule_metrics_written_timestamp_seconds',
    ]) {
      assert.equal(families().get(name)?.type, 'gauge', name);
    }
  });

  it('host values equal the inputs, timestamps in whole seconds, 0 for a host never backed up', () => {
    assert.equal(value('ipa_fleet_backup_last_success_timestamp_seconds', H1), s('2025-03-10T02:00:00Z'));
    assert.equal(value('ipa_fleet_backup_last_attempt_timestamp_seconds', H1), s('2025-03-10T02:00:09Z'));
    assert.equal(value('ipa_fleet_backup_last_duration_seconds', H1), 42.5);
    assert.equal(value('ipa_fleet_backup_last_size_bytes', H1), 123456789);
    assert.equal(value('ipa_fleet_backup_consecutive_failures', H1), 0);
    assert.equal(value('ipa_fleet_backup_snapshots_kept', H1), 14);

    assert.equal(value('ipa_fleet_backup_last_success_timestamp_seconds', H2), 0);
    assert.equal(value('ipa_fleet_backup_last_attempt_timestamp_seconds', H2), 0);
    assert.equal(value('ipa_fleet_backup_consecutive_failures', H2), 3);
    assert.equal(value('ipa_fleet_backup_snapshots_kept', H2), 0);
  });

  it('a host with no duration or size has no sample in those families (not 0)', () => {
    assert.equal(value('ipa_fleet_backup_last_duration_seconds', H2), undefined);
    assert.equal(value('ipa_fleet_backup_last_size_bytes', H2), undefined);
    assert.equal(families().get('ipa_fleet_backup_last_duration_seconds')!.samples.length, 2);
    // a real 0 is kept
    assert.equal(value('ipa_fleet_backup_last_duration_seconds', H3), 0);
  });

  it('job values equal the inputs; no next run / no verification: no sample', () => {
    const nightly = { schedule_job: 'nightly', deployment: 'prod' };
    const hourly = { schedule_job: 'hourly', deployment: 'prod' };
    const plain = { schedule_job: 'plain', deployment: 'odd"dep' };
    assert.equal(value('ipa_fleet_schedule_runs_total', nightly), 17);
    assert.equal(value('ipa_fleet_schedule_failed_runs_total', nightly), 2);
    assert.equal(value('ipa_fleet_schedule_skipped_overlaps_total', nightly), 5);
    assert.equal(value('ipa_fleet_schedule_next_run_timestamp_seconds', nightly), s('2025-03-11T02:00:00Z'));
    assert.equal(value('ipa_fleet_backup_verify_last_timestamp_seconds', nightly), s('2025-03-09T03:00:01Z'));
    assert.equal(value('ipa_fleet_backup_verify_ok', nightly), 1);
    assert.equal(value('ipa_fleet_backup_verify_ok', hourly), 0);
    assert.equal(value('ipa_fleet_schedule_runs_total', hourly), 0);
    assert.equal(value('ipa_fleet_schedule_next_run_timestamp_seconds', hourly), undefined);
    assert.equal(value('ipa_fleet_schedule_runs_total', plain), 1);
    assert.equal(value('ipa_fleet_backup_verify_ok', plain), undefined);
    assert.equal(value('ipa_fleet_backup_verify_last_timestamp_seconds', plain), undefined);
    assert.equal(value('ipa_fleet_schedule_metrics_written_timestamp_seconds', {}), s('2025-03-10T12:34:56Z'));
  });

  it('label values with ", \\ and a newline are escaped (and read back unchanged)', () => {
    assert.ok(text.includes('host="we\\"ird\\\\host\\nname"'), text);
    assert.ok(text.includes('deployment="odd\\"dep"'));
    assert.equal(value('ipa_fleet_backup_snapshots_kept', H3), 2);
    assert.equal(value('ipa_fleet_backup_consecutive_failures', H3), 1);
    assert.equal(value('ipa_fleet_backup_last_success_timestamp_seconds', H3), s('2025-01-01T00:00:00Z'));
  });

  it('no hosts and no jobs: still a valid file with the heartbeat', () => {
    const empty = parseExposition(renderMetrics({ hosts: [], jobs: [], writtenAt }));
    assert.equal(
      empty.get('ipa_fleet_schedule_metrics_written_timestamp_seconds')!.samples[0]!.value,
      s('2025-03-10T12:34:56Z'),
    );
    assert.equal(empty.get('ipa_fleet_backup_last_success_timestamp_seconds')!.samples.length, 0);
  });

  it('writeMetricsFile leaves only the final file, mode 0644, replacing the old content', async () => {
    const d = dir('metrics-write');
    const file = join(d, 'ipa-fleet.prom');
    const old = process.umask(0o022);
    try {
      await writeMetricsFile(file, 'old\n');
      await writeMetricsFile(file, text);
    } finally {
      process.umask(old);
    }
    assert.deepEqual(readdirSync(d), ['ipa-fleet.prom']);
    assert.equal(readFileSync(file, 'utf8'), text);
    assert.equal(statSync(file).mode & 0o777, 0o644);
  });

  it('writeMetricsFile: the file is 0644 whatever the umask (node_exporter runs as another user)', async () => {
    const d = dir('metrics-umask');
    const file = join(d, 'ipa-fleet.prom');
    const old = process.umask(0o077);
    try {
      await writeMetricsFile(file, text);
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(file).mode & 0o777, 0o644);
  });
});

// ---------------------------------------------------------------------------------------------
describe('schedule: backupFreshnessCheck', () => {
  const NOW = Date.parse('2025-03-10T12:00:00Z') / 1000;
  const input = (names: string[]): AuditInput =>
    ({ inventory: { hosts: names.map((name) => ({ name })) }, now: NOW }) as unknown as AuditInput;
  const snap = (id: string, time: string): NewestSnapshot => ({ id, time });

  it('a fresh snapshot: no finding; exactly at the limit: none either', () => {
    const check = backupFreshnessCheck(
      new Map([
        ['a', snap('s1', '2025-03-10T11:00:00Z')],
        ['b', snap('s2', '2025-03-09T12:00:00Z')],
      ]),
      86400,
      '/srv/store',
    );
    assert.deepEqual(check(input(['a', 'b'])), []);
  });

  it('older than the limit: one backup-stale warning for that host', () => {
    const check = backupFreshnessCheck(
      new Map([
        ['a', snap('s1', '2025-03-10T11:00:00Z')],
        ['b', snap('20250307T020000Z-b', '2025-03-07T02:00:00Z')],
      ]),
      86400,
      '/srv/store',
    );
    const findings = check(input(['a', 'b']));
    assert.equal(findings.length, 1);
    const [f] = findings;
    assert.equal(f!.id, 'backup-stale');
    assert.equal(f!.severity, 'warning');
    assert.deepEqual(f!.hosts, ['b']);
    assert.equal(f!.suffix, undefined);
    assert.match(f!.message, /20250307T020000Z-b/);
    assert.match(f!.message, /3\.4 d old; the limit is 24\.0 h/);
    assert.deepEqual(f!.details, {
      snapshot: '20250307T020000Z-b',
      time: '2025-03-07T02:00:00Z',
      ageSeconds: 295200,
      maxAgeSeconds: 86400,
    });
    assert.match(f!.fix, /--limit b/);
  });

  it('no snapshot at all: a warning naming the store', () => {
    const findings = backupFreshnessCheck(new Map([['a', undefined]]), 3600, '/srv/store')(input(['a']));
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.id, 'backup-stale');
    assert.equal(findings[0]!.severity, 'warning');
    assert.deepEqual(findings[0]!.hosts, ['a']);
    assert.match(findings[0]!.message, /a has no snapshot in \/srv\/store/);
  });

  it('hosts not in the map are not checked; map entries not in the inventory are ignored', () => {
    const check = backupFreshnessCheck(
      new Map([
        ['ghost', undefined],
        ['a', snap('s', '2020-01-01T00:00:00Z')],
      ]),
      60,
      '/srv/store',
    );
    assert.deepEqual(check(input(['b', 'c'])), []);
    assert.deepEqual(
      check(input(['a', 'b'])).map((f) => f.hosts),
      [['a']],
    );
  });
});

// ---------------------------------------------------------------------------------------------
function report(over: Partial<RunReport> = {}): RunReport {
  return {
    job: 'nightly',
    deployment: 'lab-a',
    type: 'data',
    runId: 'run-1',
    result: 'partial',
    scheduledAt: '2025-03-10T02:00:00.000Z',
    startedAt: '2025-03-10T02:00:00.100Z',
    finishedAt: '2025-03-10T02:01:00.100Z',
    durationSeconds: 60,
    hosts: { ok: ['a'], failed: ['b'] },
    perHost: {
      a: { ok: true, durationSeconds: 30, snapshot: 's-a', size: 1000 },
      b: { ok: false, durationSeconds: 2, error: 'boom' },
    },
    errors: [{ host: 'b', message: 'boom' }],
    pruned: undefined,
    verify: undefined,
    ...over,
  };
}

describe('schedule: runHook', () => {
  const warnings: string[] = [];
  const log = {
    info: () => undefined,
    warn: (m: string) => {
      warnings.push(m);
    },
    error: () => undefined,
  } as unknown as Logger;
  const ctx = (redactor = new Redactor()): { log: Logger; redactor: Redactor } => ({ log, redactor });

  it('gets the JSON report on stdin and exits 0: ok', async () => {
    const out = join(dir('hook-stdin'), 'report.json');
    const r = report();
    const outcome = await runHook('on_failure', `cat > '${out}'`, r, ctx(), 10);
    assert.equal(outcome.ok, true);
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.problem, undefined);
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), JSON.parse(JSON.stringify(r)));
  });

  it('has IPA_FLEET_HOOK, _JOB, _DEPLOYMENT and _RESULT in its environment', async () => {
    const out = join(dir('hook-env'), 'env.txt');
    const outcome = await runHook(
      'on_success',
      `env > '${out}'`,
      report({ result: 'succeeded', job: 'weekly', deployment: 'prod-eu' }),
      ctx(),
      10,
    );
    assert.equal(outcome.ok, true);
    const env = readFileSync(out, 'utf8').split('\n');
    for (const line of [
      'IPA_FLEET_HOOK=on_success',
      'IPA_FLEET_JOB=weekly',
      'IPA_FLEET_DEPLOYMENT=prod-eu',
      'IPA_FLEET_RESULT=succeeded',
    ]) {
      assert.ok(env.includes(line), `${line} in the hook's environment`);
    }
  });

  it('a hook that exits 3: ok false, no throw, a warning with its stderr', async () => {
    warnings.length = 0;
    const outcome = await runHook('on_failure', 'echo "smtp refused" >&2; exit 3', report(), ctx(), 10);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.exitCode, 3);
    assert.equal(outcome.problem, undefined);
    assert.equal(outcome.stderrTail, 'smtp refused');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /hook on_failure of job nightly failed: exit 3: smtp refused/);
  });

  it('a hook that does not read its stdin still succeeds', async () => {
    const big = report({
      errors: Array.from({ length: 5000 }, (_, i) => ({ message: `error number ${i} `.repeat(5) })),
    });
    const outcome = await runHook('on_failure', 'exit 0', big, ctx(), 10);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
  });

  it('a hook that outlives its timeout is killed with its children, within a few seconds', async () => {
    const d = dir('hook-timeout');
    const pidFile = join(d, 'child.pid');
    const started = Date.now();
    const outcome = await runHook('on_failure', `sleep 30 & echo $! > '${pidFile}'; sleep 30`, report(), ctx(), 1);
    const ms = Date.now() - started;
    assert.ok(ms < 5000, `returned after ${ms} ms`);
    assert.ok(ms >= 900, `waited for the timeout (${ms} ms)`);
    assert.equal(outcome.ok, false);
    assert.match(outcome.problem ?? '', /did not finish within 1 s; killed/);
    assert.equal(outcome.signal, 'SIGKILL');
    // the background sleep was in the hook's process group: gone too (a zombie counts as gone)
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    await sleep(200);
    let alive = true;
    try {
      process.kill(pid, 0);
      alive = !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      alive = false;
    }
    assert.equal(alive, false, `background child ${pid} of the hook still runs`);
  });

  it('a hook command that does not exist: ok false, no throw', async () => {
    const outcome = await runHook(
      'on_success',
      '/nonexistent/ipa-fleet-hook --now',
      report({ result: 'succeeded' }),
      ctx(),
      10,
    );
    assert.equal(outcome.ok, false);
    assert.equal(outcome.exitCode, 127);
  });

  it('an environment variable holding a registered secret does not reach the hook; others do', async () => {
    const out = join(dir('hook-secret'), 'env.txt');
    const secret = 'Zq8-hook-secret-Y7w';
    const redactor = new Redactor();
    redactor.add(secret);
    process.env.IPA_FLEET_TEST_DM_PASSWORD = secret;
    process.env.IPA_FLEET_TEST_EMBEDDED = `prefix:${secret}:suffix`;
    process.env.IPA_FLEET_TEST_PLAIN = 'visible-value';
    try {
      const outcome = await runHook('on_failure', `env > '${out}'`, report(), ctx(redactor), 10);
      assert.equal(outcome.ok, true);
    } finally {
      delete process.env.IPA_FLEET_TEST_DM_PASSWORD;
      delete process.env.IPA_FLEET_TEST_EMBEDDED;
      delete process.env.IPA_FLEET_TEST_PLAIN;
    }
    const env = readFileSync(out, 'utf8');
    assert.ok(!env.includes(secret), 'the secret is not in the hook environment');
    assert.doesNotMatch(env, /^IPA_FLEET_TEST_DM_PASSWORD=/m);
    assert.doesNotMatch(env, /^IPA_FLEET_TEST_EMBEDDED=/m);
    assert.match(env, /^IPA_FLEET_TEST_PLAIN=visible-value$/m);
    assert.match(env, /^PATH=/m);
  });

  it("a failing hook's stderr is masked in the warning", async () => {
    warnings.length = 0;
    const secret = 'Pw-in-stderr-4711';
    const redactor = new Redactor();
    redactor.add(secret);
    const outcome = await runHook(
      'on_failure',
      `echo 'login failed for ${secret}' >&2; exit 1`,
      report(),
      ctx(redactor),
      10,
    );
    assert.equal(outcome.ok, false);
    assert.equal(warnings.length, 1);
    assert.ok(!warnings[0]!.includes(secret), warnings[0]);
    assert.match(warnings[0]!, /login failed for \*{8}/);
  });
});

// ---------------------------------------------------------------------------------------------
describe('schedule: ScheduleDaemon (fake backup runs)', () => {
  type RunBackup = (job: JobConfig, opts: JobRunOptions) => Promise<RunReport>;
  interface Interval {
    job: string;
    start: number;
    end: number;
    result: RunReport['result'];
  }

  const HOSTS = ['ipa1.example.test', 'ipa2.example.test'];

  function job(d: string, over: Partial<JobConfig> & { name: string; deployment: string }): JobConfig {
    const inventory = join(d, `${over.deployment}.yml`);
    if (!existsSync(inventory)) writeFileSync(inventory, inventoryText(over.deployment, HOSTS));
    return {
      kind: 'backup',
      line: 2,
      inventory,
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
      ...over,
    };
  }

  function config(d: string, jobs: JobConfig[], metrics = true): ScheduleConfig {
    return {
      file: join(d, 'schedule.yml'),
      metrics: metrics ? join(d, 'metrics', 'ipa-fleet.prom') : undefined,
      stateFile: join(d, 'state', 'schedule.state.json'),
      jobs,
      drills: [],
    };
  }

  /** Sleeps `ms` unless the signal aborts first; true when it was not aborted. */
  function wait(ms: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A fake backup run of `ms` that records its interval; cancelled when the context's signal aborts. */
  function fakeRun(
    ms: number,
    intervals: Interval[],
    result: (job: JobConfig) => RunReport['result'] = () => 'succeeded',
  ): RunBackup {
    return async (j, opts) => {
      const start = Date.now();
      const finished = await wait(ms, opts.ctx.signal);
      const r = finished ? result(j) : 'cancelled';
      const end = Date.now();
      intervals.push({ job: j.name, start, end, result: r });
      const ok = r === 'succeeded' ? HOSTS : r === 'partial' ? HOSTS.slice(0, 1) : [];
      const failed = r === 'cancelled' ? [] : HOSTS.filter((h) => !ok.includes(h));
      return report({
        job: j.name,
        deployment: j.deployment,
        result: r,
        type: j.type,
        scheduledAt: opts.scheduledAt.toISOString(),
        startedAt: new Date(start).toISOString(),
        finishedAt: new Date(end).toISOString(),
        durationSeconds: (end - start) / 1000,
        hosts: { ok, failed },
        perHost: Object.fromEntries([
          ...ok.map((h) => [h, { ok: true, durationSeconds: (end - start) / 1000, snapshot: `snap-${h}`, size: 4096 }]),
          ...failed.map((h) => [h, { ok: false, durationSeconds: 0.1, error: 'fake failure' }]),
        ]),
        errors: failed.map((h) => ({ host: h, message: 'fake failure' })),
      });
    };
  }

  interface Started {
    daemon: ScheduleDaemon;
    controller: AbortController;
    said: Array<[string, string]>;
    running: Promise<void>;
    startedAt: number;
    stop: () => Promise<number>;
  }

  function start(d: string, cfg: ScheduleConfig, runBackup: RunBackup): Started {
    const controller = new AbortController();
    const ctx = createRunContext({
      logFile: join(d, 'logs', 'ipa-fleet.log'),
      verbosity: 0,
      signal: controller.signal,
    });
    contexts.push(ctx);
    const said: Array<[string, string]> = [];
    const daemon = new ScheduleDaemon({
      config: cfg,
      ctx,
      stateDir: join(d, 'runs'),
      say: (level, message) => {
        said.push([level, message]);
      },
      runBackup,
      random: () => 0,
    });
    const startedAt = Date.now();
    const running = daemon.run();
    return {
      daemon,
      controller,
      said,
      running,
      startedAt,
      stop: async () => {
        const abortedAt = Date.now();
        controller.abort();
        await running;
        return abortedAt;
      },
    };
  }

  const readState = (cfg: ScheduleConfig): ScheduleState =>
    JSON.parse(readFileSync(cfg.stateFile, 'utf8')) as ScheduleState;

  function assertDisjoint(intervals: Interval[], what: string): void {
    const sorted = [...intervals].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(
        sorted[i]!.start >= sorted[i - 1]!.end,
        `${what}: ${sorted[i]!.job} started at +${sorted[i]!.start - sorted[0]!.start} ms, before ${sorted[i - 1]!.job} ended at +${sorted[i - 1]!.end - sorted[0]!.start} ms`,
      );
    }
  }

  const overlaps = (a: Interval, b: Interval): boolean => a.start < b.end && b.start < a.end;

  /** Whole-second boundaries in (from, to]: the ticks of an every-second cron. */
  const ticksBetween = (from: number, to: number): number => Math.floor(to / 1000) - Math.floor(from / 1000);

  it('a run longer than the cron interval: ticks are skipped (warned, counted), runs never overlap', async () => {
    const d = dir('daemon-overlap');
    const intervals: Interval[] = [];
    const cfg = config(d, [job(d, { name: 'nightly', deployment: 'lab-a' })]);
    const s = start(d, cfg, fakeRun(2500, intervals));
    await sleep(6200);
    const abortedAt = await s.stop();
    assertDisjoint(intervals, 'one job');
    assert.ok(intervals.length >= 2, `${intervals.length} runs`);
    const state = readState(cfg);
    const record = state.jobs.nightly!;
    assert.equal(record.runs, intervals.length);
    assert.ok(record.skippedOverlaps > 0, 'skipped ticks counted');
    const ticks = ticksBetween(s.startedAt, abortedAt);
    assert.ok(
      Math.abs(record.runs + record.skippedOverlaps - ticks) <= 1,
      `runs ${record.runs} + skipped ${record.skippedOverlaps} ≈ ticks ${ticks}`,
    );
    const warned = s.said.filter(([level, m]) => level === 'warn' && /skipped/.test(m));
    assert.equal(warned.length, record.skippedOverlaps);
    assert.match(warned[0]![1], /job nightly: the previous run is still going; this tick is skipped/);
    assert.ok(!existsSync(`${cfg.stateFile}.lock`), 'lock released');
  });

  it('two jobs of one deployment never run at the same time', async () => {
    const d = dir('daemon-same-deployment');
    const intervals: Interval[] = [];
    const cfg = config(d, [
      job(d, { name: 'data', deployment: 'lab-a' }),
      job(d, { name: 'full', deployment: 'lab-a', type: 'full' }),
    ]);
    const s = start(d, cfg, fakeRun(1500, intervals));
    await sleep(5200);
    await s.stop();
    assertDisjoint(intervals, 'one deployment');
    assert.ok(
      intervals.some((i) => i.job === 'data') && intervals.some((i) => i.job === 'full'),
      `both jobs ran: ${intervals.map((i) => i.job).join(', ')}`,
    );
    assert.ok(s.said.some(([, m]) => /waits for the running backup of lab-a/.test(m)));
    const state = readState(cfg);
    assert.equal(state.jobs.data!.runs + state.jobs.full!.runs, intervals.length);
  });

  it('jobs of different deployments run side by side', async () => {
    const d = dir('daemon-two-deployments');
    const intervals: Interval[] = [];
    const cfg = config(d, [job(d, { name: 'a', deployment: 'lab-a' }), job(d, { name: 'b', deployment: 'lab-b' })]);
    const s = start(d, cfg, fakeRun(1500, intervals));
    await sleep(3700);
    await s.stop();
    const a = intervals.filter((i) => i.job === 'a');
    const b = intervals.filter((i) => i.job === 'b');
    assertDisjoint(a, 'job a');
    assertDisjoint(b, 'job b');
    assert.ok(
      a.some((x) => b.some((y) => overlaps(x, y))),
      'some run of a overlapped some run of b',
    );
  });

  it('SIGTERM during a run: the run is cancelled, run() returns, the state is saved, the lock is gone', async () => {
    const d = dir('daemon-abort');
    const intervals: Interval[] = [];
    let signalled: AbortSignal | undefined;
    const cfg = config(d, [job(d, { name: 'nightly', deployment: 'lab-a' })]);
    const slow = fakeRun(30_000, intervals);
    const s = start(d, cfg, (j, opts) => {
      signalled = opts.ctx.signal;
      return slow(j, opts);
    });
    const deadline = Date.now() + 3000;
    while (!signalled && Date.now() < deadline) await sleep(20);
    assert.ok(signalled, 'a run started');
    assert.ok(existsSync(`${cfg.stateFile}.lock`), 'the lock is held while running');
    await sleep(200);
    const abortedAt = await s.stop();
    assert.ok(Date.now() - abortedAt < 2000, `stopped within 2 s (${Date.now() - abortedAt} ms)`);
    assert.equal(signalled.aborted, true);
    assert.deepEqual(
      intervals.map((i) => i.result),
      ['cancelled'],
    );
    const state = readState(cfg);
    assert.equal(state.jobs.nightly!.runs, 1);
    assert.equal(state.jobs.nightly!.failedRuns, 0, 'a cancelled run is not a failed one');
    assert.equal(state.jobs.nightly!.lastRun?.result, 'cancelled');
    assert.ok(!existsSync(`${cfg.stateFile}.lock`), 'lock released');
    assert.ok(s.said.some(([, m]) => /stopping: cancelling nightly/.test(m)));
    assert.deepEqual(s.said.at(-1), ['info', 'stopped; state saved']);
  });

  it('a second daemon on the same state file is refused (lock, exit 11) and leaves the first alone', async () => {
    const d = dir('daemon-second');
    const intervals: Interval[] = [];
    const cfg = config(d, [job(d, { name: 'nightly', deployment: 'lab-a' })]);
    const first = start(d, cfg, fakeRun(200, intervals));
    await sleep(300);
    const second = start(d, cfg, fakeRun(200, []));
    await assert.rejects(second.running, (err: unknown) => {
      assert.ok(err instanceof FleetError, String(err));
      assert.equal(err.kind, 'lock');
      assert.match(err.message, /already running \(pid \d+ on /);
      assert.ok(err.message.includes(`${cfg.stateFile}.lock`));
      return true;
    });
    second.controller.abort();
    assert.ok(existsSync(`${cfg.stateFile}.lock`), "the first daemon's lock is still there");
    await sleep(1000);
    await first.stop();
    assert.ok(intervals.length >= 1, 'the first daemon kept running');
    assert.ok(!existsSync(`${cfg.stateFile}.lock`));
  });

  it('the metrics file: runs_total of the job and a sample per inventory host, written atomically', async () => {
    const d = dir('daemon-metrics');
    const intervals: Interval[] = [];
    const cfg = config(d, [job(d, { name: 'nightly', deployment: 'lab-a' })]);
    const s = start(d, cfg, fakeRun(100, intervals));
    await sleep(2600);
    await s.stop();
    assert.ok(intervals.length >= 2, `${intervals.length} runs`);
    const families = parseExposition(readFileSync(cfg.metrics!, 'utf8'));
    const runs = families.get('ipa_fleet_schedule_runs_total')!.samples;
    assert.deepEqual(runs, [{ labels: { schedule_job: 'nightly', deployment: 'lab-a' }, value: intervals.length }]);
    assert.equal(readState(cfg).jobs.nightly!.runs, intervals.length);
    const attempts = families.get('ipa_fleet_backup_last_attempt_timestamp_seconds')!.samples;
    assert.deepEqual(attempts.map((x) => x.labels.host).sort(), HOSTS);
    const lastStart = Math.max(...intervals.map((i) => i.start));
    for (const a of attempts) assert.equal(a.value, Math.floor(lastStart / 1000));
    for (const f of families.get('ipa_fleet_backup_consecutive_failures')!.samples) assert.equal(f.value, 0);
    assert.deepEqual(readdirSync(join(d, 'metrics')), ['ipa-fleet.prom'], 'no temporary file left');
  });

  it('hooks: on_failure gets the report of a partial run on stdin; on_success is not called', async () => {
    const d = dir('daemon-hooks');
    const failJson = join(d, 'fail.json');
    const successMark = join(d, 'success');
    const fixed = report({
      job: 'nightly',
      deployment: 'lab-a',
      result: 'partial',
      hosts: { ok: ['a'], failed: ['b'] },
    });
    let calls = 0;
    const cfg = config(
      d,
      [
        job(d, {
          name: 'nightly',
          deployment: 'lab-a',
          hooks: { onFailure: `cat > '${failJson}'`, onSuccess: `touch '${successMark}'`, timeoutSeconds: 10 },
        }),
      ],
      false,
    );
    const s = start(d, cfg, async () => {
      calls++;
      return fixed;
    });
    const deadline = Date.now() + 4000;
    while (!existsSync(failJson) && Date.now() < deadline) await sleep(50);
    await sleep(100);
    await s.stop();
    assert.ok(calls >= 1);
    assert.ok(existsSync(failJson), 'the on_failure hook ran');
    assert.deepEqual(JSON.parse(readFileSync(failJson, 'utf8')), JSON.parse(JSON.stringify(fixed)));
    assert.ok(!existsSync(successMark), 'on_success is not called for a failure');
    const state = readState(cfg);
    assert.equal(state.jobs.nightly!.failedRuns, state.jobs.nightly!.runs);
    assert.equal(state.hosts['lab-a']!.b!.consecutiveFailures, state.jobs.nightly!.runs);
    assert.equal(state.hosts['lab-a']!.a!.consecutiveFailures, 0);
  });

  it('a run that throws does not stop the daemon: it counts as a failed run and the next tick runs again', async () => {
    const d = dir('daemon-throws');
    let calls = 0;
    const cfg = config(d, [job(d, { name: 'nightly', deployment: 'lab-a' })], false);
    const s = start(d, cfg, async () => {
      calls++;
      throw new Error('journal disk full');
    });
    const deadline = Date.now() + 4500;
    while (calls < 2 && Date.now() < deadline) await sleep(50);
    await s.stop();
    assert.ok(calls >= 2, `${calls} calls`);
    assert.ok(
      s.said.some(([level, m]) => level === 'error' && /^job nightly: failed in .*journal disk full/.test(m)),
      JSON.stringify(s.said),
    );
    assert.equal(readState(cfg).jobs.nightly!.runs, calls);
    assert.equal(readState(cfg).jobs.nightly!.failedRuns, calls);
    assert.equal(readState(cfg).jobs.nightly!.lastRun?.result, 'failed');
    assert.ok(!existsSync(`${cfg.stateFile}.lock`));
  });

  it('an unreadable state file is set aside with a warning; counters start again', async () => {
    const d = dir('daemon-bad-state');
    const cfg = config(d, [job(d, { name: 'nightly', deployment: 'lab-a', cron: '0 0 1 1 *' })], false);
    mkdirSync(join(d, 'state'), { recursive: true });
    writeFileSync(cfg.stateFile, '{ not json');
    const s = start(d, cfg, fakeRun(10, []));
    await sleep(300);
    await s.stop();
    const aside = readdirSync(join(d, 'state')).filter((f) => f.startsWith('schedule.state.json.unreadable-'));
    assert.equal(aside.length, 1);
    assert.equal(readFileSync(join(d, 'state', aside[0]!), 'utf8'), '{ not json');
    assert.deepEqual(readState(cfg), { version: 1, jobs: {}, hosts: {} });
    assert.ok(s.said.some(([level, m]) => level === 'warn' && /was unreadable .* counters start again/.test(m)));
  });

  it('hooks: on_success runs after a clean run, on_failure does not', async () => {
    const d = dir('daemon-hooks-success');
    const failMark = join(d, 'failed');
    const successJson = join(d, 'success.json');
    const intervals: Interval[] = [];
    const cfg = config(
      d,
      [
        job(d, {
          name: 'nightly',
          deployment: 'lab-a',
          hooks: { onFailure: `touch '${failMark}'`, onSuccess: `cat > '${successJson}'`, timeoutSeconds: 10 },
        }),
      ],
      false,
    );
    const s = start(d, cfg, fakeRun(50, intervals));
    const deadline = Date.now() + 4000;
    while (!existsSync(successJson) && Date.now() < deadline) await sleep(50);
    await sleep(100);
    await s.stop();
    assert.ok(existsSync(successJson), 'on_success ran');
    const got = JSON.parse(readFileSync(successJson, 'utf8')) as RunReport;
    assert.equal(got.result, 'succeeded');
    assert.deepEqual(got.hosts, { ok: HOSTS, failed: [] });
    assert.ok(!existsSync(failMark));
  });
});
