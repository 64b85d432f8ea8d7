// Breadth-first re-initialization trees: who feeds whom after a restore, per suffix.
// Pure functions of a suffix graph, so `plan` shows exactly the order `run` follows.
import type { SuffixGraph } from './graph.js';

export interface TreeHop {
  /** Receives the total update. */
  consumer: string;
  /** Sends it: the master at level 1, a host of level n-1 at level n. */
  supplier: string;
  level: number;
  /** The supplier's agreement that carries it (its cn). */
  agreement: string;
}

export interface InitTree {
  root: string;
  hops: TreeHop[];
  /** Agreements that are not tree edges (mesh edges): re-enabled at unfence like the others. */
  otherEdges: Array<{ from: string; to: string }>;
  /** Hosts of the graph the tree cannot reach from the root (through online hosts). */
  unreached: string[];
}

/**
 * BFS from `root` over the agreements (supplier → consumer) between inventory hosts, skipping
 * `offline` hosts. Each host is fed by the first host of the previous level (in inventory order)
 * that has an agreement to it: the supplier finished its own init before it sends.
 */
export function initTree(
  graph: SuffixGraph,
  root: string,
  offline: ReadonlySet<string> = new Set(),
  order: readonly string[] = [],
): InitTree {
  const rank = (name: string): number => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  const members = graph.nodes.filter((n) => n.inInventory && n.audited && !offline.has(n.name)).map((n) => n.name);
  const hops: TreeHop[] = [];
  const seen = new Set([root]);
  let frontier = [root];
  for (let level = 1; frontier.length > 0; level++) {
    const next: string[] = [];
    for (const supplier of [...frontier].sort((x, y) => rank(x) - rank(y))) {
      const out = graph.edges
        .filter((e) => e.from === supplier && members.includes(e.to) && !seen.has(e.to))
        .sort((x, y) => rank(x.to) - rank(y.to));
      for (const e of out) {
        if (seen.has(e.to)) continue;
        seen.add(e.to);
        next.push(e.to);
        hops.push({ consumer: e.to, supplier, level, agreement: e.agreement.name });
      }
    }
    frontier = next;
  }
  const tree = new Set(hops.map((h) => `${h.supplier}>${h.consumer}`));
  const otherEdges = graph.edges
    .filter((e) => members.includes(e.from) && members.includes(e.to) && seen.has(e.from))
    .filter((e) => !tree.has(`${e.from}>${e.to}`))
    .map((e) => ({ from: e.from, to: e.to }));
  return { root, hops, otherEdges, unreached: members.filter((m) => !seen.has(m)).sort((x, y) => rank(x) - rank(y)) };
}

/** Levels of a tree as lines for the plan: "L1: a → b, a → d", "L2: b → c". */
export function describeTree(tree: InitTree): string[] {
  const levels = new Map<number, string[]>();
  for (const h of tree.hops) levels.set(h.level, [...(levels.get(h.level) ?? []), `${h.supplier} → ${h.consumer}`]);
  return [...levels.entries()].map(([level, hops]) => `L${level}: ${hops.join(', ')}`);
}
