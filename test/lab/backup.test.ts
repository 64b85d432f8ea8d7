// Backups against the real lab: `ipa-fleet backup` and `ipa-fleet backups list|verify|prune|unlock`,
// driven through the CLI as a user would, with OpenPGP keys made here and gpg as an outside check.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { acquireStoreLock } from '../../src/backup/store-lock.js';
import type { Manifest } from '../../src/backup/manifest.js';
import { loadInventory, type Inventory } from '../../src/inventory/index.js';
import { Transport } from '../../src/transport/transport.js';
import { runTask } from '../../src/directory/tasks.js';
import { bringUpLab, type CliResult, dropSshConnectionsWhen, testContext, type TestLab } from './fixture.js';

const INSTANCE = 'IPA-TEST';
const DEPLOYMENT = 'ipa-lab';
const HOSTS = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];
const run = promisify(execFile);

interface ListedSnapshot {
  id: string;
  deployment: string;
  host: string;
  type: string;
  time: string;
  size: number;
  dir: string;
  encrypted: boolean;
  sha256: string;
}
interface Listing {
  store: string;
  snapshots: ListedSnapshot[];
  problems: unknown[];
  leftovers: unknown[];
}

const sha256 = (data: Buffer | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Every path below `dir` with its lstat, depth first. */
async function walk(dir: string): Promise<Array<{ path: string; isDir: boolean; mode: number }>> {
  const out: Array<{ path: string; isDir: boolean; mode: number }> = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const st = await lstat(path);
    out.push({ path, isDir: st.isDirectory(), mode: st.mode & 0o777 });
    if (st.isDirectory()) out.push(...(await walk(path)));
  }
  return out;
}

/** A tar (ustar) buffer's regular files: name → offset and size of the data. */
function tarEntries(tar: Buffer): Map<string, { offset: number; size: number }> {
  const entries = new Map<string, { offset: number; size: number }>();
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const cstr = (from: number, len: number): string =>
      header
        .subarray(from, from + len)
        .toString('latin1')
        .replace(/\0.*$/s, '');
    const prefix = cstr(345, 155);
    const name = (prefix ? `${prefix}/` : '') + cstr(0, 100);
    const size = parseInt(cstr(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156]!);
    if (type === '0' || type === '\0') entries.set(name, { offset: at + 512, size });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

describe('backups on the lab', { timeout: 300_000 }, () => {
  let lab: TestLab;
  let inventory: Inventory;
  let transport: Transport;
  let keys: string;
  let pub: string;
  let sec: string;
  let passFile: string;
  let store1: string;
  let first: Listing;
  const t0 = Date.now();

  const list = async (store: string): Promise<Listing> => {
    const r = await lab.fleet(['--json', 'backups', 'list', '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Listing;
  };
  const ldifDir = (fqdn: string): string =>
    join(lab.paths.hostDir(fqdn), 'var-lib-dirsrv', `slapd-${INSTANCE}`, 'ldif');
  const fleetFiles = async (fqdn: string): Promise<string[]> =>
    (await readdir(ldifDir(fqdn))).filter((n) => n.startsWith('ipa-fleet-'));
  const bootLog = (fqdn: string): Promise<string> => readFile(join(lab.paths.hostDir(fqdn), 'boot.log'), 'utf8');
  const hostOf = (fqdn: string) => inventory.hosts.find((h) => h.name === fqdn)!;
  const manifestOf = async (s: ListedSnapshot): Promise<Manifest> =>
    JSON.parse(await readFile(join(s.dir, 'manifest.json'), 'utf8')) as Manifest;
  const stamp = (what: string): void =>
    console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s since start`);

  before(async () => {
    keys = await mkdtemp('/tmp/ipa-fleet-backup-keys-');
    const good = openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'Fleet backup', email: 'backup@ipa.test' }],
      passphrase: 'correct horse battery',
      format: 'armored',
    });
    const expired = openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'Old backup key' }],
      keyExpirationTime: 1,
      date: new Date(Date.now() - 2 * 86_400_000),
      format: 'armored',
    });
    // Primary key certifies and signs, its only subkey signs: nothing can be encrypted to it.
    const signOnly = openpgp.generateKey({
      type: 'ecc',
      userIDs: [{ name: 'Signer' }],
      subkeys: [{ sign: true }],
      format: 'armored',
    });
    const [labUp, g, e, s] = await Promise.all([bringUpLab(['--entries', '2000']), good, expired, signOnly]);
    lab = labUp;
    pub = join(keys, 'backup-pub.asc');
    sec = join(keys, 'backup-sec.asc');
    passFile = join(keys, 'passphrase');
    await writeFile(pub, g.publicKey);
    await writeFile(sec, g.privateKey, { mode: 0o600 });
    await writeFile(passFile, 'correct horse battery\n', { mode: 0o600 });
    await writeFile(join(keys, 'expired-pub.asc'), e.publicKey);
    await writeFile(join(keys, 'sign-only-pub.asc'), s.publicKey);
    inventory = await loadInventory(lab.paths.inventory);
    transport = new Transport(inventory, testContext(join(lab.tmp, 'library.log')));
    store1 = join(lab.tmp, 'store1');
    stamp('lab up and keys made');
  });

  after(async () => {
    await transport?.close();
    await lab?.down();
    if (keys) await rm(keys, { recursive: true, force: true });
    stamp('lab down');
  });

  it('1. backup encrypts one snapshot per host; verify (hash and data) passes; gpg decrypts it; the LDIF carries the RUV', async () => {
    const made = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', pub, '--store', store1]);
    assert.equal(made.code, 0, made.stderr + made.stdout);
    stamp(`backup of 3 hosts took ${made.ms} ms`);
    first = await list(store1);
    assert.deepEqual(
      first.snapshots.map((s) => s.host),
      HOSTS,
    );
    assert.ok(first.snapshots.every((s) => s.deployment === DEPLOYMENT && s.encrypted && s.type === 'data'));
    assert.deepEqual(first.problems, []);
    assert.deepEqual(first.leftovers, []);

    const verified = await lab.fleet(['backups', 'verify', '--all', '--store', store1]);
    assert.equal(verified.code, 0, verified.stderr + verified.stdout);
    assert.equal((verified.stdout.match(/ok \(hash\)/g) ?? []).length, 3, verified.stdout);
    const readData = await lab.fleet([
      'backups',
      'verify',
      '--all',
      '--read-data',
      '--key',
      sec,
      '--passphrase',
      `file:${passFile}`,
      '--store',
      store1,
    ]);
    assert.equal(readData.code, 0, readData.stderr + readData.stdout);
    assert.equal((readData.stdout.match(/ok \(data\)/g) ?? []).length, 3, readData.stdout);

    // gpg, not our code, decrypts every archive; tar lists it; the files are what the manifest says.
    const gnupg = await mkdtemp('/tmp/ipa-fleet-gnupg-');
    await chmod(gnupg, 0o700);
    const gpgEnv = { ...process.env, GNUPGHOME: gnupg };
    try {
      await run('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase-file', passFile, '--import', sec], {
        env: gpgEnv,
      });
      for (const snap of first.snapshots) {
        const m = await manifestOf(snap);
        const archive = join(snap.dir, m.archive.name);
        assert.equal(m.archive.name, 'archive.tar.gz.pgp');
        const plain = join(gnupg, `${snap.host}.tar.gz`);
        await run(
          'gpg',
          [
            '--batch',
            '--pinentry-mode',
            'loopback',
            '--passphrase-file',
            passFile,
            '--output',
            plain,
            '--decrypt',
            archive,
          ],
          { env: gpgEnv },
        );
        const listed = (await run('tar', ['-tzf', plain])).stdout.trim().split('\n').sort();
        const expected =
          snap.host === 'c.ipa.test' ? ['ldif/userroot.ldif'] : ['ldif/ipaca.ldif', 'ldif/userroot.ldif'];
        assert.deepEqual(listed, expected, `${snap.host}: archive content`);
        assert.deepEqual(m.files.map((f) => f.path).sort(), expected);
        for (const f of m.files) {
          const content = (
            await run('tar', ['-xzOf', plain, f.path], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 })
          ).stdout as unknown as Buffer;
          assert.equal(content.length, f.size, `${snap.host} ${f.path}: size`);
          assert.equal(
            sha256(content),
            f.sha256,
            `${snap.host} ${f.path}: the manifest's SHA-256 is the decrypted file's`,
          );
          const text = content.toString('utf8');
          // Exported WITH replication data: the RUV tombstone entry and its generation are in it.
          assert.match(
            text,
            /^nsUniqueId: ffffffff-ffffffff-ffffffff-ffffffff$/m,
            `${snap.host} ${f.path}: RUV tombstone`,
          );
          assert.match(
            text,
            /^nsds50ruv: \{replicageneration\} [0-9a-f]+$/m,
            `${snap.host} ${f.path}: replica generation`,
          );
          const suffix = m.suffixes.find((s) => s.ldif === f.path)!;
          assert.ok(
            text.includes(`nsds50ruv: ${suffix.ruv[0]}`),
            `${snap.host} ${f.path}: the manifest's generation (${suffix.ruv[0]}) is the LDIF's`,
          );
          // The export task's own count is the records of the very file (grep -c '^dn:' of what gpg decrypted).
          const records = (text.match(/^dn:/gm) ?? []).length;
          assert.equal(suffix.exportedEntries, records, `${snap.host} ${f.path}: exportedEntries`);
          assert.ok(records > (f.path === 'ldif/userroot.ldif' ? 2000 : 1), `${snap.host} ${f.path}: ${records}`);
          assert.equal(suffix.entryCount, undefined, `${snap.host} ${f.path}: no live count any more`);
        }
      }
      assert.match(
        await readFile(join(first.snapshots[0]!.dir, 'manifest.json'), 'utf8'),
        /"recipients": \[\s*"[0-9A-F]{40}"/,
      );
    } finally {
      await run('gpgconf', ['--kill', 'gpg-agent'], { env: gpgEnv }).catch(() => undefined);
      await rm(gnupg, { recursive: true, force: true });
    }

    // Nothing is left behind on the hosts; everything in the store is private.
    for (const fqdn of HOSTS) assert.deepEqual(await fleetFiles(fqdn), [], `${fqdn}: export files left in ldif/`);
    const files = (await walk(store1)).filter((e) => !e.isDir);
    assert.equal(files.length, 6, files.map((f) => f.path).join('\n'));
    for (const f of files) assert.equal(f.mode.toString(8), '600', `${f.path} mode`);
    for (const d of (await walk(store1)).filter((e) => e.isDir))
      assert.equal(d.mode.toString(8), '700', `${d.path} mode`);
  });

  it('2. an expired, a sign-only or a private key file is refused (exit 2) before any host is touched', async () => {
    const logsBefore = await Promise.all(HOSTS.map(bootLog));
    const runsDir = join(lab.tmp, 'state', 'ipa-fleet', 'runs');
    const runsBefore = await readdir(runsDir).catch(() => [] as string[]);
    const store = join(lab.tmp, 'store-refused');
    const cases: Array<[string, RegExp]> = [
      [join(keys, 'expired-pub.asc'), /cannot encrypt to .*expired-pub\.asc: the key expired on/],
      [
        join(keys, 'sign-only-pub.asc'),
        /cannot encrypt to .*sign-only-pub\.asc: the key has no valid encryption-capable subkey/,
      ],
      [sec, /backup-sec\.asc holds a private key: give the public key instead/],
    ];
    for (const [file, message] of cases) {
      const r = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', file, '--store', store]);
      assert.equal(r.code, 2, `${file}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.ok(r.stderr.includes(file), `the message names ${file}: ${r.stderr}`);
      // A good key beside the bad one does not change that.
      const mixed = await lab.fleet([
        'backup',
        '-i',
        lab.paths.inventory,
        '--encrypt-to',
        pub,
        '--encrypt-to',
        file,
        '--store',
        store,
      ]);
      assert.equal(mixed.code, 2, mixed.stderr);
      assert.ok(mixed.stderr.includes(file), mixed.stderr);
    }
    // sshd logs every connection, even one that never authenticates: nothing reached any host.
    assert.deepEqual(await Promise.all(HOSTS.map(bootLog)), logsBefore, 'an sshd saw a connection');
    assert.deepEqual(await readdir(runsDir).catch(() => [] as string[]), runsBefore, 'no run was started');
    assert.deepEqual(await walk(store), [], 'the store was not even created');
  });

  it('3. a flipped byte fails verify; an altered file inside an intact-looking archive fails only verify --read-data, named', async () => {
    const store = join(lab.tmp, 'store3');
    await cp(store1, store, { recursive: true });
    const snaps = (await list(store)).snapshots;

    // (a) One byte flipped in c's archive.
    const c = snaps.find((s) => s.host === 'c.ipa.test')!;
    const cArchive = join(c.dir, 'archive.tar.gz.pgp');
    const bytes = await readFile(cArchive);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await writeFile(cArchive, bytes);
    const flipped = await lab.fleet(['backups', 'verify', c.id, '--store', store]);
    assert.equal(flipped.code, 1, flipped.stderr + flipped.stdout);
    assert.match(flipped.stderr, new RegExp(`1 snapshot\\(s\\) failed verification: ${c.id} \\(c\\.ipa\\.test\\)`));
    assert.match(flipped.stdout, new RegExp(`${c.id}\\s+c\\.ipa\\.test\\s+FAILED`));

    // (b) a's archive re-made: one byte changed inside ldif/userroot.ldif, re-tarred, gzipped and
    // encrypted to the same key, manifest.archive fixed: only the inner hash can tell.
    const a = snaps.find((s) => s.host === 'a.ipa.test')!;
    const aArchive = join(a.dir, 'archive.tar.gz.pgp');
    const privateKey = await openpgp.decryptKey({
      privateKey: await openpgp.readPrivateKey({ armoredKey: await readFile(sec, 'utf8') }),
      passphrase: 'correct horse battery',
    });
    const { data } = await openpgp.decrypt({
      message: await openpgp.readMessage({ binaryMessage: await readFile(aArchive) }),
      decryptionKeys: privateKey,
      format: 'binary',
    });
    const tar = gunzipSync(Buffer.from(data as Uint8Array));
    const entry = tarEntries(tar).get('ldif/userroot.ldif');
    assert.ok(entry, 'ldif/userroot.ldif is in the tar');
    const at = entry.offset + Math.floor(entry.size / 2);
    tar[at] = tar[at] === 0x61 ? 0x62 : 0x61; // 'a' ↔ 'b' (or anything → 'a')
    const reencrypted = await openpgp.encrypt({
      message: await openpgp.createMessage({ binary: gzipSync(tar) }),
      encryptionKeys: await openpgp.readKey({ armoredKey: await readFile(pub, 'utf8') }),
      format: 'binary',
    });
    const newArchive = Buffer.from(reencrypted as Uint8Array);
    await writeFile(aArchive, newArchive, { mode: 0o600 });
    const manifestFile = join(a.dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest;
    manifest.archive.size = newArchive.length;
    manifest.archive.sha256 = sha256(newArchive);
    await writeFile(manifestFile, JSON.stringify(manifest, null, 2));

    const hashOnly = await lab.fleet(['backups', 'verify', a.id, '--store', store]);
    assert.equal(hashOnly.code, 0, `the outer hash matches now: ${hashOnly.stderr}${hashOnly.stdout}`);
    const deep = await lab.fleet([
      'backups',
      'verify',
      a.id,
      '--read-data',
      '--key',
      sec,
      '--passphrase',
      `file:${passFile}`,
      '--store',
      store,
    ]);
    assert.equal(deep.code, 1, deep.stderr + deep.stdout);
    assert.match(deep.stderr, new RegExp(`${a.id} \\(a\\.ipa\\.test\\): file ldif/userroot\\.ldif: SHA-256 mismatch`));
    assert.doesNotMatch(deep.stderr, /ipaca\.ldif/, 'only the altered file is named');
    // b's untouched snapshot in the same store still passes the deep check.
    const b = snaps.find((s) => s.host === 'b.ipa.test')!;
    const intact = await lab.fleet([
      'backups',
      'verify',
      b.id,
      '--read-data',
      '--key',
      sec,
      '--passphrase',
      `file:${passFile}`,
      '--store',
      store,
    ]);
    assert.equal(intact.code, 0, intact.stderr);
  });

  it('4. the SSH connection to c dropped mid-backup: c fails and is named, a and b stored, nothing of c in the store', async (t) => {
    const store = join(lab.tmp, 'store4');
    const c = 'c.ipa.test';
    await transport.forget(hostOf(c)); // the only SSH sessions to c are now the backup's
    assert.deepEqual(await fleetFiles(c), []);
    const handle = lab.startFleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', pub, '--store', store]);
    const { output, exited } = handle;

    // As soon as c's export file exists (the export task is running), SIGKILL c's per-connection
    // sshd processes (`sshd: root@notty` or `sshd-session: root@notty`, and their `[priv]` parents).
    const killed = await dropSshConnectionsWhen(
      await lab.sshdPid(c),
      handle,
      async () => (await fleetFiles(c)).length > 0,
      60_000,
    );
    const code = await exited;
    const { stdout, stderr } = output;
    t.diagnostic(`killed ${JSON.stringify(killed)}; exit ${code}; ${stderr.trim()}`);
    assert.ok(killed.length > 0, `no sshd session of c was killed while its export ran (exit ${code}): ${stderr}`);
    // a and b were backed up: a partial result, exit 3, whatever stopped c.
    assert.equal(code, 3, `exit code ${code}: ${stderr}\n${stdout}`);
    assert.match(stderr, /1 of 3 host\(s\) failed \(c\.ipa\.test\): c\.ipa\.test: /);
    assert.match(stdout, /FAILED\s+c\.ipa\.test/);
    assert.match(stdout, /changed\s+a\.ipa\.test/);
    assert.match(stdout, /changed\s+b\.ipa\.test/);

    const listing = await list(store);
    assert.deepEqual(
      listing.snapshots.map((s) => s.host),
      ['a.ipa.test', 'b.ipa.test'],
      'a and b were stored, c not',
    );
    assert.deepEqual(await walk(join(store, DEPLOYMENT, c)), [], 'nothing of c (no .partial folder) in the store');
    assert.deepEqual(
      (await walk(store)).filter((e) => !e.isDir && !/\/(manifest\.json|archive\.tar\.gz\.pgp)$/.test(e.path)),
      [],
    );
    const verified = await lab.fleet([
      'backups',
      'verify',
      '--all',
      '--read-data',
      '--key',
      sec,
      '--passphrase',
      `file:${passFile}`,
      '--store',
      store,
    ]);
    assert.equal(verified.code, 0, verified.stderr);
    for (const fqdn of ['a.ipa.test', 'b.ipa.test']) assert.deepEqual(await fleetFiles(fqdn), []);

    // The export task keeps running on c after the connection is gone. The clean-up (rm in
    // takeSnapshot's finally) runs on the dropped session and does not reconnect: the file stays.
    // backup-bugs.test.ts asserts that it must not; here it is only reported and removed.
    await new Promise((r) => setTimeout(r, 2000));
    const left = await fleetFiles(c);
    if (left.length) t.diagnostic(`BUG: left in c's ldif/ after the run: ${JSON.stringify(left)}`);
    for (const f of left) await rm(join(ldifDir(c), f), { force: true });
  });

  it('5. a full store disk: every host fails with "no space left", nothing partial in the store, host exports removed', async () => {
    const store = join(lab.tmp, 'store-tmpfs');
    await mkdir(store);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', store]);
    try {
      const r = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', pub, '--store', store]);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, /host\(s\) failed .*: store: no space left writing /, r.stderr);
      // (The summary says "1 of 3 host(s) failed (?)" although all three failed, and exits 3, not 1:
      // backup-bugs.test.ts.)
      for (const fqdn of HOSTS) {
        assert.match(
          r.stdout,
          new RegExp(
            `FAILED\\s+${fqdn.replace(/\./g, '\\.')}\\s+backup \\(data\\).*\\n\\s+error: (?:${fqdn.replace(/\./g, '\\.')}: )?store: no space left writing ${store}/${DEPLOYMENT}/${fqdn}/`,
          ),
          r.stdout,
        );
      }
      const entries = await walk(store);
      const notDirs = entries.filter((e) => !e.isDir);
      assert.deepEqual(notDirs, [], 'only folders are left in the store');
      assert.deepEqual(
        entries.map((e) => e.path.slice(store.length + 1)).sort(),
        [DEPLOYMENT, `${DEPLOYMENT}/.locks`, ...HOSTS.map((h) => `${DEPLOYMENT}/${h}`)].sort(),
      );
      const df = (await run('df', ['-k', store])).stdout.trim().split('\n').pop()!.split(/\s+/);
      assert.equal(df[2], '0', `the tmpfs is empty again: ${df.join(' ')}`);
      for (const fqdn of HOSTS) assert.deepEqual(await fleetFiles(fqdn), [], `${fqdn}: export files left`);
    } finally {
      await run('umount', [store]).catch(() => run('umount', ['-l', store]));
    }
  });

  it('6. a FULL backup failing after the services were stopped starts them again', async (t) => {
    const b = 'b.ipa.test';
    const store = join(lab.tmp, 'store6');
    const hidden = `${ldifDir(b)}.hidden`;
    const errorsFile = join(lab.paths.hostDir(b), 'var-log-dirsrv', `slapd-${INSTANCE}`, 'errors');
    const stops = async (): Promise<number> =>
      ((await readFile(errorsFile, 'utf8')).match(/slapd stopped/g) ?? []).length;
    const stopsBefore = await stops();
    await rename(ldifDir(b), hidden);
    let r: CliResult;
    try {
      r = await lab.fleet([
        'backup',
        '--type',
        'full',
        '--limit',
        b,
        '-i',
        lab.paths.inventory,
        '--encrypt-to',
        pub,
        '--store',
        store,
      ]);
    } finally {
      await rename(hidden, ldifDir(b));
    }
    stamp(`failing FULL backup of b took ${r.ms} ms`);
    t.diagnostic(r.stderr.trim());
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /b\.ipa\.test/);
    assert.match(r.stderr, /db2ldif/, 'the message says which step failed');
    // The server was really stopped (not just refused up front) and is back.
    assert.ok((await stops()) > stopsBefore, 'ns-slapd on b was stopped by the backup');
    const status = await lab.fleet(['--json', 'lab', 'status', '--dir', lab.paths.root]);
    assert.equal(status.code, 0, status.stderr);
    const bStatus = (
      JSON.parse(status.stdout) as Array<{
        host: string;
        ds: boolean;
        ssh: boolean;
        entries: Record<string, number | null>;
        error?: string;
      }>
    ).find((s) => s.host === b)!;
    assert.equal(bStatus.ds, true, 'ns-slapd on b runs again');
    assert.equal(bStatus.error, undefined);
    assert.ok((bStatus.entries['dc=ipa,dc=test'] ?? 0) > 2000, JSON.stringify(bStatus));
    await transport.forget(hostOf(b));
    const suffix = await (await transport.ldap(hostOf(b))).read('dc=ipa,dc=test', ['dc']);
    assert.equal(suffix?.get('dc'), 'ipa');
    assert.deepEqual((await list(store)).snapshots, []);
    assert.deepEqual(
      (await walk(store)).filter((e) => !e.isDir),
      [],
      'nothing partial for b in the store',
    );
    assert.deepEqual(await fleetFiles(b), []);
  });

  it('8. an export task that fails gives an error carrying the task log; one the server refuses says so', async () => {
    const ldap = await transport.ldap(hostOf('a.ipa.test'));
    // The task starts and fails: its log tail is in the error.
    await assert.rejects(
      runTask(
        ldap,
        'export',
        { nsInstance: 'userRoot', nsFilename: '/nonexistent-dir/ipa-fleet-none.ldif', nsExportReplica: 'true' },
        { timeoutMs: 60_000 },
      ),
      (err: Error) => {
        assert.match(err.message, /^a\.ipa\.test: export task failed \(exit -?\d+\): \S/);
        return true;
      },
    );
    // A backend that does not exist: 389-DS refuses the task entry itself.
    await assert.rejects(
      runTask(
        ldap,
        'export',
        {
          nsInstance: 'nosuchbackend',
          nsFilename: '/var/lib/dirsrv/slapd-IPA-TEST/ldif/ipa-fleet-none.ldif',
          nsExportReplica: 'true',
        },
        { timeoutMs: 60_000 },
      ),
      (err: Error) => {
        assert.match(err.message, /^a\.ipa\.test: ldap add cn=ipa-fleet-export-.*: no such object \(32\)/);
        return true;
      },
    );
  });

  it('7. prune --keep-last 1 keeps the newest per host; --dry-run removes nothing; a held lock → exit 11; unlock clears it', async () => {
    const store = join(lab.tmp, 'store7');
    await cp(store1, store, { recursive: true });
    const second = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', pub, '--store', store]);
    assert.equal(second.code, 0, second.stderr);
    const both = (await list(store)).snapshots;
    assert.equal(both.length, 6);
    const newest = new Map(HOSTS.map((h) => [h, both.filter((s) => s.host === h).at(-1)!.id]));
    const oldest = new Map(HOSTS.map((h) => [h, both.filter((s) => s.host === h)[0]!.id]));
    for (const h of HOSTS) assert.notEqual(newest.get(h), oldest.get(h));

    const dry = await lab.fleet(['backups', 'prune', '--keep-last', '1', '--dry-run', '--store', store]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^policy: keep 1 last snapshots \(dry run\)$/m);
    for (const h of HOSTS) {
      assert.match(dry.stdout, new RegExp(`^keep\\s+${DEPLOYMENT}/${h}/${newest.get(h)}\\s+\\(last snapshot\\)$`, 'm'));
      assert.match(dry.stdout, new RegExp(`^would remove ${DEPLOYMENT}/${h}/${oldest.get(h)}$`, 'm'));
    }
    assert.equal((await list(store)).snapshots.length, 6, '--dry-run removed nothing');

    const release = await acquireStoreLock(store, DEPLOYMENT, 'shared', 'backup (test holder)');
    try {
      const refused = await lab.fleet(['backups', 'prune', '--keep-last', '1', '--store', store]);
      assert.equal(refused.code, 11, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(
          `cannot take the exclusive store lock of deployment '${DEPLOYMENT}': shared lock by 'backup \\(test holder\\)' \\(pid ${process.pid} on `,
        ),
      );
      assert.equal((await list(store)).snapshots.length, 6);
      const unlocked = await lab.fleet(['backups', 'unlock', DEPLOYMENT, '--store', store]);
      assert.equal(unlocked.code, 0, unlocked.stderr);
      assert.match(
        unlocked.stdout,
        new RegExp(`removed shared lock by 'backup \\(test holder\\)' \\(pid ${process.pid} `),
      );
      assert.deepEqual(await readdir(join(store, DEPLOYMENT, '.locks')), []);
    } finally {
      await release();
    }

    const pruned = await lab.fleet(['backups', 'prune', '--keep-last', '1', '--store', store]);
    assert.equal(pruned.code, 0, pruned.stderr);
    for (const h of HOSTS) {
      assert.match(
        pruned.stdout,
        new RegExp(`^keep\\s+${DEPLOYMENT}/${h}/${newest.get(h)}\\s+\\(last snapshot\\)$`, 'm'),
      );
      assert.match(pruned.stdout, new RegExp(`^remove ${DEPLOYMENT}/${h}/${oldest.get(h)}$`, 'm'));
    }
    const left = (await list(store)).snapshots;
    assert.deepEqual(
      left.map((s) => [s.host, s.id]),
      HOSTS.map((h) => [h, newest.get(h)]),
    );
    for (const h of HOSTS) {
      assert.deepEqual(
        (await readdir(join(store, DEPLOYMENT, h))).sort(),
        [newest.get(h)],
        `${h}: only the kept snapshot's folder`,
      );
    }
    const again = await lab.fleet(['backups', 'verify', '--all', '--store', store]);
    assert.equal(again.code, 0, again.stderr);
  });
});
