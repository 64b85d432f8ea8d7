// One directed graph per suffix, from the facts of every inventory host.
import type { Agreement } from '../directory/agreements.js';
import { FleetError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { HostFacts, SuffixFacts } from './facts.js';
import type { SuffixKind } from './findings.js';

export interface TopologyNode {
  /** Inventory name, or the agreement's target host when it is not in the inventory. */
  name: string;
  inInventory: boolean;
  /** Facts were gathered (SSH and LDAP worked). */
  reachable: boolean;
  /** The audit looked at this host (it was selected); --limit leaves others out. */
  audited: boolean;
  /** Has role ca (or serves the CA suffix). */
  ca: boolean;
  /** Replica ID on this suffix, when known. */
  rid: number | undefined;
}

export type EdgeState = 'ok' | 'disabled' | 'failing' | 'degraded';

export interface TopologyEdge {
  /** Supplier (the host holding the agreement) and consumer, as node names. */
  from: string;
  to: string;
  agreement: Agreement;
  /** The consumer has an agreement back to the supplier. */
  hasReverse: boolean;
  state: EdgeState;
}

export interface SuffixGraph {
  kind: SuffixKind;
  suffix: string;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface Topology {
  domain: SuffixGraph;
  ca: SuffixGraph;
}

/** Builds both graphs. `facts` holds each host's facts, or the error that kept them from being read. */
export function buildTopology(inventory: Inventory, facts: ReadonlyMap<string, HostFacts | FleetError>): Topology {
  return {
    domain: buildGraph(inventory, facts, 'domain'),
    ca: buildGraph(inventory, facts, 'ca'),
  };
}

export function suffixFactsOf(f: HostFacts | FleetError | undefined, kind: SuffixKind): SuffixFacts | undefined {
  if (!f || f instanceof FleetError) return undefined;
  return kind === 'domain' ? f.suffixes.domain : f.suffixes.ca;
}

/** Agreement targets name hosts as the server knows them: match inventory name, address or FQDN. */
export function resolveTarget(
  inventory: Inventory,
  facts: ReadonlyMap<string, HostFacts | FleetError>,
  target: string,
): Host | undefined {
  const t = target.toLowerCase().replace(/\.$/, '');
  return inventory.hosts.find((h) => {
    const f = facts.get(h.name);
    return (
      h.name.toLowerCase() === t ||
      h.address.toLowerCase() === t ||
      (f && !(f instanceof FleetError) && f.fqdn.toLowerCase() === t)
    );
  });
}

/** Whether an agreement's target is one of `hosts` (by inventory name or address; the FQDN when known). */
export function targetsAny(
  a: Pick<Agreement, 'targetHost'>,
  hosts: Host[],
  fqdns: ReadonlyMap<string, string> = new Map(),
): boolean {
  const t = a.targetHost.toLowerCase().replace(/\.$/, '');
  return hosts.some(
    (h) => h.name.toLowerCase() === t || h.address.toLowerCase() === t || fqdns.get(h.name)?.toLowerCase() === t,
  );
}

function buildGraph(
  inventory: Inventory,
  facts: ReadonlyMap<string, HostFacts | FleetError>,
  kind: SuffixKind,
): SuffixGraph {
  const suffix =
    kind === 'domain'
      ? (inventory.hosts[0]?.suffixes.domain ?? '')
      : (inventory.hosts[0]?.suffixes.ca.suffix ?? 'o=ipaca');
  const nodes = new Map<string, TopologyNode>();
  const isCa = (h: Host): boolean =>
    h.roles.includes('ca') || suffixFactsOf(facts.get(h.name), 'ca')?.replica !== undefined;
  // Only the audited hosts (those in `facts`) are nodes of their own; others appear when an
  // agreement points at them.
  for (const h of inventory.hosts) {
    if (!facts.has(h.name)) continue;
    // The CA graph holds the CA hosts only; the domain graph every host.
    if (kind === 'ca' && !isCa(h)) continue;
    const f = facts.get(h.name);
    nodes.set(h.name, {
      name: h.name,
      inInventory: true,
      reachable: f !== undefined && !(f instanceof FleetError),
      audited: true,
      ca: isCa(h),
      rid: suffixFactsOf(f, kind)?.replica?.rid,
    });
  }
  const edges: TopologyEdge[] = [];
  for (const h of inventory.hosts) {
    for (const agreement of suffixFactsOf(facts.get(h.name), kind)?.agreements ?? []) {
      const target = resolveTarget(inventory, facts, agreement.targetHost);
      const to = target?.name ?? agreement.targetHost;
      if (!nodes.has(to)) {
        const audited = target !== undefined && facts.has(to);
        const reachable = audited && !(facts.get(to) instanceof FleetError);
        nodes.set(to, {
          name: to,
          inInventory: target !== undefined,
          reachable,
          audited,
          ca: kind === 'ca',
          rid: undefined,
        });
      }
      if (!nodes.has(h.name)) {
        nodes.set(h.name, {
          name: h.name,
          inInventory: true,
          reachable: true,
          audited: true,
          ca: isCa(h),
          rid: suffixFactsOf(facts.get(h.name), kind)?.replica?.rid,
        });
      }
      edges.push({ from: h.name, to, agreement, hasReverse: false, state: edgeState(agreement) });
    }
  }
  for (const e of edges) e.hasReverse = edges.some((r) => r.from === e.to && r.to === e.from);
  return { kind, suffix, nodes: [...nodes.values()], edges };
}

export function statusState(json: string | undefined): string | undefined {
  if (!json) return undefined;
  try {
    const state = (JSON.parse(json) as { state?: unknown }).state;
    return typeof state === 'string' ? state : undefined;
  } catch {
    return undefined;
  }
}

function edgeState(a: Agreement): EdgeState {
  if (!a.enabled) return 'disabled';
  const update = statusState(a.lastUpdateStatusJson);
  const init = statusState(a.lastInitStatusJson);
  if (update === 'red' || init === 'red') return 'failing';
  if (update === 'amber') return 'degraded';
  return 'ok';
}

/**
 * Connected components of the audited inventory hosts that have agreements, agreements taken in
 * either direction. A host with no agreement at all is left out: host-without-agreements (or the
 * CA check) reports it once, with its cause.
 */
export function components(graph: SuffixGraph): string[][] {
  const names = graph.nodes
    .filter((n) => n.inInventory && n.audited && graph.edges.some((e) => e.from === n.name || e.to === n.name))
    .map((n) => n.name);
  const seen = new Set<string>();
  const out: string[][] = [];
  for (const start of names) {
    if (seen.has(start)) continue;
    const part: string[] = [];
    const queue = [start];
    seen.add(start);
    while (queue.length) {
      const cur = queue.shift()!;
      part.push(cur);
      for (const e of graph.edges) {
        const next = e.from === cur ? e.to : e.to === cur ? e.from : undefined;
        if (next && names.includes(next) && !seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
    out.push(part);
  }
  return out;
}
