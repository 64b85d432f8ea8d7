// The audit's checks: pure functions of the gathered facts and the graphs (tested with fixtures).
// Each check is one function; a later milestone adds its own (backup freshness) through `extraChecks`.
import { csnLagSeconds } from '../directory/csn.js';
import type { ConflictScan } from '../directory/conflicts.js';
import { FleetError } from '../errors.js';
import type { Inventory } from '../inventory/model.js';
import type { HostFacts } from './facts.js';
import type { Finding, SuffixKind } from './findings.js';
import { components, resolveTarget, statusState, suffixFactsOf, type SuffixGraph, type Topology } from './graph.js';

export interface AuditThresholds {
  /** A host this far (seconds) behind a supplier RID is lagging. */
  lagSeconds: number;
  /** Clocks further apart than this (seconds) are skewed. */
  skewSeconds: number;
  /** A refresh pending longer than this (seconds) is stuck. */
  refreshPendingSeconds: number;
  /** FreeIPA recommends at most 4 agreements per host. */
  maxAgreements: number;
}

export const DEFAULT_THRESHOLDS: AuditThresholds = {
  lagSeconds: 300,
  skewSeconds: 30,
  refreshPendingSeconds: 300,
  maxAgreements: 4,
};

export interface AuditInput {
  inventory: Inventory;
  facts: ReadonlyMap<string, HostFacts | FleetError>;
  topology: Topology;
  /** host → suffix kind → scan (reachable hosts only). */
  conflicts: ReadonlyMap<string, Partial<Record<SuffixKind, ConflictScan>>>;
  suffixes: SuffixKind[];
  thresholds: AuditThresholds;
  /** Reference time (unix seconds) for ages; the caller passes the clock. */
  now: number;
}

/** A check: input in, findings out. The extension point for later checks (backup freshness). */
export type Check = (input: AuditInput) => Finding[];

export function runChecks(input: AuditInput, extraChecks: Check[] = []): Finding[] {
  return [...DEFAULT_CHECKS, ...extraChecks].flatMap((check) => check(input));
}

const perSuffix =
  (fn: (input: AuditInput, graph: SuffixGraph) => Finding[]): Check =>
  (input) =>
    input.suffixes.flatMap((kind) => fn(input, input.topology[kind]));

const label = (kind: SuffixKind): string => (kind === 'domain' ? 'domain suffix' : 'CA suffix');

const unreachableHosts: Check = ({ inventory, facts }) =>
  inventory.hosts.flatMap((h) => {
    const f = facts.get(h.name);
    if (!(f instanceof FleetError)) return [];
    return [
      {
        id: 'host-unreachable',
        severity: 'error',
        hosts: [h.name],
        suffix: undefined,
        message: f.message,
        fix:
          f.kind === 'auth'
            ? 'check the SSH key / known_hosts / DM password for this host'
            : 'bring the host (sshd and ns-slapd) back, or check the network and firewall',
      },
    ];
  });

const inventoryCoverage = perSuffix((_input, graph) => {
  const out: Finding[] = [];
  for (const node of graph.nodes.filter((n) => !n.inInventory)) {
    const from = graph.edges.filter((e) => e.to === node.name).map((e) => e.from);
    out.push({
      id: 'host-not-in-inventory',
      severity: 'warning',
      hosts: [node.name],
      suffix: graph.kind,
      message:
        `${from.join(', ')} replicate${from.length === 1 ? 's' : ''} the ${label(graph.kind)} to ` +
        `${node.name}, which the inventory does not list`,
      fix: `add ${node.name} to the inventory, or remove the agreement if the host is gone`,
    });
  }
  const members = graph.nodes.filter((n) => n.inInventory && n.reachable);
  if (members.length > 1) {
    for (const node of members) {
      if (graph.edges.some((e) => e.from === node.name || e.to === node.name)) continue;
      // In the CA graph, caHosts reports a CA host without agreements, with the cause.
      if (graph.kind === 'ca') continue;
      out.push({
        id: 'host-without-agreements',
        severity: 'error',
        hosts: [node.name],
        suffix: graph.kind,
        message: `${node.name} has no ${label(graph.kind)} agreement to or from any host`,
        fix:
          'create agreements both ways with a peer (ipa topologysegment-add / dsconf repl-agmt create), ' +
          `then initialize ${node.name}`,
      });
    }
  }
  return out;
});

const oneWayAgreements = perSuffix((_input, graph) =>
  graph.edges
    .filter((e) => !e.hasReverse && graph.nodes.find((n) => n.name === e.to)?.reachable)
    .map((e) => ({
      id: 'agreement-one-way' as const,
      severity: 'error' as const,
      hosts: [e.from, e.to],
      suffix: graph.kind,
      message:
        `${e.from} replicates the ${label(graph.kind)} to ${e.to} (${e.agreement.name}), ` +
        `but ${e.to} has no agreement back`,
      fix: `create the agreement ${e.to} → ${e.from} (FreeIPA: re-add the topology segment)`,
    })),
);

const disconnected = perSuffix((_input, graph) => {
  const parts = components(graph);
  if (parts.length <= 1) return [];
  return [
    {
      id: 'graph-disconnected',
      severity: 'error',
      hosts: parts.flat(),
      suffix: graph.kind,
      message:
        `the ${label(graph.kind)} falls into ${parts.length} separate groups: ` +
        `${parts.map((p) => `{${p.join(', ')}}`).join(' ')}`,
      fix: 'add agreements (both ways) between the groups so every change reaches every host',
    },
  ];
});

const tooManyAgreements = perSuffix(({ thresholds }, graph) =>
  graph.nodes.flatMap((n) => {
    const count = graph.edges.filter((e) => e.from === n.name).length;
    if (count <= thresholds.maxAgreements) return [];
    return [
      {
        id: 'too-many-agreements' as const,
        severity: 'warning' as const,
        hosts: [n.name],
        suffix: graph.kind,
        message:
          `${n.name} has ${count} ${label(graph.kind)} agreements ` +
          `(FreeIPA recommends at most ${thresholds.maxAgreements})`,
        fix: 'remove some segments so each server replicates with at most 4 peers',
      },
    ];
  }),
);

const disabledOrClosed = perSuffix((_input, graph) =>
  graph.edges.flatMap((e) => {
    const out: Finding[] = [];
    if (!e.agreement.enabled) {
      out.push({
        id: 'agreement-disabled',
        severity: 'error',
        hosts: [e.from, e.to],
        suffix: graph.kind,
        message:
          `agreement ${e.agreement.name} (${e.from} → ${e.to}) is disabled: ` +
          `changes on ${e.from} do not reach ${e.to} through it`,
        fix:
          `enable it: ldapmodify ${e.agreement.dn}: replace nsds5ReplicaEnabled: on (after a restore: ` +
          'ipa-fleet does this when it unfences)',
      });
    }
    const schedule = e.agreement.schedule;
    if (schedule && scheduleNeverOpens(schedule)) {
      out.push({
        id: 'schedule-never-opens',
        severity: 'error',
        hosts: [e.from, e.to],
        suffix: graph.kind,
        message: `agreement ${e.agreement.name} (${e.from} → ${e.to}) has schedule '${schedule}', which never opens`,
        fix: `delete nsDS5ReplicaUpdateSchedule from ${e.agreement.dn} (always open), or give it a real window`,
      });
    }
    return out;
  }),
);

/** `HHMM-HHMM DAYS` (days 0–6); it never opens when no day is listed or the window is empty. */
export function scheduleNeverOpens(schedule: string): boolean {
  const m = /^\s*(\d{4})-(\d{4})\s+(\d*)\s*$/.exec(schedule);
  if (!m) return false;
  // Days are 0 (Sunday) to 6; the server ignores other digits, so "7" alone never opens.
  return !/[0-6]/.test(m[3]!) || m[1] === m[2];
}

const initAndStatus = perSuffix(({ thresholds, now }, graph) =>
  graph.edges.flatMap((e) => {
    const a = e.agreement;
    const out: Finding[] = [];
    if (
      statusState(a.lastInitStatusJson) === 'red' ||
      /aborted|ldap error|connection error/i.test(a.lastInitStatus ?? '')
    ) {
      out.push({
        id: 'init-failed',
        severity: 'error',
        hosts: [e.from, e.to],
        suffix: graph.kind,
        message: `the last initialization of ${e.to} through ${a.name} failed: ${a.lastInitStatus ?? 'no status'}`,
        fix: `initialize ${e.to} again from ${e.from} once the cause is fixed`,
      });
    }
    if (a.refreshPending) {
      const started = generalizedTime(a.lastInitStart);
      const age = started === undefined ? undefined : now - started;
      if (age === undefined || age > thresholds.refreshPendingSeconds) {
        out.push({
          id: 'refresh-pending',
          severity: 'warning',
          hosts: [e.from, e.to],
          suffix: graph.kind,
          message:
            `a total update of ${e.to} through ${a.name} is requested but has ` +
            `${age === undefined ? 'not started' : `run for ${Math.round(age)} s`}` +
            `${a.enabled ? '' : ' (the agreement is disabled)'}`,
          fix:
            'check that both servers run and the agreement is enabled; ' +
            'a disabled agreement refuses an init (LDAP 53)',
        });
      }
    }
    if (a.enabled) {
      const state = statusState(a.lastUpdateStatusJson);
      const text = a.lastUpdateStatus ?? '';
      const generation = /different database generation/i.test(text);
      // Servers without the JSON status only give text: a busy replica there is amber too.
      const textOnly = state === undefined && /^Error \((?!0\))/.test(text);
      const busy = textOnly && /busy/i.test(text);
      if (state === 'red' || (textOnly && !busy)) {
        out.push({
          id: 'update-status-red',
          severity: 'error',
          hosts: [e.from, e.to],
          suffix: graph.kind,
          message: `${e.from} → ${e.to} (${a.name}): ${text || 'error'}`,
          fix: generation
            ? `${e.to} holds data of another generation: re-initialize it from ${e.from} (or restore it)`
            : 'read the errors log of both servers; fix the cause, then check again',
        });
      } else if (state === 'amber' || busy) {
        out.push({
          id: 'update-status-amber',
          severity: 'warning',
          hosts: [e.from, e.to],
          suffix: graph.kind,
          message: `${e.from} → ${e.to} (${a.name}): ${text}`,
          fix: 'usually transient (replica busy, retrying); check again, and read the errors log if it stays',
        });
      }
    }
    return out;
  }),
);

const generations = perSuffix(({ facts }, graph) => {
  const byGeneration = new Map<string, string[]>();
  for (const n of graph.nodes) {
    const generation = suffixFactsOf(facts.get(n.name), graph.kind)?.ruv?.generation;
    if (!generation) continue;
    byGeneration.set(generation, [...(byGeneration.get(generation) ?? []), n.name]);
  }
  if (byGeneration.size <= 1) return [];
  const groups = [...byGeneration].sort((a, b) => b[1].length - a[1].length);
  return [
    {
      id: 'generation-mismatch',
      severity: 'error',
      hosts: groups.flatMap(([, hosts]) => hosts),
      suffix: graph.kind,
      message:
        `the ${label(graph.kind)} has ${groups.length} replica generations: ` +
        `${groups.map(([g, hosts]) => `${g} on ${hosts.join(', ')}`).join('; ')}`,
      fix:
        'choose the host with the right data and re-initialize the others from it ' +
        '(ipa-fleet restore / re-initialize)',
      details: Object.fromEntries(groups),
    },
  ];
});

const duplicateRids = perSuffix(({ facts }, graph) => {
  const byRid = new Map<number, string[]>();
  for (const n of graph.nodes) {
    const replica = suffixFactsOf(facts.get(n.name), graph.kind)?.replica;
    if (!replica || replica.rid === 65535) continue; // consumers and hubs share 65535 by design
    byRid.set(replica.rid, [...(byRid.get(replica.rid) ?? []), n.name]);
  }
  return [...byRid]
    .filter(([, hosts]) => hosts.length > 1)
    .map(([rid, hosts]) => ({
      id: 'duplicate-rid' as const,
      severity: 'error' as const,
      hosts,
      suffix: graph.kind,
      message: `replica ID ${rid} of the ${label(graph.kind)} is used by ${hosts.join(' and ')}: their changes collide`,
      fix: 'give one of them a new replica ID (re-create its replica) and clean the old RID everywhere',
    }));
});

const staleRids = perSuffix(({ inventory, facts }, graph) => {
  const live = new Set<number>();
  const unreachable = new Set<string>();
  let unknown = false;
  // Hosts not read (unreachable, or left out by --limit) may own RIDs we cannot see.
  for (const h of inventory.hosts) {
    const f = facts.get(h.name);
    if (f instanceof FleetError || f === undefined) {
      unknown = true;
      unreachable.add(h.name);
      continue;
    }
    const replica = suffixFactsOf(f, graph.kind)?.replica;
    if (replica) live.add(replica.rid);
  }
  // The RID of a host we could not read is known by the element's URL (ldap://host:port): an
  // unreachable inventory host, or a host outside the inventory that an agreement points at.
  const external = new Set(graph.nodes.filter((n) => !n.inInventory).map((n) => n.name.toLowerCase()));
  const ownedByUnreachable = (url: string | undefined): boolean => {
    const host = /^ldaps?:\/\/([^:/]+)/.exec(url ?? '')?.[1];
    if (!host) return false;
    if (external.has(host.toLowerCase())) return true;
    const target = resolveTarget(inventory, facts, host);
    return target !== undefined && unreachable.has(target.name);
  };
  const seenAt = new Map<number, string[]>();
  for (const n of graph.nodes) {
    for (const el of suffixFactsOf(facts.get(n.name), graph.kind)?.ruv?.elements ?? []) {
      if (live.has(el.rid) || el.rid === 65535 || ownedByUnreachable(el.url)) continue;
      seenAt.set(el.rid, [...(seenAt.get(el.rid) ?? []), n.name]);
    }
  }
  return [...seenAt].map(([rid, hosts]) => ({
    id: 'stale-rid' as const,
    // An unreachable inventory host might own the RID: then it is only a hint.
    severity: unknown ? ('info' as const) : ('warning' as const),
    hosts,
    suffix: graph.kind,
    message:
      `replica ID ${rid} appears in the ${label(graph.kind)} RUV of ${hosts.join(', ')} but no ` +
      `${unknown ? 'reachable ' : ''}supplier owns it`,
    fix:
      `if no server uses RID ${rid} any more, run CleanAllRUV: ` +
      `dsconf <instance> repl-tasks cleanallruv --suffix ${graph.suffix} --replica-id ${rid}`,
  }));
});

const lag = perSuffix(({ facts, thresholds }, graph) => {
  const out: Finding[] = [];
  for (const owner of graph.nodes) {
    const own = suffixFactsOf(facts.get(owner.name), graph.kind);
    const rid = own?.replica?.rid;
    if (rid === undefined) continue;
    const latest = own?.ruv?.elements.find((el) => el.rid === rid)?.maxCsn;
    if (!latest) continue;
    for (const other of graph.nodes) {
      if (other.name === owner.name) continue;
      const ruv = suffixFactsOf(facts.get(other.name), graph.kind)?.ruv;
      if (!ruv) continue;
      const seen = ruv.elements.find((el) => el.rid === rid)?.maxCsn;
      const behind = seen ? csnLagSeconds(seen, latest) : undefined;
      if (behind !== undefined && behind > thresholds.lagSeconds) {
        out.push({
          id: 'replication-lag',
          severity: 'warning',
          hosts: [other.name, owner.name],
          suffix: graph.kind,
          message:
            `${other.name} is ${Math.round(behind)} s behind the changes of ${owner.name} ` +
            `(RID ${rid}) on the ${label(graph.kind)}`,
          fix: 'check the agreements on the path between them (status, schedule, enabled)',
          details: { rid, behindSeconds: behind },
        });
      }
    }
  }
  return out;
});

const conflictEntries = perSuffix(({ conflicts }, graph) =>
  graph.nodes.flatMap((n) => {
    const scan = conflicts.get(n.name)?.[graph.kind];
    if (!scan) return [];
    const out: Finding[] = [];
    if (scan.conflicts.count > 0) {
      out.push({
        id: 'conflict-entries',
        severity: 'warning',
        hosts: [n.name],
        suffix: graph.kind,
        message:
          `${n.name} holds ${scan.conflicts.count} replication conflict ` +
          `entr${scan.conflicts.count === 1 ? 'y' : 'ies'}: ${scan.conflicts.first.join('; ')}`,
        fix: 'resolve each conflict: keep the right entry, delete or rename the conflict one (dsconf repl-conflict)',
        details: scan.conflicts as unknown as Finding['details'],
      });
    }
    if (scan.glue.count > 0) {
      out.push({
        id: 'glue-entries',
        severity: 'warning',
        hosts: [n.name],
        suffix: graph.kind,
        message:
          `${n.name} holds ${scan.glue.count} glue entr${scan.glue.count === 1 ? 'y' : 'ies'}: ` +
          `${scan.glue.first.join('; ')}`,
        fix: 'convert or delete the glue entries (dsconf repl-conflict convert-glue / delete-glue)',
      });
    }
    return out;
  }),
);

const changelogTrimming = perSuffix(({ facts }, graph) =>
  graph.nodes.flatMap((n) => {
    const sf = suffixFactsOf(facts.get(n.name), graph.kind);
    // nsDS5Flags bit 1: the replica keeps a changelog (read-only consumers do not).
    if (!sf?.replica || (sf.replica.flags & 1) === 0 || sf.changelogMaxAge) return [];
    return [
      {
        id: 'changelog-trimming-off' as const,
        severity: 'warning' as const,
        hosts: [n.name],
        suffix: graph.kind,
        message: `the ${label(graph.kind)} changelog on ${n.name} is never trimmed (no nsslapd-changelogmaxage)`,
        fix: `set it: dsconf <instance> replication set-changelog --suffix ${graph.suffix} --max-age 7d`,
      },
    ];
  }),
);

const caHosts: Check = ({ inventory, facts, topology, suffixes }) => {
  if (!suffixes.includes('ca')) return [];
  const caHostsInInventory = inventory.hosts.filter((h) => h.roles.includes('ca'));
  if (caHostsInInventory.length < 2) return [];
  return caHostsInInventory.flatMap((h) => {
    const f = facts.get(h.name);
    if (f instanceof FleetError || !f) return [];
    const edges = topology.ca.edges.filter((e) => e.from === h.name || e.to === h.name);
    if (edges.length > 0) return [];
    const replica = f.suffixes.ca?.replica;
    return [
      {
        id: 'ca-host-without-ca-agreements' as const,
        severity: 'error' as const,
        hosts: [h.name],
        suffix: 'ca' as const,
        message:
          `${h.name} has role ca but ${replica ? 'no CA (o=ipaca) agreement' : 'no CA replica'}: ` +
          'its certificate data does not replicate',
        fix:
          'connect it to another CA: ipa topologysegment-add ca … (or ipa-csreplica-manage connect), ' +
          'then re-initialize its CA data',
      },
    ];
  });
};

const clockSkew: Check = ({ facts, thresholds }) => {
  const clocks = [...facts]
    .filter((e): e is [string, HostFacts] => !(e[1] instanceof FleetError))
    .map(([name, f]) => ({ name, skew: f.clock.skewSeconds }));
  if (clocks.length < 2) return [];
  const min = clocks.reduce((a, b) => (b.skew < a.skew ? b : a));
  const max = clocks.reduce((a, b) => (b.skew > a.skew ? b : a));
  const spread = max.skew - min.skew;
  if (spread <= thresholds.skewSeconds) return [];
  return [
    {
      id: 'clock-skew',
      severity: 'warning',
      hosts: [max.name, min.name],
      suffix: undefined,
      message:
        `clocks differ by ${spread.toFixed(1)} s between ${max.name} and ${min.name} ` +
        `(threshold ${thresholds.skewSeconds} s)`,
      fix: 'run chrony/NTP on every server; Kerberos and replication CSNs depend on time',
    },
  ];
};

export const DEFAULT_CHECKS: readonly Check[] = [
  unreachableHosts,
  inventoryCoverage,
  oneWayAgreements,
  disconnected,
  tooManyAgreements,
  disabledOrClosed,
  initAndStatus,
  generations,
  duplicateRids,
  staleRids,
  lag,
  conflictEntries,
  changelogTrimming,
  caHosts,
  clockSkew,
];

/** 20261126091918Z → unix seconds; 19700101000000Z ("never") → undefined. */
export function generalizedTime(value: string | undefined): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
  return t <= 0 ? undefined : t;
}
