// The run journal (plan.json, journal.jsonl, summary.json) and the deployment lock.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetError, UsageError } from '../../src/errors.js';
import {
  doneTasks,
  earlierAttempts,
  listRuns,
  newRunId,
  readSummary,
  RunJournal,
  runsDir,
  type JournalEntry,
  type RunSummary,
} from '../../src/playbook/journal.js';
import { processAlive } from '../../src/process-liveness.js';
import { acquireLock, LockHeldError } from '../../src/playbook/lock.js';
import type { Plan } from '../../src/playbook/model.js';

let tmp: string;
let counter = 0;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-journal-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function stateDir(): string {
  const dir = join(tmp, `state-${++counter}`);
  mkdirSync(dir);
  return dir;
}

/** A process id nobody uses on this machine. */
function deadPid(): number {
  for (let pid = 999_999; pid < 1_100_000; pid++) if (!processAlive(pid)) return pid;
  throw new Error('no free pid found');
}

const PLAN: Plan = {
  version: 1,
  playbook: { name: 'demo', file: '/p/demo.yaml', sha256: 'a'.repeat(64), description: 'd' },
  inventory: { file: '/i/inv.yaml', deployment: 'dep' },
  params: { keep: false },
  limit: undefined,
  createdAt: '2025-01-01T00:00:00.000Z',
  skippedSteps: [],
  destructive: false,
  needsFacts: false,
  tasks: [
    {
      id: '01-a:h1',
      step: 0,
      stepName: 'a',
      action: 'exec',
      host: 'h1',
      title: 'a',
      params: { command: 'x' },
      dependsOn: [],
      destructive: false,
      concurrency: 2,
    },
    {
      id: '02-b:h1',
      step: 1,
      stepName: 'b',
      action: 'exec',
      host: 'h1',
      title: 'b',
      params: { command: 'y' },
      dependsOn: ['01-a:h1'],
      destructive: false,
      concurrency: undefined,
    },
  ],
};

function summary(runId: string, over: Partial<RunSummary>): RunSummary {
  return {
    runId,
    playbook: 'demo',
    deployment: 'dep',
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: undefined,
    state: 'running',
    pid: process.pid,
    recap: {},
    tasks: { total: 2, done: 0, failed: 0, notRun: 0 },
    ...over,
  };
}

describe('journal: newRunId', () => {
  it('is <UTC stamp>-<playbook>-<4 hex>, accepted by RunJournal.open, and differs between calls', () => {
    const now = new Date('2025-03-04T05:06:07.890Z');
    const id = newRunId('hello-fleet', now);
    assert.match(id, /^20250304T050607Z-hello-fleet-[0-9a-f]{4}$/);
    const ids = new Set(Array.from({ length: 20 }, () => newRunId('x', now)));
    assert.ok(ids.size > 1, 'random suffix');
    assert.match(newRunId('p'), /^\d{8}T\d{6}Z-p-[0-9a-f]{4}$/);
  });
});

describe('journal: RunJournal', () => {
  it('create writes plan.json (mode 0600, folder 0700); open reads the plan and the entries back', async () => {
    const state = stateDir();
    const runId = newRunId('demo');
    const journal = await RunJournal.create(state, runId, PLAN);
    assert.equal(journal.runId, runId);
    assert.equal(journal.dir, join(runsDir(state), runId));
    assert.equal(statSync(journal.dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(journal.dir, 'plan.json')).mode & 0o777, 0o600);
    const entries: JournalEntry[] = [
      { at: '2025-01-01T00:00:01.000Z', type: 'run.started', pid: 42 },
      { at: '2025-01-01T00:00:02.000Z', type: 'task.started', taskId: '01-a:h1', host: 'h1' },
      {
        at: '2025-01-01T00:00:03.000Z',
        type: 'task.finished',
        taskId: '01-a:h1',
        host: 'h1',
        status: 'changed',
        message: 'done',
        changes: [{ file: '/x' }],
      },
      { at: '2025-01-01T00:00:04.000Z', type: 'run.finished', state: 'succeeded' },
    ];
    for (const e of entries) journal.append(e);
    assert.equal(statSync(join(journal.dir, 'journal.jsonl')).mode & 0o777, 0o600);
    assert.equal(
      readFileSync(join(journal.dir, 'journal.jsonl'), 'utf8').split('\n').length,
      entries.length + 1,
      'one line per entry',
    );

    const opened = await RunJournal.open(state, runId);
    assert.equal(opened.journal.dir, journal.dir);
    assert.deepEqual(opened.entries, entries);
    // The plan comes back as JSON (undefined fields dropped).
    assert.deepEqual(opened.plan, JSON.parse(JSON.stringify(PLAN)));
    assert.equal(opened.plan.tasks[0]!.concurrency, 2);
  });

  it('open of a run without a journal yet gives no entries', async () => {
    const state = stateDir();
    await RunJournal.create(state, 'r1', PLAN);
    assert.deepEqual((await RunJournal.open(state, 'r1')).entries, []);
  });

  it('open refuses unknown and malformed run ids with a usage error', async () => {
    const state = stateDir();
    await assert.rejects(
      RunJournal.open(state, 'nope'),
      (err: unknown) =>
        err instanceof UsageError && /no run 'nope' in .*runs; see ipa-fleet runs list/.test(err.message),
    );
    for (const bad of ['../../etc', 'a/b', 'x y', '']) {
      await assert.rejects(
        RunJournal.open(state, bad),
        (err: unknown) => err instanceof UsageError && err.message.includes('is not valid'),
        bad,
      );
    }
  });

  it('a line cut short by a crash is ignored; every entry before it is kept', async () => {
    const state = stateDir();
    const journal = await RunJournal.create(state, 'crash', PLAN);
    journal.append({ at: 't1', type: 'run.started', pid: 1 });
    journal.append({ at: 't2', type: 'task.started', taskId: '01-a:h1', host: 'h1' });
    journal.append({ at: 't3', type: 'task.finished', taskId: '01-a:h1', host: 'h1', status: 'ok' });
    appendFileSync(join(journal.dir, 'journal.jsonl'), '{"at":"t4","type":"task.started","taskId":"02-b');
    const { entries } = await RunJournal.open(state, 'crash');
    assert.deepEqual(
      entries.map((e) => e.at),
      ['t1', 't2', 't3'],
    );
    assert.deepEqual([...doneTasks(entries)], ['01-a:h1']);
  });

  it('writeSummary / readSummary round trip; readSummary of an unknown run is undefined', async () => {
    const state = stateDir();
    const journal = await RunJournal.create(state, 'sum', PLAN);
    const s = summary('sum', {
      state: 'succeeded',
      finishedAt: '2025-01-01T00:01:00.000Z',
      recap: { h1: { ok: 1, changed: 1, failed: 0, skipped: 0 } },
    });
    await journal.writeSummary(s);
    assert.deepEqual(await readSummary(state, 'sum'), JSON.parse(JSON.stringify(s)));
    assert.equal(await readSummary(state, 'other'), undefined);
    assert.equal(existsSync(join(journal.dir, `summary.json.tmp-${process.pid}`)), false, 'no temp file left');
  });
});

describe('journal: doneTasks', () => {
  it('ok, changed and skipped are done; failed, interrupted and only-started are not', () => {
    const entries: JournalEntry[] = [
      { at: '1', type: 'run.started', pid: 1 },
      { at: '2', type: 'task.finished', taskId: 'ok', host: 'h', status: 'ok' },
      { at: '3', type: 'task.finished', taskId: 'changed', host: 'h', status: 'changed' },
      { at: '4', type: 'task.finished', taskId: 'skipped', host: 'h', status: 'skipped' },
      { at: '5', type: 'task.finished', taskId: 'failed', host: 'h', status: 'failed', error: 'boom' },
      { at: '6', type: 'task.started', taskId: 'started', host: 'h' },
      { at: '7', type: 'task.interrupted', taskId: 'interrupted', host: 'h' },
      { at: '8', type: 'run.finished', state: 'failed' },
      // A resumed run: the failed task succeeded the second time.
      { at: '9', type: 'run.resumed', pid: 2 },
      { at: '10', type: 'task.finished', taskId: 'failed-then-ok', host: 'h', status: 'failed', error: 'first' },
      { at: '11', type: 'task.finished', taskId: 'failed-then-ok', host: 'h', status: 'changed' },
    ];
    assert.deepEqual([...doneTasks(entries)].sort(), ['changed', 'failed-then-ok', 'ok', 'skipped']);
    assert.deepEqual([...doneTasks([])], []);
  });
});

describe('journal: listRuns', () => {
  it('lists runs in id order; a running run whose pid is gone is crashed; a live one stays running', async () => {
    const state = stateDir();
    const dead = deadPid();
    const a = await RunJournal.create(state, '20250101T000000Z-demo-aaaa', PLAN);
    await a.writeSummary(summary(a.runId, { state: 'running', pid: dead }));
    const b = await RunJournal.create(state, '20250102T000000Z-demo-bbbb', PLAN);
    await b.writeSummary(summary(b.runId, { state: 'running', pid: process.pid }));
    const c = await RunJournal.create(state, '20250103T000000Z-demo-cccc', PLAN);
    await c.writeSummary(summary(c.runId, { state: 'failed', pid: dead }));
    await RunJournal.create(state, '20250104T000000Z-demo-dddd', PLAN); // no summary yet: not listed
    mkdirSync(join(runsDir(state), 'junk'));
    writeFileSync(join(runsDir(state), 'junk', 'summary.json'), '{not json');

    const list = await listRuns(state);
    assert.deepEqual(
      list.map((r) => [r.runId, r.state]),
      [
        ['20250101T000000Z-demo-aaaa', 'crashed'],
        ['20250102T000000Z-demo-bbbb', 'running'],
        ['20250103T000000Z-demo-cccc', 'failed'],
      ],
    );
    assert.deepEqual(list[0], {
      runId: a.runId,
      playbook: 'demo',
      deployment: 'dep',
      startedAt: '2025-01-01T00:00:00.000Z',
      state: 'crashed',
    });
  });

  it('an empty or missing state dir lists no runs', async () => {
    assert.deepEqual(await listRuns(join(tmp, 'does-not-exist')), []);
    assert.deepEqual(await listRuns(stateDir()), []);
  });
});

describe('lock', () => {
  const holder = { runId: 'run-1', playbook: 'demo' };

  it('a second acquire for the same deployment in the same process is refused, naming run, pid and host', async () => {
    const state = stateDir();
    const warnings: string[] = [];
    const release = await acquireLock(state, 'ipa-prod', holder, (m) => warnings.push(m));
    try {
      await assert.rejects(
        acquireLock(state, 'ipa-prod', { runId: 'run-2', playbook: 'other' }, (m) => warnings.push(m)),
        (err: unknown) => {
          assert.ok(err instanceof LockHeldError);
          assert.ok(err instanceof FleetError);
          assert.equal(err.kind, 'lock');
          assert.equal(err.deployment, 'ipa-prod');
          assert.equal(err.holder.runId, 'run-1');
          assert.equal(err.holder.pid, process.pid);
          assert.match(
            err.message,
            /^deployment 'ipa-prod' is locked by run run-1 \(demo, pid \d+ on .+, since .+\); lock file .+ipa-prod\.lock$/,
          );
          assert.ok(err.message.includes(`pid ${process.pid} on ${hostname()}`));
          return true;
        },
      );
      // Another deployment is independent.
      const other = await acquireLock(state, 'ipa-test', holder, (m) => warnings.push(m));
      await other();
    } finally {
      await release();
    }
    assert.deepEqual(warnings, []);
  });

  it('after release the lock can be taken again', async () => {
    const state = stateDir();
    const release = await acquireLock(state, 'dep', holder, () => undefined);
    const file = join(state, 'locks', 'dep.lock');
    assert.equal(existsSync(file), true);
    const content = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(content.pid, process.pid);
    assert.equal(content.runId, 'run-1');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await release();
    assert.equal(existsSync(file), false);
    const again = await acquireLock(state, 'dep', { runId: 'run-3', playbook: 'demo' }, () => undefined);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { runId: string }).runId, 'run-3');
    await again();
    await release(); // releasing twice does no harm
  });

  it('a lock left by a process that is gone is stale: replaced, with a warning', async () => {
    const state = stateDir();
    const dead = deadPid();
    assert.equal(processAlive(dead), false);
    mkdirSync(join(state, 'locks'));
    const file = join(state, 'locks', 'dep.lock');
    writeFileSync(
      file,
      JSON.stringify({
        pid: dead,
        host: hostname(),
        runId: 'old-run',
        playbook: 'demo',
        since: '2020-01-01T00:00:00Z',
      }),
    );
    const warnings: string[] = [];
    const release = await acquireLock(state, 'dep', holder, (m) => warnings.push(m));
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /stale lock of deployment 'dep'.*run old-run, pid \d+ is gone/);
      assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { pid: number }).pid, process.pid);
    } finally {
      await release();
    }
  });

  it('a half-written lock file is stale too', async () => {
    const state = stateDir();
    mkdirSync(join(state, 'locks'));
    writeFileSync(join(state, 'locks', 'dep.lock'), '{"pid": 12');
    const warnings: string[] = [];
    const release = await acquireLock(state, 'dep', holder, (m) => warnings.push(m));
    await release();
    assert.equal(warnings.length, 1);
  });

  it('a lock held by another machine is never taken over, even with a pid that is gone here', async () => {
    const state = stateDir();
    mkdirSync(join(state, 'locks'));
    writeFileSync(
      join(state, 'locks', 'dep.lock'),
      JSON.stringify({ pid: deadPid(), host: 'elsewhere.example', runId: 'far', playbook: 'demo', since: 'x' }),
    );
    await assert.rejects(
      acquireLock(state, 'dep', holder, () => undefined),
      (err: unknown) => err instanceof LockHeldError && /run far .* on elsewhere\.example/.test(err.message),
    );
  });

  it('deployment names become safe file names', async () => {
    const state = stateDir();
    const release = await acquireLock(state, '../evil/dep', holder, () => undefined);
    try {
      assert.equal(existsSync(join(state, 'locks', '.._evil_dep.lock')), true);
    } finally {
      await release();
    }
  });
});

describe('journal: a line cut short by a crash', () => {
  // RunJournal.append(): a crash mid-write leaves a last line without its
  // newline; readEntries() rightly skips it, but the next append once (the resumed run's `run.resumed`)
  // was written straight after the fragment, onto the same line, and was then lost as well.
  it('an entry appended after a line cut short by a crash is kept', async () => {
    const state = join(tmp, 'journal-crash');
    const journal = await RunJournal.create(state, 'crashed-run', {
      version: 1,
      playbook: { name: 'p', file: '/p', sha256: 'x', description: '' },
      inventory: { file: '/i', deployment: 'd' },
      params: {},
      limit: undefined,
      createdAt: 'x',
      skippedSteps: [],
      destructive: false,
      needsFacts: false,
      tasks: [],
    });
    journal.append({ at: 't1', type: 'run.started', pid: 1 });
    appendFileSync(join(journal.dir, 'journal.jsonl'), '{"at":"t2","type":"task.fini');
    journal.append({ at: 't3', type: 'run.resumed', pid: 2 });
    const { entries } = await RunJournal.open(state, 'crashed-run');
    // Not only t1 (t3 on the fragment's line).
    assert.deepEqual(
      entries.map((e) => e.at),
      ['t1', 't3'],
    );
  });
});

describe('earlier attempts of a resumed run', () => {
  it('a task finished ok keeps its start, duration and message; a failed one is not done', () => {
    const entries: JournalEntry[] = [
      { at: '2026-01-01T00:00:00.000Z', type: 'task.started', taskId: 'fence', host: 'a' },
      {
        at: '2026-01-01T00:00:02.500Z',
        type: 'task.finished',
        taskId: 'fence',
        host: 'a',
        status: 'changed',
        message: 'off',
      },
      { at: '2026-01-01T00:00:03.000Z', type: 'task.started', taskId: 'import', host: 'a' },
      { at: '2026-01-01T00:00:09.000Z', type: 'task.finished', taskId: 'import', host: 'a', status: 'failed' },
    ];
    const earlier = earlierAttempts(entries);
    assert.deepEqual([...earlier.keys()], ['fence']);
    assert.deepEqual(earlier.get('fence'), { startedAt: '2026-01-01T00:00:00.000Z', durationMs: 2500, message: 'off' });
  });
});
