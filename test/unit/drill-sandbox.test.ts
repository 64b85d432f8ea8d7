// A drill's sandbox plan: the lab spec of a deployment from its snapshots' manifests (topology recorded),
// or from the inventory for snapshots older than the record; and what the sandbox needs on the controller.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Manifest, SnapshotTopology } from '../../src/backup/manifest.js';
import { parseInventory } from '../../src/inventory/load.js';
import type { Inventory } from '../../src/inventory/model.js';
import { sandboxNeeds, sandboxPlan } from '../../src/lab/sandbox.js';

const DOMAIN = 'dc=example,dc=com';
const CA = 'o=ipaca';
const MiB = 1024 * 1024;

function inventoryOf(hosts: Array<{ name: string; roles: string[] }>): Inventory {
  return parseInventory(
    [
      'all:',
      '  vars:',
      '    deployment: prod',
      '    ldap: {instance: EXAMPLE-COM, password: env:T_DM}',
      `    suffixes: {domain: "${DOMAIN}", ca: "${CA}"}`,
      '  hosts:',
      ...hosts.map((h, i) => `    ${h.name}: {address: 192.0.2.${i + 1}, roles: [${h.roles.join(', ')}]}`),
      '',
    ].join('\n'),
    '/fixtures/prod.yaml',
    { homeDir: '/home/t', hasLocalKnownHosts: false },
  );
}

type Edge = [string, string];

/** A host's snapshot manifest; with `peers` it records its topology (agreements per suffix). */
function manifest(fqdn: string, o: { rid: number; caRid?: number; peers?: { domain: string[]; ca: string[] } }) {
  const suffixes = [
    { kind: 'domain' as const, suffix: DOMAIN, backend: 'userRoot', rid: o.rid },
    ...(o.caRid ? [{ kind: 'ca' as const, suffix: CA, backend: 'ipaca', rid: o.caRid }] : []),
  ];
  const topology: SnapshotTopology | undefined = o.peers && {
    fqdn,
    instance: 'EXAMPLE-COM',
    port: 389,
    roles: o.caRid ? ['ca'] : [],
    backends: [
      { name: 'userRoot', suffix: DOMAIN },
      { name: 'ipaca', suffix: CA },
    ],
    suffixes: suffixes.map((s) => ({
      ...s,
      agreements: o.peers![s.kind].map((host) => ({ host, port: 389, enabled: true })),
    })),
  };
  const m = {
    id: '20261126T101500Z-1a2b3c',
    fqdn,
    instance: 'EXAMPLE-COM',
    roles: o.caRid ? ['ca'] : [],
    suffixes: suffixes.map((s) => ({ ...s, entryCount: 10, generation: 'g', ruv: [], ldif: `ldif/${s.backend}.ldif` })),
    files: suffixes.map((s) => ({ path: `ldif/${s.backend}.ldif`, size: 10 * MiB, sha256: 'a'.repeat(64) })),
    ...(topology ? { topology } : {}),
  };
  return m as unknown as Manifest;
}

const undirected = (edges: Edge[]): string[] => edges.map((e) => [...e].sort().join('-')).sort();

describe('sandboxPlan', () => {
  const hosts = [
    { name: 'ipa1', roles: ['ca'] },
    { name: 'ipa2', roles: ['ca'] },
    { name: 'ipa3', roles: [] },
  ];

  it('copies the recorded shape: FQDNs, names, replica IDs, CA hosts and agreements per suffix', () => {
    const manifests = new Map([
      ['ipa1', manifest(f(1), { rid: 4, caRid: 94, peers: { domain: [f(2), f(3)], ca: [f(2)] } })],
      ['ipa2', manifest(f(2), { rid: 5, caRid: 95, peers: { domain: [f(1), f(3)], ca: [f(1)] } })],
      ['ipa3', manifest(f(3), { rid: 6, peers: { domain: [f(1), f(2)], ca: [] } })],
    ]);
    const plan = sandboxPlan(inventoryOf(hosts), manifests.get('ipa1')!, manifests, '127.0.200');
    assert.equal(plan.topologySource, 'snapshot');
    assert.deepEqual(plan.notes, []);
    const { spec } = plan;
    assert.equal(spec.instance, 'EXAMPLE-COM');
    assert.equal(spec.deployment, 'prod');
    assert.equal(spec.data, 'none');
    assert.deepEqual(spec.suffixes, { domain: DOMAIN, ca: CA });
    assert.deepEqual(
      spec.hosts.map((h) => [h.name, h.fqdn, h.address, h.ca, h.rids]),
      [
        ['ipa1', f(1), '127.0.200.1', true, { domain: 4, ca: 94 }],
        ['ipa2', f(2), '127.0.200.2', true, { domain: 5, ca: 95 }],
        ['ipa3', f(3), '127.0.200.3', false, { domain: 6 }],
      ],
    );
    assert.deepEqual(undirected(spec.domainEdges), [`${f(1)}-${f(2)}`, `${f(1)}-${f(3)}`, `${f(2)}-${f(3)}`]);
    assert.deepEqual(undirected(spec.caEdges), [`${f(1)}-${f(2)}`]);
    assert.deepEqual(
      spec.hosts[2]!.backends.map((b) => b.name),
      ['userRoot', 'ipaca'],
    );
  });

  it('without a recorded topology: the inventory, a chain, CA hosts by role, and it says so', () => {
    const manifests = new Map([['ipa2', manifest(f(2), { rid: 5, caRid: 95 })]]);
    const plan = sandboxPlan(inventoryOf(hosts), manifests.get('ipa2')!, manifests, '127.0.201');
    assert.equal(plan.topologySource, 'inventory');
    assert.match(plan.notes.join('\n'), /no recorded topology for ipa1, ipa2, ipa3/);
    const { spec } = plan;
    assert.deepEqual(
      spec.hosts.map((h) => [h.fqdn, h.ca]),
      [
        ['ipa1', true],
        [f(2), true],
        ['ipa3', false],
      ],
    );
    // The snapshot's replica IDs are kept; the others get free ones.
    assert.deepEqual(
      spec.hosts.map((h) => h.rids),
      [{ domain: 1, ca: 1001 }, { domain: 5, ca: 95 }, { domain: 3 }],
    );
    assert.deepEqual(undirected(spec.domainEdges), [`ipa1-${f(2)}`, `${f(2)}-ipa3`]);
    assert.deepEqual(undirected(spec.caEdges), [`ipa1-${f(2)}`]);
  });

  it('names what it cannot copy: an agreement leading outside the inventory', () => {
    const manifests = new Map([
      ['ipa1', manifest(f(1), { rid: 4, peers: { domain: [f(2), 'old.example.com'], ca: [] } })],
      ['ipa2', manifest(f(2), { rid: 5, peers: { domain: [f(1)], ca: [] } })],
    ]);
    const plan = sandboxPlan(inventoryOf(hosts.slice(0, 2)), manifests.get('ipa1')!, manifests, '127.0.202');
    assert.match(plan.notes.join('\n'), /domain agreement to old\.example\.com leads outside the inventory/);
    assert.deepEqual(undirected(plan.spec.domainEdges), [`${f(1)}-${f(2)}`]);
  });
});

describe('sandboxPlan: a hub', () => {
  it('becomes a supplier with a free replica ID, and a note says so', () => {
    const manifests = new Map([
      ['ipa1', manifest(f(1), { rid: 4, peers: { domain: [f(2)], ca: [] } })],
      ['ipa2', manifest(f(2), { rid: 65535, peers: { domain: [f(1)], ca: [] } })],
    ]);
    const inventory = inventoryOf([
      { name: 'ipa1', roles: [] },
      { name: 'ipa2', roles: [] },
    ]);
    const plan = sandboxPlan(inventory, manifests.get('ipa1')!, manifests, '127.0.203');
    assert.deepEqual(
      plan.spec.hosts.map((h) => h.rids),
      [{ domain: 4 }, { domain: 2 }],
    );
    assert.match(plan.notes.join('\n'), /ipa2: hub or consumer, built as a supplier/);
  });
});

describe('sandboxNeeds', () => {
  it('grows with the hosts and the master LDIF size', () => {
    const m = manifest(f(1), { rid: 1, caRid: 2 });
    const one = sandboxNeeds(m, 1);
    assert.deepEqual(one, { diskBytes: 160 * MiB + 4 * 20 * MiB, memoryBytes: 200 * MiB + 20 * MiB });
    assert.deepEqual(sandboxNeeds(m, 3), { diskBytes: 3 * one.diskBytes, memoryBytes: 3 * one.memoryBytes });
  });
});

function f(n: number): string {
  return `ipa${n}.example.com`;
}
