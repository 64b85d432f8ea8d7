// Pure restore checks: compatibility of a snapshot with the master, dse.ldif agreements off.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Manifest } from '../../src/backup/manifest.js';
import { disableAgreementsInDse } from '../../src/directory/dse.js';
import { parseInventory } from '../../src/inventory/index.js';
import { compatibilityProblems, versionOf, type CompatibilityInput } from '../../src/restore/compatibility.js';
import { isGreen } from '../../src/restore/unfence.js';
import { targetsAny } from '../../src/topology/graph.js';
import type { HostFacts } from '../../src/topology/facts.js';

const LAB = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/fixtures/audit/lab-chain-healthy.json', import.meta.url)), 'utf8'),
) as { facts: Record<string, HostFacts> };
const inv = parseInventory(
  [
    'all:',
    '  vars:',
    '    deployment: ipa-lab',
    '    ldap: {instance: IPA-TEST, password: env:T_DM}',
    '    suffixes: {domain: "dc=ipa,dc=test", ca: "o=ipaca"}',
    '  hosts:',
    '    a.ipa.test: {address: 127.0.27.1, roles: [ca]}',
    '    c.ipa.test: {address: 127.0.27.3}',
    '',
  ].join('\n'),
  '/f.yaml',
  { homeDir: '/h', hasLocalKnownHosts: false },
);

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    schema: 'ipa-fleet/snapshot/v1',
    id: '20261126T000000Z-abcdef',
    deployment: 'ipa-lab',
    hostName: 'a.ipa.test',
    fqdn: 'a.ipa.test',
    toolVersion: '0.1.0',
    dsVersion: '389-Directory/2.3.1 B2025.016.1616',
    instance: 'IPA-TEST',
    profile: '389ds',
    roles: ['ca'],
    suffixes: [
      {
        kind: 'domain',
        suffix: 'dc=ipa,dc=test',
        backend: 'userroot',
        entryCount: 210,
        rid: 1,
        generation: 'g1',
        ruv: [],
        ldif: 'ldif/userroot.ldif',
      },
      {
        kind: 'ca',
        suffix: 'o=ipaca',
        backend: 'ipaca',
        entryCount: 3,
        rid: 1001,
        generation: 'g2',
        ruv: [],
        ldif: 'ldif/ipaca.ldif',
      },
    ],
    missingPaths: [],
    files: [],
    archive: { name: 'a', size: 1, sha256: 'x', compression: 'gzip', encrypted: true, recipients: [] },
    type: 'DATA',
    time: '2026-11-26T00:00:00Z',
    host: 'a.ipa.test',
    ipa_version: undefined,
    version: '1',
    services: [],
    ...over,
  };
}

function input(over: Partial<CompatibilityInput> = {}): CompatibilityInput {
  return {
    manifest: manifest(),
    deployment: 'ipa-lab',
    type: 'data',
    master: inv.hosts[0]!,
    masterFacts: structuredClone(LAB.facts['a.ipa.test']!),
    suffixes: ['domain', 'ca'],
    forceVersion: false,
    ...over,
  };
}

describe('compatibility of a snapshot with the master', () => {
  it('same host, same version, both suffixes: no problem', () => {
    assert.deepEqual(compatibilityProblems(input()), []);
  });
  it('FULL onto another host is refused; DATA onto another host is fine', () => {
    const other = structuredClone(LAB.facts['a.ipa.test']!);
    other.fqdn = 'b.ipa.test';
    assert.deepEqual(compatibilityProblems(input({ masterFacts: other })), []);
    const full = compatibilityProblems(
      input({ masterFacts: other, type: 'full', manifest: manifest({ type: 'FULL' }) }),
    );
    assert.equal(full.length, 1);
    assert.match(full[0]!, /FULL backup of a\.ipa\.test: it can only be restored onto that host, not b\.ipa\.test/);
  });
  it('a FULL restore from a DATA snapshot is refused', () => {
    assert.match(compatibilityProblems(input({ type: 'full' }))[0]!, /is a DATA backup/);
  });
  it('major.minor version mismatch is refused unless forced; a patch difference is fine', () => {
    assert.match(
      compatibilityProblems(input({ manifest: manifest({ dsVersion: '389-Directory/2.4.0 B1' }) }))[0]!,
      /389-DS 2\.4\.0, a\.ipa\.test runs 2\.3\.1: major\.minor differ \(--force-version/,
    );
    assert.deepEqual(
      compatibilityProblems(input({ manifest: manifest({ dsVersion: '389-Directory/2.4.0 B1' }), forceVersion: true })),
      [],
    );
    assert.deepEqual(compatibilityProblems(input({ manifest: manifest({ dsVersion: '389-Directory/2.3.6 B1' }) })), []);
    assert.equal(versionOf('4.12.2-1.fc40'), '4.12.2');
  });
  it('a data backup into a host without the backends is refused (ipa-restore: "empty system")', () => {
    const bare = structuredClone(LAB.facts['a.ipa.test']!);
    bare.backends = [];
    assert.ok(
      compatibilityProblems(input({ masterFacts: bare })).some((p) =>
        /cannot restore a data backup into an empty system/.test(p),
      ),
    );
  });
  it('a CA snapshot onto a master without the CA suffix, and a domain-only snapshot onto a CA master, are refused', () => {
    assert.ok(
      compatibilityProblems(input({ suffixes: ['domain'] })).some((p) => /a CA restore needs a CA master/.test(p)),
    );
    const domainOnly = manifest({ suffixes: [manifest().suffixes[0]!] });
    assert.ok(compatibilityProblems(input({ manifest: domainOnly })).some((p) => /holds no export of o=ipaca/.test(p)));
  });
  it('a snapshot of another deployment is refused', () => {
    assert.match(
      compatibilityProblems(input({ deployment: 'prod' }))[0]!,
      /belongs to deployment 'ipa-lab', the inventory is 'prod'/,
    );
  });
});

describe('dse.ldif: agreements off', () => {
  const dse = [
    'dn: cn=config',
    'cn: config',
    '',
    'dn: cn=meToc.ipa.test,cn=replica,cn=dc\\3Dipa\\2Cdc\\3Dtest,cn=mapping tree,cn=config',
    'objectClass: top',
    'objectClass: nsds5replicationagreement',
    'nsds5ReplicaEnabled: o',
    ' n',
    'nsDS5ReplicaHost: c.ipa.test',
    '',
    'dn: cn=caToa,cn=replica,cn=o\\3Dipaca,cn=mapping tree,cn=config',
    'objectclass: nsDS5ReplicationAgreement',
    'cn: caToa',
    '',
    '',
  ].join('\n');
  it('sets nsds5ReplicaEnabled: off on every agreement (folded values replaced) and leaves the rest alone', () => {
    const { text, agreements } = disableAgreementsInDse(dse);
    assert.equal(agreements, 2);
    assert.ok(text.startsWith('dn: cn=config\ncn: config\n\n'));
    assert.ok(!/^ n$/m.test(text));
    assert.equal(text.match(/^nsds5ReplicaEnabled: off$/gm)?.length, 2);
    assert.ok(text.includes('nsDS5ReplicaHost: c.ipa.test\nnsds5ReplicaEnabled: off\n\n'));
    assert.ok(text.endsWith('cn: caToa\nnsds5ReplicaEnabled: off\n\n'));
  });
  it('keeps CRLF line endings', () => {
    const { text } = disableAgreementsInDse(dse.replace(/\n/g, '\r\n'));
    assert.ok(!/[^\r]\n/.test(text));
  });
});

describe('unfence helpers', () => {
  it('green by JSON state, or by the text of servers without JSON', () => {
    assert.equal(isGreen({ lastUpdateStatus: 'x', lastUpdateStatusJson: '{"state":"green"}' }), true);
    assert.equal(isGreen({ lastUpdateStatus: 'x', lastUpdateStatusJson: '{"state":"red"}' }), false);
    assert.equal(
      isGreen({
        lastUpdateStatus: 'Error (0) Replica acquired successfully: Incremental update succeeded',
        lastUpdateStatusJson: undefined,
      }),
      true,
    );
    assert.equal(
      isGreen({
        lastUpdateStatus: 'Error (0) No replication sessions started since server startup',
        lastUpdateStatusJson: undefined,
      }),
      false,
    );
  });
  it('agreement targets match inventory name, address or FQDN', () => {
    assert.equal(targetsAny({ targetHost: 'C.ipa.test.' }, [inv.hosts[1]!]), true);
    assert.equal(targetsAny({ targetHost: '127.0.27.3' }, [inv.hosts[1]!]), true);
    assert.equal(targetsAny({ targetHost: 'b.ipa.test' }, [inv.hosts[1]!]), false);
  });
});

describe('phase report', () => {
  it("seconds per host and phase from the run's task records; an online total update counts for its consumer; wall per phase", async () => {
    const { phaseReport, phaseRows } = await import('../../src/operations/phase-report.js');
    const task = (id: string, host: string, stepName: string, params: Record<string, string> = {}) => ({
      id,
      step: 0,
      stepName,
      action: 'x',
      host,
      title: id,
      params,
      dependsOn: [],
      destructive: true,
      concurrency: undefined,
    });
    const plan = {
      version: 1 as const,
      playbook: { name: 'p', file: 'f', sha256: 's', description: '' },
      inventory: { file: 'i', deployment: 'd' },
      params: {},
      limit: undefined,
      createdAt: '',
      skippedSteps: [],
      destructive: true,
      needsFacts: true,
      tasks: [
        task('f:a', 'a', 'fence'),
        task('f:b', 'b', 'fence'),
        task('r:b', 'a', 'reinitialize', { consumer: 'b' }),
      ],
    };
    const at = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const tasks = [
      { id: 'f:a', startedAt: at(0), durationMs: 1000 },
      { id: 'f:b', startedAt: at(0), durationMs: 2000 },
      { id: 'r:b', startedAt: at(2), durationMs: 5000 },
    ];
    const report = phaseReport(plan, tasks);
    assert.deepEqual(report.hosts, { a: { fence: 1 }, b: { fence: 2, reinitialize: 5 } });
    assert.deepEqual(report.wall, { fence: 2, reinitialize: 5 });
    assert.deepEqual(phaseRows(report, ['a', 'a', 'b']), [
      ['HOST', 'fence', 'reinitialize', 'TOTAL'],
      ['a', '1.0 s', '-', '1.0 s'],
      ['b', '2.0 s', '5.0 s', '7.0 s'],
      ['(wall)', '2.0 s', '5.0 s', '7.0 s'],
    ]);
  });
});
