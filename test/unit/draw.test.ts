import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { instance } from '@viz-js/viz';
import type { Agreement } from '../../src/directory/agreements.js';
import { UsageError } from '../../src/errors.js';
import {
  createRenderer,
  dotString,
  renderSvg,
  topologyDot,
  toMermaid,
  writeGraph,
  type Renderer,
} from '../../src/topology/draw.js';
import type { Finding } from '../../src/topology/findings.js';
import type { EdgeState, SuffixGraph, Topology, TopologyNode } from '../../src/topology/graph.js';

// ---------------------------------------------------------------------------------------------
// Fixtures: topologies built by hand

const GENERATION_TEXT =
  'Error (19) Replication error acquiring replica: The remote replica has a different database generation ID than the local database. You may have to reinitialize the remote replica, or the local replica. (different database generation)';

function agreement(to: string, over: Partial<Agreement> = {}): Agreement {
  return {
    dn: `cn=meTo${to},cn=replica,cn=dc\\3Dipa\\2Cdc\\3Dtest,cn=mapping tree,cn=config`,
    name: `meTo${to}`,
    suffix: 'dc=ipa,dc=test',
    targetHost: to,
    targetPort: 389,
    enabled: true,
    schedule: undefined,
    updateInProgress: false,
    refreshPending: false,
    lastUpdateStatus: 'Error (0) Replica acquired successfully: Incremental update succeeded',
    lastUpdateStatusJson: undefined,
    lastInitStatus: undefined,
    lastInitStatusJson: undefined,
    lastInitStart: undefined,
    lastInitEnd: undefined,
    ...over,
  };
}

type EdgeSpec = [from: string, to: string, state?: EdgeState, over?: Partial<Agreement>];

function host(name: string, rid: number | undefined, over: Partial<TopologyNode> = {}): TopologyNode {
  return { name, inInventory: true, reachable: true, audited: true, ca: false, rid, ...over } as TopologyNode;
}

function graph(kind: 'domain' | 'ca', nodes: TopologyNode[], specs: EdgeSpec[]): SuffixGraph {
  const edges = specs.map(([from, to, state = 'ok', over = {}]) => ({
    from,
    to,
    state,
    hasReverse: false,
    agreement: agreement(to, { enabled: state !== 'disabled', ...over }),
  }));
  for (const e of edges) e.hasReverse = edges.some((r) => r.from === e.to && r.to === e.from);
  return { kind, suffix: kind === 'domain' ? 'dc=ipa,dc=test' : 'o=ipaca', nodes, edges };
}

function both(a: string, b: string): EdgeSpec[] {
  return [
    [a, b],
    [b, a],
  ];
}

function topology(domain: SuffixGraph, ca?: SuffixGraph): Topology {
  return { domain, ca: ca ?? graph('ca', [], []) };
}

const fqdn = (s: string): string => `${s}.ipa.test`;

export function healthyChain(): Topology {
  const nodes = [host(fqdn('a'), 3, { ca: true }), host(fqdn('b'), 4), host(fqdn('c'), 5)];
  return topology(
    graph('domain', nodes, [...both(fqdn('a'), fqdn('b')), ...both(fqdn('b'), fqdn('c'))]),
    graph('ca', [host(fqdn('a'), 60, { ca: true })], []),
  );
}

/** a ⇄ b healthy, b → c failing with a generation mismatch (c → b fine), a → old (not in inventory),
 *  c → d one-way, b → d disabled, d unreachable. a and b are CA hosts. */
export function chainWithProblems(): { topology: Topology; findings: Finding[] } {
  const a = fqdn('a');
  const b = fqdn('b');
  const c = fqdn('c');
  const d = fqdn('d');
  const old = 'old-master.example.org';
  const domain = graph(
    'domain',
    [
      host(a, 3, { ca: true }),
      host(b, 4, { ca: true }),
      host(c, 5),
      host(d, undefined, { reachable: false }),
      { name: old, inInventory: false, reachable: false, audited: false, ca: false, rid: undefined },
    ],
    [
      ...both(a, b),
      [b, c, 'failing', { lastUpdateStatus: GENERATION_TEXT }],
      [c, b],
      [a, old],
      [c, d],
      [b, d, 'disabled'],
    ],
  );
  const ca = graph(
    'ca',
    [host(a, 1060, { ca: true }), host(b, 1065, { ca: true })],
    [
      [a, b],
      [b, a, 'degraded', { lastUpdateStatus: "Error (1) Can't acquire busy replica" }],
    ],
  );
  const findings: Finding[] = [
    {
      id: 'update-status-red',
      severity: 'error',
      hosts: [b, c],
      suffix: 'domain',
      message: 'generation ID mismatch',
      fix: 're-initialize',
    },
    { id: 'host-unreachable', severity: 'error', hosts: [d], suffix: undefined, message: 'ssh failed', fix: 'check' },
    { id: 'agreement-one-way', severity: 'warning', hosts: [a, old], suffix: 'domain', message: 'one-way', fix: 'add' },
    { id: 'update-status-amber', severity: 'warning', hosts: [b], suffix: 'ca', message: 'busy', fix: 'wait' },
  ];
  return { topology: topology(domain, ca), findings };
}

/** n hosts, each with agreements both ways to its two neighbours. */
export function ring(n: number): Topology {
  const names = Array.from({ length: n }, (_, i) => fqdn(`replica${String(i + 1).padStart(2, '0')}`));
  const specs: EdgeSpec[] = names.flatMap((h, i) => both(h, names[(i + 1) % n]!));
  return topology(
    graph(
      'domain',
      names.map((h, i) => host(h, 3 + i, { ca: i < 4 })),
      specs,
    ),
    graph(
      'ca',
      names.slice(0, 4).map((h, i) => host(h, 1060 + i, { ca: true })),
      names.slice(0, 4).flatMap((h, i) => both(h, names[(i + 1) % 4]!)),
    ),
  );
}

/** n hosts, agreements between every two. */
export function mesh(n: number): Topology {
  const names = Array.from({ length: n }, (_, i) => fqdn(`ipa${i + 1}`));
  const specs: EdgeSpec[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) specs.push(...both(names[i]!, names[j]!));
  return topology(
    graph(
      'domain',
      names.map((h, i) => host(h, 3 + i)),
      specs,
    ),
  );
}

/** A 10-host mesh whose problems sit on diameters (whose midpoints are all the circle's center). */
export function meshWithProblems(): Topology {
  const t = mesh(10);
  const at = (a: number, b: number) =>
    t.domain.edges.find((e) => e.from === fqdn(`ipa${a}`) && e.to === fqdn(`ipa${b}`))!;
  const set = (a: number, b: number, state: EdgeState, status?: string): void => {
    const e = at(a, b);
    e.state = state;
    if (status) e.agreement.lastUpdateStatus = status;
    if (state === 'disabled') e.agreement.enabled = false;
  };
  set(1, 6, 'failing', GENERATION_TEXT);
  set(2, 7, 'failing', "Error (-1) Can't contact LDAP server");
  set(3, 8, 'disabled');
  set(5, 10, 'degraded');
  set(1, 2, 'failing', GENERATION_TEXT);
  t.domain.edges = t.domain.edges.filter((e) => e !== at(9, 4));
  for (const e of t.domain.edges) e.hasReverse = t.domain.edges.some((r) => r.from === e.to && r.to === e.from);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The edge statements of a DOT text, legend excluded. */
function edgeLines(dot: string): string[] {
  return dot.split('\n').filter((l) => l.includes(' -> ') && !l.includes('"legend:'));
}

function edgeBetween(dot: string, from: string, to: string): string[] {
  return edgeLines(dot).filter((l) => l.trimStart().startsWith(`${dotString(from)} -> ${dotString(to)} `));
}

/** SVG text with Graphviz's character references decoded (it writes `-` as `&#45;`). */
function svgText(svg: string): string {
  return svg
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

const DOMAIN = { suffixes: ['domain'] as Array<'domain' | 'ca'> };
const BOTH = { suffixes: ['domain', 'ca'] as Array<'domain' | 'ca'> };

// ---------------------------------------------------------------------------------------------

describe('topologyDot', () => {
  it('draws a healthy chain: one digraph, a cluster per suffix, one edge per healthy pair', () => {
    const dot = topologyDot(healthyChain(), BOTH);
    assert.equal(dot.match(/^digraph /gm)?.length, 1);
    assert.match(dot, /subgraph "cluster_domain" \{/);
    assert.match(dot, /subgraph "cluster_ca" \{/);
    assert.match(dot, /label="domain: dc=ipa,dc=test"/);
    assert.match(dot, /label="CA: o=ipaca"/);
    const lines = edgeLines(dot);
    assert.equal(lines.length, 2, lines.join('\n'));
    for (const l of lines) assert.match(l, /dir="both"/);
    // Node ids are unique per cluster: the CA host appears in both.
    assert.match(dot, /"domain:a\.ipa\.test" \[/);
    assert.match(dot, /"ca:a\.ipa\.test" \[/);
    // Labels: short name and replica ID; the CA host is marked.
    assert.match(dot, /"domain:a\.ipa\.test" \[label="a\\nrid 3, CA"/);
    assert.match(dot, /"domain:b\.ipa\.test" \[label="b\\nrid 4"/);
    assert.match(dot, /"domain:a\.ipa\.test" \[[^\n]*peripheries=2/);
    assert.doesNotMatch(dot.split('\n').find((l) => l.includes('"domain:b.ipa.test" ['))!, /peripheries/);
    assert.match(dot, /Legend/);
  });

  it('draws the problems: one-way, disabled, failing with generation text, degraded, external and unreachable hosts', () => {
    const { topology: t, findings } = chainWithProblems();
    const dot = topologyDot(t, { ...BOTH, findings, title: 'lab "west"' });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(fqdn) as [string, string, string, string];
    // a ⇄ b: one line.
    assert.equal(edgeBetween(dot, `domain:${a}`, `domain:${b}`).length, 1);
    assert.equal(edgeBetween(dot, `domain:${b}`, `domain:${a}`).length, 0);
    // b → c failing, c → b healthy: two arrows.
    const failing = edgeBetween(dot, `domain:${b}`, `domain:${c}`);
    assert.equal(failing.length, 1);
    assert.match(failing[0]!, /color="#d32f2f"/);
    assert.match(failing[0]!, /style="bold"/);
    assert.match(failing[0]!, /generation ID mismatch/);
    const back = edgeBetween(dot, `domain:${c}`, `domain:${b}`);
    assert.equal(back.length, 1);
    assert.doesNotMatch(back[0]!, /dir="both"|label=/);
    // One-way to the host outside the inventory.
    const oneWay = edgeBetween(dot, `domain:${a}`, 'domain:old-master.example.org');
    assert.equal(oneWay.length, 1);
    assert.match(oneWay[0]!, /style="dashed"/);
    assert.match(oneWay[0]!, /color="#ef6c00"/);
    assert.match(oneWay[0]!, />one-way</);
    // Disabled (and one-way, since d has no agreements back).
    const disabled = edgeBetween(dot, `domain:${b}`, `domain:${d}`);
    assert.match(disabled[0]!, /style="dashed"/);
    assert.match(disabled[0]!, /color="#9e9e9e"/);
    assert.match(disabled[0]!, />disabled, one-way</);
    // Degraded, in the CA cluster.
    const degraded = edgeBetween(dot, `ca:${b}`, `ca:${a}`);
    assert.match(degraded[0]!, /color="#f9a825"/);
    assert.match(degraded[0]!, />degraded</);
    assert.equal(edgeLines(dot).length, 8);
    // Hosts.
    const nodeLine = (id: string): string =>
      dot.split('\n').find((l) => l.trimStart().startsWith(`${dotString(id)} [`))!;
    assert.match(nodeLine('domain:old-master.example.org'), /label="old-master\.example\.org\\n\(not in inventory\)"/);
    assert.match(nodeLine('domain:old-master.example.org'), /style="rounded,filled,dashed"/);
    assert.match(nodeLine(`domain:${d}`), /label="d\\nrid \?\\n\(unreachable\)"/);
    assert.match(nodeLine(`domain:${d}`), /color="#d32f2f"/);
    assert.match(
      nodeLine(`domain:${d}`),
      /fillcolor="#f8c4c4"/,
      'host-unreachable is an error about d in every suffix',
    );
    assert.match(nodeLine(`domain:${c}`), /fillcolor="#f8c4c4"/);
    assert.match(nodeLine(`domain:${a}`), /fillcolor="#fff4c2"/, 'warning');
    assert.match(nodeLine(`ca:${b}`), /fillcolor="#fff4c2"/, 'the CA warning');
    assert.match(nodeLine(`ca:${a}`), /fillcolor="#e3f2fd"/, 'CA host without findings');
    // Title, escaped.
    assert.match(dot, /label="lab \\"west\\""/);
  });

  it('labels a failing agreement without generation text "error"', () => {
    const t = topology(
      graph(
        'domain',
        [host(fqdn('a'), 3), host(fqdn('b'), 4)],
        [
          [fqdn('a'), fqdn('b'), 'failing', { lastUpdateStatus: "Error (-1) Can't contact LDAP server" }],
          [fqdn('b'), fqdn('a')],
        ],
      ),
    );
    const [line] = edgeBetween(topologyDot(t, DOMAIN), `domain:${fqdn('a')}`, `domain:${fqdn('b')}`);
    assert.match(line!, />error</);
    assert.doesNotMatch(line!, /generation/);
  });

  it('escapes quotes and backslashes in host names', () => {
    const evil = 'ev"il\\host.ipa.test';
    const t = topology(graph('domain', [host(fqdn('a'), 3), host(evil, 4)], both(fqdn('a'), evil)));
    const dot = topologyDot(t, DOMAIN);
    assert.ok(dot.includes('"domain:ev\\"il\\\\host.ipa.test" ['), dot);
    assert.ok(dot.includes('label="ev\\"il\\\\host\\nrid 4"'), dot);
    assert.equal(edgeLines(dot).length, 1);
    // No raw quote from the name ends a string early: every line has balanced unescaped quotes.
    for (const l of dot.split('\n')) {
      const unescaped =
        l
          .replace(/\\./g, '')
          .replace(/<[^\n]*>/g, '')
          .match(/"/g)?.length ?? 0;
      assert.equal(unescaped % 2, 0, l);
    }
    assert.equal(dotString('a\nb\\n"'), '"a\\nb\\\\n\\""');
  });

  it('keeps the full name when short names would clash, and for addresses', () => {
    const t = topology(graph('domain', [host('a.ipa.test', 3), host('a.other.test', 4), host('10.0.0.5', 5)], []));
    const dot = topologyDot(t, DOMAIN);
    assert.match(dot, /label="a\.ipa\.test\\nrid 3"/);
    assert.match(dot, /label="a\.other\.test\\nrid 4"/);
    assert.match(dot, /label="10\.0\.0\.5\\nrid 5"/);
  });

  it('draws a healthy 10-host ring as 10 lines and a 10-host mesh as 45, on a circle', () => {
    const dotRing = topologyDot(ring(10), BOTH);
    assert.equal(edgeLines(dotRing).filter((l) => l.includes('"domain:')).length, 10);
    assert.equal(edgeLines(dotRing).filter((l) => l.includes('"ca:')).length, 4);
    const dotMesh = topologyDot(mesh(10), DOMAIN);
    assert.equal(edgeLines(dotMesh).length, 45);
    // Ring order around the circle: neighbours in the ring are neighbours on the circle.
    const pos = (dot: string, id: string): [number, number] => {
      const m = new RegExp(
        `${dotString(id).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[.*pos="([-\\d.]+),([-\\d.]+)!"`,
      ).exec(dot);
      assert.ok(m, id);
      return [Number(m[1]), Number(m[2])];
    };
    const names = Array.from({ length: 10 }, (_, i) => `domain:${fqdn(`replica${String(i + 1).padStart(2, '0')}`)}`);
    const p = names.map((n) => pos(dotRing, n));
    const dist = (u: [number, number], v: [number, number]): number => Math.hypot(u[0] - v[0], u[1] - v[1]);
    const side = dist(p[0]!, p[1]!);
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(dist(p[i]!, p[(i + 1) % 10]!) - side) < 0.01, `ring side ${i}`);
  });

  it('draws only the requested suffixes, and an empty CA suffix as a note', () => {
    assert.doesNotMatch(topologyDot(healthyChain(), DOMAIN), /cluster_ca/);
    const dot = topologyDot(topology(graph('domain', [host(fqdn('a'), 3)], [])), BOTH);
    assert.match(dot, /\(no CA hosts\)/);
  });
});

describe('toMermaid', () => {
  it('writes a flowchart with a subgraph per suffix, edges with labels and classes', () => {
    const { topology: t, findings } = chainWithProblems();
    const mmd = toMermaid(t, { ...BOTH, findings, title: 'lab' });
    assert.match(mmd, /^---\ntitle: "lab"\n---\nflowchart LR\n/);
    assert.match(mmd, /subgraph sub_domain\["domain: dc=ipa,dc=test"\]/);
    assert.match(mmd, /subgraph sub_ca\["CA: o=ipaca"\]/);
    assert.match(mmd, /classDef ca /);
    const edges = mmd.split('\n').filter((l) => /^\s+[dc]\d+ (---|-->|-\.->|==>)/.test(l));
    assert.equal(edges.length, 8, edges.join('\n'));
    assert.equal(edges.filter((l) => l.includes(' --- ')).length, 1);
    assert.ok(edges.some((l) => /==>\|"generation ID mismatch"\|/.test(l)));
    assert.ok(edges.some((l) => /-\.->\|"one-way"\|/.test(l)));
    assert.ok(edges.some((l) => /-\.->\|"disabled, one-way"\|/.test(l)));
    assert.ok(edges.some((l) => /-->\|"degraded"\|/.test(l)));
    assert.equal(mmd.match(/^ {2}linkStyle \d+ /gm)?.length, 8);
    assert.match(mmd, /\["old-master\.example\.org<br\/>\(not in inventory\)"\]/);
    assert.match(mmd, /\["d<br\/>rid \?<br\/>\(unreachable\)"\]/);
    const unreachable = /^ {4}(d\d+)\[.*\(unreachable\)/m.exec(mmd)?.[1];
    assert.ok(unreachable);
    assert.match(mmd, new RegExp(`class [\\w,]*\\b${unreachable}\\b[\\w,]* unreachable`));
    assert.match(mmd, /class [\w,]* error/);
  });

  it('escapes labels as entity codes', () => {
    const t = topology(graph('domain', [host('ev"il|<x>.ipa.test', 3)], []));
    const mmd = toMermaid(t, DOMAIN);
    assert.match(mmd, /\["ev#34;il#124;#60;x#62;<br\/>rid 3"\]/);
  });
});

describe('renderSvg', () => {
  let renderer: Renderer;
  before(async () => {
    renderer = await createRenderer();
  });

  it('renders every fixture with every host label', async () => {
    const { topology: problems, findings } = chainWithProblems();
    const cases: Array<[Topology, Finding[]]> = [
      [healthyChain(), []],
      [problems, findings],
      [ring(10), []],
      [mesh(10), []],
    ];
    for (const [t, f] of cases) {
      const svg = svgText(renderer.svg(topologyDot(t, { ...BOTH, findings: f })));
      assert.match(svg, /<svg /);
      for (const n of [...t.domain.nodes, ...t.ca.nodes]) {
        const label = n.inInventory ? n.name.split('.')[0]! : n.name;
        assert.ok(svg.includes(`>${label}</text>`), `${label} in the SVG`);
      }
      for (const text of ['domain: dc=ipa,dc=test', 'Legend']) assert.ok(svg.includes(text), text);
    }
  });

  it('renderSvg renders on its own, and the escaped name comes out as written', async () => {
    const evil = 'ev"il\\host.ipa.test';
    const t = topology(graph('domain', [host(fqdn('a'), 3), host(evil, 4)], both(fqdn('a'), evil)));
    const svg = svgText(await renderSvg(topologyDot(t, DOMAIN)));
    assert.match(svg, /<svg /);
    assert.ok(svg.includes('>ev"il\\host</text>'), svg);
  });

  it('lays the fixtures out without a Graphviz warning (no touching nodes, known text metrics)', async () => {
    const viz = await instance();
    const { topology: problems, findings } = chainWithProblems();
    for (const [t, f] of [
      [healthyChain(), []],
      [problems, findings],
      [ring(10), []],
      [mesh(10), []],
      [meshWithProblems(), []],
    ] as Array<[Topology, Finding[]]>) {
      const result = viz.render(topologyDot(t, { ...BOTH, findings: f }), { format: 'svg' });
      assert.equal(result.status, 'success');
      assert.deepEqual(result.errors, []);
    }
  });

  it('keeps edge labels of a mesh apart, and out of its center', () => {
    // Each node and edge follows a comment naming it: leave the legend's out.
    const svg = svgText(renderer.svg(topologyDot(meshWithProblems(), DOMAIN)))
      .split(/(?=<!-- )/)
      .filter((part) => !part.startsWith('<!-- legend:'))
      .join('');
    const labels = [
      ...svg.matchAll(
        /<text [^>]*x="([-\d.]+)" y="([-\d.]+)"[^>]*>(degraded|disabled|error|generation ID mismatch|one-way)<\/text>/g,
      ),
    ].map((m) => ({ x: Number(m[1]), y: Number(m[2]), text: m[3]! }));
    assert.deepEqual(labels.map((l) => l.text).sort(), [
      'degraded',
      'disabled',
      'error',
      'generation ID mismatch',
      'generation ID mismatch',
      'one-way',
    ]);
    for (const [i, a] of labels.entries()) {
      for (const b of labels.slice(i + 1)) {
        const apart = Math.abs(a.y - b.y) >= 10 || Math.abs(a.x - b.x) >= (a.text.length + b.text.length) * 2.5;
        assert.ok(apart, `${a.text} (${a.x},${a.y}) and ${b.text} (${b.x},${b.y}) overlap`);
      }
    }
    const nodes = [...svg.matchAll(/<text [^>]*x="([-\d.]+)" y="([-\d.]+)"[^>]*>ipa\d+<\/text>/g)].map(
      (m) => [Number(m[1]), Number(m[2])] as const,
    );
    const cx = nodes.reduce((s, n) => s + n[0], 0) / nodes.length;
    const cy = nodes.reduce((s, n) => s + n[1], 0) / nodes.length;
    for (const l of labels) assert.ok(Math.hypot(l.x - cx, l.y - cy) > 40, `${l.text} at the center`);
  });

  it('reports a DOT syntax error as a FleetError', () => {
    assert.throws(
      () => renderer.svg('digraph { a -> '),
      (e: unknown) => e instanceof Error && e.name === 'FleetError' && /syntax error/.test(e.message),
    );
  });
});

describe('writeGraph', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ipa-fleet-draw-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('picks the format from the extension', async () => {
    const t = healthyChain();
    await writeGraph(path.join(dir, 'g.svg'), t, BOTH);
    await writeGraph(path.join(dir, 'g.dot'), t, BOTH);
    await writeGraph(path.join(dir, 'g.GV'), t, BOTH);
    await writeGraph(path.join(dir, 'g.mmd'), t, BOTH);
    assert.match(await readFile(path.join(dir, 'g.svg'), 'utf8'), /<svg /);
    assert.equal(await readFile(path.join(dir, 'g.dot'), 'utf8'), topologyDot(t, BOTH));
    assert.equal(await readFile(path.join(dir, 'g.GV'), 'utf8'), topologyDot(t, BOTH));
    assert.equal(await readFile(path.join(dir, 'g.mmd'), 'utf8'), toMermaid(t, BOTH));
    assert.deepEqual((await readdir(dir)).sort(), ['g.GV', 'g.dot', 'g.mmd', 'g.svg'], 'no temporary file left');
  });

  it('refuses other extensions with a UsageError naming the file and the formats', async () => {
    const file = path.join(dir, 'g.png');
    await assert.rejects(writeGraph(file, healthyChain(), BOTH), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.ok(e.message.includes(file), e.message);
      for (const ext of ['.svg', '.dot', '.gv', '.mmd']) assert.ok(e.message.includes(ext), e.message);
      return true;
    });
    await assert.rejects(writeGraph(path.join(dir, 'graph'), healthyChain(), BOTH), UsageError);
    assert.ok(!(await readdir(dir)).some((f) => f.startsWith('g.png') || f.includes('.tmp-')));
  });
});
