// A restore drill's sandbox: the lab spec of a deployment as its snapshots recorded it (hosts, FQDNs,
// instance, backends, replica IDs, CA hosts, agreements per suffix), or, for snapshots older than
// the topology record, as far as the inventory tells it. Pure: snapshots and inventory in, spec out.
import type { Manifest, TopologySuffix } from '../backup/manifest.js';
import type { Host, Inventory } from '../inventory/model.js';
import { type LabHost, type LabSpec, topologyEdges } from './spec.js';

export interface SandboxPlan {
  spec: LabSpec;
  /** snapshot: every host's snapshot recorded its topology; inventory: some did not, the rest was derived. */
  topologySource: 'snapshot' | 'inventory';
  /** What the sandbox could not copy from the deployment, in a sentence each. */
  notes: string[];
}

interface HostPlan {
  host: Host;
  /** The host's snapshot the drill uses (the master's, or the newest at or before it); none for some hosts. */
  manifest: Manifest | undefined;
}

/**
 * The sandbox of `inventory`'s deployment on the loopback net `net`: one lab host per inventory host,
 * in inventory order, each named and addressed as in the inventory's snapshots.
 */
export function sandboxPlan(inventory: Inventory, master: Manifest, manifests: Map<string, Manifest>, net: string) {
  const plans: HostPlan[] = inventory.hosts.map((host) => ({ host, manifest: manifests.get(host.name) }));
  const notes: string[] = [];
  const withoutTopology = plans.filter((p) => !p.manifest?.topology).map((p) => p.host.name);
  const suffixes = {
    domain: suffixOf(master, 'domain') ?? inventory.hosts[0]!.suffixes.domain,
    ca: suffixOf(master, 'ca') ?? inventory.hosts[0]!.suffixes.ca.suffix,
  };
  const hosts = labHosts(plans, suffixes, net);
  const instance = master.topology?.instance ?? master.instance;
  const others = [...new Set(plans.map((p) => p.manifest?.instance ?? p.host.ldap.instance))].filter(
    (i) => i !== instance,
  );
  if (others.length > 0) notes.push(`every sandbox instance is named ${instance} (the deployment also has ${others})`);
  const hubs = plans.filter((p) =>
    (p.manifest?.topology?.suffixes ?? p.manifest?.suffixes ?? []).some((x) => x.rid === HUB_RID),
  );
  if (hubs.length > 0)
    notes.push(`${hubs.map((p) => p.host.name).join(', ')}: hub or consumer, built as a supplier in the sandbox`);
  const recorded = recordedEdges(plans, hosts);
  notes.push(...recorded.notes);
  const domainEdges = joinUp(hosts, recorded.domain);
  const caEdges = joinUp(
    hosts.filter((h) => h.ca),
    recorded.ca,
  );
  if (withoutTopology.length > 0)
    notes.push(
      `no recorded topology for ${withoutTopology.join(', ')} (no snapshot, or one older than the topology ` +
        'record): their agreements are derived from the inventory (a chain in inventory order, CA hosts by role)',
    );
  const spec: LabSpec = {
    net,
    hosts,
    domainEdges,
    caEdges,
    entries: 0,
    data: 'none',
    deployment: inventory.deployment,
    instance,
    suffixes,
  };
  const plan: SandboxPlan = { spec, topologySource: withoutTopology.length === 0 ? 'snapshot' : 'inventory', notes };
  return plan;
}

function suffixOf(m: Manifest, kind: 'domain' | 'ca'): string | undefined {
  return (m.topology?.suffixes ?? m.suffixes).find((s) => s.kind === kind)?.suffix;
}

/** The recorded suffix of a kind with a replica ID (the CA suffix of a non-CA host has none). */
function replicated(m: Manifest | undefined, kind: 'domain' | 'ca'): { rid: number | undefined } | undefined {
  if (!m) return undefined;
  if (m.topology) {
    const s = m.topology.suffixes.find((x) => x.kind === kind);
    return s?.rid !== undefined ? { rid: supplierRid(s.rid) } : undefined;
  }
  const s = m.suffixes.find((x) => x.kind === kind);
  return s ? { rid: supplierRid(s.rid) } : undefined;
}

/** Hubs and consumers (65535) become suppliers in the sandbox, with a free replica ID. */
const HUB_RID = 65535;
function supplierRid(rid: number | undefined): number | undefined {
  return rid === HUB_RID ? undefined : rid;
}

function labHosts(plans: HostPlan[], suffixes: { domain: string; ca: string }, net: string): LabHost[] {
  const used = new Set<number>();
  for (const p of plans) for (const k of ['domain', 'ca'] as const) used.add(replicated(p.manifest, k)?.rid ?? 0);
  const freeRid = (from: number): number => {
    let rid = from;
    while (used.has(rid)) rid++;
    used.add(rid);
    return rid;
  };
  return plans.map(({ host, manifest: m }, i): LabHost => {
    const fqdn = m?.topology?.fqdn ?? m?.fqdn ?? host.name;
    const roles = m?.topology?.roles ?? m?.roles ?? host.roles;
    const ca = m ? replicated(m, 'ca') !== undefined : roles.includes('ca');
    const domainRid = replicated(m, 'domain')?.rid ?? freeRid(i + 1);
    const caRid = ca ? (replicated(m, 'ca')?.rid ?? freeRid(1000 + i + 1)) : undefined;
    return {
      short: fqdn.split('.')[0]!,
      fqdn,
      ...(fqdn !== host.name ? { name: host.name } : {}),
      address: `${net}.${i + 1}`,
      index: i + 1,
      ca,
      backends: backendsOf(m, suffixes, ca),
      rids: caRid !== undefined ? { domain: domainRid, ca: caRid } : { domain: domainRid },
      roles,
    };
  });
}

/** The backends as recorded; else those the snapshot exported; else the usual userRoot (and ipaca). */
function backendsOf(m: Manifest | undefined, suffixes: { domain: string; ca: string }, ca: boolean) {
  if (m?.topology && m.topology.backends.length > 0) return m.topology.backends;
  const fromSnapshot = m?.suffixes.map((s) => ({ name: s.backend, suffix: s.suffix })) ?? [];
  const defaults = [
    { name: 'userRoot', suffix: suffixes.domain },
    ...(ca ? [{ name: 'ipaca', suffix: suffixes.ca }] : []),
  ];
  return [...fromSnapshot, ...defaults.filter((d) => !fromSnapshot.some((s) => same(s.suffix, d.suffix)))];
}

/** Every sandbox instance listens on 389 (on its own address). */
const LAB_PORT = 389;

interface RecordedEdges {
  domain: Array<[string, string]>;
  ca: Array<[string, string]>;
  notes: string[];
}

/** Undirected edges per suffix from the agreements the snapshots recorded, between sandbox hosts. */
function recordedEdges(plans: HostPlan[], hosts: LabHost[]): RecordedEdges {
  const out: RecordedEdges = { domain: [], ca: [], notes: [] };
  const seen = new Set<string>();
  const directed = new Set<string>();
  plans.forEach((p, i) => {
    for (const s of p.manifest?.topology?.suffixes ?? []) {
      for (const a of s.agreements) {
        const target = findHost(hosts, plans, a.host);
        if (!target) {
          out.notes.push(`${hosts[i]!.fqdn}: its ${s.kind} agreement to ${a.host} leads outside the inventory`);
          continue;
        }
        addEdge(out, seen, directed, s, hosts[i]!.fqdn, target.fqdn);
        if (!a.enabled) out.notes.push(`${hosts[i]!.fqdn} → ${target.fqdn} (${s.kind}) was disabled at backup time`);
        if (a.port !== LAB_PORT)
          out.notes.push(`${hosts[i]!.fqdn} → ${target.fqdn} (${s.kind}) uses port ${a.port}; the sandbox's use 389`);
      }
    }
  });
  for (const kind of ['domain', 'ca'] as const) {
    for (const [x, y] of out[kind]) {
      if (!directed.has(`${kind}|${y}|${x}`) && hasTopology(plans, hosts, y))
        out.notes.push(`${x} → ${y} (${kind}) has no reverse agreement; the sandbox has both`);
    }
  }
  return out;
}

function addEdge(
  out: RecordedEdges,
  seen: Set<string>,
  directed: Set<string>,
  s: TopologySuffix,
  from: string,
  to: string,
): void {
  directed.add(`${s.kind}|${from}|${to}`);
  const key = `${s.kind}|${[from, to].sort().join('|')}`;
  if (from === to || seen.has(key)) return;
  seen.add(key);
  out[s.kind].push([from, to]);
}

function hasTopology(plans: HostPlan[], hosts: LabHost[], fqdn: string): boolean {
  return plans[hosts.findIndex((h) => h.fqdn === fqdn)]?.manifest?.topology !== undefined;
}

/** An agreement's target among the sandbox hosts: by FQDN, inventory name or inventory address. */
function findHost(hosts: LabHost[], plans: HostPlan[], target: string): LabHost | undefined {
  const t = target.replace(/\.$/, '');
  const i = hosts.findIndex(
    (h, n) => same(h.fqdn, t) || same(plans[n]!.host.name, t) || same(plans[n]!.host.address, t),
  );
  return i < 0 ? undefined : hosts[i];
}

/**
 * Hosts the recorded edges leave unconnected (no recorded topology) joined by a chain in inventory
 * order, so every host of the suffix can be reached; with no recorded edge at all, the whole chain.
 */
function joinUp(members: LabHost[], edges: Array<[string, string]>): Array<[string, string]> {
  const names = members.map((h) => h.fqdn);
  const inSuffix = edges.filter(([x, y]) => names.includes(x) && names.includes(y));
  if (inSuffix.length === 0) return topologyEdges('chain', names, 'sandbox');
  const reached = new Set(inSuffix.flat());
  const out = [...inSuffix];
  let previous = names.find((n) => reached.has(n))!;
  for (const n of names) {
    if (!reached.has(n)) out.push([previous, n]);
    previous = n;
  }
  return out;
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** What a sandbox needs on the controller, from the snapshots' sizes. */
export interface SandboxNeeds {
  diskBytes: number;
  memoryBytes: number;
}

/** A new 389-DS instance: its files (db, changelog, logs, config) and its resident memory when idle. */
const INSTANCE_DISK = 160 * 1024 * 1024;
const INSTANCE_MEMORY = 200 * 1024 * 1024;

/**
 * Each host ends up holding the master's data: its database (about three times the LDIF with the
 * indexes and the changelog), and the restore stages the LDIF on it once more; the entry caches
 * grow with the data too.
 */
export function sandboxNeeds(master: Manifest, hosts: number): SandboxNeeds {
  const ldifs = new Set(master.suffixes.map((s) => s.ldif));
  const ldifBytes = master.files.filter((f) => ldifs.has(f.path)).reduce((sum, f) => sum + f.size, 0);
  return {
    diskBytes: hosts * (INSTANCE_DISK + 4 * ldifBytes),
    memoryBytes: hosts * (INSTANCE_MEMORY + ldifBytes),
  };
}
