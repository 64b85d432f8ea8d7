// Recreating a rebuilt host's instance, the pure parts: the folders its dse.ldif names, the owners of
// restored files on a host that numbers dirsrv differently, and the checks before anything is made.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Manifest } from '../../src/backup/manifest.js';
import { instanceLayout } from '../../src/directory/instance.js';
import { parseInventory } from '../../src/inventory/index.js';
import {
  configFilesOf,
  mapOwner,
  rebuildProblems,
  type RebuildCheckInput,
  type RebuildProbe,
} from '../../src/restore/rebuild.js';

// The entries of a dse.ldif that name folders, as dscreate writes them (one value folded).
const DSE = [
  'dn: cn=config',
  'cn: config',
  'nsslapd-schemadir: /etc/dirsrv/slapd-IPA-TEST/schema',
  'nsslapd-lockdir: /run/lock/dirsrv/slapd-IPA-TEST',
  'nsslapd-certdir: /etc/dirsrv/slapd-IPA-TEST',
  'nsslapd-ldifdir: /var/lib/dirsrv/slapd-IPA-TEST/ldif',
  'nsslapd-bakdir: /var/lib/dirsrv/slapd-IPA-TEST/b',
  ' ak',
  'nsslapd-rundir: /run/dirsrv',
  'nsslapd-accesslog: /var/log/dirsrv/slapd-IPA-TEST/access',
  'nsslapd-errorlog: /var/log/dirsrv/slapd-IPA-TEST/errors',
  'nsslapd-localuser: dirsrv',
  '',
  'dn: cn=config,cn=ldbm database,cn=plugins,cn=config',
  'nsslapd-directory: /var/lib/dirsrv/slapd-IPA-TEST/db',
  'nsslapd-db-home-directory: /dev/shm/slapd-IPA-TEST',
  '',
].join('\n');

describe('instanceLayout: the folders a dse.ldif names', () => {
  it('lists every folder ns-slapd needs before it starts, once each, and the instance user', () => {
    const layout = instanceLayout('IPA-TEST', DSE);
    assert.equal(layout.user, 'dirsrv');
    assert.deepEqual(layout.folders, [
      '/etc/dirsrv/slapd-IPA-TEST',
      '/etc/dirsrv/slapd-IPA-TEST/schema',
      '/var/lib/dirsrv/slapd-IPA-TEST/db',
      '/dev/shm/slapd-IPA-TEST',
      '/var/lib/dirsrv/slapd-IPA-TEST/bak',
      '/var/lib/dirsrv/slapd-IPA-TEST/ldif',
      '/run/lock/dirsrv/slapd-IPA-TEST',
      '/run/dirsrv',
      '/var/log/dirsrv/slapd-IPA-TEST',
    ]);
    assert.deepEqual(layout.ownedParents, ['/var/lib/dirsrv/slapd-IPA-TEST', '/run/lock/dirsrv']);
  });

  it('takes the values the admin moved (another user, a database elsewhere)', () => {
    const moved = DSE.replace('nsslapd-localuser: dirsrv', 'nsslapd-localuser: ldapsrv').replace(
      'nsslapd-directory: /var/lib/dirsrv/slapd-IPA-TEST/db',
      'nsslapd-directory: /srv/ds/db',
    );
    const layout = instanceLayout('IPA-TEST', moved);
    assert.equal(layout.user, 'ldapsrv');
    assert.ok(layout.folders.includes('/srv/ds/db'));
    assert.ok(layout.ownedParents.includes('/srv/ds'));
  });

  it("falls back to 389-DS's defaults when dse.ldif names no folder", () => {
    const layout = instanceLayout('X', 'dn: cn=config\ncn: config\n');
    assert.equal(layout.user, 'dirsrv');
    assert.ok(layout.folders.includes('/var/lib/dirsrv/slapd-X/db'));
    assert.ok(layout.folders.includes('/var/log/dirsrv/slapd-X'));
    assert.ok(layout.folders.includes('/dev/shm/slapd-X'));
  });
});

describe('mapOwner: owners of restored files on a rebuilt machine', () => {
  it("moves the old instance user's files to this host's ids, and leaves root and others alone", () => {
    const archived = { uid: 389, gid: 389 };
    const current = { uid: 103, gid: 105 };
    assert.deepEqual(mapOwner({ uid: 389, gid: 389 }, archived, current), { uid: 103, gid: 105 });
    assert.deepEqual(mapOwner({ uid: 0, gid: 389 }, archived, current), { uid: 0, gid: 105 });
    assert.deepEqual(mapOwner({ uid: 0, gid: 0 }, archived, current), { uid: 0, gid: 0 });
    assert.deepEqual(mapOwner({ uid: 17, gid: 17 }, archived, current), { uid: 17, gid: 17 });
  });
});

const inv = parseInventory(
  [
    'all:',
    '  vars:',
    '    deployment: ipa-lab',
    '    ldap: {instance: IPA-TEST, password: env:T_DM}',
    '    suffixes: {domain: "dc=ipa,dc=test"}',
    '  hosts:',
    '    a.ipa.test: {address: 127.0.27.1}',
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
    roles: [],
    suffixes: [],
    missingPaths: [],
    files: [
      { path: 'ldif/userroot.ldif', size: 5000, sha256: 'x' },
      { path: 'etc/dirsrv/slapd-IPA-TEST/dse.ldif', size: 300, sha256: 'x' },
      { path: 'etc/dirsrv/slapd-IPA-TEST/cert9.db', size: 200, sha256: 'x' },
      { path: 'etc/dirsrv/slapd-IPA-TEST-OTHER/dse.ldif', size: 100, sha256: 'x' },
    ],
    archive: { name: 'a', size: 1, sha256: 'x', compression: 'gzip', encrypted: false, recipients: [] },
    type: 'FULL',
    time: '2026-11-26T00:00:00Z',
    host: 'a.ipa.test',
    ipa_version: undefined,
    version: '1',
    services: [],
    ...over,
  };
}

function probe(over: Partial<RebuildProbe> = {}): RebuildProbe {
  return {
    fqdn: 'a.ipa.test',
    nsSlapd: '/usr/sbin/ns-slapd',
    dsctl: '/usr/sbin/dsctl',
    dsVersion: '389-Directory/2.3.1',
    user: { uid: 103, gid: 105 },
    instancePresent: false,
    freeBytes: 10_000_000,
    freePath: '/var/lib/dirsrv',
    ...over,
  };
}

function input(over: Partial<RebuildCheckInput> = {}): RebuildCheckInput {
  return {
    host: inv.hosts[0]!,
    deployment: 'ipa-lab',
    manifest: manifest(),
    layout: instanceLayout('IPA-TEST', DSE),
    probe: probe(),
    spaceNeeded: 1000,
    forceVersion: false,
    ...over,
  };
}

describe('rebuildProblems: checked before anything is made', () => {
  it('accepts a FULL snapshot of this host and instance on a host with 389-DS, its user and room', () => {
    assert.deepEqual(rebuildProblems(input()), []);
  });

  it('refuses a DATA snapshot, naming the FULL snapshot it needs', () => {
    const [problem] = rebuildProblems(input({ manifest: manifest({ type: 'DATA' }), layout: undefined }));
    assert.match(problem!, /DATA backup: recreating an instance needs a FULL snapshot of a\.ipa\.test/);
  });

  it('refuses a snapshot of another FQDN, instance or deployment', () => {
    const problems = rebuildProblems(
      input({ manifest: manifest({ fqdn: 'old.ipa.test', instance: 'OTHER', deployment: 'prod' }) }),
    );
    assert.equal(problems.length, 3);
    assert.match(problems.join('\n'), /must keep its FQDN/);
    assert.match(problems.join('\n'), /instance OTHER/);
    assert.match(problems.join('\n'), /deployment 'prod'/);
  });

  it('refuses a host without 389-ds-base, without the instance user, or without room', () => {
    const problems = rebuildProblems(
      input({ probe: probe({ nsSlapd: undefined, dsctl: undefined, user: undefined, freeBytes: 10 }) }),
    );
    assert.match(problems[0]!, /ns-slapd and dsctl not found: install the 389-ds-base package/);
    assert.match(problems[1]!, /no user 'dirsrv'/);
    assert.match(problems[2]!, /10 bytes free, recreating the instance needs 1000/);
  });

  it('refuses another 389-DS major.minor than the snapshot was taken with, unless forced', () => {
    const older = probe({ dsVersion: '389-Directory/2.2.9' });
    assert.match(rebuildProblems(input({ probe: older })).join('\n'), /389-DS 2\.3\.1, a\.ipa\.test has 2\.2\.9/);
    assert.deepEqual(rebuildProblems(input({ probe: older, forceVersion: true })), []);
    assert.deepEqual(rebuildProblems(input({ probe: probe({ dsVersion: '389-Directory/2.3.6' }) })), []);
  });

  it('refuses a FULL snapshot without the instance dse.ldif', () => {
    assert.match(rebuildProblems(input({ layout: undefined })).join('\n'), /holds no .*dse\.ldif/);
  });
});

describe('configFilesOf', () => {
  it("is the instance's configuration folder only, not a look-alike instance's", () => {
    assert.deepEqual(
      configFilesOf(manifest(), 'IPA-TEST').map((f) => f.path),
      ['etc/dirsrv/slapd-IPA-TEST/dse.ldif', 'etc/dirsrv/slapd-IPA-TEST/cert9.db'],
    );
  });
});
