// Restore planning from facts gathered on a real lab (test/fixtures/audit/lab-chain-healthy.json:
// domain chain a-b-c, CA a-b): the BFS trees, what each step plans, and the refusals.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRegistry } from '../../src/actions/index.js';
import type { FleetError } from '../../src/errors.js';
import { parseInventory, type Inventory } from '../../src/inventory/index.js';
import { loadPlaybook } from '../../src/playbook/load.js';
import { resolveParams } from '../../src/playbook/params.js';
import { buildPlan } from '../../src/playbook/planner.js';
import { restoreLayout } from '../../src/restore/layout.js';
import type { HostFacts } from '../../src/topology/facts.js';
import { buildTopology } from '../../src/topology/graph.js';
import { describeTree, initTree } from '../../src/topology/trees.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LAB = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/audit/lab-chain-healthy.json'), 'utf8')) as {
  inventory: { hosts: Array<{ name: string; address: string; roles: string[] }> };
  facts: Record<string, HostFacts>;
};

function inventory(hosts = LAB.inventory.hosts): Inventory {
  return parseInventory(
    [
      'all:',
      '  vars:',
      '    deployment: ipa-lab',
      '    ldap: {instance: IPA-TEST, password: env:T_DM}',
      '    suffixes: {domain: "dc=ipa,dc=test", ca: "o=ipaca"}',
      '  hosts:',
      ...hosts.map((h) => `    ${h.name}: {address: ${h.address}, roles: [${h.roles.join(', ')}]}`),
      '',
    ].join('\n'),
    '/fixtures/restore.yaml',
    { homeDir: '/home/t', hasLocalKnownHosts: false },
  );
}

const facts = (): Map<string, HostFacts> => new Map(Object.entries(structuredClone(LAB.facts)));

async function plan(playbook: string, sets: string[], f = facts(), offline = new Map<string, string>()) {
  const registry = defaultRegistry();
  const pb = await loadPlaybook(join(ROOT, 'playbooks', `${playbook}.yaml`), registry);
  const inv = inventory();
  return buildPlan({
    playbook: pb,
    inventory: inv,
    registry,
    params: resolveParams(pb, sets, inv),
    limit: undefined,
    facts: f,
    offline,
    createdAt: '2026-11-26T00:00:00Z',
  });
}

describe('BFS trees', () => {
  it('chain a-b-c from a: b at level 1 from a, c at level 2 from b; CA a-b', () => {
    const topology = buildTopology(inventory(), facts());
    const order = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];
    const domain = initTree(topology.domain, 'a.ipa.test', new Set(), order);
    assert.deepEqual(describeTree(domain), ['L1: a.ipa.test → b.ipa.test', 'L2: b.ipa.test → c.ipa.test']);
    assert.deepEqual(domain.unreached, []);
    // The reverse agreements are not tree edges: they are re-enabled at unfence.
    assert.deepEqual(domain.otherEdges, [
      { from: 'b.ipa.test', to: 'a.ipa.test' },
      { from: 'c.ipa.test', to: 'b.ipa.test' },
    ]);
    assert.deepEqual(describeTree(initTree(topology.ca, 'a.ipa.test', new Set(), order)), [
      'L1: a.ipa.test → b.ipa.test',
    ]);
  });

  it('from the middle of the chain both ends are level 1', () => {
    const tree = initTree(buildTopology(inventory(), facts()).domain, 'b.ipa.test');
    assert.deepEqual(
      tree.hops.map((h) => [h.supplier, h.consumer, h.level]),
      [
        ['b.ipa.test', 'a.ipa.test', 1],
        ['b.ipa.test', 'c.ipa.test', 1],
      ],
    );
  });

  it('an offline middle host leaves the far end unreached', () => {
    const tree = initTree(buildTopology(inventory(), facts()).domain, 'a.ipa.test', new Set(['b.ipa.test']));
    assert.deepEqual(tree.unreached, ['c.ipa.test']);
  });
});

describe('restore layout', () => {
  it('a CA master restores both suffixes', () => {
    const layout = restoreLayout(inventory(), facts(), new Map(), 'a.ipa.test');
    assert.deepEqual(
      layout.suffixes.map((s) => [s.kind, s.backend, s.hosts]),
      [
        ['domain', 'userroot', ['a.ipa.test', 'b.ipa.test', 'c.ipa.test']],
        ['ca', 'ipaca', ['a.ipa.test', 'b.ipa.test']],
      ],
    );
  });

  it('a master without the CA replica is refused while the deployment has CA replicas', () => {
    assert.throws(
      () => restoreLayout(inventory(), facts(), new Map(), 'c.ipa.test'),
      (err: FleetError) => err.kind === 'usage' && /CA replicas .*restore onto a CA master/.test(err.message),
    );
  });

  it('an offline host that cuts the graph is refused', () => {
    const f = facts();
    f.delete('b.ipa.test');
    assert.throws(
      () => restoreLayout(inventory(), f, new Map([['b.ipa.test', 'b.ipa.test: connection refused']]), 'a.ipa.test'),
      (err: FleetError) => err.kind === 'usage' && /c\.ipa\.test cannot be reached from a\.ipa\.test/.test(err.message),
    );
  });
});

describe('restore-deployment plan', () => {
  it('ldif: export once per suffix on the master, imports on every replica in parallel, CA after domain on the same host', async () => {
    const p = await plan('restore-deployment', ['master=a.ipa.test', 'backup=20261126T000000Z-abcdef']);
    const ids = p.tasks.map((t) => t.id);
    assert.deepEqual(
      p.tasks.map((t) => t.stepName).filter((s, i, all) => all.indexOf(s) === i),
      ['preflight', 'fence', 'restore master', 'reinitialize', 'unfence', 'converge'],
    );
    assert.deepEqual(
      p.tasks.filter((t) => t.action === 'fence').map((t) => t.host),
      ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'],
    );
    const reinit = p.tasks.filter((t) => t.action === 'reinitialize');
    assert.deepEqual(
      reinit.map((t) => [
        t.id.replace(/^04-reinitialize:/, ''),
        t.host,
        t.dependsOn.map((d) => d.replace(/^04-reinitialize:/, '')),
      ]),
      [
        ['domain:export@a.ipa.test', 'a.ipa.test', ['03-restore-master:a.ipa.test']],
        ['domain:b.ipa.test', 'b.ipa.test', ['domain:export@a.ipa.test']],
        ['domain:c.ipa.test', 'c.ipa.test', ['domain:export@a.ipa.test']],
        ['domain:cleanup@a.ipa.test', 'a.ipa.test', ['domain:b.ipa.test', 'domain:c.ipa.test']],
        ['ca:export@a.ipa.test', 'a.ipa.test', ['03-restore-master:a.ipa.test']],
        ['ca:b.ipa.test', 'b.ipa.test', ['ca:export@a.ipa.test', 'domain:b.ipa.test']],
        ['ca:cleanup@a.ipa.test', 'a.ipa.test', ['ca:b.ipa.test']],
      ],
    );
    assert.equal(
      reinit[0]!.params.file,
      '/var/lib/dirsrv/slapd-IPA-TEST/ldif/ipa-fleet-init-20261126T000000Z-abcdef-userroot.ldif',
    );
    // unfence waits for every re-initialization (the whole step).
    const unfence = p.tasks.find((t) => t.action === 'unfence')!;
    assert.deepEqual(
      unfence.dependsOn,
      reinit.map((t) => t.id),
    );
    assert.ok(
      ids.every((id) => p.tasks.find((t) => t.id === id)!.destructive || !/fence|restore-master|reinit/.test(id)),
    );
  });

  it('online: breadth-first, each level from the previous one, run on the supplier', async () => {
    const p = await plan('restore-deployment', ['master=a.ipa.test', 'backup=x', 'init=online']);
    const reinit = p.tasks.filter((t) => t.action === 'reinitialize');
    assert.deepEqual(
      reinit.map((t) => [t.title, t.host, t.dependsOn]),
      [
        [
          'domain L1: a.ipa.test → b.ipa.test (total update through meTob.ipa.test)',
          'a.ipa.test',
          ['03-restore-master:a.ipa.test'],
        ],
        [
          'domain L2: b.ipa.test → c.ipa.test (total update through meToc.ipa.test)',
          'b.ipa.test',
          ['04-reinitialize:domain:b.ipa.test'],
        ],
        [
          'ca L1: a.ipa.test → b.ipa.test (total update through caTob.ipa.test)',
          'a.ipa.test',
          ['04-reinitialize:domain:b.ipa.test'],
        ],
      ],
    );
  });

  it('an offline host named in allow_offline is quarantined before any fence and gets no re-initialization', async () => {
    const f = facts();
    f.delete('c.ipa.test');
    const p = await plan(
      'restore-deployment',
      ['master=a.ipa.test', 'backup=x', 'allow_offline=c.ipa.test'],
      f,
      new Map([['c.ipa.test', 'c.ipa.test: connection refused']]),
    );
    const fence = p.tasks.filter((t) => t.action === 'fence');
    assert.deepEqual(
      fence.map((t) => t.id.replace(/^02-fence:/, '')),
      ['quarantine:c.ipa.test', 'a.ipa.test', 'b.ipa.test'],
    );
    assert.deepEqual(fence[1]!.dependsOn, ['02-fence:quarantine:c.ipa.test']);
    assert.ok(
      !p.tasks.some(
        (t) => t.action === 'reinitialize' && (t.host === 'c.ipa.test' || t.params.consumer === 'c.ipa.test'),
      ),
    );
  });

  it('rejoin: fences only the target, re-initializes it alone from its BFS parent, then releases it', async () => {
    const p = await plan('rejoin', ['target=c.ipa.test', 'master=a.ipa.test']);
    assert.deepEqual(
      p.tasks.map((t) => [t.action, t.host, t.params.op ?? '']),
      [
        ['fence', 'c.ipa.test', ''],
        ['reinitialize', 'b.ipa.test', 'online'],
        ['unfence', 'a.ipa.test', ''],
        ['converge', 'a.ipa.test', ''],
        ['release', 'c.ipa.test', ''],
      ],
    );
    assert.equal(p.tasks[1]!.dependsOn[0], '01-fence-the-host:c.ipa.test');
  });
});
