// `backups import` of FreeIPA ipa-backup folders. The folders are made on a lab host exactly as
// ipaserver/install/ipa_backup.py makes them (its offline path: the instance stopped, `dsctl
// db2ldif --replication` per backend, `dsctl db2bak`, for FULL a `tar --xattrs --selinux` of the
// instance's paths gzipped in place as files.tar, then `tar -czf ipa-<kind>.tar .` and the
// ConfigParser header; for --gpg, its `gpg --batch --default-recipient-self --encrypt`, run here on
// the same files), in /var/lib/ipa/backup (a folder of the test bind-mounted there inside the
// host's namespace).
// Each is imported, verified, and the deployment restored from it: the restore's own proof must
// pass, and every host must then hold exactly the entries the archive was exported from.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadInventory } from '../../src/inventory/load.js';
import type { SshSession } from '../../src/transport/session.js';
import { Transport } from '../../src/transport/transport.js';
import {
  addUsers,
  assertConverged,
  bringUpLab,
  CA,
  cleanError,
  deleteUsers,
  dnsOf,
  DOMAIN,
  labDirectory,
  makeKeys,
  processMatching,
  sleep,
  testContext,
  uids,
  waitForUsers,
  type CliResult,
  type LabDirectory,
  type TestLab,
} from './fixture.js';

const run = promisify(execFile);
const A = 'a.ipa.test';
const B = 'b.ipa.test';
const BACKUP_DIR = '/var/lib/ipa/backup';
const GPG_PASS = 'SecretPassPhrase42';

/**
 * ipa_backup.py's offline run as a shell script (its steps, in its order, with its names): prints
 * the folder it made. $1 data|full. Encryption (--gpg) is done by the test, see ipaBackup.
 */
const IPA_BACKUP_SCRIPT = String.raw`
set -eu
KIND=$1
INST=IPA-TEST
SLAPD=/var/lib/dirsrv/slapd-$INST
TYPE=DATA; [ "$KIND" = full ] && TYPE=FULL
TOP=$(mktemp -d /tmp/tmpXXXXXXXXipa); chown dirsrv: "$TOP"; chmod 750 "$TOP"
DIR=$TOP/ipa; mkdir -m 750 "$DIR"; chown dirsrv: "$DIR"
# create_header: ConfigParser.write of [ipa]; no cn=masters in the lab, so services is empty
printf '[ipa]\ntype = %s\ntime = %s\nhost = %s\nipa_version = 4.12.2\nversion = 1\nservices = \n\n' \
  "$TYPE" "$(date -u +%Y-%m-%dT%H:%M:%S)" "$(hostname -f)" > "$TOP/header"
dsctl $INST stop
if dbscan -L $SLAPD/db/ | grep -qi 'ipaca/'; then
  dsctl $INST db2ldif --replication ipaca $SLAPD/ldif/$INST-ipaca.ldif
  mv $SLAPD/ldif/$INST-ipaca.ldif "$DIR/"
fi
dsctl $INST db2ldif --replication userRoot $SLAPD/ldif/$INST-userRoot.ldif
mv $SLAPD/ldif/$INST-userRoot.ldif "$DIR/"
rm -rf $SLAPD/bak/$INST
dsctl $INST db2bak $SLAPD/bak/$INST
mv $SLAPD/bak/$INST "$DIR/"
if [ "$TYPE" = FULL ]; then
  set --
  for p in /etc/dirsrv/slapd-$INST /var/lib/dirsrv/scripts-$INST $SLAPD /run/dirsrv /run/lock/dirsrv \
           /etc/hosts /etc/nsswitch.conf /etc/ssh/sshd_config /etc/sysconfig/dirsrv-$INST; do
    [ -e "$p" ] && set -- "$@" "$p"
  done
  tar --exclude=/var/lib/ipa/backup --xattrs --selinux -cf "$DIR/files.tar" "$@" 2>/dev/null || [ $? -eq 1 ]
fi
dsctl $INST start
if [ "$TYPE" = FULL ]; then gzip "$DIR/files.tar"; mv "$DIR/files.tar.gz" "$DIR/files.tar"; fi
BACKUP=/var/lib/ipa/backup/ipa-$KIND-$(date +%Y-%m-%d-%H-%M-%S)
mkdir -m 700 "$BACKUP"
FILE=$BACKUP/ipa-$KIND.tar
(cd "$DIR" && tar --xattrs --selinux -czf "$FILE" .)
mv "$TOP/header" "$BACKUP/"
rm -rf "$TOP"
echo "$BACKUP"
`;

describe('backups import of ipa-backup folders (DATA and FULL, plain and gpg)', () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let transport: Transport;
  let ssh: SshSession;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  let gnupg: string;
  let gpgKey: string;
  let gpgPass: string;
  let createdDirs: string[] = [];
  let backups: string;
  const t0 = Date.now();
  const stamp = (what: string): void => console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const shown = (r: CliResult): string => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr}`;

  /** ipa-backup's folder on a, and what a held when it was exported (every DN of both suffixes). */
  const ipaBackup = async (kind: 'data' | 'full', encrypt: 'plain' | 'gpg') => {
    const entries = { domain: await dnsOf(dir, A, DOMAIN), ca: await dnsOf(dir, A, CA), users: await uids(dir, A) };
    const out = await ssh.run(`bash -s -- ${kind}`, { stdin: IPA_BACKUP_SCRIPT, timeoutMs: 180_000 });
    const folder = out.trim().split('\n').pop()!;
    if (encrypt === 'gpg') {
      // ipa_backup.py's encrypt_file, on the controller (the folder is the test's), so that the
      // gpg-agent it starts is this process's and gpgconf ends it.
      const file = join(backups, folder.slice(BACKUP_DIR.length + 1), `ipa-${kind}.tar`);
      const env = { ...process.env, GNUPGHOME: gnupg };
      await run('gpg', ['--batch', '--default-recipient-self', '--output', `${file}.gpg`, '--encrypt', file], { env });
      await unlink(file);
    }
    // Changes after the backup, replicated everywhere: the restore must undo them.
    const tag = `${kind}${encrypt}`;
    await addUsers(dir, B, [`${tag}-after`]);
    await deleteUsers(dir, A, entries.users.slice(0, 2));
    await waitForUsers(dir, [...entries.users.slice(2), `${tag}-after`].sort());
    return { folder, entries };
  };
  const importFrom = (folder: string, extra: string[] = []): Promise<CliResult> =>
    lab.fleet([
      '--json',
      'backups',
      'import',
      '-i',
      lab.paths.inventory,
      '--from',
      `${A}:${folder}`,
      '--encrypt-to',
      keys.pub,
      '--store',
      store,
      ...extra,
    ]);
  const snapshotIds = async (): Promise<string[]> => {
    const r = await lab.fleet(['--json', 'backups', 'list', '--store', store]);
    return (JSON.parse(r.stdout) as { snapshots: Array<{ id: string }> }).snapshots.map((s) => s.id);
  };
  /** import (a snapshot of a, encrypted to the store's key) → verify --read-data. */
  const importAndVerify = async (folder: string, extra: string[] = []): Promise<{ id: string; type: string }> => {
    const imported = await importFrom(folder, extra);
    assert.equal(imported.code, 0, shown(imported));
    const snap = JSON.parse(imported.stdout) as { id: string; type: string; encrypted: boolean; host: string };
    assert.equal(snap.host, A);
    assert.equal(snap.encrypted, true);
    const verify = await lab.fleet([
      'backups',
      'verify',
      snap.id,
      '--read-data',
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--store',
      store,
    ]);
    assert.equal(verify.code, 0, shown(verify));
    assert.match(verify.stdout, /ok \(data\)/);
    stamp(`imported and verified ${folder}`);
    return snap;
  };
  /** import → verify --read-data → restore from it → converged, with exactly the archive's entries. */
  const importAndRestore = async (
    folder: string,
    entries: { domain: string[]; ca: string[]; users: string[] },
    extra: string[] = [],
  ): Promise<{ id: string; type: string }> => {
    const snap = await importAndVerify(folder, extra);
    const restored = await lab.fleet([
      'restore',
      '-i',
      lab.paths.inventory,
      '--master',
      A,
      '--backup',
      snap.id,
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--store',
      store,
      '--yes',
    ]);
    assert.equal(restored.code, 0, shown(restored));
    stamp(`restored from ${folder}`);
    await assertConverged(dir, entries.users, [A, B]);
    for (const host of [A, B]) {
      assert.deepEqual(await dnsOf(dir, host, DOMAIN), entries.domain, `${host}: ${DOMAIN} differs from the archive`);
      assert.deepEqual(await dnsOf(dir, host, CA), entries.ca, `${host}: ${CA} differs from the archive`);
    }
    return snap;
  };

  before(async () => {
    lab = await bringUpLab(['--hosts', '2', '--entries', '40']);
    dir = await labDirectory(lab, 2);
    keys = await makeKeys(lab.tmp);
    store = join(lab.tmp, 'store');
    // ipa-backup's own folder, private to host a: a folder of the test bind-mounted inside a's namespace.
    backups = join(lab.tmp, 'ipa-backup');
    await mkdir(backups, { mode: 0o700 });
    transport = new Transport(await loadInventory(lab.paths.inventory), testContext(join(lab.tmp, 'library.log')));
    ssh = await transport.ssh((await loadInventory(lab.paths.inventory)).hosts.find((h) => h.name === A)!);
    // The mount point is made on the machine's own /var/lib when missing, and removed again after.
    const made = await ssh.run(
      `for d in ${BACKUP_DIR.replace(/\/backup$/, '')} ${BACKUP_DIR}; do [ -d $d ] || { mkdir $d && echo $d; }; done`,
    );
    createdDirs = made.split('\n').filter(Boolean).reverse();
    await ssh.run(`mount --bind ${backups} ${BACKUP_DIR}`);
    // The gpg key ipa-backup --gpg encrypts to (its own docstring's key), and its export for ipa-fleet.
    gnupg = join(lab.tmp, 'gnupg');
    await mkdir(gnupg, { mode: 0o700 });
    const keygen = join(lab.tmp, 'keygen');
    await writeFile(
      keygen,
      'Key-Type: RSA\nKey-Length: 2048\nSubkey-Type: RSA\nSubkey-Length: 2048\nName-Real: IPA Backup\n' +
        `Name-Comment: IPA Backup\nName-Email: root@example.com\nExpire-Date: 0\nPassphrase: ${GPG_PASS}\n%commit\n`,
    );
    await run('gpg', ['--homedir', gnupg, '--batch', '--gen-key', keygen]);
    gpgKey = join(lab.tmp, 'ipa-backup-key.asc');
    await run('gpg', [
      '--homedir',
      gnupg,
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      GPG_PASS,
      '--armor',
      '--output',
      gpgKey,
      '--export-secret-keys',
    ]);
    gpgPass = join(lab.tmp, 'ipa-backup-pass');
    await writeFile(gpgPass, `${GPG_PASS}\n`, { mode: 0o600 });
    stamp('lab up, gpg key made');
  });

  after(async () => {
    await ssh?.exec(`umount ${BACKUP_DIR}`).catch(() => undefined);
    for (const d of createdDirs) await ssh?.exec(`rmdir ${d}`).catch(() => undefined);
    await transport?.close();
    if (gnupg) {
      await run('gpgconf', ['--homedir', gnupg, '--kill', 'all']).catch(() => undefined);
      // An agent gpgconf did not reach (it is this test's: its own GNUPGHOME) is ended by its pid.
      const ours = new RegExp(`^gpg-agent --homedir ${gnupg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `);
      for (let pid = await processMatching(ours); pid !== undefined; pid = await processMatching(ours)) {
        process.kill(pid, 'SIGKILL');
        await sleep(200);
      }
    }
    await lab?.down();
    stamp('total');
  });

  it('DATA, plain: import, verify, restore the deployment from it; it converges with the archive entries', async () => {
    const { folder, entries } = await ipaBackup('data', 'plain');
    assert.match(folder, /^\/var\/lib\/ipa\/backup\/ipa-data-\d{4}(-\d{2}){5}$/);
    const snap = await importAndRestore(folder, entries);
    assert.equal(snap.type, 'data');
  });

  it('FULL, gpg: without --gpg-key one line and exit 2, nothing stored; with it the restore converges', async () => {
    const { folder, entries } = await ipaBackup('full', 'gpg');
    const before = await snapshotIds();
    const refused = await importFrom(folder);
    assert.equal(refused.code, 2, shown(refused));
    assert.match(cleanError(refused.stderr) ?? '', /ipa-full\.tar\.gpg is encrypted with gpg: give its private key/);
    assert.deepEqual(await snapshotIds(), before, 'a refused import stores nothing');
    const snap = await importAndRestore(folder, entries, ['--gpg-key', gpgKey, '--gpg-passphrase', `file:${gpgPass}`]);
    assert.equal(snap.type, 'full');
    // Judged by gpg and tar: the snapshot holds the LDIFs, the db2bak folder and the instance's configuration.
    await run('gpg', [
      '--homedir',
      gnupg,
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase-file',
      keys.pass,
      '--import',
      keys.sec,
    ]);
    const list = await run(
      'sh',
      [
        '-c',
        `gpg --homedir "$1" --batch --pinentry-mode loopback --passphrase-file "$2" --decrypt "$3"/*/*/${snap.id}/archive.tar.gz.pgp 2>/dev/null | tar -tz`,
        'sh',
        gnupg,
        keys.pass,
        store,
      ],
      { maxBuffer: 64 << 20 },
    );
    const files = list.stdout.split('\n');
    for (const f of ['ldif/userRoot.ldif', 'ldif/ipaca.ldif', 'etc/dirsrv/slapd-IPA-TEST/dse.ldif'])
      assert.ok(files.includes(f), `${f} is not in the snapshot: ${files.slice(0, 20).join(' ')}`);
    assert.ok(
      files.some((f) => f.startsWith('bak/')),
      'the db2bak folder is in the snapshot',
    );
    assert.ok(!files.some((f) => f.startsWith('var/lib/dirsrv/')), 'the database files of files.tar are not taken');
  });

  it('DATA, gpg and FULL, plain: import and verify --read-data; a damaged .gpg fails, nothing stored', async () => {
    let damagedGpg = '';
    for (const [kind, encrypt] of [
      ['data', 'gpg'],
      ['full', 'plain'],
    ] as const) {
      const { folder } = await ipaBackup(kind, encrypt);
      const extra = encrypt === 'gpg' ? ['--gpg-key', gpgKey, '--gpg-passphrase', `file:${gpgPass}`] : [];
      assert.equal((await importAndVerify(folder, extra)).type, kind);
      if (encrypt === 'gpg') damagedGpg = folder;
    }
    // One byte of the encrypted archive changed: the import fails (1) and stores nothing.
    const before = await snapshotIds();
    const copy = `${BACKUP_DIR}/ipa-data-2020-01-01-00-00-04`;
    await ssh.run(
      `cp -a ${damagedGpg} ${copy} && F=${copy}/ipa-data.tar.gpg && N=$(( $(stat -c %s $F) / 2 )) && ` +
        'B=$(dd if=$F bs=1 skip=$N count=1 2>/dev/null | od -An -tu1 | tr -d " ") && ' +
        'printf "\\\\$(printf %o $((255 - B)))" | dd of=$F bs=1 seek=$N conv=notrunc 2>/dev/null',
    );
    const damaged = await importFrom(copy, ['--gpg-key', gpgKey, '--gpg-passphrase', `file:${gpgPass}`]);
    assert.equal(damaged.code, 1, shown(damaged));
    assert.match(cleanError(damaged.stderr) ?? '', /ipa-data\.tar\.gpg: (damaged|cannot be decrypted)/, damaged.stderr);
    assert.deepEqual(await snapshotIds(), before, 'a damaged archive stores nothing');
  });

  it('a garbage header, an unknown header version and a wrong instance: one line, exit 2, nothing stored', async () => {
    const before = await snapshotIds();
    const cases: Array<[string, string, RegExp]> = [
      ['ipa-data-2020-01-01-00-00-01', 'this is not an ipa-backup header\n', /header:1: not an INI line/],
      [
        'ipa-data-2020-01-01-00-00-02',
        `[ipa]\ntype = DATA\ntime = 2020-01-01T00:00:02\nhost = ${A}\nipa_version = 4.12.2\nversion = 2\nservices = \n`,
        /header version '2' is unknown/,
      ],
    ];
    for (const [name, header, message] of cases) {
      await ssh.run(
        `mkdir -m 700 ${BACKUP_DIR}/${name} && cat > ${BACKUP_DIR}/${name}/header && ` +
          `tar -czf ${BACKUP_DIR}/${name}/ipa-data.tar -C /etc hostname`,
        { stdin: header },
      );
      const r = await importFrom(`${BACKUP_DIR}/${name}`);
      assert.equal(r.code, 2, shown(r));
      assert.match(cleanError(r.stderr) ?? '', message, r.stderr);
    }
    // The real layout, but the LDIFs and db2bak folder of another instance.
    const other = 'ipa-data-2020-01-01-00-00-03';
    await ssh.run(
      `set -e; D=${BACKUP_DIR}/${other}; mkdir -m 700 $D; W=$(mktemp -d); ` +
        `printf '[ipa]\\ntype = DATA\\ntime = 2020-01-01T00:00:03\\nhost = %s\\nipa_version = 4.12.2\\n` +
        `version = 1\\nservices = \\n\\n' "$(hostname -f)" > $D/header; ` +
        'printf "dn: dc=ipa,dc=test\\n\\n" > $W/OTHER-userRoot.ldif; (cd $W && tar -czf $D/ipa-data.tar .); rm -rf $W',
    );
    const r = await importFrom(`${BACKUP_DIR}/${other}`);
    assert.equal(r.code, 2, shown(r));
    assert.match(cleanError(r.stderr) ?? '', /of instance OTHER, the inventory host's ldap\.instance is IPA-TEST/);
    assert.deepEqual(await snapshotIds(), before, 'refused imports store nothing');
  });
});
