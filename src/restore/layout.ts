// What a restore (or a rejoin) works on, decided from the facts before anything changes: the
// suffixes the master replicates, the hosts of each, who is offline, and the BFS tree per suffix.
// Pure, so the planners of every restore step agree and `plan` prints what `run` does.
import { UsageError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { HostFacts, SuffixFacts } from '../topology/facts.js';
import { buildTopology } from '../topology/graph.js';
import { initTree, type InitTree } from '../topology/trees.js';
import type { SuffixKind } from './compatibility.js';

export interface SuffixLayout {
  kind: SuffixKind;
  suffix: string;
  /** The master's backend for the suffix. */
  backend: string;
  /** Online hosts that replicate the suffix, master first. */
  hosts: string[];
  /** Offline hosts that replicate it (they will be quarantined). */
  offline: string[];
  tree: InitTree;
}

export interface RestoreLayout {
  master: string;
  suffixes: SuffixLayout[];
  /** Every offline host (facts could not be gathered and --allow-offline names it). */
  offline: string[];
}

export function restoreLayout(
  inventory: Inventory,
  facts: ReadonlyMap<string, HostFacts>,
  offline: ReadonlyMap<string, string>,
  masterName: string,
): RestoreLayout {
  const master = inventory.hosts.find((h) => h.name === masterName);
  if (!master) throw new UsageError(`master '${masterName}' is not a host of the inventory`);
  const mf = facts.get(master.name);
  if (!mf)
    throw new UsageError(
      `master ${master.name} ` +
        `is unreachable${offline.has(master.name) ? ` (${offline.get(master.name)})` : ''}: the restore needs it`,
    );
  const replicated = (s: SuffixFacts | undefined): s is SuffixFacts & { backend: string } =>
    s !== undefined && s.backend !== undefined && s.replica !== undefined;
  const kinds: SuffixKind[] = [];
  if (replicated(mf.suffixes.domain)) kinds.push('domain');
  else
    throw new UsageError(
      `${master.name} does not replicate ${master.suffixes.domain}: it cannot be the master of a restore`,
    );
  const caHosts = inventory.hosts.filter((h) => h.roles.includes('ca') || replicated(facts.get(h.name)?.suffixes.ca));
  if (replicated(mf.suffixes.ca)) kinds.push('ca');
  else if (caHosts.length > 0) {
    throw new UsageError(
      `the deployment has CA replicas (${caHosts.map((h) => h.name).join(', ')}) but ${master.name} ` +
        'holds no CA replica: restore onto a CA master',
    );
  }
  const topology = buildTopology(inventory, facts);
  const order = inventory.hosts.map((h) => h.name);
  const offlineSet = new Set(offline.keys());
  const suffixes = kinds.map((kind): SuffixLayout => {
    const sf = kind === 'domain' ? mf.suffixes.domain : mf.suffixes.ca!;
    const online = inventory.hosts.filter((h) =>
      replicated(kind === 'domain' ? facts.get(h.name)?.suffixes.domain : facts.get(h.name)?.suffixes.ca),
    );
    const off = inventory.hosts.filter((h) => offlineSet.has(h.name) && (kind === 'domain' || h.roles.includes('ca')));
    const tree = initTree(topology[kind], master.name, offlineSet, order);
    if (tree.unreached.length > 0) {
      throw new UsageError(
        `${kind === 'domain' ? 'domain' : 'CA'} suffix: ` +
          `${tree.unreached.join(', ')} cannot be reached from ${master.name} ` +
          'through the agreements of online hosts; fix the topology (ipa-fleet audit) first',
      );
    }
    return {
      kind,
      suffix: sf.suffix,
      backend: sf.backend!,
      hosts: [master.name, ...online.map((h) => h.name).filter((n) => n !== master.name)],
      offline: off.map((h) => h.name),
      tree,
    };
  });
  return {
    master: master.name,
    suffixes,
    offline: [...offlineSet].sort((a, b) => order.indexOf(a) - order.indexOf(b)),
  };
}

/** Hosts of the inventory by name (the plan stores names). */
export function hostsNamed(inventory: Inventory, names: readonly string[]): Host[] {
  return names.map((n) => {
    const h = inventory.hosts.find((x) => x.name === n);
    if (!h) throw new UsageError(`the plan names host ${n}, which is not in the inventory any more`);
    return h;
  });
}
