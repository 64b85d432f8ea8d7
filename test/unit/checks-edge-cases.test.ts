// Audit checks (src/topology/checks.ts) on the edges of their input: --limit islands, read-only consumers without a
// changelog, RIDs of live hosts outside the inventory, schedules with days outside 0-6, busy
// replicas reported as text only, and a CA host reported three times for one cause.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Agreement } from '../../src/directory/agreements.js';
import type { RuvElement } from '../../src/directory/ruv.js';
import type { FleetError } from '../../src/errors.js';
import { parseInventory, type Inventory } from '../../src/inventory/index.js';
import { DEFAULT_THRESHOLDS, runChecks, scheduleNeverOpens } from '../../src/topology/checks.js';
import type { HostFacts, SuffixFacts } from '../../src/topology/facts.js';
import type { Finding, SuffixKind } from '../../src/topology/findings.js';
import { buildTopology } from '../../src/topology/graph.js';

const DOMAIN = 'dc=ipa,dc=test';
const CA = 'o=ipaca';
const NOW = Date.UTC(2026, 10, 26, 10, 0, 0) / 1000;
const OK = 'Error (0) Replica acquired successfully: Incremental update succeeded';

function inventoryOf(hosts: Array<[string, string[]]>): Inventory {
  return parseInventory(
    [
      'all:',
      '  vars:',
      '    ldap: {instance: IPA-TEST, password: env:T_DM}',
      `    suffixes: {domain: "${DOMAIN}", ca: "${CA}"}`,
      '  hosts:',
      ...hosts.map(([name, roles], i) => `    ${name}: {address: 192.0.2.${i + 1}, roles: [${roles.join(', ')}]}`),
      '',
    ].join('\n'),
    '/fixtures/audit-bugs.yaml',
    { homeDir: '/home/t', hasLocalKnownHosts: false },
  );
}

function agreement(to: string, kind: SuffixKind, over: Partial<Agreement> = {}): Agreement {
  const name = `${kind === 'domain' ? 'meTo' : 'caTo'}${to}`;
  return {
    dn: `cn=${name},cn=replica,cn=x,cn=mapping tree,cn=config`,
    name,
    suffix: kind === 'domain' ? DOMAIN : CA,
    targetHost: to,
    targetPort: 389,
    enabled: true,
    schedule: undefined,
    updateInProgress: false,
    refreshPending: false,
    lastUpdateStatus: OK,
    lastUpdateStatusJson: JSON.stringify({ state: 'green', message: OK }),
    lastInitStatus: undefined,
    lastInitStatusJson: undefined,
    lastInitStart: '19700101000000Z',
    lastInitEnd: '19700101000000Z',
    ...over,
  };
}

const el = (rid: number, host: string): RuvElement => ({
  rid,
  url: `ldap://${host}:389`,
  minCsn: `6b0800000000${rid.toString(16).padStart(4, '0')}0000`,
  maxCsn: `6b0801000000${rid.toString(16).padStart(4, '0')}0000`,
});

function suffix(kind: SuffixKind, over: Partial<SuffixFacts>): SuffixFacts {
  return {
    kind,
    suffix: kind === 'domain' ? DOMAIN : CA,
    instance: 'IPA-TEST',
    port: 389,
    backend: kind === 'domain' ? 'userroot' : 'ipaca',
    entryCount: 10,
    replica: undefined,
    agreements: [],
    ruv: undefined,
    agmtMaxCsns: [],
    changelogMaxAge: '7d',
    ...over,
  };
}

function host(name: string, domain: Partial<SuffixFacts>, ca?: Partial<SuffixFacts>): HostFacts {
  return {
    host: name,
    gatheredAt: new Date(NOW * 1000).toISOString(),
    fqdn: name,
    os: undefined,
    clock: { remoteEpochSeconds: NOW, controllerEpochSeconds: NOW, skewSeconds: 0, roundTripMs: 1 },
    dsVersion: '389-Directory/2.3.1',
    instances: ['IPA-TEST'],
    backends: [],
    suffixes: { domain: suffix('domain', domain), ca: ca ? suffix('ca', ca) : undefined },
    freeSpace: {},
  };
}

function audit(inventory: Inventory, hosts: HostFacts[], suffixes: SuffixKind[] = ['domain', 'ca']): Finding[] {
  const facts = new Map<string, HostFacts | FleetError>(hosts.map((h) => [h.host, h]));
  return runChecks({
    inventory,
    facts,
    topology: buildTopology(inventory, facts),
    conflicts: new Map(),
    suffixes,
    thresholds: DEFAULT_THRESHOLDS,
    now: NOW,
  });
}

const ids = (findings: Finding[]): string[] =>
  findings.map((f) => `${f.id} ${f.severity} ${f.suffix ?? '-'} [${f.hosts.join(',')}]`);

const RUV = { generation: '6b070000000000010000', elements: [el(1, 'a.t'), el(2, 'b.t'), el(3, 'c.t')] };

describe('audit checks: edge cases', () => {
  it('audit --limit a: the hosts left out are not "disconnected" (disconnected / components, checks.ts)', () => {
    // `audit --limit a.t` gathers facts of a only (auditDeployment → gatherAllFacts(hosts)), but the
    // graph holds every inventory host. c's agreements were never read, yet c counts as an island.
    // Seen for real: a healthy 3-host lab chain a-b-c, `ipa-fleet audit --limit a.ipa.test` exits 1.
    const inventory = inventoryOf([
      ['a.t', []],
      ['b.t', []],
      ['c.t', []],
    ]);
    const a = host('a.t', {
      replica: { rid: 1, type: 3, flags: 1 },
      agreements: [agreement('b.t', 'domain')],
      ruv: RUV,
    });
    const findings = audit(inventory, [a]);
    assert.deepEqual(ids(findings), [], 'a healthy chain audited with --limit a gives nothing');
  });

  it('a read-only consumer keeps no changelog: no changelog-trimming-off (changelogTrimming ignores replica.flags)', () => {
    // nsDS5ReplicaType 2 with nsDS5Flags 0 (ReplicaFacts.flags: "1 = keeps a changelog"): there is
    // no changelog to trim, yet the check warns because nsslapd-changelogmaxage is unset.
    const inventory = inventoryOf([
      ['a.t', []],
      ['c.t', []],
    ]);
    const ruv = { generation: RUV.generation, elements: [el(1, 'a.t')] };
    const a = host('a.t', { replica: { rid: 1, type: 3, flags: 1 }, agreements: [agreement('c.t', 'domain')], ruv });
    const c = host('c.t', { replica: { rid: 65535, type: 2, flags: 0 }, changelogMaxAge: undefined, ruv });
    // (The consumer has no agreement back, by design: one-way is expected there — not this test's point.)
    assert.deepEqual(
      audit(inventory, [a, c])
        .filter((f) => f.id === 'changelog-trimming-off')
        .map((f) => f.hosts),
      [],
    );
  });

  it('a RID whose supplier is a live host outside the inventory is not a CleanAllRUV candidate (staleRids)', () => {
    // b replicates to x.t (not in the inventory; host-not-in-inventory says so). x.t's RID 7 is in
    // the RUVs with URL ldap://x.t:389: x.t is the agreement target, very likely alive. staleRids
    // only spares RIDs of *unreachable inventory* hosts, so it warns "no supplier owns it" and
    // proposes CleanAllRUV — running that would wipe a live supplier's RID everywhere.
    const inventory = inventoryOf([
      ['a.t', []],
      ['b.t', []],
    ]);
    const ruv = { generation: RUV.generation, elements: [el(1, 'a.t'), el(2, 'b.t'), el(7, 'x.t')] };
    const a = host('a.t', { replica: { rid: 1, type: 3, flags: 1 }, agreements: [agreement('b.t', 'domain')], ruv });
    const b = host('b.t', {
      replica: { rid: 2, type: 3, flags: 1 },
      agreements: [agreement('a.t', 'domain'), agreement('x.t', 'domain')],
      ruv,
    });
    const stale = audit(inventory, [a, b]).filter((f) => f.id === 'stale-rid');
    assert.deepEqual(
      stale.filter((f) => f.severity !== 'info').map((f) => f.message),
      [],
      'at most an info hint for rid 7',
    );
  });

  it("scheduleNeverOpens('0000-2359 7') is true: 389-DS days are 0–6 and 7 sets a bit no weekday has", () => {
    // repl5_schedule.c parse_schedule_value: dow |= 1 << digit; time_in_window: (1 << tm_wday) & dow,
    // tm_wday 0..6 — a schedule listing only 7, 8 or 9 never opens. The check only looks for an
    // empty day list.
    assert.equal(scheduleNeverOpens('0000-2359 7'), true);
    assert.equal(scheduleNeverOpens('0800-1700 89'), true);
  });

  it('a busy replica reported as text only (no JSON status) is amber like its JSON form, not red (initAndStatus)', () => {
    // With JSON, "Error (1) Can't acquire busy replica" is state amber → update-status-amber.
    // Without JSON (servers before the JSON status attribute) the text fallback /^Error \((?!0\))/
    // makes the same transient state an error: exit 1 instead of 3.
    const busy =
      "Error (1) Can't acquire busy replica (Unable to acquire replica: the replica is currently being updated by another supplier.)";
    const inventory = inventoryOf([
      ['a.t', []],
      ['b.t', []],
    ]);
    const ruv = { generation: RUV.generation, elements: [el(1, 'a.t'), el(2, 'b.t')] };
    const a = host('a.t', {
      replica: { rid: 1, type: 3, flags: 1 },
      agreements: [agreement('b.t', 'domain', { lastUpdateStatus: busy, lastUpdateStatusJson: undefined })],
      ruv,
    });
    const b = host('b.t', { replica: { rid: 2, type: 3, flags: 1 }, agreements: [agreement('a.t', 'domain')], ruv });
    assert.deepEqual(ids(audit(inventory, [a, b])), ['update-status-amber warning domain [a.t,b.t]']);
  });

  it('a CA host without CA replica is reported once, not three times (inventoryCoverage + disconnected + caHosts)', () => {
    // Real lab (audit.test.ts scenario g): c with role ca, an ipaca backend, no CA replica gives
    //   error ca-host-without-ca-agreements ca [c]
    //   error host-without-agreements ca [c]      ← inventoryCoverage; its comment says "the CA check
    //                                               below covers CA hosts", but the skip only covers
    //                                               non-CA hosts, which are never in the CA graph
    //   error graph-disconnected ca [a,b,c]       ← c is a one-host island of the same cause
    const inventory = inventoryOf([
      ['a.t', ['ca']],
      ['b.t', ['ca']],
      ['c.t', ['ca']],
    ]);
    const caRuv = { generation: '6b070000000003e90000', elements: [el(1001, 'a.t'), el(1002, 'b.t')] };
    const a = host(
      'a.t',
      { replica: { rid: 1, type: 3, flags: 1 }, agreements: [agreement('b.t', 'domain')], ruv: RUV },
      { replica: { rid: 1001, type: 3, flags: 1 }, agreements: [agreement('b.t', 'ca')], ruv: caRuv },
    );
    const b = host(
      'b.t',
      {
        replica: { rid: 2, type: 3, flags: 1 },
        agreements: [agreement('a.t', 'domain'), agreement('c.t', 'domain')],
        ruv: RUV,
      },
      { replica: { rid: 1002, type: 3, flags: 1 }, agreements: [agreement('a.t', 'ca')], ruv: caRuv },
    );
    const c = host(
      'c.t',
      { replica: { rid: 3, type: 3, flags: 1 }, agreements: [agreement('b.t', 'domain')], ruv: RUV },
      {},
    );
    assert.deepEqual(ids(audit(inventory, [a, b, c])), ['ca-host-without-ca-agreements error ca [c.t]']);
  });
});
