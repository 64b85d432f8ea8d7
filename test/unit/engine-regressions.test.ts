// Regressions found while unit-testing the engine: queued tasks starting after a failure or Ctrl-C,
// a journal line torn by a crash swallowing the next entry, over-long durations, loader lines.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from '../../src/playbook/params.js';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ActionDefinition, TaskOutcome } from '../../src/playbook/action.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { pauseAction } from '../../src/actions/pause.js';
import { ActionRegistry } from '../../src/playbook/registry.js';
import { createRunContext, type RunContext } from '../../src/context.js';
import { LocatedError } from '../../src/located/located-error.js';
import { parseInventory } from '../../src/inventory/load.js';
import { execute } from '../../src/playbook/executor.js';
import { RunJournal } from '../../src/playbook/journal.js';
import { parsePlaybook } from '../../src/playbook/load.js';
import type { Plan } from '../../src/playbook/model.js';
import { resolveParams } from '../../src/playbook/params.js';
import { buildPlan } from '../../src/playbook/planner.js';
import { EventStream, type FleetEvent } from '../../src/report/events.js';
import { Transport } from '../../src/transport/transport.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin/ipa-fleet.js');

let tmp: string;
let counter = 0;
const contexts: RunContext[] = [];
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-engine-bugs-'));
});
after(() => {
  for (const ctx of contexts) ctx.log.close();
  rmSync(tmp, { recursive: true, force: true });
});

const INVENTORY_TEXT = [
  'all:',
  '  vars:',
  '    deployment: bugs',
  '    ldap: {instance: B, password: env:BUGS_DM}',
  '    suffixes: {domain: "dc=b"}',
  '  hosts:',
  '    a.b.test: {}',
  '    b.b.test: {}',
  '    c.b.test: {}',
  '',
].join('\n');
const INVENTORY = parseInventory(INVENTORY_TEXT, '/fixtures/bugs.yaml', {
  homeDir: '/home/t',
  hasLocalKnownHosts: false,
});

function context(signal?: AbortSignal): RunContext {
  const ctx = createRunContext({
    logFile: join(tmp, `log-${++counter}`, 'ipa-fleet.log'),
    verbosity: 0,
    ...(signal ? { signal } : {}),
  });
  contexts.push(ctx);
  return ctx;
}

/** One fake action `fake` whose behaviour is given per host; `started` records hosts in start order. */
function registryWith(
  started: string[],
  behave: (host: string, signal: AbortSignal) => Promise<TaskOutcome>,
): ActionRegistry {
  const fake: ActionDefinition = {
    name: 'fake',
    description: 'test',
    destructive: false,
    needsFacts: false,
    params: {},
    async run(ctx) {
      started.push(ctx.host.name);
      return behave(ctx.host.name, ctx.signal);
    },
  };
  return new ActionRegistry([fake], []);
}

function planOf(registry: ActionRegistry): Plan {
  const playbook = parsePlaybook(
    'name: bugs\nsteps:\n  - {name: one, action: fake, hosts: all}\n',
    '/fixtures/bugs-pb.yaml',
    registry,
  );
  return buildPlan({
    playbook,
    inventory: INVENTORY,
    registry,
    params: {},
    limit: undefined,
    facts: new Map(),
    createdAt: '2025-01-01T00:00:00.000Z',
  });
}

async function runPlan(
  plan: Plan,
  registry: ActionRegistry,
  forks: number,
  ctx: RunContext,
  onEvent?: (e: FleetEvent) => void,
) {
  const state = join(tmp, `state-${++counter}`);
  const journal = await RunJournal.create(state, 'run', plan);
  const events = new EventStream();
  if (onEvent) events.on(onEvent);
  const transport = new Transport(INVENTORY, ctx);
  try {
    const result = await execute({
      plan,
      registry,
      inventory: INVENTORY,
      transport,
      run: ctx,
      events,
      journal,
      facts: new Map(),
      forks,
      alreadyDone: new Set(),
    });
    return { result, entries: (await RunJournal.open(state, 'run')).entries };
  } finally {
    await transport.close();
  }
}

describe('engine regressions: executor', () => {
  // src/playbook/executor.ts, schedule(): every ready task is handed to p-queue at once
  // (`void queue.add(() => runTask(task, opts))`), and the queued closure never looks at `stopping`
  // or `run.signal` before it calls runTask. With more ready tasks than --forks, tasks still waiting
  // in the queue start AFTER a failure, contrary to "On a failure no new task starts".
  it('after a failure, tasks waiting for a free fork do not start (--forks 1, three ready tasks)', async () => {
    const started: string[] = [];
    const registry = registryWith(started, async (host) => {
      if (host === 'a.b.test') throw new Error('boom');
      return { status: 'changed' };
    });
    const plan = planOf(registry);
    const { result, entries } = await runPlan(plan, registry, 1, context());
    assert.equal(result.state, 'failed');
    // Expected: only a.b.test ran; actual: b and c started after a had failed.
    assert.deepEqual(started, ['a.b.test']);
    assert.equal(result.statuses.get('01-one:b.b.test'), 'not-run');
    assert.equal(result.statuses.get('01-one:c.b.test'), 'not-run');
    assert.deepEqual(
      entries.filter((e) => e.type === 'task.started').map((e) => (e as { host: string }).host),
      ['a.b.test'],
    );
  });

  // Same line: after Ctrl-C the queued tasks start with an already aborted signal (a real exec would
  // open SSH sessions and the journal records task.started for work begun after the interrupt).
  it('after an abort, tasks waiting for a free fork do not start (--forks 1)', async () => {
    const controller = new AbortController();
    const started: string[] = [];
    const registry = registryWith(started, async (host, signal) => {
      if (host === 'a.b.test') {
        setImmediate(() => controller.abort());
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        throw new Error('interrupted');
      }
      return { status: 'changed' };
    });
    const plan = planOf(registry);
    const { result, entries } = await runPlan(plan, registry, 1, context(controller.signal));
    assert.equal(result.state, 'interrupted');
    assert.deepEqual(started, ['a.b.test'], 'nothing starts after Ctrl-C');
    assert.deepEqual(
      entries.filter((e) => e.type === 'task.started').map((e) => (e as { host: string }).host),
      ['a.b.test'],
    );
  });
});

describe('engine regressions: journal', () => {
  // src/playbook/journal.ts, RunJournal.append(): a crash mid-write leaves a last line without its
  // newline; readEntries() rightly skips it, but the next append (the resumed run's `run.resumed`)
  // is written straight after the fragment, onto the same line, and is then lost as well.
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
    // Expected: t1 and t3; actual: only t1 (t3 shares the line with the fragment).
    assert.deepEqual(
      entries.map((e) => e.at),
      ['t1', 't3'],
    );
  });
});

describe('engine regressions: durations', () => {
  // parseDuration (src/playbook/params.ts) accepts any number of days, but the runners hand
  // seconds * 1000 to setTimeout: src/actions/pause.ts sleep() and the exec timeoutMs timer in src/transport/ssh.ts (exec
  // `timeout:`). Node clamps a delay above 2^31-1 ms (about 24.8 days) to 1 ms, so `seconds: 30d`
  // ends at once, and an exec `timeout: 30d` kills the command after 1 ms.
  it('durations longer than a Node timer can wait are refused up front', () => {
    assert.throws(() => parseDuration('30d', 'with.seconds'), /with\.seconds: '30d' is longer than the limit of 24d/);
    assert.equal(parseDuration('24d', 'with.seconds'), 24 * 86400);
  });
});

describe('engine regressions: parameters', () => {
  // src/playbook/load.ts parseParam(): `default:` with no value is read as null, which is `!== undefined`,
  // so resolveParams() coerces it: coerce(null, 'string') returns the text 'null' (params.ts, the
  // `case 'string'` branch only refuses non-null objects). `{{ note }}` renders "null" and `when: note` is true.
  it('an empty default: is no value, not the text "null"', () => {
    const registry = defaultRegistry();
    const playbook = parsePlaybook(
      [
        'name: empty-default',
        'params:',
        '  note:',
        '    type: string',
        '    default:',
        'steps:',
        '  - action: exec',
        '    hosts: all',
        '    when: note',
        '    with: {command: "logger {{ note }}"}',
        '',
      ].join('\n'),
      '/fixtures/empty-default.yaml',
      registry,
    );
    const params = resolveParams(playbook, [], INVENTORY);
    assert.notEqual(params.note, 'null');
    const plan = buildPlan({
      playbook,
      inventory: INVENTORY,
      registry,
      params,
      limit: undefined,
      facts: new Map(),
      createdAt: 'x',
    });
    assert.ok(!plan.tasks.some((t) => t.params.command === 'logger null'), 'no command gets the word null');
  });
});

describe('engine regressions: loader messages point at the key they name', () => {
  const fails = (text: string, line: number, key: string): void => {
    assert.throws(
      () => parsePlaybook(text, '/pb.yaml', defaultRegistry()),
      (err: unknown) => {
        assert.ok(err instanceof LocatedError);
        assert.equal(err.key, key, err.message);
        assert.equal(err.line, line, err.message);
        return true;
      },
    );
  };

  // src/playbook/load.ts parsePlaybook(): `fail(step.at.line, 'steps[N].name', …)` uses the line of
  // the step's first key, not the line of its `name:`.
  it('a duplicate step name is reported at the name: line', () => {
    fails(
      [
        'name: x',
        'steps:',
        '  - action: facts',
        '    name: same',
        '    hosts: all',
        '  - action: facts',
        '    name: same', // line 7
        '    hosts: all',
        '',
      ].join('\n'),
      7,
      'steps[1].name',
    );
  });

  // src/playbook/load.ts parseStep(): a missing required parameter is reported at `withNode.line`, the
  // line of the with mapping's first entry (here `creates:`, line 6), not the `with:` line (5).
  it('a missing required with parameter is reported at the with: line', () => {
    fails(
      'name: x\nsteps:\n  - action: exec\n    hosts: all\n    with:\n      creates: /tmp/x\n',
      5,
      'steps[0].with.command',
    );
  });

  // src/playbook/load.ts parseParam(): `checkKeys(map, PARAM_KEYS, fail)` is called without the
  // `where` argument, so the key is `color` instead of `params.keep.color` (steps pass `steps[N]`).
  it('an unknown key in a parameter names its full path', () => {
    fails(
      'name: x\nparams:\n  keep:\n    type: boolean\n    color: red\nsteps:\n  - {action: facts, hosts: all}\n',
      5,
      'params.keep.color',
    );
  });
});

describe('engine regressions: resume', () => {
  // src/playbook/planner.ts buildPlan() stores `inventory.file` as given on the command line (a
  // relative path), and src/playbook/run.ts resumeRun() loads `opened.plan.inventory.file` when no
  // -i is given. `ipa-fleet run --resume ID` from another directory then fails with
  // "inv.yml: cannot read the inventory: no such file" (exit 2).
  it('run --resume without -i works from another directory', async () => {
    const dir = join(tmp, 'resume');
    const elsewhere = join(tmp, 'elsewhere');
    mkdirSync(dir);
    mkdirSync(elsewhere);
    writeFileSync(join(dir, 'inv.yml'), INVENTORY_TEXT);
    writeFileSync(join(dir, 'wait.yaml'), 'name: wait\nsteps:\n  - {action: pause, hosts: all, with: {seconds: 0}}\n');
    const cli = (cwd: string, ...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BIN, '--log-file', join(tmp, 'resume-log', 'ipa-fleet.log'), ...args],
          {
            cwd,
            timeout: 20_000,
            env: { ...process.env, XDG_STATE_HOME: join(tmp, 'resume-state'), NO_COLOR: '1' },
          },
          (err, stdout, stderr) =>
            resolve({
              code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
              stdout: String(stdout),
              stderr: String(stderr),
            }),
        );
      });
    const first = await cli(dir, 'run', 'wait.yaml', '-i', 'inv.yml', '--yes');
    assert.equal(first.code, 0, first.stderr);
    const runId = /^run (\S+): succeeded/m.exec(first.stdout)?.[1];
    assert.ok(runId, first.stdout);
    const planFile = JSON.parse(
      readFileSync(join(tmp, 'resume-state', 'ipa-fleet', 'runs', runId, 'plan.json'), 'utf8'),
    ) as Plan;
    assert.ok(planFile.inventory.file.length > 0);
    const again = await cli(elsewhere, 'run', '--resume', runId);
    // Expected: exit 0 (every task already done); actual: exit 2, "inv.yml: cannot read the inventory: no such file".
    assert.equal(again.code, 0, again.stderr);
  });
});
