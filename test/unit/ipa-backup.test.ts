// ipa-backup's folder name, header and tar layout (ipaserver/install/ipa_backup.py), and the
// stream that turns its tar into a snapshot's. Archives are made and read back with GNU tar.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  importedSuffixes,
  ipaBackupArchive,
  ipaBackupPart,
  keepsConfigFile,
  LdifSurveyor,
  parseIpaBackupFolder,
  parseIpaBackupHeader,
} from '../../src/backup/ipa-backup-archive.js';
import { convertIpaBackup } from '../../src/backup/ipa-backup-stream.js';
import { FleetError, UsageError } from '../../src/errors.js';
import type { Host } from '../../src/inventory/model.js';

const work = mkdtempSync(join(tmpdir(), 'ipa-fleet-ipa-backup-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The header exactly as ConfigParser.write writes it (note the space after an empty value's '='). */
const HEADER =
  '[ipa]\ntype = FULL\ntime = 2026-12-07T10:15:00\nhost = ipa1.example.test\nipa_version = 4.12.2\n' +
  'version = 1\nservices = CA,DNS,KDC\n\n';

const refused = (fn: () => unknown, message: RegExp): void =>
  assert.throws(fn, (err: unknown) => err instanceof UsageError && message.test(err.message));

describe('the folder name', () => {
  test('ipa-data-… and ipa-full-… give the type; a trailing slash is fine', () => {
    assert.deepEqual(parseIpaBackupFolder('/var/lib/ipa/backup/ipa-data-2026-12-07-10-15-00/'), {
      path: '/var/lib/ipa/backup/ipa-data-2026-12-07-10-15-00',
      type: 'DATA',
    });
    assert.equal(parseIpaBackupFolder('/srv/b/ipa-full-2026-12-07-10-15-00').type, 'FULL');
  });
  test('a relative path or another name is refused', () => {
    refused(() => parseIpaBackupFolder('ipa-data-2026-12-07-10-15-00'), /not an absolute path/);
    refused(() => parseIpaBackupFolder('/var/lib/ipa/backup/ipa-data-2026-12-07'), /not an ipa-backup folder name/);
    refused(() => parseIpaBackupFolder('/var/lib/ipa/backup'), /not an ipa-backup folder name/);
  });
});

describe('the header', () => {
  test('as ipa-backup writes it', () => {
    assert.deepEqual(parseIpaBackupHeader(HEADER, 'h'), {
      type: 'FULL',
      time: '2026-12-07T10:15:00',
      host: 'ipa1.example.test',
      ipaVersion: '4.12.2',
      version: '1',
      services: ['CA', 'DNS', 'KDC'],
    });
  });
  test("as ConfigParser reads it: keys in any case, ':' as separator, comments, empty services", () => {
    const text =
      '# written by hand\n[IPA]\n[ipa]\nType: DATA\n; a comment\nTIME = 2026-12-07T10:15:00\nhost=a.example.test\n' +
      'ipa_version = 4.9.8\nversion = 1\nservices = \n';
    const h = parseIpaBackupHeader(text, 'h');
    assert.equal(h.type, 'DATA');
    assert.equal(h.host, 'a.example.test');
    assert.deepEqual(h.services, []);
  });
  test('what cannot be used is refused with the file, the line or the key', () => {
    refused(() => parseIpaBackupHeader('garbage\n', 'f/header'), /^f\/header:1: not an INI line/);
    refused(() => parseIpaBackupHeader('[backup]\ntype = DATA\n', 'h'), /no \[ipa\] section/);
    refused(() => parseIpaBackupHeader(HEADER.replace('version = 1\n', ''), 'h'), /no 'version'/);
    refused(() => parseIpaBackupHeader(HEADER.replace('version = 1', 'version = 2'), 'h'), /version '2' is unknown/);
    refused(() => parseIpaBackupHeader(HEADER.replace('type = FULL', 'type = LOGS'), 'h'), /'LOGS' is not DATA/);
    refused(() => parseIpaBackupHeader(HEADER.replace('T10:15:00', ' 10:15'), 'h'), /time .* is not/);
    refused(() => parseIpaBackupHeader(`${HEADER}type = DATA\n`, 'h'), /'type' appears twice/);
    refused(() => parseIpaBackupHeader(HEADER.replace('ipa1.example.test', 'a b'), 'h'), /not a host name/);
  });
});

test('the archive: the plain tar when there, else its .gpg (as ipa-restore chooses); neither is refused', () => {
  assert.deepEqual(ipaBackupArchive('DATA', ['header', 'ipa-data.tar'], 'w'), {
    name: 'ipa-data.tar',
    encrypted: false,
  });
  assert.deepEqual(ipaBackupArchive('FULL', ['header', 'ipa-full.tar.gpg'], 'w'), {
    name: 'ipa-full.tar.gpg',
    encrypted: true,
  });
  assert.deepEqual(ipaBackupArchive('FULL', ['ipa-full.tar', 'ipa-full.tar.gpg'], 'w').encrypted, false);
  refused(() => ipaBackupArchive('DATA', ['header', 'ipa-full.tar'], 'w'), /neither ipa-data\.tar nor/);
});

describe('the layout', () => {
  test('entries of ipa-backup tar map to the snapshot layout', () => {
    assert.deepEqual(ipaBackupPart('./', 'DATA', 'EX-TEST'), { kind: 'folder' });
    assert.deepEqual(ipaBackupPart('./EX-TEST-userRoot.ldif', 'DATA', 'EX-TEST'), {
      kind: 'ldif',
      backend: 'userRoot',
      target: 'ldif/userRoot.ldif',
    });
    assert.deepEqual(ipaBackupPart('EX-TEST-ipaca.ldif', 'FULL', 'EX-TEST'), {
      kind: 'ldif',
      backend: 'ipaca',
      target: 'ldif/ipaca.ldif',
    });
    assert.deepEqual(ipaBackupPart('./EX-TEST/', 'DATA', 'EX-TEST'), { kind: 'folder' });
    assert.deepEqual(ipaBackupPart('./EX-TEST/userRoot/id2entry.db', 'DATA', 'EX-TEST'), {
      kind: 'bak',
      target: 'bak/userRoot/id2entry.db',
    });
    assert.deepEqual(ipaBackupPart('./files.tar', 'FULL', 'EX-TEST'), { kind: 'files' });
  });
  test('another instance, files.tar in DATA and foreign entries are refused', () => {
    const problem = (path: string, type: 'DATA' | 'FULL' = 'DATA'): string => {
      const part = ipaBackupPart(path, type, 'EX-TEST');
      return part.kind === 'refused' ? part.problem : `not refused: ${part.kind}`;
    };
    assert.match(problem('./OTHER-userRoot.ldif'), /of instance OTHER, the inventory host's ldap.instance is EX-TEST/);
    assert.match(problem('./OTHER/userRoot/id2entry.db'), /not part of ipa-backup's layout for instance EX-TEST/);
    assert.match(problem('./files.tar'), /files\.tar in a DATA backup/);
    assert.match(problem('./notes.txt', 'FULL'), /not part of ipa-backup's layout/);
    assert.match(problem('./userRoot.ldif'), /not named <instance>-<backend>\.ldif/);
  });
  test('of files.tar only the FULL paths are taken, without PID files and locks', () => {
    const roots = ['etc/dirsrv/slapd-EX-TEST', 'etc/ipa'];
    assert.equal(keepsConfigFile('etc/dirsrv/slapd-EX-TEST/dse.ldif', roots), true);
    assert.equal(keepsConfigFile('./etc/ipa/default.conf', roots), true);
    assert.equal(keepsConfigFile('etc/dirsrv/slapd-EX-TEST-old/dse.ldif', roots), false);
    assert.equal(keepsConfigFile('var/lib/dirsrv/slapd-EX-TEST/db/userRoot/id2entry.db', roots), false);
    assert.equal(keepsConfigFile('etc/dirsrv/slapd-EX-TEST/slapd.pid', roots), false);
    assert.equal(keepsConfigFile('etc/dirsrv/slapd-EX-TEST/lock/server/1', roots), false);
  });
});

const RUV_LDIF = [
  'version: 1',
  '',
  '# entry-id: 1',
  'dn: dc=example,',
  ' dc=test',
  'objectClass: top',
  '',
  'dn: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=example,dc=test',
  'objectClass: nsTombstone',
  'nsds50ruv: {replicageneration} 6571a2b3000000010000',
  'nsds50ruv: {replica 4 ldap://ipa2.example.test:389} 6571a2b3000000040000 6571',
  ' a2c4000000040000',
  'nsds50ruv: {replica 3 ldap://ipa1.example.test:389} 6571a2b3000000030000 6571a2c5000000030000',
  '',
  'dn:: Y249dXNlcnMsZGM9ZXhhbXBsZSxkYz10ZXN0',
  'nsds50ruv: not in the RUV entry',
  '',
].join('\n');

describe('the LDIF survey', () => {
  test('the first DN, the RUV, unfolded, and the records (a base64 dn too), whatever the chunks', () => {
    for (const size of [1, 7, 4096]) {
      const s = new LdifSurveyor();
      const bytes = Buffer.from(RUV_LDIF);
      for (let at = 0; at < bytes.length; at += size) s.write(bytes.subarray(at, at + size));
      assert.deepEqual(s.end(), {
        suffix: 'dc=example,dc=test',
        ruv: [
          '{replicageneration} 6571a2b3000000010000',
          '{replica 4 ldap://ipa2.example.test:389} 6571a2b3000000040000 6571a2c4000000040000',
          '{replica 3 ldap://ipa1.example.test:389} 6571a2b3000000030000 6571a2c5000000030000',
        ],
        records: 3,
      });
    }
  });
});

const host = {
  name: 'ipa1',
  suffixes: { domain: 'dc=example,dc=test', ca: { suffix: 'o=ipaca', instance: undefined, port: undefined } },
} as unknown as Host;

describe('the manifest suffixes', () => {
  const survey = (suffix: string | undefined, ruv: string[] = []) => ({ suffix, ruv, records: 1 });
  test("suffix by the LDIF's first DN; the replica ID of the backup's own host; the generation", () => {
    const s = new LdifSurveyor();
    s.write(Buffer.from(RUV_LDIF));
    const suffixes = importedSuffixes(
      [
        { backend: 'userRoot', target: 'ldif/userRoot.ldif', survey: s.end() },
        { backend: 'ipaca', target: 'ldif/ipaca.ldif', survey: survey('O=IPACA') },
      ],
      host,
      'ipa1.example.test',
      'w',
    );
    assert.deepEqual(
      suffixes.map((x) => [x.kind, x.suffix, x.backend, x.rid, x.generation, x.ldif, x.exportedEntries]),
      [
        ['domain', 'dc=example,dc=test', 'userRoot', 3, '6571a2b3000000010000', 'ldif/userRoot.ldif', 3],
        ['ca', 'o=ipaca', 'ipaca', undefined, undefined, 'ldif/ipaca.ldif', 1],
      ],
    );
  });
  test('no domain LDIF, or an LDIF of a suffix the inventory does not name, is refused', () => {
    refused(
      () =>
        importedSuffixes([{ backend: 'ipaca', target: 'ldif/ipaca.ldif', survey: survey('o=ipaca') }], host, 'x', 'w'),
      /no LDIF of the domain suffix dc=example,dc=test/,
    );
    refused(
      () => importedSuffixes([{ backend: 'userRoot', target: 't', survey: survey('dc=other') }], host, 'x', 'w'),
      /holds 'dc=other', neither the inventory's domain suffix/,
    );
    refused(
      () => importedSuffixes([{ backend: 'userRoot', target: 't', survey: survey(undefined) }], host, 'x', 'w'),
      /holds no entry/,
    );
  });
});

// ---- the stream, on archives GNU tar makes as ipa_backup.py runs it ------------------------------------

/** A folder as ipa-backup fills it before `tar -czf ipa-<kind>.tar .`; returns the gzipped tar. */
function ipaBackupTar(instance: string, opts: { full: boolean; longPath?: boolean }): Buffer {
  const root = mkdtempSync(join(work, 'b-'));
  const dir = join(root, 'ipa');
  mkdirSync(join(dir, instance, 'userRoot'), { recursive: true });
  writeFileSync(join(dir, `${instance}-userRoot.ldif`), RUV_LDIF);
  writeFileSync(join(dir, `${instance}-ipaca.ldif`), 'dn: o=ipaca\nobjectClass: top\n\n');
  writeFileSync(join(dir, instance, 'userRoot', 'id2entry.db'), Buffer.alloc(20_000, 7));
  if (opts.full) {
    const fs = join(root, 'fs');
    const conf = join(fs, 'etc', 'dirsrv', `slapd-${instance}`);
    mkdirSync(join(conf, 'schema'), { recursive: true });
    writeFileSync(join(conf, 'dse.ldif'), 'dn: cn=config\n\n', { mode: 0o640 });
    writeFileSync(join(conf, 'schema', '99user.ldif'), 'dn: cn=schema\n\n');
    writeFileSync(join(conf, 'slapd.pid'), '123\n');
    if (opts.longPath) writeFileSync(join(conf, `${'x'.repeat(150)}.ldif`), 'long\n');
    mkdirSync(join(fs, 'var', 'lib', 'dirsrv', `slapd-${instance}`, 'db'), { recursive: true });
    writeFileSync(join(fs, 'var', 'lib', 'dirsrv', `slapd-${instance}`, 'db', 'data.mdb'), Buffer.alloc(5000));
    execFileSync('ln', ['-s', 'dse.ldif', join(conf, 'dse.link')]);
    execFileSync('tar', ['--xattrs', '--selinux', '-cf', join(dir, 'files.tar'), '-C', fs, 'etc', 'var']);
    execFileSync('gzip', [join(dir, 'files.tar')]);
    execFileSync('mv', [join(dir, 'files.tar.gz'), join(dir, 'files.tar')]);
  }
  execFileSync('tar', ['--xattrs', '--selinux', '-czf', join(root, 'ipa.tar'), '.'], { cwd: dir });
  return execFileSync('cat', [join(root, 'ipa.tar')], { maxBuffer: 1 << 26 });
}

const roots = (instance: string): string[] => [`etc/dirsrv/slapd-${instance}`];

describe('the conversion stream', () => {
  test('DATA: the LDIFs and the db2bak folder, in a tar GNU tar reads back byte for byte', async () => {
    const { tar, done } = convertIpaBackup(Readable.from([ipaBackupTar('EX-TEST', { full: false })]), {
      type: 'DATA',
      instance: 'EX-TEST',
      configRoots: [],
      where: 'w',
    });
    const [out, result] = await Promise.all([buffer(tar), done]);
    const listed = execFileSync('tar', ['-t'], { input: out }).toString().trim().split('\n').sort();
    assert.deepEqual(listed, ['bak/userRoot/id2entry.db', 'ldif/ipaca.ldif', 'ldif/userRoot.ldif']);
    assert.equal(execFileSync('tar', ['-xO', 'ldif/userRoot.ldif'], { input: out }).toString(), RUV_LDIF);
    assert.deepEqual(result.ldifs.map((l) => [l.backend, l.survey.suffix]).sort(), [
      ['ipaca', 'o=ipaca'],
      ['userRoot', 'dc=example,dc=test'],
    ]);
    assert.equal(result.bakFiles, 1);
    assert.equal(result.filesTar, false);
  });

  test('FULL: the FULL paths of files.tar with mode and owner, long paths in pax; the rest not taken', async () => {
    const { tar, done } = convertIpaBackup(Readable.from([ipaBackupTar('EX-TEST', { full: true, longPath: true })]), {
      type: 'FULL',
      instance: 'EX-TEST',
      configRoots: roots('EX-TEST'),
      where: 'w',
    });
    const [out, result] = await Promise.all([buffer(tar), done]);
    const listed = execFileSync('tar', ['-tv', '--numeric-owner'], { input: out }).toString().trim().split('\n');
    const names = listed.map((l) => l.split(/\s+/).pop()!).sort();
    const dse = listed.find((l) => l.endsWith('/dse.ldif'))!.split(/\s+/);
    assert.deepEqual([dse[0], dse[1]], ['-rw-r-----', `${process.getuid!()}/${process.getgid!()}`]);
    assert.deepEqual(
      names,
      [
        'bak/userRoot/id2entry.db',
        `etc/dirsrv/slapd-EX-TEST/${'x'.repeat(150)}.ldif`,
        'etc/dirsrv/slapd-EX-TEST/dse.ldif',
        'etc/dirsrv/slapd-EX-TEST/schema/99user.ldif',
        'ldif/ipaca.ldif',
        'ldif/userRoot.ldif',
      ].sort(),
    );
    assert.equal(
      execFileSync('tar', ['-xO', 'etc/dirsrv/slapd-EX-TEST/dse.ldif'], { input: out }).toString(),
      'dn: cn=config\n\n',
    );
    assert.deepEqual(result.configRootsSeen, ['etc/dirsrv/slapd-EX-TEST']);
    assert.equal(result.configFiles, 3);
    assert.deepEqual(result.skipped, ['files.tar: etc/dirsrv/slapd-EX-TEST/dse.link (SymbolicLink)']);
    assert.ok(result.leftOut >= 1, 'the database file of files.tar is left out');
  });

  test('another instance is refused; a truncated archive is a failure; the output stream errors too', async () => {
    const other = convertIpaBackup(Readable.from([ipaBackupTar('OTHER', { full: false })]), {
      type: 'DATA',
      instance: 'EX-TEST',
      configRoots: [],
      where: 'w',
    });
    other.tar.on('error', () => undefined).resume();
    await assert.rejects(other.done, (err: unknown) => err instanceof UsageError && /instance OTHER/.test(err.message));
    assert.ok(other.tar.destroyed);
    const whole = ipaBackupTar('EX-TEST', { full: false });
    const cut = convertIpaBackup(Readable.from([whole.subarray(0, whole.length - 40)]), {
      type: 'DATA',
      instance: 'EX-TEST',
      configRoots: [],
      where: 'w',
    });
    cut.tar.on('error', () => undefined).resume();
    await assert.rejects(cut.done, (err: unknown) => err instanceof FleetError && /^w: /.test(err.message));
    const notGzip = convertIpaBackup(Readable.from([Buffer.from('plain text, not an archive')]), {
      type: 'DATA',
      instance: 'EX-TEST',
      configRoots: [],
      where: 'w',
    });
    notGzip.tar.on('error', () => undefined).resume();
    await assert.rejects(notGzip.done, /w: damaged, or not gzip data as ipa-backup writes it/);
  });
});
