// Planner fixtures (in the manner of pyinfra's operation fixtures): each JSON file in
// test/fixtures/planner holds an inventory, a playbook, --set values, a --limit and facts, and
// either the tasks and left-out steps the plan must contain, or the usage error it must raise.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execAction } from '../../src/actions/exec.js';
import { factsAction } from '../../src/actions/facts.js';
import { pauseAction } from '../../src/actions/pause.js';
import { ActionRegistry } from '../../src/playbook/registry.js';
import { peersOf, withRole } from '../../src/actions/selectors.js';
import type { ActionDefinition } from '../../src/playbook/action.js';
import { FleetError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { parsePlaybook } from '../../src/playbook/load.js';
import type { Plan } from '../../src/playbook/model.js';
import type { JsonValue } from '../../src/json.js';
import { resolveParams } from '../../src/playbook/params.js';
import { buildPlan } from '../../src/playbook/planner.js';
import type { HostFacts } from '../../src/topology/facts.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIR = join(ROOT, 'test/fixtures/planner');
const CREATED_AT = '2025-01-02T03:04:05.000Z';

interface ExpectedTask {
  id: string;
  host: string;
  action: string;
  title: string;
  params: Record<string, JsonValue>;
  dependsOn: string[];
  destructive: boolean;
  concurrency: number | null;
}

interface Fixture {
  description: string;
  inventory: string;
  playbook: string;
  sets: string[];
  limit: string | null;
  facts: Record<string, HostFacts>;
  expected?: {
    tasks: ExpectedTask[];
    skippedSteps: Plan['skippedSteps'];
    destructive?: boolean;
    params?: Record<string, JsonValue>;
  };
  error?: string;
}

/** Test-only actions next to the real ones: one per parameter type, and a destructive one. */
const noteAction: ActionDefinition = {
  name: 'note',
  description: 'test action: records typed parameters',
  destructive: false,
  needsFacts: false,
  params: {
    count: { type: 'number', description: 'a number' },
    flag: { type: 'boolean', description: 'a boolean' },
    items: { type: 'list', description: 'a list' },
    wait: { type: 'duration', description: 'seconds' },
    text: { type: 'string', description: 'text' },
    data: { type: 'object', description: 'a mapping' },
  },
  async run() {
    return { status: 'ok' };
  },
};

const wipeAction: ActionDefinition = {
  name: 'wipe',
  description: 'test action: destructive',
  destructive: true,
  needsFacts: false,
  params: {},
  async run() {
    return { status: 'changed' };
  },
};

export function fixtureRegistry(): ActionRegistry {
  return new ActionRegistry([execAction, factsAction, pauseAction, noteAction, wipeAction], [peersOf, withRole]);
}

function planOf(fx: Fixture): Plan {
  const registry = fixtureRegistry();
  const inventory = parseInventory(fx.inventory, '/fixtures/inv.yaml', {
    homeDir: '/home/t',
    hasLocalKnownHosts: false,
  });
  const playbook = parsePlaybook(fx.playbook, '/fixtures/playbook.yaml', registry);
  const params = resolveParams(playbook, fx.sets, inventory);
  return buildPlan({
    playbook,
    inventory,
    registry,
    params,
    limit: fx.limit ?? undefined,
    facts: new Map(Object.entries(fx.facts ?? {})),
    createdAt: CREATED_AT,
  });
}

function shape(plan: Plan): ExpectedTask[] {
  return plan.tasks.map((t) => ({
    id: t.id,
    host: t.host,
    action: t.action,
    title: t.title,
    params: t.params,
    dependsOn: t.dependsOn,
    destructive: t.destructive,
    concurrency: t.concurrency ?? null,
  }));
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('planner fixtures', () => {
  it('the fixture folder holds enough fixtures, each with an expectation', () => {
    const planned = files.filter((f) => (JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture).expected);
    assert.ok(planned.length >= 12, `${planned.length} plan fixtures`);
    for (const f of files) {
      const fx = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture;
      assert.ok((fx.expected === undefined) !== (fx.error === undefined), `${f}: exactly one of expected / error`);
      assert.ok(fx.description, `${f}: has a description`);
      if (fx.expected)
        assert.ok(fx.expected.tasks.length > 0 || fx.expected.skippedSteps.length > 0, `${f}: expects something`);
    }
  });

  for (const file of files) {
    const fx = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Fixture;
    it(`${file}: ${fx.description}`, () => {
      if (fx.error !== undefined) {
        assert.throws(
          () => planOf(fx),
          (err: unknown) => {
            assert.ok(err instanceof FleetError, `a FleetError, got ${String(err)}`);
            assert.equal(err.kind, 'usage', err.message);
            assert.match(err.message, new RegExp(fx.error!));
            return true;
          },
        );
        return;
      }
      const plan = planOf(fx);
      assert.deepEqual(shape(plan), fx.expected!.tasks);
      assert.deepEqual(plan.skippedSteps, fx.expected!.skippedSteps);
      assert.equal(
        plan.destructive,
        fx.expected!.tasks.some((t) => t.destructive),
        'plan.destructive follows its tasks',
      );
      if (fx.expected!.destructive !== undefined) assert.equal(plan.destructive, fx.expected!.destructive);
      if (fx.expected!.params !== undefined) assert.deepEqual(plan.params, fx.expected!.params);
      assert.equal(plan.createdAt, CREATED_AT);
      assert.equal(plan.limit, fx.limit ?? undefined);
      assert.equal(plan.version, 1);
      // Every dependency names a task of the plan that comes before it.
      const seen = new Set<string>();
      for (const t of plan.tasks) {
        for (const d of t.dependsOn) assert.ok(seen.has(d), `${t.id} depends on ${d}, planned earlier`);
        seen.add(t.id);
      }
      // Pure: the same input gives the same plan.
      assert.deepEqual(planOf(fx), plan);
    });
  }
});

describe('planner: plan-level fields', () => {
  const fx = JSON.parse(readFileSync(join(DIR, '01-step-barrier.json'), 'utf8')) as Fixture;

  it('names the playbook and inventory, and needs no facts for exec/facts/pause', () => {
    const plan = planOf(fx);
    assert.equal(plan.playbook.name, 'barrier');
    assert.equal(plan.playbook.file, '/fixtures/playbook.yaml');
    assert.match(plan.playbook.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(plan.inventory, { file: '/fixtures/inv.yaml', deployment: 'fx' });
    assert.equal(plan.needsFacts, false);
  });

  it('is a JSON value: a JSON round trip keeps every task (undefined fields aside)', () => {
    const plan = planOf(fx);
    const round = JSON.parse(JSON.stringify(plan)) as Plan;
    assert.deepEqual(
      round.tasks.map((t) => ({ ...t, concurrency: t.concurrency ?? undefined })),
      plan.tasks,
    );
    assert.deepEqual(round.skippedSteps, plan.skippedSteps);
  });

  it('a selector that needs facts makes the plan need facts and receives them', () => {
    const seen: Array<ReadonlyMap<string, HostFacts>> = [];
    const registry = new ActionRegistry(
      [execAction],
      [
        {
          name: 'by_fact',
          description: 'test selector',
          needsFacts: true,
          select(inventory, argument, facts) {
            seen.push(facts);
            return inventory.hosts.filter(
              (h) => (facts.get(h.name) as unknown as { tag?: string } | undefined)?.tag === argument,
            );
          },
        },
      ],
    );
    const inventory = parseInventory(fx.inventory, '/fixtures/inv.yaml', {
      homeDir: '/home/t',
      hasLocalKnownHosts: false,
    });
    const playbook = parsePlaybook(
      'name: f\nsteps:\n  - action: exec\n    hosts: {by_fact: blue}\n    with: {command: x}\n',
      '/fixtures/f.yaml',
      registry,
    );
    const facts = new Map([
      ['ipa2.fx.test', { tag: 'blue' } as unknown as HostFacts],
      ['ipa4.fx.test', { tag: 'red' } as unknown as HostFacts],
    ]);
    const plan = buildPlan({
      playbook,
      inventory,
      registry,
      params: {},
      limit: undefined,
      facts,
      createdAt: CREATED_AT,
    });
    assert.equal(plan.needsFacts, true);
    assert.deepEqual(
      plan.tasks.map((t) => t.host),
      ['ipa2.fx.test'],
    );
    assert.equal(seen[0], facts);
  });

  it("an action's own planner adds in-step dependencies; tasks without them keep the step barrier", () => {
    const chain: ActionDefinition = {
      name: 'chain',
      description: 'test: second host after the first',
      destructive: false,
      needsFacts: false,
      params: {},
      plan: ({ hosts }) =>
        hosts.map((h, i) => ({
          key: `k${i}`,
          host: h.name,
          title: `link ${i}`,
          params: {},
          ...(i > 0 ? { after: [`k${i - 1}`] } : {}),
        })),
      async run() {
        return { status: 'ok' };
      },
    };
    const registry = new ActionRegistry([execAction, chain], []);
    const inventory = parseInventory(fx.inventory, '/fixtures/inv.yaml', {
      homeDir: '/home/t',
      hasLocalKnownHosts: false,
    });
    const playbook = parsePlaybook(
      'name: c\nsteps:\n  - action: exec\n    hosts: ipa1.fx.test\n    with: {command: x}\n  - action: chain\n    hosts: dc2\n',
      '/fixtures/c.yaml',
      registry,
    );
    const plan = buildPlan({
      playbook,
      inventory,
      registry,
      params: {},
      limit: undefined,
      facts: new Map(),
      createdAt: CREATED_AT,
    });
    assert.deepEqual(
      plan.tasks.map((t) => [t.id, t.host, t.title, t.dependsOn]),
      [
        ['01-exec:ipa1.fx.test', 'ipa1.fx.test', 'exec', []],
        ['02-chain:k0', 'ipa4.fx.test', 'link 0', ['01-exec:ipa1.fx.test']],
        ['02-chain:k1', 'ipa5.fx.test', 'link 1', ['02-chain:k0']],
      ],
    );
  });
});
