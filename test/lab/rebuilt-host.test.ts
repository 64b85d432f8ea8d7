// A FULL restore onto rebuilt hosts (a↔b, both with the CA suffix): the instances of a (the master) and b
// are removed the way a re-installed machine looks (`dsctl INST remove --do-it`, and its leftover
// config.removed folder gone too), the package and the FQDN stay. The restore must recreate each
// instance from its own FULL snapshot (configuration, schema, certificate database), bring the
// snapshot's data back and converge; a DATA snapshot onto a missing instance is refused untouched.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  addUsers,
  agreements,
  assertConverged,
  bringUpLab,
  cleanError,
  type CliResult,
  type LabDirectory,
  labDirectory,
  makeKeys,
  type TestLab,
  uids,
  waitForUsers,
} from './fixture.js';

const run = promisify(execFile);
const A = 'a.ipa.test';
const B = 'b.ipa.test';
const INSTANCE = 'IPA-TEST';
const CONFIG = `etc/dirsrv/slapd-${INSTANCE}`;

describe('restore onto rebuilt hosts (instance removed, package and FQDN kept)', () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let store: string;
  let keys: { pub: string; sec: string; pass: string };
  let gnupgHome: string;
  let full: Record<string, string>;
  let data: Record<string, string>;
  let snapshotDir: Record<string, string>;
  let baseline: string[];
  let damaged: string[];
  let agreementNames: Record<string, string[]>;
  const t0 = Date.now();
  const stamp = (what: string): void => console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const shown = (r: CliResult): string => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr}`;

  /** A command on the lab host over its sshd, as an administrator would type it there. */
  const onHost = async (host: string, command: string): Promise<string> =>
    (
      await run('ssh', [
        '-i',
        lab.paths.identity,
        '-o',
        `UserKnownHostsFile=${lab.paths.knownHosts}`,
        '-o',
        'BatchMode=yes',
        `root@${dir.address(host)}`,
        command,
      ])
    ).stdout;
  /** What a rebuilt machine looks like: 389-ds-base installed, no instance, not even lib389's .removed copy. */
  const removeInstance = async (host: string): Promise<void> => {
    await onHost(host, `dsctl ${INSTANCE} remove --do-it && rm -rf /etc/dirsrv/slapd-${INSTANCE}.removed`);
    assert.equal(await instanceOn(host), 'absent\n', `${host}: the instance is still there`);
  };
  const instanceOn = (host: string): Promise<string> =>
    onHost(
      host,
      `if [ -e /etc/dirsrv/slapd-${INSTANCE} ] || [ -e /var/lib/dirsrv/slapd-${INSTANCE} ]; ` +
        'then echo present; else echo absent; fi',
    );
  const restoreFrom = (id: string): Promise<CliResult> =>
    lab.fleet([
      ...['restore', '-i', lab.paths.inventory, '--master', A, '--backup', id, '--store', store],
      ...['--key', keys.sec, '--passphrase', `file:${keys.pass}`, '--yes'],
    ]);
  const names = async (host: string): Promise<string[]> =>
    (await agreements(dir, host)).map((a) => `${a.suffix} ${a.name}`).sort();
  /** Users every host lists through ldapsearch (OpenLDAP's client), not the tool's own LDAP code. */
  const ldapsearchUids = async (host: string): Promise<string[]> => {
    const out = await run('ldapsearch', [
      '-x',
      '-LLL',
      '-H',
      `ldap://${dir.address(host)}:389`,
      '-D',
      'cn=Directory Manager',
      '-y',
      join(lab.tmp, 'dm-password-bare'),
      '-b',
      'ou=people,dc=ipa,dc=test',
      '-s',
      'one',
      '(uid=*)',
      'uid',
    ]);
    return [...out.stdout.matchAll(/^uid: (.+)$/gm)].map((m) => m[1]!).sort();
  };
  /** The snapshot's files, decrypted with gpg and unpacked with tar: upstream tools, not ours. */
  const unpack = async (id: string): Promise<string> => {
    const target = join(lab.tmp, 'unpacked', id);
    await mkdir(target, { recursive: true });
    const gpg = ['--batch', '--homedir', gnupgHome, '--pinentry-mode', 'loopback', '--passphrase-file', keys.pass];
    const tar = join(lab.tmp, `${id}.tar.gz`);
    await run('gpg', [...gpg, '--output', tar, '--decrypt', join(snapshotDir[id]!, 'archive.tar.gz.pgp')]);
    await run('tar', ['-xzf', tar, '-C', target]);
    return target;
  };
  const sha = async (path: string): Promise<string> =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');

  before(async () => {
    lab = await bringUpLab(['--hosts', '2']);
    dir = await labDirectory(lab, 2);
    store = join(lab.tmp, 'store');
    keys = await makeKeys(lab.tmp);
    gnupgHome = join(lab.tmp, 'gnupg');
    await mkdir(gnupgHome, { mode: 0o700 });
    await run('gpg', [
      ...['--batch', '--homedir', gnupgHome, '--pinentry-mode', 'loopback', '--passphrase-file', keys.pass],
      ...['--import', keys.sec],
    ]);
    await writeFile(join(lab.tmp, 'dm-password-bare'), (await readFile(lab.paths.dmPassword, 'utf8')).trim(), {
      mode: 0o600,
    });
    stamp('lab up');
    for (const type of ['full', 'data']) {
      const r = await lab.fleet([
        'backup',
        '-i',
        lab.paths.inventory,
        '--type',
        type,
        // DATA: only the master's, for the refusal.
        ...(type === 'data' ? ['--limit', A] : []),
        '--encrypt-to',
        keys.pub,
        '--store',
        store,
      ]);
      assert.equal(r.code, 0, shown(r));
    }
    const list = (
      JSON.parse((await lab.fleet(['--json', 'backups', 'list', '--store', store])).stdout) as {
        snapshots: Array<{ id: string; host: string; type: string; dir: string }>;
      }
    ).snapshots;
    snapshotDir = Object.fromEntries(list.map((s) => [s.id, s.dir]));
    const of = (type: string) => Object.fromEntries(list.filter((s) => s.type === type).map((s) => [s.host, s.id]));
    full = of('full');
    data = of('data');
    assert.deepEqual(Object.keys(full).sort(), [A, B]);
    baseline = await uids(dir, A);
    assert.equal(baseline.length, 200);
    agreementNames = Object.fromEntries(await Promise.all(dir.hosts.map(async (h) => [h, await names(h)])));
    // After the backup: the restore must take the deployment back to the snapshot, not keep this.
    await addUsers(dir, B, ['after-backup-1', 'after-backup-2']);
    damaged = [...baseline, 'after-backup-1', 'after-backup-2'].sort();
    await waitForUsers(dir, damaged);
    stamp('backups taken');
  });

  after(async () => {
    await lab?.down();
  });

  it('a DATA snapshot onto a missing instance: exit 2, one line naming the FULL snapshot it needs, nothing changed', async () => {
    await removeInstance(A);
    const runs = join(lab.stateDir, 'ipa-fleet', 'runs');
    const runsBefore = (await readdir(runs)).length;
    // Agreements as configured (their status line moves on by itself while a is away).
    const configured = async () => (await agreements(dir, B)).map((a) => `${a.suffix} ${a.name} ${a.enabled}`);
    const before = { b: await uids(dir, B), agreements: await configured() };
    const r = await restoreFrom(data[A]!);
    assert.equal(r.code, 2, shown(r));
    const line = cleanError(r.stderr);
    assert.ok(line, `not one clean error line:\n${r.stderr}`);
    assert.match(
      line,
      /a\.ipa\.test: 389-DS instance IPA-TEST is missing .*DATA backup .*FULL snapshot of a\.ipa\.test/,
    );
    assert.equal(await instanceOn(A), 'absent\n');
    assert.deepEqual(await uids(dir, B), before.b);
    assert.deepEqual(await configured(), before.agreements);
    assert.equal((await readdir(runs)).length, runsBefore, 'a run was started');
  });

  it('a recreation that fails half-way leaves the host as it found it: no instance, nothing made', async () => {
    // A file where the instance's log folder goes, the last folder made: everything else is made by then.
    const inTheWay = `/var/log/dirsrv/slapd-${INSTANCE}`;
    await onHost(A, `touch ${inTheWay}`);
    let r: CliResult;
    try {
      r = await restoreFrom(full[A]!);
    } finally {
      await onHost(A, `rm -f ${inTheWay}`);
    }
    assert.equal(r.code, 1, shown(r));
    assert.match(r.stdout, /recreate-instance \S+: failed/);
    assert.doesNotMatch(r.stdout, /restore-deployment/, 'the restore ran after a failed recreation');
    assert.equal(await instanceOn(A), 'absent\n', 'a half-made instance was left behind');
    const leftovers = `ls -d /etc/dirsrv/slapd-* /var/lib/dirsrv/slapd-* /var/lib/dirsrv/.ipa-fleet-* /dev/shm/slapd-* ${inTheWay}`;
    assert.equal(await onHost(A, `${leftovers} 2>/dev/null || true`), '', 'something made was left behind');
    assert.deepEqual(await uids(dir, B), damaged, 'b changed');
  });

  it('a FULL restore recreates the instances of the master and a replica, restores the data and converges', async () => {
    await removeInstance(B);
    stamp('instances of a and b removed');
    const r = await restoreFrom(full[A]!);
    stamp('restore done');
    console.log(
      r.stdout
        .split('\n')
        .filter((l) => /recreate|restore \S+:|instance/.test(l))
        .join('\n'),
    );
    assert.equal(r.code, 0, shown(r));
    assert.match(r.stdout, /recreate instance on a\.ipa\.test from FULL snapshot/);
    assert.match(r.stdout, /recreate instance on b\.ipa\.test from FULL snapshot/);
    assert.match(r.stdout, /recreate-instance \S+: succeeded/);

    // The snapshot's users on every host, by OpenLDAP's ldapsearch; one generation, every agreement green.
    for (const h of dir.hosts)
      assert.deepEqual(await ldapsearchUids(h), baseline, `${h}: users differ from the snapshot`);
    await assertConverged(dir, baseline, [A, B]);
    for (const h of [A, B]) assert.deepEqual(await names(h), agreementNames[h], `${h}: agreements not back`);

    for (const h of [A, B]) {
      const snapshot = await unpack(full[h]!);
      const hostEtc = join(lab.paths.hostDir(h), 'etc-dirsrv', `slapd-${INSTANCE}`);
      // The certificate database, its pin file and the schema: the snapshot's, byte for byte.
      const schema = (await readdir(join(snapshot, CONFIG, 'schema'))).map((f) => `schema/${f}`);
      assert.ok(schema.includes('schema/99user.ldif'), `${h}: the snapshot holds no schema/99user.ldif`);
      for (const f of ['cert9.db', 'key4.db', 'pin.txt', ...schema])
        assert.equal(await sha(join(hostEtc, f)), await sha(join(snapshot, CONFIG, f)), `${h}: ${f} differs`);
      // dse.ldif: the snapshot's instance (its replica ids and its own listen address), not a new one.
      const [dseNow, dseThen] = await Promise.all([
        readFile(join(hostEtc, 'dse.ldif'), 'utf8'),
        readFile(join(snapshot, CONFIG, 'dse.ldif'), 'utf8'),
      ]);
      const facts = (text: string) =>
        [...text.matchAll(/^(nsDS5ReplicaId|nsslapd-listenhost): (.+)$/gim)].map((m) => m[0]);
      assert.deepEqual(facts(dseNow), facts(dseThen), `${h}: dse.ldif is not the snapshot's`);
      // The folders as 389-DS's setup makes them: owned by dirsrv, mode 0770.
      const dirsrv = Number((await run('id', ['-u', 'dirsrv'])).stdout.trim());
      for (const sub of ['db', 'ldif', 'bak']) {
        const s = await stat(join(lab.paths.hostDir(h), 'var-lib-dirsrv', `slapd-${INSTANCE}`, sub));
        assert.equal(s.uid, dirsrv, `${h}: ${sub} not owned by dirsrv`);
        assert.equal(s.mode & 0o777, 0o770, `${h}: ${sub} mode ${(s.mode & 0o777).toString(8)}`);
      }
    }
  });
});
