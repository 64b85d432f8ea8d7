// Drawings of the replication topology: Graphviz DOT (rendered to SVG with the WASM build of
// Graphviz, no system binary) and Mermaid flowchart text.
//
// Layout: the positions are computed here and pinned (`pos="x,y!"`, layout=neato), so the picture
// does not depend on a ranking engine. Each suffix's hosts sit on a circle, ordered by a walk along
// the agreements so a ring is drawn as a ring and a mesh as a circle with chords; a short chain of
// hosts is drawn as a row. `dot` would rank a 10-host ring into a ten-level ladder with one long
// back edge, and circo / neato ignore clusters; pinned positions give both clusters, a legend and
// a stable picture (the same topology always gives the same drawing).
import path from 'node:path';
import { instance } from '@viz-js/viz';
import { replaceFile } from '../atomic-file.js';
import type { Agreement } from '../directory/agreements.js';
import { FleetError, UsageError } from '../errors.js';
import type { Finding, SuffixKind } from './findings.js';
import type { SuffixGraph, Topology, TopologyEdge, TopologyNode } from './graph.js';

export interface DrawOptions {
  /** Suffixes to draw, one cluster each, in this order. */
  suffixes: SuffixKind[];
  /** Hosts named by error findings get a red-ish fill, by warnings a yellow one. */
  findings?: Finding[];
  title?: string;
}

const GRAPH_EXTENSIONS = ['.svg', '.dot', '.gv', '.mmd'] as const;

// ---------------------------------------------------------------------------------------------
// What is drawn, independent of the output language

type LinkKind = 'pair' | 'ok' | 'one-way' | 'disabled' | 'failing' | 'degraded';

interface DrawNode {
  /** Unique over the whole drawing: `<suffix kind>:<host name>`. */
  id: string;
  name: string;
  lines: string[];
  ca: boolean;
  external: boolean;
  unreachable: boolean;
  severity: 'error' | 'warning' | undefined;
  tooltip: string[];
}

interface DrawLink {
  from: string;
  to: string;
  kind: LinkKind;
  /** Short text on the edge; undefined for healthy agreements. */
  label: string | undefined;
  tooltip: string[];
}

interface Cluster {
  kind: SuffixKind;
  title: string;
  nodes: DrawNode[];
  links: DrawLink[];
  /** Node names in drawing order (see `drawingOrder`). */
  order: string[];
  /** The hosts form a simple chain: drawn as a row rather than a circle. */
  chain: boolean;
}

const MAX_TOOLTIP_LINES = 6;

function clusterOf(graph: SuffixGraph, findings: readonly Finding[]): Cluster {
  const kind = graph.kind;
  const id = (name: string): string => `${kind}:${name}`;
  const shorts = shortNames(graph.nodes);
  const nodes = graph.nodes.map((n): DrawNode => {
    const mine = findings.filter(
      (f) =>
        (f.suffix === undefined || f.suffix === kind) && f.hosts.some((h) => h.toLowerCase() === n.name.toLowerCase()),
    );
    const severity = mine.some((f) => f.severity === 'error')
      ? 'error'
      : mine.some((f) => f.severity === 'warning')
        ? 'warning'
        : undefined;
    const external = !n.inInventory;
    // A host left out by --limit was not read: it is not unreachable.
    const notAudited = n.inInventory && n.audited === false;
    const unreachable = n.inInventory && !n.reachable && !notAudited;
    const lines = [external ? n.name : (shorts.get(n.name) ?? n.name)];
    const facts: string[] = [];
    if (!external || n.rid !== undefined) facts.push(`rid ${n.rid ?? '?'}`);
    // In the CA cluster every host is a CA host; the tag only tells them apart in the domain one.
    if (n.ca && kind === 'domain') facts.push('CA');
    if (facts.length) lines.push(facts.join(', '));
    if (external) lines.push('(not in inventory)');
    if (unreachable) lines.push('(unreachable)');
    if (notAudited) lines.push('(not audited)');
    const tooltip = [n.name, ...mine.slice(0, MAX_TOOLTIP_LINES).map((f) => `${f.severity}: ${f.message}`)];
    if (mine.length > MAX_TOOLTIP_LINES) tooltip.push(`… ${mine.length - MAX_TOOLTIP_LINES} more`);
    return { id: id(n.name), name: n.name, lines, ca: n.ca, external, unreachable, severity, tooltip };
  });
  // Agreements may name hosts the node list lacks (hand-built graphs): draw them as external.
  for (const e of graph.edges) {
    for (const name of [e.from, e.to]) {
      if (!nodes.some((n) => n.name === name)) {
        nodes.push({
          id: id(name),
          name,
          lines: [name, '(not in inventory)'],
          ca: false,
          external: true,
          unreachable: false,
          severity: undefined,
          tooltip: [name],
        });
      }
    }
  }
  const links = linksOf(graph.edges).map((l) => ({ ...l, from: id(l.from), to: id(l.to) }));
  const { order, chain } = drawingOrder(
    nodes.map((n) => n.name),
    graph.edges,
  );
  const title = `${kind === 'domain' ? 'domain' : 'CA'}: ${graph.suffix}`;
  return { kind, title, nodes, links, order, chain };
}

function clustersOf(topology: Topology, opts: DrawOptions): Cluster[] {
  return [...new Set(opts.suffixes)].map((k) => clusterOf(topology[k], opts.findings ?? []));
}

/** First DNS label of each host, unless that is ambiguous in the graph or the name is an address. */
function shortNames(nodes: readonly TopologyNode[]): Map<string, string> {
  const short = (name: string): string =>
    /^[\d.]+$/.test(name) || name.includes(':') ? name : name.split('.')[0] || name;
  const count = new Map<string, number>();
  for (const n of nodes) count.set(short(n.name).toLowerCase(), (count.get(short(n.name).toLowerCase()) ?? 0) + 1);
  return new Map(nodes.map((n) => [n.name, count.get(short(n.name).toLowerCase())! > 1 ? n.name : short(n.name)]));
}

/**
 * One link per agreement, except that two healthy agreements between the same hosts in opposite
 * directions become one link (`pair`): a healthy 10-host mesh then has 45 lines, not 90 arrows.
 */
function linksOf(edges: readonly TopologyEdge[]): DrawLink[] {
  const used = new Set<TopologyEdge>();
  const out: DrawLink[] = [];
  for (const e of edges) {
    if (used.has(e)) continue;
    used.add(e);
    const reverse = edges.find((r) => r !== e && !used.has(r) && r.from === e.to && r.to === e.from);
    const hasReverse = edges.some((r) => r !== e && r.from === e.to && r.to === e.from);
    if (reverse && e.state === 'ok' && reverse.state === 'ok' && e.from !== e.to) {
      used.add(reverse);
      out.push({
        from: e.from,
        to: e.to,
        kind: 'pair',
        label: undefined,
        tooltip: [`${e.from} ⇄ ${e.to}`, e.agreement.name, reverse.agreement.name],
      });
      continue;
    }
    out.push(linkOf(e, hasReverse));
  }
  return out;
}

function linkOf(e: TopologyEdge, hasReverse: boolean): DrawLink {
  const state = e.state;
  const tooltip = [`${e.from} → ${e.to}`, e.agreement.name];
  const status = [e.agreement.lastUpdateStatus, e.agreement.lastInitStatus].filter((s): s is string => !!s);
  if (state !== 'ok') tooltip.push(...status.map((s) => truncateText(s, 200)));
  const oneWay = hasReverse ? undefined : 'one-way';
  switch (state) {
    case 'ok':
      return hasReverse
        ? { from: e.from, to: e.to, kind: 'ok', label: undefined, tooltip }
        : { from: e.from, to: e.to, kind: 'one-way', label: 'one-way', tooltip: [...tooltip, 'no agreement back'] };
    case 'disabled':
      return { from: e.from, to: e.to, kind: 'disabled', label: joinLabel('disabled', oneWay), tooltip };
    case 'failing':
      return { from: e.from, to: e.to, kind: 'failing', label: joinLabel(failureLabel(e.agreement), oneWay), tooltip };
    case 'degraded':
      return { from: e.from, to: e.to, kind: 'degraded', label: joinLabel('degraded', oneWay), tooltip };
  }
}

function joinLabel(main: string, extra: string | undefined): string {
  return extra ? `${main}, ${extra}` : main;
}

/** Short status of a failing agreement. */
function failureLabel(a: Agreement): string {
  const text = [a.lastUpdateStatus, a.lastUpdateStatusJson, a.lastInitStatus, a.lastInitStatusJson]
    .filter(Boolean)
    .join('\n');
  return /different database generation|generation id mismatch/i.test(text) ? 'generation ID mismatch' : 'error';
}

function truncateText(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Order of the hosts around the circle: a walk along the agreements (either direction), starting
 * at a least-connected host and always stepping to the neighbour with the fewest unvisited
 * neighbours. A ring comes out in ring order, a chain from one end to the other.
 */
function drawingOrder(names: readonly string[], edges: readonly TopologyEdge[]): { order: string[]; chain: boolean } {
  const adj = new Map<string, Set<string>>(names.map((n) => [n, new Set<string>()]));
  for (const e of edges) {
    if (e.from === e.to) continue;
    adj.get(e.from)?.add(e.to);
    adj.get(e.to)?.add(e.from);
  }
  const seen = new Set<string>();
  const order: string[] = [];
  const unvisited = (n: string): number => [...adj.get(n)!].filter((m) => !seen.has(m)).length;
  const pick = (candidates: string[]): string | undefined => {
    let best: string | undefined;
    for (const c of candidates) if (best === undefined || unvisited(c) < unvisited(best)) best = c;
    return best;
  };
  while (order.length < names.length) {
    const rest = names.filter((n) => !seen.has(n));
    // Prefer a host next to the ones already placed, then any connected host, then the isolated ones.
    const touching = rest.filter((n) => [...adj.get(n)!].some((m) => seen.has(m)));
    const connected = rest.filter((n) => adj.get(n)!.size > 0);
    let cur = pick(touching.length ? touching : connected.length ? connected : rest);
    while (cur !== undefined) {
      seen.add(cur);
      order.push(cur);
      cur = pick([...adj.get(cur)!].filter((m) => !seen.has(m)));
    }
  }
  const degrees = names.map((n) => adj.get(n)!.size);
  const links = degrees.reduce((a, b) => a + b, 0) / 2;
  const chain =
    names.length >= 2 &&
    names.length <= 6 &&
    links === names.length - 1 &&
    degrees.every((d) => d <= 2) &&
    order.every((n, i) => i === 0 || adj.get(n)!.has(order[i - 1]!));
  return { order, chain };
}

// ---------------------------------------------------------------------------------------------
// DOT

// Graphviz has text metrics for Helvetica (WASM build: no fonts); its SVG names the family "Helvetica,sans-Serif".
const FONT = 'Helvetica';

const COLORS = {
  line: '#37474f',
  ok: '#2e7d32',
  oneWay: '#ef6c00',
  disabled: '#9e9e9e',
  failing: '#d32f2f',
  degraded: '#f9a825',
  caFill: '#e3f2fd',
  errorFill: '#f8c4c4',
  warningFill: '#fff4c2',
  externalFill: '#f5f5f5',
  externalText: '#757575',
} as const;

/** An attribute value written as is (already quoted, or an HTML-like label). */
class Raw {
  constructor(readonly text: string) {}
}

/** A DOT double-quoted string. Host names come from servers: quotes, backslashes and line breaks are escaped. */
export function dotString(s: string): string {
  return `"${dotEscape(s)}"`;
}

function dotEscape(s: string): string {
  return (
    s
      .replace(/\\/g, '\\\\')
      .replace(/"/g, '\\"')
      .replace(/\r\n|\r|\n/g, '\\n')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f]/g, '?')
  );
}

/** A label of several centered lines: each line escaped, joined by DOT's `\n`. */
function dotLines(lines: readonly string[]): Raw {
  return new Raw(`"${lines.map(dotEscape).join('\\n')}"`);
}

type AttrValue = string | number | Raw | undefined;

function attrs(a: Record<string, AttrValue>): string {
  const parts = Object.entries(a)
    .filter((kv): kv is [string, string | number | Raw] => kv[1] !== undefined)
    .map(([k, v]) => `${k}=${v instanceof Raw ? v.text : typeof v === 'number' ? String(v) : dotString(v)}`);
  return `[${parts.join(', ')}]`;
}

function nodeAttrs(n: DrawNode): Record<string, AttrValue> {
  const fill =
    n.severity === 'error'
      ? COLORS.errorFill
      : n.severity === 'warning'
        ? COLORS.warningFill
        : n.external
          ? COLORS.externalFill
          : n.ca
            ? COLORS.caFill
            : '#ffffff';
  return {
    label: dotLines(n.lines),
    tooltip: dotLines(n.tooltip),
    style: n.external ? 'rounded,filled,dashed' : 'rounded,filled',
    fillcolor: fill,
    color: n.unreachable ? COLORS.failing : n.external ? COLORS.disabled : COLORS.line,
    fontcolor: n.external ? COLORS.externalText : undefined,
    penwidth: n.unreachable ? 2.5 : undefined,
    peripheries: n.ca ? 2 : undefined,
  };
}

/** Edge label with a white background, so it stays readable where it sits on its own line. */
function edgeLabel(text: string, color: string): Raw {
  // Only fixed words reach here (never server text), still escaped for HTML.
  const html = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  return new Raw(
    '<<table border="0" cellborder="0" cellpadding="2" cellspacing="0" bgcolor="white"><tr><td><font ' +
      `color="${color}">${html}</font></td></tr></table>>`,
  );
}

const LINK_STYLE: Record<LinkKind, Record<string, string | number>> = {
  pair: { dir: 'both', color: COLORS.ok, arrowsize: 0.6, penwidth: 1.4 },
  ok: { color: COLORS.ok, arrowsize: 0.7, penwidth: 1.4 },
  'one-way': { color: COLORS.oneWay, style: 'dashed', penwidth: 1.6 },
  disabled: { color: COLORS.disabled, style: 'dashed', penwidth: 1.4 },
  failing: { color: COLORS.failing, style: 'bold', penwidth: 2.4 },
  degraded: { color: COLORS.degraded, penwidth: 2 },
};

/** Text colour of an edge's label: the edge's colour, darker where that is pale. */
const LABEL_COLOR: Record<LinkKind, string> = {
  pair: COLORS.ok,
  ok: COLORS.ok,
  'one-way': COLORS.oneWay,
  disabled: '#757575',
  failing: COLORS.failing,
  degraded: '#b26a00',
};

/**
 * The label goes at `labelDistance` (units of 10pt) from the supplier's end, along the edge
 * (a tail label at angle 0): the midpoint of every diameter of a circle is its center, so
 * midpoint labels of a mesh would all pile up there.
 */
function linkAttrs(l: DrawLink, labelDistance: number | undefined): Record<string, AttrValue> {
  const style = LINK_STYLE[l.kind];
  const text = l.label === undefined ? undefined : edgeLabel(l.label, LABEL_COLOR[l.kind]);
  const along = text !== undefined && labelDistance !== undefined;
  return {
    ...style,
    label: along ? undefined : text,
    taillabel: along ? text : undefined,
    labelangle: along ? 0 : undefined,
    labeldistance: along ? fmt(labelDistance) : undefined,
    tooltip: dotLines(l.tooltip),
  };
}

interface Box {
  x: number;
  y: number;
  /** Half width and half height. */
  hw: number;
  hh: number;
}

const overlaps = (a: Box, b: Box): boolean => Math.abs(a.x - b.x) < a.hw + b.hw && Math.abs(a.y - b.y) < a.hh + b.hh;

/**
 * Where along its edge each label goes: the first of a few spots that is clear of hosts and of labels
 * already placed.
 */
function placeLabels(links: readonly DrawLink[], nodes: ReadonlyMap<string, Box>, avoid: Box[]): Map<DrawLink, number> {
  const out = new Map<DrawLink, number>();
  const taken: Box[] = [...avoid, ...[...nodes.values()].map((b) => ({ ...b, hw: b.hw + 0.05, hh: b.hh + 0.05 }))];
  for (const l of links) {
    const from = nodes.get(l.from);
    const to = nodes.get(l.to);
    if (l.label === undefined || !from || !to || l.from === l.to) continue;
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    const length = Math.hypot(dx, dy);
    const ux = dx / length;
    const uy = dy / length;
    // Distance from the supplier's center to where the edge leaves its box.
    const exit = Math.min(
      Math.abs(ux) > 1e-9 ? from.hw / Math.abs(ux) : Infinity,
      Math.abs(uy) > 1e-9 ? from.hh / Math.abs(uy) : Infinity,
    );
    const size = { hw: l.label.length * 0.035 + 0.06, hh: 0.1 };
    const spots = [0.5, 0.4, 0.6, 0.32, 0.68, 0.25, 0.75, 0.45, 0.55].map((t) => ({
      t,
      box: { x: from.x + ux * t * length, y: from.y + uy * t * length, ...size },
    }));
    const spot =
      spots.find((c) => !taken.some((b) => overlaps(b, c.box))) ??
      spots.find((c) => !avoid.some((b) => overlaps(b, c.box))) ??
      spots[0]!;
    taken.push(spot.box);
    out.set(l, Math.max(0.5, ((spot.t * length - exit) * 72) / 10));
  }
  return out;
}

// Geometry, in inches, y upwards. Node sizes are estimates (Graphviz sizes the nodes itself):
// Helvetica 11pt averages about 0.085in a character, a line is about 0.17in high.
const CHAR_W = 0.085;
const LINE_H = 0.17;
/** Space between neighbouring hosts, more when an edge label has to fit between them. */
const GAP = 1.0;
const GAP_LABELS = 1.9;
/** Inside a cluster frame: margin around the hosts, band for the cluster's title. */
const PAD = 0.3;
const TITLE_BAND = 0.45;

function nodeSize(lines: readonly string[]): [number, number] {
  return [
    Math.max(0.9, Math.max(...lines.map((l) => l.length)) * CHAR_W + 0.45),
    Math.max(0.5, lines.length * LINE_H + 0.2),
  ];
}

interface Placed {
  /** Node center relative to the center of the hosts' bounding box. */
  pos: Map<string, [number, number]>;
  width: number;
  height: number;
  /** Of the circle the hosts sit on (0 for a row), and its center relative to the bounding box's. */
  radius: number;
  center: [number, number];
}

/** Positions of a cluster's nodes: a row for a short chain, else a circle in walk order. */
function place(c: Cluster): Placed {
  const byName = new Map(c.nodes.map((n) => [n.name, n]));
  const sizes = c.nodes.map((n) => nodeSize(n.lines));
  const w = Math.max(0.9, ...sizes.map((s) => s[0]));
  const h = Math.max(0.5, ...sizes.map((s) => s[1]));
  const pos = new Map<string, [number, number]>();
  const n = c.order.length;
  if (n === 0) return { pos, width: 1.4, height: 0.5, radius: 0, center: [0, 0] };
  if (n === 1) {
    pos.set(byName.get(c.order[0]!)!.id, [0, 0]);
    return { pos, width: w, height: h, radius: 0, center: [0, 0] };
  }
  const step = w + (c.links.some((l) => l.label !== undefined) ? GAP_LABELS : GAP);
  if (c.chain || n === 2) {
    c.order.forEach((name, i) => {
      pos.set(byName.get(name)!.id, [(i - (n - 1) / 2) * step, 0]);
    });
    return { pos, width: (n - 1) * step + w, height: h, radius: 0, center: [0, 0] };
  }
  // Neighbours on the circle `step` apart (chord length), clockwise from the top.
  const radius = Math.max(1.4, step / (2 * Math.sin(Math.PI / n)));
  const raw = c.order.map((_, i): [number, number] => {
    const a = Math.PI / 2 - (2 * Math.PI * i) / n;
    return [radius * Math.cos(a), radius * Math.sin(a)];
  });
  const ys = raw.map((p) => p[1]);
  const xs = raw.map((p) => p[0]);
  const midX = (Math.max(...xs) + Math.min(...xs)) / 2;
  const midY = (Math.max(...ys) + Math.min(...ys)) / 2;
  c.order.forEach((name, i) => {
    pos.set(byName.get(name)!.id, [raw[i]![0] - midX, raw[i]![1] - midY]);
  });
  return {
    pos,
    width: Math.max(...xs) - Math.min(...xs) + w,
    height: Math.max(...ys) - Math.min(...ys) + h,
    radius,
    center: [-midX, -midY],
  };
}

const fmt = (x: number): string => (Math.round(x * 1000) / 1000).toString();
const pin = (x: number, y: number): string => `${fmt(x)},${fmt(y)}!`;

/**
 * Neato sizes a cluster to its nodes and does not reserve room for the cluster's title: two
 * invisible nodes at opposite corners give the frame its size.
 */
function frame(prefix: string, left: number, top: number, right: number, bottom: number): string[] {
  const corner = { shape: 'point', style: 'invis', width: 0.01, height: 0.01 };
  return [
    `    ${dotString(`${prefix}:frame:top-left`)} ${attrs({ ...corner, pos: pin(left, top) })};`,
    `    ${dotString(`${prefix}:frame:bottom-right`)} ${attrs({ ...corner, pos: pin(right, bottom) })};`,
  ];
}

/** One Graphviz digraph, a cluster per suffix and a legend, with pinned positions. */
export function topologyDot(topology: Topology, opts: DrawOptions): string {
  const clusters = clustersOf(topology, opts);
  const out: string[] = [];
  out.push(
    '// ipa-fleet replication topology. Positions are pinned (layout=neato): render with any Graphviz, e.g. dot -Tsvg.',
  );
  out.push('digraph topology {');
  out.push(
    `  graph ${attrs({
      layout: 'neato',
      splines: 'line',
      outputorder: 'edgesfirst',
      fontname: FONT,
      fontsize: 14,
      pad: 0.3,
      label: opts.title,
      labelloc: opts.title === undefined ? undefined : 't',
      fontcolor: '#263238',
    })};`,
  );
  out.push(`  node ${attrs({ shape: 'box', fontname: FONT, fontsize: 11, margin: '0.18,0.05', height: 0.5 })};`);
  out.push(`  edge ${attrs({ fontname: FONT, fontsize: 9, arrowsize: 0.8 })};`);

  // Clusters side by side, tops aligned at y = 0; the legend under them.
  let left = 0;
  let bottom = 0;
  for (const c of clusters) {
    const placed = place(c);
    const width = Math.max(placed.width, c.title.length * 0.1) + 2 * PAD;
    const height = TITLE_BAND + placed.height + 2 * PAD;
    const cx = left + width / 2;
    const cy = -TITLE_BAND - PAD - placed.height / 2;
    out.push('');
    out.push(`  subgraph ${dotString(`cluster_${c.kind}`)} {`);
    out.push(
      `    graph ${attrs({ label: c.title, labelloc: 't', fontsize: 13, style: 'rounded', color: '#b0bec5' })};`,
    );
    out.push(...frame(c.kind, left, 0, left + width, -height));
    if (c.nodes.length === 0) {
      const label = c.kind === 'ca' ? '(no CA hosts)' : '(no hosts)';
      const style = attrs({ label, shape: 'plaintext', fontcolor: COLORS.externalText, pos: pin(cx, cy) });
      out.push(`    ${dotString(`${c.kind}:(none)`)} ${style};`);
    }
    const boxes = new Map<string, Box>();
    for (const name of c.order) {
      const node = c.nodes.find((n) => n.name === name)!;
      const [px, py] = placed.pos.get(node.id)!;
      const [w, h] = nodeSize(node.lines);
      boxes.set(node.id, {
        x: cx + px,
        y: cy + py,
        hw: w / 2 + (node.ca ? 0.06 : 0),
        hh: h / 2 + (node.ca ? 0.06 : 0),
      });
      out.push(`    ${dotString(node.id)} ${attrs({ ...nodeAttrs(node), pos: pin(cx + px, cy + py) })};`);
    }
    // Healthy edges first: the problem edges and their labels are drawn over them.
    const links = [...c.links.filter((l) => l.label === undefined), ...c.links.filter((l) => l.label !== undefined)];
    // Chords of a circle all cross near its center: keep labels out of there.
    const center =
      placed.radius > 0
        ? [{ x: cx + placed.center[0], y: cy + placed.center[1], hw: placed.radius * 0.3, hh: placed.radius * 0.3 }]
        : [];
    const labels = placeLabels(links, boxes, center);
    for (const l of links)
      out.push(`    ${dotString(l.from)} -> ${dotString(l.to)} ${attrs(linkAttrs(l, labels.get(l)))};`);
    out.push('  }');
    left += width + 0.5;
    bottom = Math.min(bottom, -height);
  }
  out.push('');
  out.push(...legend(0, bottom - 0.4));
  out.push('}');
  return `${out.join('\n')}\n`;
}

const LEGEND_EDGES: Array<[LinkKind, string]> = [
  ['pair', 'agreements both ways, healthy'],
  ['ok', 'healthy (the reverse has a problem)'],
  ['one-way', 'one-way: no agreement back'],
  ['disabled', 'disabled agreement'],
  ['failing', 'failing (short status on the edge)'],
  ['degraded', 'degraded'],
];

/** Sample edges and hosts, drawn with the very styles of the graph, in a frame whose top left is (left, top). */
function legend(left: number, top: number): string[] {
  const out = ['  subgraph "cluster_legend" {'];
  out.push(
    '    graph ' +
      `${attrs({ label: 'Legend', labelloc: 't', labeljust: 'l', fontsize: 11, style: 'rounded', color: '#cfd8dc' })};`,
  );
  out.push(`    node ${attrs({ fontsize: 10, height: 0.3 })};`);
  const row = 0.32;
  const colW = 4.0;
  const textW = 2.7;
  const x0 = left + 0.25;
  const y0 = top - 0.4 - row / 2;
  LEGEND_EDGES.forEach(([kind, text], i) => {
    const x = x0 + (i % 2) * colW;
    const y = y0 - Math.floor(i / 2) * row;
    const a = dotString(`legend:${kind}:a`);
    const b = dotString(`legend:${kind}:b`);
    const point = { shape: 'point', width: 0.04, color: '#90a4ae' };
    out.push(`    ${a} ${attrs({ ...point, pos: pin(x, y) })};`);
    out.push(`    ${b} ${attrs({ ...point, pos: pin(x + 0.8, y) })};`);
    out.push(`    ${a} -> ${b} ${attrs({ ...LINK_STYLE[kind], tooltip: text })};`);
    const label = new Raw(`"${dotEscape(text)}\\l"`);
    const pos = pin(x + 0.95 + textW / 2, y);
    const style = attrs({ label, shape: 'plaintext', width: textW, height: 0.2, fixedsize: 'true', pos });
    out.push(`    ${dotString(`legend:${kind}:text`)} ${style};`);
  });
  const samples: Array<[string, DrawNode]> = [
    ['ca', sample(['CA host', '(double border)'], { ca: true })],
    ['error', sample(['error finding', 'about the host'], { severity: 'error' })],
    ['warning', sample(['warning finding', 'about the host'], { severity: 'warning' })],
    ['unreachable', sample(['host', '(unreachable)'], { unreachable: true })],
    ['external', sample(['host', '(not in inventory)'], { external: true })],
  ];
  const sampleW = 1.25;
  const sy = y0 - 3 * row - 0.25;
  samples.forEach(([key, n], i) => {
    const { tooltip: _tooltip, ...style } = nodeAttrs(n);
    const pos = pin(x0 + sampleW / 2 + i * (sampleW + 0.25), sy);
    const box = attrs({ ...style, fontsize: 9, width: sampleW, height: 0.42, fixedsize: 'true', pos });
    out.push(`    ${dotString(`legend:node:${key}`)} ${box};`);
  });
  const right = Math.max(x0 + colW + 0.95 + textW, x0 + 5 * (sampleW + 0.25)) + 0.1;
  out.push(...frame('legend', left, top, right, sy - 0.21 - 0.2));
  out.push('  }');
  return out;
}

function sample(lines: string[], over: Partial<DrawNode>): DrawNode {
  return {
    id: '',
    name: '',
    lines,
    ca: false,
    external: false,
    unreachable: false,
    severity: undefined,
    tooltip: [],
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// Mermaid

/** Mermaid label text: everything but plain characters as entity codes (`#34;`), which Mermaid decodes. */
function mermaidText(s: string): string {
  return [...s].map((ch) => (/^[A-Za-z0-9 .,:=_()?-]$/u.test(ch) ? ch : `#${ch.codePointAt(0)};`)).join('');
}

/** In the order of their classDef: a later class wins where two set the same style. */
const MERMAID_CLASSES = ['host', 'ca', 'external', 'warning', 'error', 'unreachable'] as const;

const MERMAID_ARROW: Record<LinkKind, string> = {
  pair: '---',
  ok: '-->',
  'one-way': '-.->',
  disabled: '-.->',
  failing: '==>',
  degraded: '-->',
};

const MERMAID_LINK_STYLE: Record<LinkKind, string> = {
  pair: `stroke:${COLORS.ok},stroke-width:1.5px`,
  ok: `stroke:${COLORS.ok},stroke-width:1.5px`,
  'one-way': `stroke:${COLORS.oneWay},stroke-width:2px,stroke-dasharray:6 4`,
  disabled: `stroke:${COLORS.disabled},stroke-width:1.5px,stroke-dasharray:6 4`,
  failing: `stroke:${COLORS.failing},stroke-width:3px`,
  degraded: `stroke:${COLORS.degraded},stroke-width:2px`,
};

/** A Mermaid flowchart: a subgraph per suffix, an edge per link, classes for the host states. */
export function toMermaid(topology: Topology, opts: DrawOptions): string {
  const clusters = clustersOf(topology, opts);
  const out: string[] = [];
  if (opts.title !== undefined) out.push('---', `title: ${JSON.stringify(opts.title)}`, '---');
  out.push('flowchart LR');
  out.push(
    // Later rules win: the finding fills over the CA and external ones, the unreachable outline over all.
    `  classDef host fill:#ffffff,stroke:${COLORS.line},color:#000000`,
    `  classDef ca fill:${COLORS.caFill},stroke:${COLORS.line},stroke-width:3px`,
    '  classDef external ' +
      `fill:${COLORS.externalFill},stroke:${COLORS.disabled},color:${COLORS.externalText},stroke-dasharray:5 3`,
    `  classDef warning fill:${COLORS.warningFill}`,
    `  classDef error fill:${COLORS.errorFill}`,
    `  classDef unreachable stroke:${COLORS.failing},stroke-width:3px`,
  );
  const ids = new Map<string, string>();
  const linkStyles: string[] = [];
  let linkIndex = 0;
  const classes = new Map<string, string[]>(MERMAID_CLASSES.map((c) => [c, []]));
  for (const c of clusters) {
    const prefix = c.kind === 'domain' ? 'd' : 'c';
    c.order.forEach((name, i) => {
      ids.set(`${c.kind}:${name}`, `${prefix}${i}`);
    });
    out.push(`  subgraph sub_${c.kind}["${mermaidText(c.title)}"]`);
    if (c.nodes.length === 0) out.push(`    ${prefix}_none["${c.kind === 'ca' ? '(no CA hosts)' : '(no hosts)'}"]`);
    for (const name of c.order) {
      const n = c.nodes.find((x) => x.name === name)!;
      const id = ids.get(n.id)!;
      out.push(`    ${id}["${n.lines.map(mermaidText).join('<br/>')}"]`);
      const mine = {
        host: true,
        ca: n.ca,
        external: n.external,
        warning: n.severity === 'warning',
        error: n.severity === 'error',
        unreachable: n.unreachable,
      };
      for (const cls of MERMAID_CLASSES) if (mine[cls]) classes.get(cls)!.push(id);
    }
    for (const l of c.links) {
      const label = l.label === undefined ? '' : `|"${mermaidText(l.label)}"|`;
      out.push(`    ${ids.get(l.from)!} ${MERMAID_ARROW[l.kind]}${label} ${ids.get(l.to)!}`);
      linkStyles.push(`  linkStyle ${linkIndex++} ${MERMAID_LINK_STYLE[l.kind]}`);
    }
    out.push('  end');
  }
  // `class a,b name` adds the class to each node; a node may get several.
  for (const [cls, nodeIds] of classes) if (nodeIds.length) out.push(`  class ${nodeIds.join(',')} ${cls}`);
  out.push('  subgraph legend["Legend"]');
  out.push('    direction LR');
  out.push(
    '    lg_ca["CA host"]:::ca',
    '    lg_error["error finding"]:::error',
    '    lg_warning["warning finding"]:::warning',
  );
  out.push('    lg_unreachable["(unreachable)"]:::unreachable', '    lg_external["(not in inventory)"]:::external');
  out.push('  end');
  out.push('  %% edges: --- healthy both ways; --> healthy one direction (the reverse has a problem);');
  out.push('  %% -.-> one-way (orange) or disabled (grey); ==> failing (red, short status); --> degraded (amber)');
  out.push(...linkStyles);
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Rendering and files

export interface Renderer {
  /** SVG text of a DOT graph. Throws FleetError when Graphviz rejects the graph. */
  svg(dot: string): string;
}

/** A Graphviz (WASM) instance, kept by the returned object only: create one per batch of drawings. */
export async function createRenderer(): Promise<Renderer> {
  const viz = await instance();
  return {
    svg(dot: string): string {
      const result = viz.render(dot, { format: 'svg' });
      if (result.status !== 'success') {
        const why = result.errors
          .filter((e) => e.level !== 'warning')
          .map((e) => e.message.trim())
          .join('; ');
        throw new FleetError('failure', `cannot render the topology graph: ${why || 'Graphviz failed'}`);
      }
      return result.output;
    },
  };
}

export async function renderSvg(dot: string): Promise<string> {
  return (await createRenderer()).svg(dot);
}

/** Writes the drawing; the format follows the extension: .svg, .dot / .gv or .mmd. */
export async function writeGraph(file: string, topology: Topology, opts: DrawOptions): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  let text: string;
  switch (ext) {
    case '.svg':
      text = await renderSvg(topologyDot(topology, opts));
      break;
    case '.dot':
    case '.gv':
      text = topologyDot(topology, opts);
      break;
    case '.mmd':
      text = toMermaid(topology, opts);
      break;
    default:
      throw new UsageError(
        `${file}: cannot write a graph as ${ext ? `"${ext}"` : 'a file without extension'}; ` +
          `use ${GRAPH_EXTENSIONS.join(', ')}`,
      );
  }
  // Readable by others like any drawing the user saves; never half-written over the previous one.
  await replaceFile(file, text, 0o644);
}
