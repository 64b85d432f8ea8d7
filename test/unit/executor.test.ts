// The executor with fake in-memory actions: dependency order, --forks and step concurrency caps,
// stop on failure, recap, resume (already done), Ctrl-C, the event stream, the journal, and two runs
// in one process. No remote command runs: the Transport is created but never used.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActionDefinition, TaskOutcome } from '../../src/playbook/action.js';
import { ActionRegistry } from '../../src/playbook/registry.js';
import { createRunContext, type RunContext } from '../../src/context.js';
import { FleetError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import type { Inventory } from '../../src/inventory/model.js';
import { execute, type ExecuteResult } from '../../src/playbook/executor.js';
import { newRunId, RunJournal, type JournalEntry } from '../../src/playbook/journal.js';
import { parsePlaybook } from '../../src/playbook/load.js';
import type { Plan } from '../../src/playbook/model.js';
import { resolveParams } from '../../src/playbook/params.js';
import { buildPlan } from '../../src/playbook/planner.js';
import { EventStream, type FleetEvent } from '../../src/report/events.js';
import { Transport } from '../../src/transport/transport.js';

let tmp: string;
let counter = 0;
const contexts: RunContext[] = [];
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-executor-'));
});
after(() => {
  for (const ctx of contexts) ctx.log.close();
  rmSync(tmp, { recursive: true, force: true });
});

function inventoryFor(deployment: string, domain: string, hosts = ['a', 'b', 'c', 'd']): Inventory {
  return parseInventory(
    [
      'all:',
      '  vars:',
      `    deployment: ${deployment}`,
      '    ldap: {instance: T, password: env:T_DM}',
      '    suffixes: {domain: "dc=t"}',
      '  hosts:',
      ...hosts.map((h) => `    ${h}.${domain}: {}`),
      '',
    ].join('\n'),
    `/fixtures/${deployment}.yaml`,
    { homeDir: '/home/t', hasLocalKnownHosts: false },
  );
}

const INVENTORY = inventoryFor('xdep', 'x.test');
const A = 'a.x.test';
const B = 'b.x.test';
const C = 'c.x.test';
const D = 'd.x.test';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when the signal aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** What the fake actions saw: start/end order and how many ran at once (overall and per tag). */
class Recorder {
  readonly timeline: Array<{ kind: 'start' | 'end'; key: string }> = [];
  running = 0;
  max = 0;
  readonly runningByTag = new Map<string, number>();
  readonly maxByTag = new Map<string, number>();

  start(key: string, tag: string): void {
    this.timeline.push({ kind: 'start', key });
    this.running++;
    this.max = Math.max(this.max, this.running);
    const n = (this.runningByTag.get(tag) ?? 0) + 1;
    this.runningByTag.set(tag, n);
    this.maxByTag.set(tag, Math.max(this.maxByTag.get(tag) ?? 0, n));
  }

  end(key: string, tag: string): void {
    this.timeline.push({ kind: 'end', key });
    this.running--;
    this.runningByTag.set(tag, this.runningByTag.get(tag)! - 1);
  }

  at(kind: 'start' | 'end', key: string): number {
    return this.timeline.findIndex((e) => e.kind === kind && e.key === key);
  }

  started(): string[] {
    return this.timeline.filter((e) => e.kind === 'start').map((e) => e.key);
  }
}

type Behaviour = (tag: string, host: string, signal: AbortSignal) => Promise<TaskOutcome>;

/** A registry with one fake action, `fake` (with: {tag}), whose runs the recorder sees. */
function fakeRegistry(rec: Recorder, behave: Behaviour): ActionRegistry {
  const fake: ActionDefinition = {
    name: 'fake',
    description: 'in-memory test action',
    destructive: false,
    needsFacts: false,
    params: { tag: { type: 'string', required: true, description: 'names the task in the recorder' } },
    async run(ctx, params) {
      const tag = String(params.tag);
      const key = `${tag}@${ctx.host.name}`;
      rec.start(key, tag);
      try {
        return await behave(tag, ctx.host.name, ctx.signal);
      } finally {
        rec.end(key, tag);
      }
    },
  };
  return new ActionRegistry([fake], []);
}

function planFor(yaml: string, registry: ActionRegistry, inventory = INVENTORY): Plan {
  const playbook = parsePlaybook(yaml, '/fixtures/executor.yaml', registry);
  return buildPlan({
    playbook,
    inventory,
    registry,
    params: resolveParams(playbook, [], inventory),
    limit: undefined,
    facts: new Map(),
    createdAt: '2025-01-01T00:00:00.000Z',
  });
}

/** `tag@host` of a planned task, as the recorder names it. */
function keyOf(plan: Plan, id: string): string {
  const t = plan.tasks.find((x) => x.id === id)!;
  return `${String(t.params.tag)}@${t.host}`;
}

interface Outcome {
  result: ExecuteResult;
  events: FleetEvent[];
  entries: JournalEntry[];
  runId: string;
}

async function run(
  plan: Plan,
  registry: ActionRegistry,
  opts: {
    forks?: number;
    alreadyDone?: string[];
    signal?: AbortSignal;
    inventory?: Inventory;
    onEvent?: (e: FleetEvent) => void;
  } = {},
): Promise<Outcome> {
  const dir = join(tmp, `run-${++counter}`);
  mkdirSync(dir);
  const inventory = opts.inventory ?? INVENTORY;
  const ctx = createRunContext({
    logFile: join(dir, 'log', 'ipa-fleet.log'),
    verbosity: 0,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  contexts.push(ctx);
  const state = join(dir, 'state');
  const runId = newRunId(plan.playbook.name);
  const journal = await RunJournal.create(state, runId, plan);
  const events = new EventStream();
  const seen: FleetEvent[] = [];
  events.on((e) => seen.push(e));
  if (opts.onEvent) events.on(opts.onEvent);
  const transport = new Transport(inventory, ctx);
  try {
    const result = await execute({
      plan,
      registry,
      inventory,
      transport,
      run: ctx,
      events,
      journal,
      facts: new Map(),
      forks: opts.forks ?? 10,
      alreadyDone: new Set(opts.alreadyDone ?? []),
    });
    const { entries } = await RunJournal.open(state, runId);
    return { result, events: seen, entries, runId };
  } finally {
    await transport.close();
  }
}

const ok = (status: TaskOutcome['status'] = 'ok'): TaskOutcome => ({ status });

describe('executor: order and caps', () => {
  it('no task starts before every task it depends on has finished (steps and serial batches)', async () => {
    const rec = new Recorder();
    // Different durations per host, so a wrong order would show.
    const delay: Record<string, number> = { [A]: 30, [B]: 5, [C]: 15, [D]: 1 };
    const registry = fakeRegistry(rec, async (_tag, host) => {
      await sleep(delay[host]!);
      return ok();
    });
    const plan = planFor(
      `name: order
steps:
  - {name: one, action: fake, hosts: all, with: {tag: s1}}
  - {name: two, action: fake, hosts: all, serial: 2, with: {tag: s2}}
  - {name: three, action: fake, hosts: "${B}", with: {tag: s3}}
`,
      registry,
    );
    assert.equal(plan.tasks.length, 9);
    const { result } = await run(plan, registry);
    assert.equal(result.state, 'succeeded');
    assert.equal(rec.started().length, 9, 'every task ran once');
    assert.equal(new Set(rec.started()).size, 9);
    let checked = 0;
    for (const t of plan.tasks) {
      for (const dep of t.dependsOn) {
        assert.ok(
          rec.at('end', keyOf(plan, dep)) < rec.at('start', keyOf(plan, t.id)),
          `${dep} ended before ${t.id} started`,
        );
        checked++;
      }
    }
    assert.equal(
      checked,
      2 * 4 + 2 * 2 + 4,
      'dependencies checked: first batch on step one, second batch on the first, step three on step two',
    );
    // Within the first step nothing held the tasks back: all four were running together.
    assert.equal(rec.maxByTag.get('s1'), 4);
    assert.equal(rec.maxByTag.get('s2'), 2, 'serial: 2');
  });

  for (const forks of [1, 2, 3]) {
    it(`--forks ${forks} caps the tasks running at once, with more tasks ready`, async () => {
      const rec = new Recorder();
      const registry = fakeRegistry(rec, async () => {
        await sleep(15);
        return ok();
      });
      const plan = planFor(
        `name: forks
steps:
  - {name: wide, action: fake, hosts: all, with: {tag: w}}
`,
        registry,
      );
      const { result } = await run(plan, registry, { forks });
      assert.equal(result.state, 'succeeded');
      assert.equal(rec.started().length, 4);
      assert.equal(rec.max, forks);
    });
  }

  it("a step's concurrency caps its tasks while forks would allow more; a step without it is not capped", async () => {
    const rec = new Recorder();
    const registry = fakeRegistry(rec, async () => {
      await sleep(15);
      return ok();
    });
    const plan = planFor(
      `name: conc
steps:
  - {name: capped, action: fake, hosts: all, concurrency: 2, with: {tag: capped}}
  - {name: free, action: fake, hosts: all, with: {tag: free}}
  - {name: single, action: fake, hosts: all, concurrency: 1, with: {tag: single}}
`,
      registry,
    );
    const { result } = await run(plan, registry, { forks: 10 });
    assert.equal(result.state, 'succeeded');
    assert.equal(rec.maxByTag.get('capped'), 2);
    assert.equal(rec.maxByTag.get('free'), 4);
    assert.equal(rec.maxByTag.get('single'), 1);
    assert.equal(rec.started().length, 12);
  });
});

describe('executor: failures and recap', () => {
  it('a failure stops the run: running siblings finish, no task of the next step starts', async () => {
    const rec = new Recorder();
    const registry = fakeRegistry(rec, async (tag, host) => {
      if (tag === 's1' && host === B) {
        await sleep(2);
        throw new Error('boom');
      }
      await sleep(tag === 's1' ? 40 : 1);
      return ok('changed');
    });
    const plan = planFor(
      `name: stop
steps:
  - {name: first, action: fake, hosts: all, with: {tag: s1}}
  - {name: second, action: fake, hosts: all, with: {tag: s2}}
`,
      registry,
    );
    const { result, events, entries } = await run(plan, registry);
    assert.equal(result.state, 'failed');
    assert.deepEqual(rec.started().sort(), [`s1@${A}`, `s1@${B}`, `s1@${C}`, `s1@${D}`]);
    for (const sibling of [A, C, D]) {
      assert.ok(rec.at('end', `s1@${sibling}`) > rec.at('end', `s1@${B}`), `${sibling} finished after the failure`);
      assert.equal(result.statuses.get(`01-first:${sibling}`), 'changed');
    }
    assert.equal(result.statuses.get(`01-first:${B}`), 'failed');
    for (const h of [A, B, C, D]) assert.equal(result.statuses.get(`02-second:${h}`), 'not-run');
    assert.equal(result.failures.length, 1);
    assert.equal(result.failures[0]!.taskId, `01-first:${B}`);
    assert.equal(result.failures[0]!.host, B);
    assert.ok(result.failures[0]!.error instanceof FleetError);
    assert.equal(result.failures[0]!.error.message, `${B}: fake: boom`);
    assert.ok(!events.some((e) => e.type === 'task.started' && e.taskId.startsWith('02-')), 'no step 2 event');
    assert.ok(!entries.some((e) => e.type === 'task.started' && e.taskId.startsWith('02-')), 'no step 2 journal entry');
    const failed = entries.find((e) => e.type === 'task.finished' && e.taskId === `01-first:${B}`);
    assert.deepEqual(
      failed && { status: (failed as { status: string }).status, error: (failed as { error?: string }).error },
      { status: 'failed', error: `${B}: fake: boom` },
    );
    assert.deepEqual(entries.at(-1), {
      at: (entries.at(-1) as { at: string }).at,
      type: 'run.finished',
      state: 'failed',
    });
  });

  it('a FleetError from an action is kept as it is', async () => {
    const rec = new Recorder();
    const registry = fakeRegistry(rec, async () => {
      throw new FleetError('unreachable', `${A}: cannot reach ssh`, { host: A });
    });
    const plan = planFor(
      `name: typed
steps:
  - {name: only, action: fake, hosts: "${A}", with: {tag: t}}
`,
      registry,
    );
    const { result } = await run(plan, registry);
    assert.equal(result.state, 'failed');
    assert.equal(result.failures[0]!.error.kind, 'unreachable');
    assert.equal(result.failures[0]!.error.message, `${A}: cannot reach ssh`);
  });

  it('the recap counts ok, changed, failed and skipped per host', async () => {
    const rec = new Recorder();
    const outcomes: Record<string, TaskOutcome['status'] | 'fail'> = {
      [`s1@${A}`]: 'ok',
      [`s1@${B}`]: 'changed',
      [`s1@${C}`]: 'skipped',
      [`s1@${D}`]: 'ok',
      [`s2@${A}`]: 'changed',
      [`s2@${B}`]: 'ok',
      [`s2@${C}`]: 'fail',
      [`s2@${D}`]: 'ok',
    };
    const registry = fakeRegistry(rec, async (tag, host) => {
      await sleep(3);
      const o = outcomes[`${tag}@${host}`]!;
      if (o === 'fail') throw new Error('nope');
      return ok(o);
    });
    const plan = planFor(
      `name: recap
steps:
  - {name: one, action: fake, hosts: all, with: {tag: s1}}
  - {name: two, action: fake, hosts: all, with: {tag: s2}}
  - {name: three, action: fake, hosts: all, with: {tag: s3}}
`,
      registry,
    );
    const { result, entries } = await run(plan, registry);
    assert.equal(result.state, 'failed');
    assert.deepEqual(result.recap, {
      [A]: { ok: 1, changed: 1, failed: 0, skipped: 0 },
      [B]: { ok: 1, changed: 1, failed: 0, skipped: 0 },
      [C]: { ok: 0, changed: 0, failed: 1, skipped: 1 },
      [D]: { ok: 2, changed: 0, failed: 0, skipped: 0 },
    });
    // The journal says the same, task by task.
    const finished = Object.fromEntries(
      entries.filter((e) => e.type === 'task.finished').map((e) => [e.taskId, (e as { status: string }).status]),
    );
    assert.deepEqual(finished, {
      [`01-one:${A}`]: 'ok',
      [`01-one:${B}`]: 'changed',
      [`01-one:${C}`]: 'skipped',
      [`01-one:${D}`]: 'ok',
      [`02-two:${A}`]: 'changed',
      [`02-two:${B}`]: 'ok',
      [`02-two:${C}`]: 'failed',
      [`02-two:${D}`]: 'ok',
    });
    for (const h of [A, B, C, D]) assert.equal(result.statuses.get(`03-three:${h}`), 'not-run');
  });
});

describe('executor: resume and interruption', () => {
  it('tasks already done are not run again; they emit task.skipped-done and count as done for dependencies', async () => {
    const rec = new Recorder();
    const registry = fakeRegistry(rec, async () => {
      await sleep(1);
      return ok('changed');
    });
    const plan = planFor(
      `name: resume
steps:
  - {name: one, action: fake, hosts: "${A},${B}", with: {tag: s1}}
  - {name: two, action: fake, hosts: "${A},${B}", with: {tag: s2}}
`,
      registry,
    );
    const done = [`01-one:${A}`, `01-one:${B}`, `02-two:${A}`];
    const { result, events, entries } = await run(plan, registry, { alreadyDone: done });
    assert.equal(result.state, 'succeeded');
    assert.deepEqual(rec.started(), [`s2@${B}`]);
    for (const id of done) assert.equal(result.statuses.get(id), 'done-before');
    assert.equal(result.statuses.get(`02-two:${B}`), 'changed');
    const skipped = events.filter((e) => e.type === 'task.skipped-done');
    assert.deepEqual(
      skipped.map((e) => [e.taskId, e.host]),
      [
        [`01-one:${A}`, A],
        [`01-one:${B}`, B],
        [`02-two:${A}`, A],
      ],
    );
    const firstStarted = events.findIndex((e) => e.type === 'task.started');
    assert.ok(events.findIndex((e) => e.type === 'task.skipped-done') < firstStarted, 'reported before anything runs');
    assert.deepEqual(
      entries.filter((e) => e.type === 'task.started').map((e) => (e as { taskId: string }).taskId),
      [`02-two:${B}`],
    );
    assert.deepEqual(result.recap, {
      [A]: { ok: 0, changed: 0, failed: 0, skipped: 0 },
      [B]: { ok: 0, changed: 1, failed: 0, skipped: 0 },
    });
  });

  it('everything already done: nothing runs and the run succeeds', async () => {
    const rec = new Recorder();
    const registry = fakeRegistry(rec, async () => ok());
    const plan = planFor(
      `name: all-done
steps:
  - {name: one, action: fake, hosts: all, with: {tag: s1}}
`,
      registry,
    );
    const { result } = await run(plan, registry, { alreadyDone: plan.tasks.map((t) => t.id) });
    assert.equal(result.state, 'succeeded');
    assert.deepEqual(rec.started(), []);
  });

  it('an abort mid-run interrupts: the running task is journalled as interrupted, nothing new starts', async () => {
    const rec = new Recorder();
    const controller = new AbortController();
    const registry = fakeRegistry(rec, async (tag, host, signal) => {
      if (tag === 's1' && host === A) {
        await aborted(signal);
        throw new Error('cancelled by the signal');
      }
      await sleep(2);
      return ok();
    });
    const plan = planFor(
      `name: ctrl-c
steps:
  - {name: one, action: fake, hosts: "${A},${B}", with: {tag: s1}}
  - {name: two, action: fake, hosts: "${A},${B}", with: {tag: s2}}
`,
      registry,
    );
    const { result, events, entries } = await run(plan, registry, {
      signal: controller.signal,
      // Ctrl-C once B is done and A is still running.
      onEvent: (e) => {
        if (e.type === 'task.finished' && e.taskId === `01-one:${B}`) setImmediate(() => controller.abort());
      },
    });
    assert.equal(result.state, 'interrupted');
    assert.equal(result.statuses.get(`01-one:${A}`), 'interrupted');
    assert.equal(result.statuses.get(`01-one:${B}`), 'ok');
    assert.equal(result.statuses.get(`02-two:${A}`), 'not-run');
    assert.equal(result.statuses.get(`02-two:${B}`), 'not-run');
    assert.deepEqual(rec.started().sort(), [`s1@${A}`, `s1@${B}`]);
    const forA = entries.filter((e) => 'taskId' in e && e.taskId === `01-one:${A}`).map((e) => e.type);
    assert.deepEqual(forA, ['task.started', 'task.interrupted']);
    assert.ok(!entries.some((e) => e.type === 'task.started' && e.taskId.startsWith('02-')));
    assert.equal((entries.at(-1) as { state?: string }).state, 'interrupted');
    const finishedA = events.find((e) => e.type === 'task.finished' && e.taskId === `01-one:${A}`);
    assert.equal(finishedA?.type === 'task.finished' ? finishedA.error : undefined, 'interrupted');
    assert.deepEqual(
      result.recap[A],
      { ok: 0, changed: 0, failed: 0, skipped: 0 },
      'an interrupted task is not counted as failed',
    );
    assert.deepEqual(result.recap[B], { ok: 1, changed: 0, failed: 0, skipped: 0 });
    assert.deepEqual(
      result.failures.map((f) => f.taskId),
      [`01-one:${A}`],
    );
  });

  it('a run whose signal is already aborted starts nothing and is interrupted', async () => {
    const rec = new Recorder();
    const controller = new AbortController();
    controller.abort();
    const registry = fakeRegistry(rec, async () => ok());
    const plan = planFor(
      `name: pre-aborted
steps:
  - {name: one, action: fake, hosts: all, with: {tag: s1}}
`,
      registry,
    );
    const { result, entries } = await run(plan, registry, { signal: controller.signal });
    assert.equal(result.state, 'interrupted');
    assert.deepEqual(rec.started(), []);
    assert.deepEqual(
      entries.map((e) => e.type),
      ['run.finished'],
    );
  });
});

describe('executor: events and journal', () => {
  it('each task emits started then finished; a task starts only after its dependencies finished; the journal matches', async () => {
    const rec = new Recorder();
    const registry = fakeRegistry(rec, async (_tag, host) => {
      await sleep(host === A ? 10 : 2);
      return ok(host === C ? 'skipped' : 'changed');
    });
    const plan = planFor(
      `name: stream
steps:
  - {name: one, action: fake, hosts: all, with: {tag: s1}}
  - {name: two, action: fake, hosts: "${A},${C}", serial: 1, with: {tag: s2}}
`,
      registry,
    );
    const { result, events, entries } = await run(plan, registry, { forks: 3 });
    assert.equal(result.state, 'succeeded');
    const taskEvents = events.filter((e) => e.type === 'task.started' || e.type === 'task.finished') as Array<
      Extract<FleetEvent, { taskId: string }>
    >;
    assert.equal(taskEvents.length, plan.tasks.length * 2);
    for (const t of plan.tasks) {
      const started = events.findIndex((e) => e.type === 'task.started' && e.taskId === t.id);
      const finished = events.findIndex((e) => e.type === 'task.finished' && e.taskId === t.id);
      assert.ok(started >= 0 && finished > started, `${t.id}: started before finished`);
      assert.equal(events.filter((e) => e.type === 'task.started' && e.taskId === t.id).length, 1);
      const ev = events[started] as Extract<FleetEvent, { type: 'task.started' }>;
      assert.deepEqual([ev.host, ev.action, ev.title], [t.host, 'fake', t.stepName]);
      const fin = events[finished] as Extract<FleetEvent, { type: 'task.finished' }>;
      assert.equal(fin.status, t.host === C ? 'skipped' : 'changed');
      assert.equal(typeof fin.durationMs, 'number');
      assert.match(fin.at, /^\d{4}-\d\d-\d\dT/);
      for (const dep of t.dependsOn) {
        const depFinished = events.findIndex((e) => e.type === 'task.finished' && e.taskId === dep);
        assert.ok(depFinished < started, `${dep} finished before ${t.id} started`);
      }
    }
    // The journal: per task, started then finished with the status the run reported; run.finished last.
    assert.equal(entries.length, plan.tasks.length * 2 + 1);
    for (const t of plan.tasks) {
      const own = entries.filter((e) => 'taskId' in e && e.taskId === t.id);
      assert.deepEqual(
        own.map((e) => e.type),
        ['task.started', 'task.finished'],
        t.id,
      );
      assert.equal((own[1] as { status: string }).status, result.statuses.get(t.id));
      assert.equal((own[0] as { host: string }).host, t.host);
    }
    assert.deepEqual(entries.at(-1), {
      at: (entries.at(-1) as { at: string }).at,
      type: 'run.finished',
      state: 'succeeded',
    });
    // The journal order agrees with the event order.
    const journalOrder = entries
      .filter((e) => e.type === 'task.started' || e.type === 'task.finished')
      .map((e) => `${e.type}:${(e as { taskId: string }).taskId}`);
    assert.deepEqual(
      journalOrder,
      taskEvents.map((e) => `${e.type}:${e.taskId}`),
    );
  });

  it('messages are masked with the run redactor in events and journal', async () => {
    const rec = new Recorder();
    let ctxSeen: RunContext | undefined;
    const fake: ActionDefinition = {
      name: 'fake',
      description: 'masking',
      destructive: false,
      needsFacts: false,
      params: { tag: { type: 'string', required: true, description: 'tag' } },
      async run(ctx) {
        ctxSeen = ctx.run;
        ctx.run.redactor.add('s3cr3t-value');
        rec.start('m', 'm');
        rec.end('m', 'm');
        return { status: 'ok', message: 'password is s3cr3t-value' };
      },
    };
    const registry = new ActionRegistry([fake], []);
    const plan = planFor(
      `name: mask
steps:
  - {name: one, action: fake, hosts: "${A}", with: {tag: m}}
`,
      registry,
    );
    const { events, entries } = await run(plan, registry);
    assert.ok(ctxSeen);
    const fin = events.find((e) => e.type === 'task.finished') as Extract<FleetEvent, { type: 'task.finished' }>;
    assert.equal(fin.message, 'password is ********');
    const entry = entries.find((e) => e.type === 'task.finished') as { message?: string };
    assert.equal(entry.message, 'password is ********');
  });
});

describe('executor: two runs in one process', () => {
  it('run side by side on different plans, journals and contexts without touching each other', async () => {
    const shared: string[] = [];
    const recX = new Recorder();
    const recY = new Recorder();
    const invY = inventoryFor('ydep', 'y.test', ['p', 'q', 'r']);
    const regX = fakeRegistry(recX, async (tag, host) => {
      shared.push(`x:start:${tag}@${host}`);
      await sleep(8);
      shared.push(`x:end:${tag}@${host}`);
      if (tag === 'x2' && host === C) throw new Error('x fails');
      return ok('changed');
    });
    const regY = fakeRegistry(recY, async (tag, host) => {
      shared.push(`y:start:${tag}@${host}`);
      await sleep(5);
      shared.push(`y:end:${tag}@${host}`);
      return ok();
    });
    const planX = planFor(
      `name: run-x
steps:
  - {name: one, action: fake, hosts: all, with: {tag: x1}}
  - {name: two, action: fake, hosts: all, with: {tag: x2}}
  - {name: three, action: fake, hosts: all, with: {tag: x3}}
`,
      regX,
    );
    const planY = planFor(
      `name: run-y
steps:
  - {name: one, action: fake, hosts: all, with: {tag: y1}}
  - {name: two, action: fake, hosts: all, serial: 1, with: {tag: y2}}
  - {name: three, action: fake, hosts: all, with: {tag: y3}}
`,
      regY,
      invY,
    );
    const [x, y] = await Promise.all([run(planX, regX, { forks: 2 }), run(planY, regY, { forks: 5, inventory: invY })]);

    // They really overlapped: Y started before X finished.
    const lastXEnd = shared.map((s) => s.startsWith('x:end')).lastIndexOf(true);
    assert.ok(shared.findIndex((s) => s.startsWith('y:start')) < lastXEnd);
    assert.equal(x.result.state, 'failed', 'X fails on its own');
    assert.equal(y.result.state, 'succeeded', "X's failure does not stop Y");
    assert.notEqual(x.runId, y.runId);

    const idsX = new Set(planX.tasks.map((t) => t.id));
    const idsY = new Set(planY.tasks.map((t) => t.id));
    for (const e of x.entries)
      if ('taskId' in e) assert.ok(idsX.has(e.taskId), `X journal holds only X tasks: ${e.taskId}`);
    for (const e of y.entries)
      if ('taskId' in e) assert.ok(idsY.has(e.taskId), `Y journal holds only Y tasks: ${e.taskId}`);
    for (const e of x.events) if ('taskId' in e) assert.ok(idsX.has(e.taskId));
    for (const e of y.events) if ('taskId' in e) assert.ok(idsY.has(e.taskId));
    assert.equal(y.entries.filter((e) => e.type === 'task.finished').length, 9);

    assert.deepEqual(Object.keys(x.result.recap).sort(), [A, B, C, D]);
    assert.deepEqual(y.result.recap, {
      'p.y.test': { ok: 3, changed: 0, failed: 0, skipped: 0 },
      'q.y.test': { ok: 3, changed: 0, failed: 0, skipped: 0 },
      'r.y.test': { ok: 3, changed: 0, failed: 0, skipped: 0 },
    });
    assert.deepEqual(x.result.recap[C], { ok: 0, changed: 1, failed: 1, skipped: 0 });
    assert.equal(recX.max <= 2, true, 'X kept its own --forks 2');
    assert.equal(recX.max, 2);
    assert.equal(recY.maxByTag.get('y1'), 3, "Y was not held to X's forks");
    assert.equal(recY.maxByTag.get('y2'), 1, 'serial: 1 in Y');
    assert.deepEqual(
      recX.started().filter((k) => k.startsWith('x3')),
      [],
      'X stopped after its failure',
    );
  });
});

describe('executor: nothing queued starts after a failure or Ctrl-C', () => {
  // Three hosts, one step, --forks 1: two of the three tasks wait in the queue behind the first.
  const THREE = inventoryFor('bugs', 'b.test', ['a', 'b', 'c']);
  const ONE_STEP = 'name: bugs\nsteps:\n  - {name: one, action: fake, hosts: all, with: {tag: one}}\n';
  const startedHosts = (entries: JournalEntry[]): string[] =>
    entries.filter((e) => e.type === 'task.started').map((e) => (e as { host: string }).host);

  // schedule() once handed every ready task to p-queue at once and the queued closure never looked at
  // `stopping` or `run.signal` before runTask: with more ready tasks than --forks, tasks still waiting
  // in the queue started AFTER a failure, contrary to "On a failure no new task starts".
  it('after a failure, tasks waiting for a free fork do not start (--forks 1, three ready tasks)', async () => {
    const rec = new Recorder();
    const registry = fakeRegistry(rec, async (_tag, host) => {
      if (host === 'a.b.test') throw new Error('boom');
      return ok('changed');
    });
    const plan = planFor(ONE_STEP, registry, THREE);
    const { result, entries } = await run(plan, registry, { forks: 1, inventory: THREE });
    assert.equal(result.state, 'failed');
    assert.deepEqual(rec.started(), ['one@a.b.test']);
    assert.equal(result.statuses.get('01-one:b.b.test'), 'not-run');
    assert.equal(result.statuses.get('01-one:c.b.test'), 'not-run');
    assert.deepEqual(startedHosts(entries), ['a.b.test']);
  });

  // The same line: after Ctrl-C the queued tasks started with an already aborted signal (a real exec
  // would open SSH sessions, and the journal recorded task.started for work begun after the interrupt).
  it('after an abort, tasks waiting for a free fork do not start (--forks 1)', async () => {
    const controller = new AbortController();
    const rec = new Recorder();
    const registry = fakeRegistry(rec, async (_tag, host, signal) => {
      if (host === 'a.b.test') {
        setImmediate(() => controller.abort());
        await aborted(signal);
        throw new Error('interrupted');
      }
      return ok('changed');
    });
    const plan = planFor(ONE_STEP, registry, THREE);
    const { result, entries } = await run(plan, registry, { forks: 1, inventory: THREE, signal: controller.signal });
    assert.equal(result.state, 'interrupted');
    assert.deepEqual(rec.started(), ['one@a.b.test'], 'nothing starts after Ctrl-C');
    assert.deepEqual(startedHosts(entries), ['a.b.test']);
  });
});
