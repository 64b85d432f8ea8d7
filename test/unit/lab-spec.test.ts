import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { LAB_DEFAULTS, initOrder, labSpec, topologyEdges, type LabOptions } from '../../src/lab/spec.js';

const letters = (n: number): string[] => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + i));

function opts(over: Partial<LabOptions> = {}): LabOptions {
  return { ...LAB_DEFAULTS, ...over };
}

/** Asserts a UsageError (kind usage) whose message starts with the option name and matches `problem`. */
function usageError(fn: () => unknown, option: string, problem: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError, got ${String(caught)}`);
  assert.equal(caught.kind, 'usage');
  assert.ok(caught.message.startsWith(`${option}:`), `message should name ${option}: ${caught.message}`);
  assert.match(caught.message, problem);
}

/** Undirected edge set as sorted "x-y" keys. */
function keys(edges: Array<[string, string]>): string[] {
  return edges.map(([x, y]) => [x, y].sort().join('-')).sort();
}

describe('labSpec', () => {
  it('defaults: 3 hosts in a chain, a and b serve the CA suffix', () => {
    const spec = labSpec(LAB_DEFAULTS);
    const backends = [
      { name: 'userroot', suffix: 'dc=ipa,dc=test' },
      { name: 'ipaca', suffix: 'o=ipaca' },
    ];
    assert.deepEqual(spec.hosts, [
      {
        short: 'a',
        fqdn: 'a.ipa.test',
        address: '127.0.10.1',
        index: 1,
        ca: true,
        backends,
        rids: { domain: 1, ca: 1001 },
        roles: ['ca'],
      },
      {
        short: 'b',
        fqdn: 'b.ipa.test',
        address: '127.0.10.2',
        index: 2,
        ca: true,
        backends,
        rids: { domain: 2, ca: 1002 },
        roles: ['ca'],
      },
      {
        short: 'c',
        fqdn: 'c.ipa.test',
        address: '127.0.10.3',
        index: 3,
        ca: false,
        backends,
        rids: { domain: 3 },
        roles: [],
      },
    ]);
    assert.equal(spec.instance, 'IPA-TEST');
    assert.equal(spec.deployment, 'ipa-lab');
    assert.deepEqual(spec.suffixes, { domain: 'dc=ipa,dc=test', ca: 'o=ipaca' });
    assert.deepEqual(spec.domainEdges, [
      ['a.ipa.test', 'b.ipa.test'],
      ['b.ipa.test', 'c.ipa.test'],
    ]);
    assert.deepEqual(spec.caEdges, [['a.ipa.test', 'b.ipa.test']]);
    assert.equal(spec.entries, 200);
  });

  it('10 hosts: names a..j, addresses .1 to .10, replica IDs 1..10', () => {
    const spec = labSpec(opts({ hosts: 10, topology: 'mesh', ca: 'c, j', caTopology: undefined, entries: 0 }));
    assert.equal(spec.hosts.length, 10);
    assert.deepEqual(
      spec.hosts.map((h) => h.fqdn),
      letters(10).map((l) => `${l}.ipa.test`),
    );
    assert.deepEqual(
      spec.hosts.map((h) => h.address),
      letters(10).map((_, i) => `127.0.10.${i + 1}`),
    );
    assert.deepEqual(
      spec.hosts.map((h) => h.index),
      letters(10).map((_, i) => i + 1),
    );
    assert.deepEqual(
      spec.hosts.filter((h) => h.ca).map((h) => h.short),
      ['c', 'j'],
    );
    assert.equal(spec.domainEdges.length, 45);
    assert.deepEqual(spec.caEdges, [['c.ipa.test', 'j.ipa.test']]);
    assert.equal(spec.entries, 0);
  });

  it('26 hosts is the maximum and ends with z', () => {
    const spec = labSpec(opts({ hosts: 26, ca: 'none' }));
    assert.equal(spec.hosts[25]!.fqdn, 'z.ipa.test');
    assert.equal(spec.hosts[25]!.address, '127.0.10.26');
    assert.deepEqual(spec.caEdges, []);
    assert.ok(spec.hosts.every((h) => !h.ca));
  });

  it('--ca none or empty: no CA hosts, no CA edges', () => {
    for (const ca of ['none', '', '  ']) {
      const spec = labSpec(opts({ ca }));
      assert.deepEqual(spec.caEdges, [], `ca=${JSON.stringify(ca)}`);
      assert.ok(spec.hosts.every((h) => !h.ca));
    }
  });

  it('--ca-topology applies among the CA hosts only', () => {
    const spec = labSpec(opts({ hosts: 4, ca: 'a,b,d', caTopology: 'star' }));
    assert.deepEqual(spec.caEdges, [
      ['a.ipa.test', 'b.ipa.test'],
      ['a.ipa.test', 'd.ipa.test'],
    ]);
    usageError(() => labSpec(opts({ hosts: 4, ca: 'a,b', caTopology: 'a-c' })), '--ca-topology', /'c'/);
  });

  it('refuses --hosts 0, 27, 1.5 and NaN', () => {
    for (const hosts of [0, 27, 1.5, -1, Number.NaN]) {
      usageError(() => labSpec(opts({ hosts })), '--hosts', /1 to 26/);
    }
  });

  it('refuses --ca naming a host that is not in the lab', () => {
    usageError(() => labSpec(opts({ hosts: 2, ca: 'a,c' })), '--ca', /'c' is not a lab host.*a, b/);
    usageError(() => labSpec(opts({ ca: 'A' })), '--ca', /'A'/);
  });

  it('refuses --entries out of range', () => {
    for (const entries of [-1, 1_000_001, 2.5])
      usageError(() => labSpec(opts({ entries })), '--entries', /0 to 1000000/);
    assert.equal(labSpec(opts({ entries: 1_000_000 })).entries, 1_000_000);
  });

  it('--init: online by default (nothing recorded), ldif recorded, anything else refused', () => {
    assert.equal(labSpec(opts({})).init, undefined);
    assert.equal(labSpec(opts({ init: 'ldif' })).init, 'ldif');
    usageError(() => labSpec(opts({ init: 'dump' })), '--init', /online, ldif, got 'dump'/);
  });

  it('refuses a bad --topology with the option name', () => {
    usageError(() => labSpec(opts({ topology: 'tree' })), '--topology', /'tree' is not an edge/);
  });
});

describe('topologyEdges', () => {
  const expected: Record<string, (n: number) => number> = {
    chain: (n) => Math.max(n - 1, 0),
    star: (n) => Math.max(n - 1, 0),
    ring: (n) => (n <= 1 ? 0 : n === 2 ? 1 : n),
    mesh: (n) => (n * (n - 1)) / 2,
  };

  for (const [shape, count] of Object.entries(expected)) {
    it(`${shape}: edge counts for 1..5 hosts, no duplicates, no self-loops`, () => {
      for (let n = 1; n <= 5; n++) {
        const edges = topologyEdges(shape, letters(n), '--topology');
        assert.equal(edges.length, count(n), `${shape} of ${n}: ${JSON.stringify(edges)}`);
        assert.equal(new Set(keys(edges)).size, edges.length, 'no duplicate edges');
        assert.ok(
          edges.every(([x, y]) => x !== y),
          'no self-loops',
        );
        assert.ok(edges.every(([x, y]) => letters(n).includes(x) && letters(n).includes(y)));
      }
    });
  }

  it('chain, star, ring and mesh of 4: the exact edges', () => {
    const m = letters(4);
    assert.deepEqual(topologyEdges('chain', m, 'x'), [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
    ]);
    assert.deepEqual(topologyEdges('star', m, 'x'), [
      ['a', 'b'],
      ['a', 'c'],
      ['a', 'd'],
    ]);
    assert.deepEqual(topologyEdges('ring', m, 'x'), [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
      ['d', 'a'],
    ]);
    assert.deepEqual(keys(topologyEdges('mesh', m, 'x')), ['a-b', 'a-c', 'a-d', 'b-c', 'b-d', 'c-d']);
  });

  it('ring of 2 is a single edge, not a-b twice', () => {
    assert.deepEqual(topologyEdges('ring', ['a', 'b'], '--topology'), [['a', 'b']]);
  });

  it('custom "a-b,b-c" gives exactly those edges', () => {
    assert.deepEqual(topologyEdges('a-b,b-c', letters(3), '--topology'), [
      ['a', 'b'],
      ['b', 'c'],
    ]);
    assert.deepEqual(topologyEdges(' a-c , c-b ', letters(3), '--topology'), [
      ['a', 'c'],
      ['c', 'b'],
    ]);
  });

  it('custom duplicates (either direction) are collapsed', () => {
    assert.deepEqual(topologyEdges('a-b,b-a,a-b,b-c,c-b', letters(3), '--topology'), [
      ['a', 'b'],
      ['b', 'c'],
    ]);
  });

  it('refuses a self-loop', () => {
    usageError(() => topologyEdges('a-a,a-b', letters(2), '--topology'), '--topology', /'a-a' joins a host to itself/);
  });

  it('refuses an unknown host', () => {
    usageError(
      () => topologyEdges('a-b,b-d', letters(3), '--topology'),
      '--topology',
      /'d' in 'b-d' is not one of a, b, c/,
    );
    usageError(() => topologyEdges('a-b', [], '--ca-topology'), '--ca-topology', /\(no hosts\)/);
  });

  it('refuses a disconnected graph', () => {
    usageError(() => topologyEdges('a-b,c-d', letters(4), '--topology'), '--topology', /unconnected/);
    usageError(() => topologyEdges('a-b', letters(3), '--topology'), '--topology', /unconnected/);
  });

  it('refuses garbage', () => {
    for (const spec of ['tree', 'a-b-c', 'ab', 'a_b', 'A-B', 'a-1', 'Chain']) {
      usageError(() => topologyEdges(spec, letters(3), '--topology'), '--topology', /is not an edge like a-b/);
    }
    usageError(() => topologyEdges(',', letters(3), '--ca-topology'), '--ca-topology', /gives no edges/);
  });
});

describe('initOrder', () => {
  it('chain: a feeds b at level 1, b feeds c at level 2', () => {
    assert.deepEqual(initOrder('a', topologyEdges('chain', letters(3), 'x')), [
      { supplier: 'a', consumer: 'b', level: 1 },
      { supplier: 'b', consumer: 'c', level: 2 },
    ]);
  });

  it('chain started from the middle: both ends at level 1', () => {
    assert.deepEqual(initOrder('b', topologyEdges('chain', letters(3), 'x')), [
      { supplier: 'b', consumer: 'a', level: 1 },
      { supplier: 'b', consumer: 'c', level: 1 },
    ]);
  });

  it('star: the centre feeds everyone at level 1; from a leaf, the others come at level 2 through the centre', () => {
    const edges = topologyEdges('star', letters(4), 'x');
    assert.deepEqual(initOrder('a', edges), [
      { supplier: 'a', consumer: 'b', level: 1 },
      { supplier: 'a', consumer: 'c', level: 1 },
      { supplier: 'a', consumer: 'd', level: 1 },
    ]);
    assert.deepEqual(initOrder('c', edges), [
      { supplier: 'c', consumer: 'a', level: 1 },
      { supplier: 'a', consumer: 'b', level: 2 },
      { supplier: 'a', consumer: 'd', level: 2 },
    ]);
  });

  it('ring: every other host fed exactly once, by the first neighbour that reached it', () => {
    const order = initOrder('a', topologyEdges('ring', letters(5), 'x'));
    // a-b, b-c, c-d, d-e, e-a: b and e at level 1, c (from b) and d (from e) at level 2.
    assert.deepEqual(order, [
      { supplier: 'a', consumer: 'b', level: 1 },
      { supplier: 'a', consumer: 'e', level: 1 },
      { supplier: 'b', consumer: 'c', level: 2 },
      { supplier: 'e', consumer: 'd', level: 2 },
    ]);
    const ring4 = initOrder('a', topologyEdges('ring', letters(4), 'x'));
    assert.deepEqual(ring4, [
      { supplier: 'a', consumer: 'b', level: 1 },
      { supplier: 'a', consumer: 'd', level: 1 },
      { supplier: 'b', consumer: 'c', level: 2 },
    ]);
  });

  it('every consumer appears once and its supplier was fed at the level before', () => {
    for (const shape of ['chain', 'star', 'ring', 'mesh', 'a-c,c-e,e-b,b-d,a-d,c-d']) {
      const members = letters(5);
      const order = initOrder('a', topologyEdges(shape, members, 'x'));
      const consumers = order.map((s) => s.consumer);
      assert.deepEqual([...consumers].sort(), ['b', 'c', 'd', 'e'], shape);
      const levelOf = new Map<string, number>([['a', 0], ...order.map((s): [string, number] => [s.consumer, s.level])]);
      for (const step of order) {
        assert.equal(levelOf.get(step.supplier), step.level - 1, `${shape}: ${JSON.stringify(step)}`);
      }
      const levels = order.map((s) => s.level);
      assert.deepEqual(
        levels,
        [...levels].sort((x, y) => x - y),
        `${shape}: breadth-first, levels never go down`,
      );
    }
  });

  it('custom graph: levels are shortest distances from the first host', () => {
    // a-c, c-e, e-b, b-d, a-d: d is 1 hop from a (not 4 through the long way), b is 2 (through d).
    const order = initOrder('a', topologyEdges('a-c,c-e,e-b,b-d,a-d', letters(5), 'x'));
    assert.deepEqual(order, [
      { supplier: 'a', consumer: 'c', level: 1 },
      { supplier: 'a', consumer: 'd', level: 1 },
      { supplier: 'c', consumer: 'e', level: 2 },
      { supplier: 'd', consumer: 'b', level: 2 },
    ]);
  });

  it('mesh: everyone at level 1 from the first host', () => {
    const order = initOrder('c', topologyEdges('mesh', letters(4), 'x'));
    assert.deepEqual(
      order.map((s) => [s.supplier, s.consumer, s.level]),
      [
        ['c', 'a', 1],
        ['c', 'b', 1],
        ['c', 'd', 1],
      ],
    );
  });

  it('a single host has nothing to feed', () => {
    assert.deepEqual(initOrder('a', topologyEdges('chain', ['a'], 'x')), []);
  });
});

describe('labSpec --sudo-user', () => {
  it('with a password file or NOPASSWD, the spec names the user and where its password is', () => {
    assert.deepEqual(labSpec(opts({ sudoUser: 'fleetadmin', sudoPasswordFile: '/tmp/pw' })).sudo, {
      user: 'fleetadmin',
      passwordFile: '/tmp/pw',
    });
    assert.deepEqual(labSpec(opts({ sudoUser: 'fleetadmin', sudoNopasswd: true })).sudo, {
      user: 'fleetadmin',
      passwordFile: undefined,
    });
    assert.equal(labSpec(LAB_DEFAULTS).sudo, undefined);
  });

  it('refuses root, odd names, both or neither password choice, and the choices without a user', () => {
    usageError(() => labSpec(opts({ sudoUser: 'root', sudoNopasswd: true })), '--sudo-user', /other than root/);
    usageError(() => labSpec(opts({ sudoUser: 'a b', sudoNopasswd: true })), '--sudo-user', /not a user name/);
    usageError(() => labSpec(opts({ sudoUser: 'fleetadmin' })), '--sudo-user', /exactly one of/);
    usageError(
      () => labSpec(opts({ sudoUser: 'fleetadmin', sudoNopasswd: true, sudoPasswordFile: '/tmp/pw' })),
      '--sudo-user',
      /exactly one of/,
    );
    assert.throws(() => labSpec(opts({ sudoNopasswd: true })), /need --sudo-user/);
  });
});
