// The audit's checks, graph and finding helpers, with hand-built HostFacts (builders below) and
// one set of facts gathered from a real lab (test/fixtures/audit/lab-chain-healthy.json).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Agreement } from '../../src/directory/agreements.js';
import type { ConflictScan } from '../../src/directory/conflicts.js';
import type { RuvElement } from '../../src/directory/ruv.js';
import { auditExitCode } from '../../src/cli/exit-codes.js';
import { AuthError, FleetError, UnreachableError } from '../../src/errors.js';
import { severityOf } from '../../src/operations/audit.js';
import { parseInventory, type Inventory } from '../../src/inventory/index.js';
import {
  DEFAULT_CHECKS,
  DEFAULT_THRESHOLDS,
  generalizedTime,
  runChecks,
  scheduleNeverOpens,
  type AuditThresholds,
  type Check,
} from '../../src/topology/checks.js';
import type { HostFacts, SuffixFacts } from '../../src/topology/facts.js';
import { sortFindings, type Finding, type FindingId, type SuffixKind } from '../../src/topology/findings.js';
import {
  buildTopology,
  components,
  resolveTarget,
  statusState,
  suffixFactsOf,
  type Topology,
} from '../../src/topology/graph.js';

const DOMAIN = 'dc=ipa,dc=test';
const CA = 'o=ipaca';
/** 2026-11-26T10:00:00Z: the reference clock of every fixture. */
const NOW = Date.UTC(2026, 10, 26, 10, 0, 0) / 1000;
const GENERATION = '6b080548000000010000';
const CA_GENERATION = '6b080548000003e90000';

// ---- builders ----

interface HostSpec {
  name: string;
  address?: string;
  roles?: string[];
}

/** A parsed inventory (the real parser): `a` → a.ipa.test on 192.0.2.1, roles as given. */
function inventoryOf(hosts: Array<string | HostSpec>): Inventory {
  const specs = hosts.map((h, i): Required<HostSpec> => {
    const s = typeof h === 'string' ? { name: h } : h;
    const name = s.name.includes('.') ? s.name : `${s.name}.ipa.test`;
    return { name, address: s.address ?? `192.0.2.${i + 1}`, roles: s.roles ?? [] };
  });
  return parseInventory(
    [
      'all:',
      '  vars:',
      '    deployment: audit-fixture',
      '    ldap: {instance: IPA-TEST, password: env:T_DM}',
      `    suffixes: {domain: "${DOMAIN}", ca: "${CA}"}`,
      '  hosts:',
      ...specs.map((s) => `    ${s.name}: {address: ${s.address}, roles: [${s.roles.join(', ')}]}`),
      '',
    ].join('\n'),
    '/fixtures/audit.yaml',
    { homeDir: '/home/t', hasLocalKnownHosts: false },
  );
}

const fqdn = (n: string): string => (n.includes('.') ? n : `${n}.ipa.test`);

const green = (message: string): string =>
  JSON.stringify({
    state: 'green',
    ldap_rc: '0',
    ldap_rc_text: 'Success',
    repl_rc: '0',
    repl_rc_text: 'replica acquired',
    date: '2026-11-26T09:59:00Z',
    message,
  });
const amber = (message: string): string =>
  JSON.stringify({
    state: 'amber',
    ldap_rc: '0',
    ldap_rc_text: 'Success',
    repl_rc: '1',
    repl_rc_text: 'replica busy',
    date: '2026-11-26T09:59:00Z',
    message,
  });
const red = (message: string): string =>
  JSON.stringify({
    state: 'red',
    ldap_rc: '0',
    ldap_rc_text: 'Success',
    repl_rc: '19',
    repl_rc_text: 'RUV error',
    date: '2026-11-26T09:59:00Z',
    message,
  });

const UPDATE_OK = 'Error (0) Replica acquired successfully: Incremental update succeeded';
const BUSY =
  "Error (1) Can't acquire busy replica (Unable to acquire replica: the replica is currently being updated by another supplier.)";
const GENERATION_ERROR =
  'Error (19) Replication error acquiring replica: Replica has different database generation ID, remote replica may need to be initialized (RUV error)';
const CONNECT_ERROR =
  "Error (-1) Problem connecting to replica - LDAP error: Can't contact LDAP server (connection error)";

/** A healthy agreement (as 2.3.1 shows it after an incremental update) from `from` to `to`. */
function agreement(_from: string, to: string, kind: SuffixKind = 'domain', over: Partial<Agreement> = {}): Agreement {
  const suffix = kind === 'domain' ? DOMAIN : CA;
  const name = `${kind === 'domain' ? 'meTo' : 'caTo'}${fqdn(to)}`;
  return {
    dn: `cn=${name},cn=replica,cn=${kind === 'domain' ? 'dc\\3Dipa\\2Cdc\\3Dtest' : 'o\\3Dipaca'},cn=mapping tree,cn=config`,
    name,
    suffix,
    targetHost: fqdn(to),
    targetPort: 389,
    enabled: true,
    schedule: undefined,
    updateInProgress: false,
    refreshPending: false,
    lastUpdateStatus: UPDATE_OK,
    lastUpdateStatusJson: green(UPDATE_OK),
    lastInitStatus: undefined,
    lastInitStatusJson: undefined,
    lastInitStart: '19700101000000Z',
    lastInitEnd: '19700101000000Z',
    ...over,
  };
}

/** CSN at `NOW - secondsAgo` for `rid`. */
function csn(rid: number, secondsAgo = 0): string {
  return `${(NOW - secondsAgo).toString(16).padStart(8, '0')}0000${rid.toString(16).padStart(4, '0')}0000`;
}

function element(rid: number, host: string | undefined, secondsAgo: number | undefined = 60): RuvElement {
  return {
    rid,
    url: host ? `ldap://${fqdn(host)}:389` : undefined,
    minCsn: secondsAgo === undefined ? undefined : csn(rid, secondsAgo + 3600),
    maxCsn: secondsAgo === undefined ? undefined : csn(rid, secondsAgo),
  };
}

interface SuffixSpec {
  /** Replica ID; undefined = not a replica. */
  rid?: number;
  /** Agreement targets (short names), or full agreements. */
  to?: Array<string | Agreement>;
  /** RUV elements; default: one per `rids` entry, up to date. */
  ruv?: RuvElement[];
  generation?: string;
  changelogMaxAge?: string | undefined;
  type?: number;
  flags?: number;
}

function suffixFacts(kind: SuffixKind, from: string, spec: SuffixSpec, allRids: Array<[number, string]>): SuffixFacts {
  const replicated = spec.rid !== undefined;
  const ruvElements = spec.ruv ?? (replicated ? allRids.map(([rid, h]) => element(rid, h)) : undefined);
  return {
    kind,
    suffix: kind === 'domain' ? DOMAIN : CA,
    instance: 'IPA-TEST',
    port: 389,
    backend: kind === 'domain' ? 'userroot' : 'ipaca',
    entryCount: 233,
    replica: replicated ? { rid: spec.rid!, type: spec.type ?? 3, flags: spec.flags ?? 1 } : undefined,
    agreements: (spec.to ?? []).map((t) => (typeof t === 'string' ? agreement(from, t, kind) : t)),
    ruv: ruvElements
      ? { generation: spec.generation ?? (kind === 'domain' ? GENERATION : CA_GENERATION), elements: ruvElements }
      : undefined,
    agmtMaxCsns: [],
    changelogMaxAge: 'changelogMaxAge' in spec ? spec.changelogMaxAge : replicated ? '7d' : undefined,
  };
}

interface FactsSpec {
  domain?: SuffixSpec;
  ca?: SuffixSpec;
  skew?: number;
  fqdn?: string;
}

/** Facts for several hosts; RUVs default to every host's rid of the suffix, up to date. */
function factsOf(specs: Record<string, FactsSpec | FleetError>): Map<string, HostFacts | FleetError> {
  const rids = (kind: SuffixKind): Array<[number, string]> =>
    Object.entries(specs).flatMap(([h, s]) =>
      s instanceof FleetError || s[kind]?.rid === undefined ? [] : [[s[kind]!.rid!, h] as [number, string]],
    );
  const out = new Map<string, HostFacts | FleetError>();
  for (const [short, s] of Object.entries(specs)) {
    const name = fqdn(short);
    if (s instanceof FleetError) {
      out.set(name, s);
      continue;
    }
    const skew = s.skew ?? 0;
    out.set(name, {
      host: name,
      gatheredAt: new Date(NOW * 1000).toISOString(),
      fqdn: s.fqdn ?? name,
      os: 'Debian GNU/Linux 12 (bookworm)',
      clock: { remoteEpochSeconds: NOW + skew, controllerEpochSeconds: NOW, skewSeconds: skew, roundTripMs: 3 },
      dsVersion: '389-Directory/2.3.1 B2025.016.1616',
      instances: ['IPA-TEST'],
      backends: [
        { name: 'ipaca', suffix: CA },
        { name: 'userroot', suffix: DOMAIN },
      ],
      suffixes: {
        domain: suffixFacts('domain', name, s.domain ?? {}, rids('domain')),
        ca: s.ca ? suffixFacts('ca', name, s.ca, rids('ca')) : undefined,
      },
      freeSpace: {},
    });
  }
  return out;
}

interface AuditCase {
  inventory: Inventory;
  facts: Map<string, HostFacts | FleetError>;
  conflicts?: Map<string, Partial<Record<SuffixKind, ConflictScan>>>;
  suffixes?: SuffixKind[];
  thresholds?: Partial<AuditThresholds>;
  now?: number;
  extra?: Check[];
}

function audit(c: AuditCase): { findings: Finding[]; topology: Topology } {
  const topology = buildTopology(c.inventory, c.facts);
  const findings = runChecks(
    {
      inventory: c.inventory,
      facts: c.facts,
      topology,
      conflicts: c.conflicts ?? new Map(),
      suffixes: c.suffixes ?? ['domain', 'ca'],
      thresholds: { ...DEFAULT_THRESHOLDS, ...c.thresholds },
      now: c.now ?? NOW,
    },
    c.extra,
  );
  return { findings, topology };
}

/** `id severity suffix [hosts]` per finding, sorted: compact to compare. */
function summary(findings: Finding[]): string[] {
  return sortFindings(findings).map(
    (f) => `${f.id} ${f.severity} ${f.suffix ?? '-'} [${f.hosts.map((h) => h.replace('.ipa.test', '')).join(',')}]`,
  );
}

function only(findings: Finding[], id: FindingId): Finding[] {
  return findings.filter((f) => f.id === id);
}

/** The lab's default: domain chain a-b-c (rids 1..3), CA on a,b (rids 1001, 1002). */
function chainSpecs(): Record<string, FactsSpec> {
  return {
    a: { domain: { rid: 1, to: ['b'] }, ca: { rid: 1001, to: ['b'] } },
    b: { domain: { rid: 2, to: ['a', 'c'] }, ca: { rid: 1002, to: ['a'] } },
    c: { domain: { rid: 3, to: ['b'] } },
  };
}
const CHAIN_INVENTORY = inventoryOf([{ name: 'a', roles: ['ca'] }, { name: 'b', roles: ['ca'] }, 'c']);

// ---- the real lab's facts ----

interface LabFixture {
  inventory: { deployment: string; hosts: Array<{ name: string; address: string; roles: string[] }> };
  gatheredAt: string;
  facts: Record<string, HostFacts>;
}

const LAB: LabFixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/fixtures/audit/lab-chain-healthy.json', import.meta.url)), 'utf8'),
);
const labInventory = (): Inventory => inventoryOf(LAB.inventory.hosts);
const labFacts = (): Map<string, HostFacts | FleetError> => new Map(Object.entries(structuredClone(LAB.facts)));
const labNow = Date.parse(LAB.gatheredAt) / 1000 + 5;

describe('audit checks on facts gathered from a real lab', () => {
  it('a healthy 3-host chain (both suffixes) gives no finding, exit 0', () => {
    const { findings, topology } = audit({ inventory: labInventory(), facts: labFacts(), now: labNow });
    assert.deepEqual(findings, []);
    assert.equal(auditExitCode(severityOf(findings)), 0);
    assert.deepEqual(
      topology.domain.edges.map((e) => `${e.from}>${e.to}:${e.state}:${e.hasReverse}`),
      [
        'a.ipa.test>b.ipa.test:ok:true',
        'b.ipa.test>a.ipa.test:ok:true',
        'b.ipa.test>c.ipa.test:ok:true',
        'c.ipa.test>b.ipa.test:ok:true',
      ],
    );
    assert.deepEqual(
      topology.ca.nodes.map((n) => [n.name, n.rid]),
      [
        ['a.ipa.test', 1001],
        ['b.ipa.test', 1002],
      ],
    );
  });

  it('the same facts with c re-imported under a new generation and b→c failing: generation-mismatch and update-status-red', () => {
    const facts = labFacts();
    const c = facts.get('c.ipa.test') as HostFacts;
    c.suffixes.domain.ruv!.generation = '6b0805b9000000210000';
    const b = facts.get('b.ipa.test') as HostFacts;
    const toC = b.suffixes.domain.agreements.find((a) => a.targetHost === 'c.ipa.test')!;
    toC.lastUpdateStatus = GENERATION_ERROR;
    toC.lastUpdateStatusJson = red(GENERATION_ERROR);
    const { findings } = audit({ inventory: labInventory(), facts, now: labNow });
    assert.deepEqual(summary(findings), [
      'generation-mismatch error domain [a,b,c]',
      'update-status-red error domain [b,c]',
    ]);
    const gen = only(findings, 'generation-mismatch')[0]!;
    assert.deepEqual(gen.details, {
      '6b080548000000010000': ['a.ipa.test', 'b.ipa.test'],
      '6b0805b9000000210000': ['c.ipa.test'],
    });
    assert.match(
      gen.message,
      /2 replica generations: 6b080548000000010000 on a\.ipa\.test, b\.ipa\.test; 6b0805b9000000210000 on c\.ipa\.test/,
    );
    const status = only(findings, 'update-status-red')[0]!;
    assert.match(
      status.message,
      /^b\.ipa\.test → c\.ipa\.test \(meToc\.ipa\.test\): Error \(19\) .*different database generation/,
    );
    assert.match(status.fix, /re-initialize it from b\.ipa\.test/);
    assert.equal(auditExitCode(severityOf(findings)), 1);
  });
});

describe('unreachableHosts', () => {
  it('one error per host whose facts failed, with the error text; no suffix', () => {
    const facts = factsOf({
      ...chainSpecs(),
      c: new UnreachableError('c.ipa.test', 'cannot reach ssh at 192.0.2.3:22: ECONNREFUSED'),
    });
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts });
    const f = only(findings, 'host-unreachable');
    assert.equal(f.length, 1);
    assert.deepEqual([f[0]!.severity, f[0]!.hosts, f[0]!.suffix], ['error', ['c.ipa.test'], undefined]);
    assert.equal(f[0]!.message, 'c.ipa.test: cannot reach ssh at 192.0.2.3:22: ECONNREFUSED');
    assert.match(f[0]!.fix, /bring the host/);
    assert.equal(auditExitCode(severityOf(findings)), 1);
  });

  it('an authentication failure gets the key / password fix', () => {
    const facts = factsOf({
      ...chainSpecs(),
      b: new AuthError("LDAP bind as 'cn=Directory Manager' failed: invalid credentials (49)", { host: 'b.ipa.test' }),
    });
    const f = only(audit({ inventory: CHAIN_INVENTORY, facts }).findings, 'host-unreachable');
    assert.deepEqual(
      f.map((x) => x.hosts),
      [['b.ipa.test']],
    );
    assert.match(f[0]!.fix, /SSH key.*DM password/);
  });

  it('an unreachable host hides nothing it could not know: no one-way or host-without-agreements for it', () => {
    const facts = factsOf({ ...chainSpecs(), c: new UnreachableError('c.ipa.test', 'down') });
    for (const h of ['a.ipa.test', 'b.ipa.test'])
      (facts.get(h) as HostFacts).suffixes.domain.ruv!.elements.push(element(3, 'c'));
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts });
    // b → c has no known reverse (c's agreements are unknown), but c cannot be asked: not one-way.
    // rid 3 in a's and b's RUV names ldap://c.ipa.test:389, a host that cannot be asked: not stale.
    assert.deepEqual(summary(findings), ['host-unreachable error - [c]']);
  });
});

describe('inventoryCoverage', () => {
  it('an agreement to a host the inventory does not list: host-not-in-inventory (warning), per suffix', () => {
    const specs = chainSpecs();
    specs.b!.domain!.to = ['a', 'c', 'x.example.org'];
    specs.a!.ca!.to = ['b', 'x.example.org'];
    const { findings, topology } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(only(findings, 'host-not-in-inventory')), [
      'host-not-in-inventory warning ca [x.example.org]',
      'host-not-in-inventory warning domain [x.example.org]',
    ]);
    const domain = only(findings, 'host-not-in-inventory').find((f) => f.suffix === 'domain')!;
    assert.match(
      domain.message,
      /^b\.ipa\.test replicates the domain suffix to x\.example\.org, which the inventory does not list/,
    );
    const x = topology.domain.nodes.find((n) => n.name === 'x.example.org')!;
    assert.deepEqual([x.inInventory, x.reachable, x.rid], [false, false, undefined]);
    // Nothing else: no one-way (x cannot be asked), no disconnection (x is not an inventory island).
    assert.deepEqual(new Set(findings.map((f) => f.id)), new Set(['host-not-in-inventory']));
  });

  it('a reachable inventory host in no agreement of the suffix: host-without-agreements (error)', () => {
    const inventory = inventoryOf([{ name: 'a', roles: ['ca'] }, { name: 'b', roles: ['ca'] }, 'c', 'd']);
    const facts = factsOf({ ...chainSpecs(), d: { domain: { rid: 4 } } });
    const { findings } = audit({ inventory, facts });
    const f = only(findings, 'host-without-agreements');
    assert.deepEqual(summary(f), ['host-without-agreements error domain [d]']);
    assert.match(f[0]!.message, /d\.ipa\.test has no domain suffix agreement to or from any host/);
    // Reported once, with its cause: an isolated host is not also a "disconnected" island.
    assert.deepEqual(only(findings, 'graph-disconnected'), []);
  });

  it('a single-host deployment needs no agreement', () => {
    const { findings } = audit({ inventory: inventoryOf(['a']), facts: factsOf({ a: { domain: { rid: 1 } } }) });
    assert.deepEqual(findings, []);
  });

  it('a host that is not a replica at all (no agreements either) is still reported', () => {
    const facts = factsOf({ ...chainSpecs(), c: { domain: {} } });
    const specs = facts.get('b.ipa.test') as HostFacts;
    specs.suffixes.domain.agreements = specs.suffixes.domain.agreements.filter((a) => a.targetHost !== 'c.ipa.test');
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts });
    assert.ok(summary(findings).includes('host-without-agreements error domain [c]'), summary(findings).join('\n'));
  });
});

describe('oneWayAgreements', () => {
  it('b → c without c → b: agreement-one-way naming [b, c] and the agreement', () => {
    const specs = chainSpecs();
    specs.c!.domain!.to = [];
    const { findings, topology } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(findings), ['agreement-one-way error domain [b,c]']);
    assert.match(
      findings[0]!.message,
      /b\.ipa\.test replicates the domain suffix to c\.ipa\.test \(meToc\.ipa\.test\), but c\.ipa\.test has no agreement back/,
    );
    assert.match(findings[0]!.fix, /c\.ipa\.test → b\.ipa\.test/);
    assert.deepEqual(
      topology.domain.edges.filter((e) => !e.hasReverse).map((e) => `${e.from}>${e.to}`),
      ['b.ipa.test>c.ipa.test'],
    );
    assert.equal(auditExitCode(severityOf(findings)), 1);
  });

  it('on the CA suffix too', () => {
    const specs = chainSpecs();
    specs.b!.ca!.to = [];
    assert.deepEqual(summary(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) }).findings), [
      'agreement-one-way error ca [a,b]',
    ]);
  });
});

describe('disconnected', () => {
  it('two islands a-b and c-d: graph-disconnected with every host and both groups in the message', () => {
    const inventory = inventoryOf(['a', 'b', 'c', 'd']);
    const facts = factsOf({
      a: { domain: { rid: 1, to: ['b'] } },
      b: { domain: { rid: 2, to: ['a'] } },
      c: { domain: { rid: 3, to: ['d'] } },
      d: { domain: { rid: 4, to: ['c'] } },
    });
    const { findings, topology } = audit({ inventory, facts });
    assert.deepEqual(summary(findings), ['graph-disconnected error domain [a,b,c,d]']);
    assert.match(
      findings[0]!.message,
      /falls into 2 separate groups: \{a\.ipa\.test, b\.ipa\.test\} \{c\.ipa\.test, d\.ipa\.test\}/,
    );
    assert.deepEqual(components(topology.domain), [
      ['a.ipa.test', 'b.ipa.test'],
      ['c.ipa.test', 'd.ipa.test'],
    ]);
  });

  it('one direction is enough to connect (the one-way check reports the missing half)', () => {
    const specs = chainSpecs();
    specs.c!.domain!.to = [];
    assert.equal(
      only(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) }).findings, 'graph-disconnected').length,
      0,
    );
  });
});

describe('tooManyAgreements', () => {
  const inventory = inventoryOf(['a', 'b', 'c', 'd', 'e', 'f']);
  const star = (n: number): Map<string, HostFacts | FleetError> => {
    const leaves = ['b', 'c', 'd', 'e', 'f'].slice(0, n);
    return factsOf({
      a: { domain: { rid: 1, to: leaves } },
      ...Object.fromEntries(
        ['b', 'c', 'd', 'e', 'f'].map((l, i) => [
          l,
          { domain: { rid: i + 2, to: leaves.includes(l) ? ['a'] : ['b'] } },
        ]),
      ),
    });
  };

  it('5 agreements on one host: too-many-agreements (warning), exit 3', () => {
    const { findings } = audit({ inventory, facts: star(5) });
    assert.deepEqual(summary(findings), ['too-many-agreements warning domain [a]']);
    assert.match(findings[0]!.message, /a\.ipa\.test has 5 domain suffix agreements \(FreeIPA recommends at most 4\)/);
    assert.equal(auditExitCode(severityOf(findings)), 3);
  });

  it('4 is fine; the threshold can be changed', () => {
    const facts = star(4);
    // f is left out of the star: it replicates with b only (one-way, reported separately).
    const findings = audit({ inventory, facts }).findings;
    assert.equal(only(findings, 'too-many-agreements').length, 0);
    assert.deepEqual(
      summary(only(audit({ inventory, facts, thresholds: { maxAgreements: 3 } }).findings, 'too-many-agreements')),
      ['too-many-agreements warning domain [a]'],
    );
  });
});

describe('disabledOrClosed', () => {
  it("b's meToc disabled: agreement-disabled [b, c] on the domain suffix, and no status finding for it", () => {
    const specs = chainSpecs();
    specs.b!.domain!.to = [
      'a',
      agreement('b', 'c', 'domain', {
        enabled: false,
        lastUpdateStatus: CONNECT_ERROR,
        lastUpdateStatusJson: red(CONNECT_ERROR),
      }),
    ];
    const { findings, topology } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(findings), ['agreement-disabled error domain [b,c]']);
    assert.match(findings[0]!.message, /agreement meToc\.ipa\.test \(b\.ipa\.test → c\.ipa\.test\) is disabled/);
    assert.match(findings[0]!.fix, /nsds5ReplicaEnabled: on/);
    assert.equal(
      topology.domain.edges.find((e) => e.from === 'b.ipa.test' && e.to === 'c.ipa.test')!.state,
      'disabled',
    );
  });

  it('a schedule that never opens: schedule-never-opens [from, to]; one that does: nothing', () => {
    const specs = chainSpecs();
    specs.a!.domain!.to = [agreement('a', 'b', 'domain', { schedule: '0800-1700 ' })];
    specs.b!.domain!.to = [
      agreement('b', 'a', 'domain', { schedule: '0000-2359 0123456' }),
      agreement('b', 'c', 'domain', { schedule: '2358-2359 0' }),
    ];
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(findings), ['schedule-never-opens error domain [a,b]']);
    assert.match(findings[0]!.message, /has schedule '0800-1700 ', which never opens/);
  });
});

describe('scheduleNeverOpens', () => {
  for (const [schedule, never] of [
    ['0800-1700 ', true], // the days list is empty: no day at all (389-DS: dow = 0)
    ['0800-1700  ', true],
    ['1200-1200 0123456', true], // empty window (what the check treats as never)
    ['0000-2359 0123456', false],
    ['2358-2359 0', false], // the "poke" schedule: opens on Sundays
    ['0800-1700 12345', false],
    ['*', false], // 389-DS: always
    ['', false],
    ['nonsense', false],
  ] as const) {
    it(`'${schedule}' → ${never}`, () => assert.equal(scheduleNeverOpens(schedule), never));
  }
});

describe('initAndStatus', () => {
  const withAgreement = (over: Partial<Agreement>): Finding[] => {
    const specs = chainSpecs();
    specs.b!.domain!.to = ['a', agreement('b', 'c', 'domain', over)];
    return audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) }).findings;
  };

  it('last init failed (JSON red): init-failed [b, c], and the edge is failing', () => {
    const text = "Error (-1) Total update aborted: LDAP error: Can't contact LDAP server (connection error)";
    const findings = withAgreement({ lastInitStatus: text, lastInitStatusJson: red(text) });
    assert.deepEqual(summary(findings), ['init-failed error domain [b,c]']);
    assert.match(
      findings[0]!.message,
      /the last initialization of c\.ipa\.test through meToc\.ipa\.test failed: Error \(-1\) Total update aborted/,
    );
  });

  it('last init failed, text only (no JSON): init-failed', () => {
    assert.deepEqual(
      summary(
        withAgreement({
          lastInitStatus:
            'Error (-11) Total update aborted: Replication agreement for agmt="cn=meToc" (c:389) can not be updated while the replica is disabled',
        }),
      ),
      ['init-failed error domain [b,c]'],
    );
  });

  it('a succeeded init is fine', () => {
    assert.deepEqual(
      withAgreement({
        lastInitStatus: 'Error (0) Total update succeeded',
        lastInitStatusJson: green('Error (0) Total update succeeded'),
        lastInitStart: '20261126090000Z',
        lastInitEnd: '20261126090003Z',
      }),
      [],
    );
  });

  it('refresh requested long ago: refresh-pending (warning) with its age; recent: nothing', () => {
    const old = withAgreement({ refreshPending: true, lastInitStart: '20261126093000Z' });
    assert.deepEqual(summary(old), ['refresh-pending warning domain [b,c]']);
    assert.match(old[0]!.message, /has run for 1800 s$/);
    assert.deepEqual(withAgreement({ refreshPending: true, lastInitStart: '20261126095900Z' }), []);
  });

  it('refresh requested but never started, on a disabled agreement: refresh-pending says both', () => {
    const findings = withAgreement({ refreshPending: true, enabled: false });
    assert.deepEqual(summary(findings), [
      'agreement-disabled error domain [b,c]',
      'refresh-pending warning domain [b,c]',
    ]);
    assert.match(only(findings, 'refresh-pending')[0]!.message, /has not started \(the agreement is disabled\)/);
  });

  it('update status red (JSON): update-status-red with the server text; generation text gets the re-initialize fix', () => {
    const findings = withAgreement({ lastUpdateStatus: GENERATION_ERROR, lastUpdateStatusJson: red(GENERATION_ERROR) });
    assert.deepEqual(summary(findings), ['update-status-red error domain [b,c]']);
    assert.equal(findings[0]!.message, `b.ipa.test → c.ipa.test (meToc.ipa.test): ${GENERATION_ERROR}`);
    assert.match(findings[0]!.fix, /c\.ipa\.test holds data of another generation: re-initialize it from b\.ipa\.test/);
    const other = withAgreement({ lastUpdateStatus: CONNECT_ERROR, lastUpdateStatusJson: red(CONNECT_ERROR) });
    assert.match(other[0]!.fix, /errors log/);
  });

  it('update status red from the text alone (no JSON): "Error (n)" with n ≠ 0', () => {
    assert.deepEqual(summary(withAgreement({ lastUpdateStatus: GENERATION_ERROR, lastUpdateStatusJson: undefined })), [
      'update-status-red error domain [b,c]',
    ]);
    assert.deepEqual(withAgreement({ lastUpdateStatus: UPDATE_OK, lastUpdateStatusJson: undefined }), []);
    assert.deepEqual(
      withAgreement({
        lastUpdateStatus: 'Error (0) No replication sessions started since server startup',
        lastUpdateStatusJson: undefined,
      }),
      [],
    );
    assert.deepEqual(withAgreement({ lastUpdateStatus: undefined, lastUpdateStatusJson: undefined }), []);
  });

  it('update status amber (busy replica): update-status-amber (warning), exit 3', () => {
    const findings = withAgreement({ lastUpdateStatus: BUSY, lastUpdateStatusJson: amber(BUSY) });
    assert.deepEqual(summary(findings), ['update-status-amber warning domain [b,c]']);
    assert.equal(auditExitCode(severityOf(findings)), 3);
  });

  it('a disabled agreement is not judged by its (stale) update status', () => {
    assert.deepEqual(
      summary(withAgreement({ enabled: false, lastUpdateStatus: BUSY, lastUpdateStatusJson: amber(BUSY) })),
      ['agreement-disabled error domain [b,c]'],
    );
  });
});

describe('generations', () => {
  it('the larger group first; details map generation → hosts', () => {
    const specs = chainSpecs();
    specs.a!.domain!.generation = '6b0900000000000a0000';
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(findings), ['generation-mismatch error domain [b,c,a]']);
    assert.deepEqual(findings[0]!.hosts, ['b.ipa.test', 'c.ipa.test', 'a.ipa.test']);
    assert.deepEqual(findings[0]!.details, {
      [GENERATION]: ['b.ipa.test', 'c.ipa.test'],
      '6b0900000000000a0000': ['a.ipa.test'],
    });
  });

  it('per suffix: a CA generation differing is reported on ca only', () => {
    const specs = chainSpecs();
    specs.b!.ca!.generation = '6b0900000000000a0000';
    assert.deepEqual(summary(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) }).findings), [
      'generation-mismatch error ca [a,b]',
    ]);
  });

  it('hosts without a RUV (empty or unreplicated suffix) do not count', () => {
    const specs = chainSpecs();
    specs.c!.domain!.ruv = undefined;
    const facts = factsOf(specs);
    (facts.get('c.ipa.test') as HostFacts).suffixes.domain.ruv = undefined;
    assert.deepEqual(only(audit({ inventory: CHAIN_INVENTORY, facts }).findings, 'generation-mismatch'), []);
  });
});

describe('duplicateRids', () => {
  it('two suppliers with the same replica ID: duplicate-rid naming both', () => {
    const specs = chainSpecs();
    specs.c!.domain!.rid = 2;
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(only(findings, 'duplicate-rid')), ['duplicate-rid error domain [b,c]']);
    assert.match(
      only(findings, 'duplicate-rid')[0]!.message,
      /replica ID 2 of the domain suffix is used by b\.ipa\.test and c\.ipa\.test/,
    );
  });

  it('65535 (hubs, consumers) is shared by design', () => {
    const specs = chainSpecs();
    specs.a!.domain!.to = ['b', 'c'];
    specs.b!.domain = { rid: 65535, type: 2, to: ['a'] };
    specs.c!.domain = { rid: 65535, type: 2, to: ['a'] };
    assert.deepEqual(only(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) }).findings, 'duplicate-rid'), []);
  });
});

describe('staleRids', () => {
  it('rid 3 left in a and b after c took rid 33: stale-rid (warning) where it appears, with the CleanAllRUV fix', () => {
    const specs = chainSpecs();
    const ruv = [element(1, 'a'), element(2, 'b'), element(3, 'c', 900), element(33, 'c')];
    specs.a!.domain!.ruv = ruv;
    specs.b!.domain!.ruv = ruv;
    specs.c!.domain = { rid: 33, to: ['b'], ruv: [element(33, 'c'), element(1, 'a'), element(2, 'b')] };
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(findings), ['stale-rid warning domain [a,b]']);
    assert.match(
      findings[0]!.message,
      /replica ID 3 appears in the domain suffix RUV of a\.ipa\.test, b\.ipa\.test but no supplier owns it/,
    );
    assert.match(findings[0]!.fix, /cleanallruv --suffix dc=ipa,dc=test --replica-id 3/);
    assert.equal(auditExitCode(severityOf(findings)), 3);
  });

  it('a ghost element without URL or CSN counts too; 65535 never does', () => {
    const specs = chainSpecs();
    specs.a!.domain!.ruv = [
      element(1, 'a'),
      element(2, 'b'),
      element(3, 'c'),
      element(7, undefined, undefined),
      element(65535, 'x'),
    ];
    assert.deepEqual(summary(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) }).findings), [
      'stale-rid warning domain [a]',
    ]);
  });

  it('while an inventory host is unreachable: its own RID (by URL) is not stale, other unowned RIDs are info only', () => {
    const facts = factsOf({ ...chainSpecs(), c: new UnreachableError('c.ipa.test', 'down') });
    // a still carries rid 3 of c (URL ldap://c.ipa.test:389) and rid 9 of a host long gone.
    (facts.get('a.ipa.test') as HostFacts).suffixes.domain.ruv!.elements.push(
      element(3, 'c'),
      element(9, 'gone.ipa.test'),
    );
    const stale = only(audit({ inventory: CHAIN_INVENTORY, facts }).findings, 'stale-rid');
    assert.deepEqual(summary(stale), ['stale-rid info domain [a]']);
    assert.match(
      stale[0]!.message,
      /^replica ID 9 appears in the domain suffix RUV of a\.ipa\.test but no reachable supplier owns it/,
    );
  });
});

describe('lag', () => {
  it("b has seen rid 1 up to 400 s before a's newest change: replication-lag [b, a] (warning)", () => {
    const specs = chainSpecs();
    specs.a!.domain!.ruv = [element(1, 'a', 0), element(2, 'b'), element(3, 'c')];
    specs.b!.domain!.ruv = [element(2, 'b'), element(1, 'a', 400), element(3, 'c')];
    specs.c!.domain!.ruv = [element(3, 'c'), element(1, 'a', 100), element(2, 'b')];
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(findings), ['replication-lag warning domain [b,a]']);
    assert.match(findings[0]!.message, /b\.ipa\.test is 400 s behind the changes of a\.ipa\.test \(RID 1\)/);
    assert.deepEqual(findings[0]!.details, { rid: 1, behindSeconds: 400 });
    // A lower threshold catches c too.
    assert.deepEqual(
      summary(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs), thresholds: { lagSeconds: 60 } }).findings),
      ['replication-lag warning domain [b,a]', 'replication-lag warning domain [c,a]'],
    );
  });

  it('an element without CSN (no change seen yet) cannot tell a lag', () => {
    const specs = chainSpecs();
    specs.b!.domain!.ruv = [element(2, 'b'), element(1, 'a', undefined), element(3, 'c')];
    assert.deepEqual(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) }).findings, []);
  });
});

describe('conflictEntries', () => {
  const scan = (conflicts: number, glue: number): ConflictScan => ({
    conflicts: {
      count: conflicts,
      first: Array.from({ length: Math.min(conflicts, 5) }, (_, i) => `nsuniqueid=${i}+uid=clash,ou=people,${DOMAIN}`),
    },
    glue: {
      count: glue,
      first: Array.from({ length: Math.min(glue, 5) }, (_, i) => `uid=glue${i},ou=people,${DOMAIN}`),
    },
  });

  it('conflict and glue entries: one finding per host and kind (warnings)', () => {
    const conflicts = new Map<string, Partial<Record<SuffixKind, ConflictScan>>>([
      ['a.ipa.test', { domain: scan(1, 0), ca: scan(0, 0) }],
      ['b.ipa.test', { domain: scan(2, 1) }],
      ['c.ipa.test', { domain: scan(0, 0) }],
    ]);
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(chainSpecs()), conflicts });
    assert.deepEqual(summary(findings), [
      'conflict-entries warning domain [a]',
      'conflict-entries warning domain [b]',
      'glue-entries warning domain [b]',
    ]);
    const b = only(findings, 'conflict-entries').find((f) => f.hosts[0] === 'b.ipa.test')!;
    assert.match(b.message, /b\.ipa\.test holds 2 replication conflict entries: nsuniqueid=0\+uid=clash/);
    assert.match(only(findings, 'conflict-entries')[0]!.message, /holds 1 replication conflict entry:/);
    assert.deepEqual(b.details, scan(2, 1).conflicts);
  });

  it('a CA scan is reported on ca, and only when the ca suffix is audited', () => {
    const conflicts = new Map<string, Partial<Record<SuffixKind, ConflictScan>>>([['a.ipa.test', { ca: scan(3, 0) }]]);
    assert.deepEqual(summary(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(chainSpecs()), conflicts }).findings), [
      'conflict-entries warning ca [a]',
    ]);
    assert.deepEqual(
      audit({ inventory: CHAIN_INVENTORY, facts: factsOf(chainSpecs()), conflicts, suffixes: ['domain'] }).findings,
      [],
    );
  });
});

describe('changelogTrimming', () => {
  it('a supplier without nsslapd-changelogmaxage: changelog-trimming-off (warning) for that host and suffix', () => {
    const specs = chainSpecs();
    specs.b!.ca!.changelogMaxAge = undefined;
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(findings), ['changelog-trimming-off warning ca [b]']);
    assert.match(findings[0]!.fix, /set-changelog --suffix o=ipaca --max-age 7d/);
  });
});

describe('caHosts', () => {
  it('c has role ca but no CA replica: ca-host-without-ca-agreements (error) on ca', () => {
    const inventory = inventoryOf([
      { name: 'a', roles: ['ca'] },
      { name: 'b', roles: ['ca'] },
      { name: 'c', roles: ['ca'] },
    ]);
    const specs = chainSpecs();
    specs.c!.ca = {}; // an ipaca backend, no replica (what a lab host without --ca has)
    const { findings } = audit({ inventory, facts: factsOf(specs) });
    const f = only(findings, 'ca-host-without-ca-agreements');
    assert.deepEqual(summary(f), ['ca-host-without-ca-agreements error ca [c]']);
    assert.match(f[0]!.message, /c\.ipa\.test has role ca but no CA replica/);
  });

  it('a CA replica without agreements: "no CA (o=ipaca) agreement"', () => {
    const inventory = inventoryOf([
      { name: 'a', roles: ['ca'] },
      { name: 'b', roles: ['ca'] },
      { name: 'c', roles: ['ca'] },
    ]);
    const specs = chainSpecs();
    specs.c!.ca = { rid: 1003 };
    const f = only(audit({ inventory, facts: factsOf(specs) }).findings, 'ca-host-without-ca-agreements');
    assert.match(f[0]!.message, /no CA \(o=ipaca\) agreement/);
  });

  it('not with a single CA host, not when the CA suffix is not audited, not for an unreachable host', () => {
    const one = inventoryOf([{ name: 'a', roles: ['ca'] }, 'b', 'c']);
    const specs = chainSpecs();
    specs.a!.ca = { rid: 1001 };
    delete specs.b!.ca;
    assert.deepEqual(
      only(audit({ inventory: one, facts: factsOf(specs) }).findings, 'ca-host-without-ca-agreements'),
      [],
    );

    const three = inventoryOf([
      { name: 'a', roles: ['ca'] },
      { name: 'b', roles: ['ca'] },
      { name: 'c', roles: ['ca'] },
    ]);
    const chain = chainSpecs();
    chain.c!.ca = {};
    assert.deepEqual(
      only(
        audit({ inventory: three, facts: factsOf(chain), suffixes: ['domain'] }).findings,
        'ca-host-without-ca-agreements',
      ),
      [],
    );
    const down = factsOf({ ...chainSpecs(), c: new UnreachableError('c.ipa.test', 'down') });
    assert.deepEqual(only(audit({ inventory: three, facts: down }).findings, 'ca-host-without-ca-agreements'), []);
  });
});

describe('clockSkew', () => {
  it('clocks 45 s apart: clock-skew (warning) naming the fastest and the slowest; no suffix', () => {
    const specs: Record<string, FactsSpec> = chainSpecs();
    specs.a!.skew = -20;
    specs.c!.skew = 25;
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(summary(findings), ['clock-skew warning - [c,a]']);
    assert.match(
      findings[0]!.message,
      /clocks differ by 45\.0 s between c\.ipa\.test and a\.ipa\.test \(threshold 30 s\)/,
    );
    assert.deepEqual(
      audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs), thresholds: { skewSeconds: 60 } }).findings,
      [],
    );
  });

  it('unreachable hosts have no clock; one clock cannot be skewed', () => {
    const facts = factsOf({
      a: { skew: 100, domain: { rid: 1, to: ['b'] } },
      b: new UnreachableError('b.ipa.test', 'down'),
    });
    assert.deepEqual(only(audit({ inventory: inventoryOf(['a', 'b']), facts }).findings, 'clock-skew'), []);
  });
});

describe('runChecks', () => {
  it("runs the 15 default checks and then the extra ones (the backup milestone's extension point)", () => {
    assert.equal(DEFAULT_CHECKS.length, 15);
    const extra: Check = (input) => [
      {
        id: 'backup-stale',
        severity: 'warning',
        hosts: [input.inventory.hosts[0]!.name],
        suffix: 'domain',
        message: 'old',
        fix: 'back up',
      },
    ];
    const { findings } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(chainSpecs()), extra: [extra] });
    assert.deepEqual(summary(findings), ['backup-stale warning domain [a]']);
  });

  it('only the audited suffixes are checked', () => {
    const specs = chainSpecs();
    specs.b!.ca!.to = [];
    specs.c!.domain!.to = [];
    assert.deepEqual(summary(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs), suffixes: ['ca'] }).findings), [
      'agreement-one-way error ca [a,b]',
    ]);
    assert.deepEqual(
      summary(audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs), suffixes: ['domain'] }).findings),
      ['agreement-one-way error domain [b,c]'],
    );
  });

  it('a healthy star and mesh of 4 give nothing', () => {
    const inventory = inventoryOf([{ name: 'a', roles: ['ca'] }, { name: 'b', roles: ['ca'] }, 'c', 'd']);
    const star = factsOf({
      a: { domain: { rid: 1, to: ['b', 'c', 'd'] }, ca: { rid: 1001, to: ['b'] } },
      b: { domain: { rid: 2, to: ['a'] }, ca: { rid: 1002, to: ['a'] } },
      c: { domain: { rid: 3, to: ['a'] } },
      d: { domain: { rid: 4, to: ['a'] } },
    });
    assert.deepEqual(audit({ inventory, facts: star }).findings, []);
    const mesh = factsOf({
      a: { domain: { rid: 1, to: ['b', 'c', 'd'] }, ca: { rid: 1001, to: ['b'] } },
      b: { domain: { rid: 2, to: ['a', 'c', 'd'] }, ca: { rid: 1002, to: ['a'] } },
      c: { domain: { rid: 3, to: ['a', 'b', 'd'] } },
      d: { domain: { rid: 4, to: ['a', 'b', 'c'] } },
    });
    assert.deepEqual(audit({ inventory, facts: mesh }).findings, []);
  });
});

describe('graph', () => {
  it('resolveTarget matches the inventory name, the address or the gathered FQDN (any case, trailing dot)', () => {
    const inventory = inventoryOf([
      { name: 'a', address: '192.0.2.1' },
      { name: 'ipa2.corp', address: '192.0.2.2' },
      { name: 'c', address: '192.0.2.3' },
    ]);
    const facts = factsOf({
      a: { domain: { rid: 1 } },
      'ipa2.corp': { fqdn: 'ipa2.example.com', domain: { rid: 2 } },
      c: new UnreachableError('c.ipa.test', 'down'),
    });
    assert.equal(resolveTarget(inventory, facts, 'a.ipa.test')?.name, 'a.ipa.test');
    assert.equal(resolveTarget(inventory, facts, 'A.IPA.TEST.')?.name, 'a.ipa.test');
    assert.equal(resolveTarget(inventory, facts, '192.0.2.3')?.name, 'c.ipa.test');
    assert.equal(resolveTarget(inventory, facts, 'ipa2.example.com')?.name, 'ipa2.corp');
    assert.equal(resolveTarget(inventory, facts, 'Ipa2.Example.Com.')?.name, 'ipa2.corp');
    assert.equal(resolveTarget(inventory, facts, 'x.example.com'), undefined);
    assert.equal(
      resolveTarget(inventory, new Map(), 'ipa2.example.com'),
      undefined,
      'the FQDN is known from facts only',
    );
  });

  it('agreements written with the FQDN or the address land on the inventory host', () => {
    const inventory = inventoryOf([
      { name: 'a', address: '192.0.2.1' },
      { name: 'ipa2.corp', address: '192.0.2.2' },
    ]);
    const facts = factsOf({
      a: { domain: { rid: 1, to: [agreement('a', 'ipa2.example.com')] } },
      'ipa2.corp': { fqdn: 'ipa2.example.com', domain: { rid: 2, to: [agreement('ipa2.corp', '192.0.2.1')] } },
    });
    const { findings, topology } = audit({ inventory, facts });
    assert.deepEqual(findings, []);
    assert.deepEqual(
      topology.domain.edges.map((e) => `${e.from}>${e.to}:${e.hasReverse}`),
      ['a.ipa.test>ipa2.corp:true', 'ipa2.corp>a.ipa.test:true'],
    );
  });

  it('edge states: ok, disabled (wins over everything), failing (update or init red), degraded (amber)', () => {
    const specs = chainSpecs();
    specs.a!.domain!.to = [
      agreement('a', 'b', 'domain', { enabled: false, lastUpdateStatusJson: red(GENERATION_ERROR) }),
    ];
    specs.b!.domain!.to = [
      agreement('b', 'a', 'domain', { lastUpdateStatusJson: amber(BUSY) }),
      agreement('b', 'c', 'domain', { lastInitStatusJson: red('Error (-1) Total update aborted') }),
    ];
    specs.c!.domain!.to = [agreement('c', 'b', 'domain', { lastUpdateStatusJson: red(GENERATION_ERROR) })];
    specs.a!.ca!.to = [agreement('a', 'b', 'ca', { lastUpdateStatusJson: 'not json' })];
    const { topology } = audit({ inventory: CHAIN_INVENTORY, facts: factsOf(specs) });
    assert.deepEqual(
      topology.domain.edges.map((e) => `${e.from[0]}>${e.to[0]}:${e.state}`),
      ['a>b:disabled', 'b>a:degraded', 'b>c:failing', 'c>b:failing'],
    );
    assert.deepEqual(
      topology.ca.edges.map((e) => `${e.from[0]}>${e.to[0]}:${e.state}`),
      ['a>b:ok', 'b>a:ok'],
    );
  });

  it('statusState reads the JSON state, undefined for anything else', () => {
    assert.equal(statusState(green('x')), 'green');
    assert.equal(statusState('{"state": 3}'), undefined);
    assert.equal(statusState('{oops'), undefined);
    assert.equal(statusState(undefined), undefined);
  });

  it('hasReverse per direction; components ignore hosts outside the inventory', () => {
    const inventory = inventoryOf(['a', 'b', 'c']);
    const facts = factsOf({
      a: { domain: { rid: 1, to: ['b', 'x.example.org'] } },
      b: { domain: { rid: 2 } },
      c: { domain: { rid: 3, to: ['x.example.org'] } },
    });
    const { topology } = audit({ inventory, facts });
    assert.deepEqual(
      topology.domain.edges.map((e) => `${e.from}>${e.to}:${e.hasReverse}`),
      ['a.ipa.test>b.ipa.test:false', 'a.ipa.test>x.example.org:false', 'c.ipa.test>x.example.org:false'],
    );
    // a and c both reach x, but x is not an inventory host: it does not join them.
    assert.deepEqual(components(topology.domain), [['a.ipa.test', 'b.ipa.test'], ['c.ipa.test']]);
  });

  it('the CA graph holds role-ca hosts and hosts with a CA replica; the domain graph every host', () => {
    const inventory = inventoryOf([{ name: 'a', roles: ['ca'] }, 'b', 'c', { name: 'd', roles: ['ca'] }]);
    const facts = factsOf({
      a: { domain: { rid: 1, to: ['b'] }, ca: { rid: 1001, to: ['b'] } },
      b: { domain: { rid: 2, to: ['a', 'c'] }, ca: { rid: 1002, to: ['a'] } }, // CA replica, no role
      c: { domain: { rid: 3, to: ['b'] }, ca: {} }, // ipaca backend only: not a CA
      d: new UnreachableError('d.ipa.test', 'down'),
    });
    const { topology } = audit({ inventory, facts });
    assert.deepEqual(
      topology.domain.nodes.map((n) => n.name),
      ['a.ipa.test', 'b.ipa.test', 'c.ipa.test', 'd.ipa.test'],
    );
    assert.deepEqual(
      topology.ca.nodes.map((n) => [n.name, n.ca, n.reachable, n.rid]),
      [
        ['a.ipa.test', true, true, 1001],
        ['b.ipa.test', true, true, 1002],
        ['d.ipa.test', true, false, undefined],
      ],
    );
    assert.equal(topology.domain.suffix, DOMAIN);
    assert.equal(topology.ca.suffix, CA);
    assert.equal(suffixFactsOf(facts.get('c.ipa.test'), 'ca')?.replica, undefined);
    assert.equal(suffixFactsOf(facts.get('d.ipa.test'), 'domain'), undefined);
  });
});

describe('findings helpers', () => {
  const f = (id: FindingId, severity: Finding['severity'], hosts: string[], suffix?: SuffixKind): Finding => ({
    id,
    severity,
    hosts,
    suffix,
    message: '',
    fix: '',
  });

  it('sortFindings: errors, warnings, infos; then id, suffix, hosts; the input is left as it was', () => {
    const input = [
      f('stale-rid', 'info', ['a']),
      f('update-status-amber', 'warning', ['b', 'c'], 'domain'),
      f('agreement-one-way', 'error', ['c', 'b'], 'domain'),
      f('agreement-one-way', 'error', ['b', 'c'], 'domain'),
      f('agreement-disabled', 'error', ['a', 'b'], 'ca'),
      f('agreement-disabled', 'error', ['a', 'b'], 'domain'),
      f('host-unreachable', 'error', ['c']),
      f('clock-skew', 'warning', ['a', 'b']),
    ];
    const copy = [...input];
    const sorted = sortFindings(input).map((x) => `${x.severity} ${x.id} ${x.suffix ?? '-'} ${x.hosts.join(',')}`);
    assert.deepEqual(sorted, [
      'error agreement-disabled ca a,b',
      'error agreement-disabled domain a,b',
      'error agreement-one-way domain b,c',
      'error agreement-one-way domain c,b',
      'error host-unreachable - c',
      'warning clock-skew - a,b',
      'warning update-status-amber domain b,c',
      'info stale-rid - a',
    ]);
    assert.deepEqual(input, copy);
  });

  it('auditExitCode: 0 clean or info only, 1 with any error, 3 warnings only', () => {
    assert.equal(auditExitCode(severityOf([])), 0);
    assert.equal(auditExitCode(severityOf([f('stale-rid', 'info', ['a'])])), 0);
    assert.equal(auditExitCode(severityOf([f('stale-rid', 'warning', ['a']), f('stale-rid', 'info', ['a'])])), 3);
    assert.equal(
      auditExitCode(severityOf([f('stale-rid', 'warning', ['a']), f('host-unreachable', 'error', ['a'])])),
      1,
    );
  });

  it('generalizedTime: UTC seconds; "never" and anything else undefined', () => {
    assert.equal(generalizedTime('20261126091918Z'), Date.UTC(2026, 10, 26, 9, 19, 18) / 1000);
    assert.equal(generalizedTime('19700101000001Z'), 1);
    assert.equal(generalizedTime('19700101000000Z'), undefined);
    assert.equal(generalizedTime('20261126091918.5Z'), undefined);
    assert.equal(generalizedTime('2026-11-26T09:19:18Z'), undefined);
    assert.equal(generalizedTime(''), undefined);
    assert.equal(generalizedTime(undefined), undefined);
  });
});
