// Archive ingest, verify and key loading, end to end on local tar streams (GNU tar via
// child_process, as the host would produce it), checked against real gpg and tar.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { setTimeout as delay } from 'node:timers/promises';
import * as openpgp from 'openpgp';
import { Header } from 'tar';
import { ingestArchive, type IngestOptions } from '../../src/backup/archive.js';
import { loadPrivateKey, loadRecipients } from '../../src/backup/keys.js';
import type { Manifest, ManifestFile } from '../../src/backup/manifest.js';
import { verifyArchiveData, verifyArchiveHash } from '../../src/backup/verify.js';
import { FleetError } from '../../src/errors.js';

const work = mkdtempSync(join(tmpdir(), 'ipa-fleet-archive-'));
after(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
function freshDir(name: string): string {
  const dir = join(work, `${name}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

// ---- fixtures ---------------------------------------------------------------------------------

/** LDIF-looking text (compressible) of about `bytes`. */
function ldif(bytes: number, seed: string): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `dn: uid=user${i},cn=users,cn=accounts,dc=${seed},dc=test\nobjectClass: inetOrgPerson\nuid: user${i}\ncn: User ${i}\nnsUniqueId: ${createHash('md5').update(`${seed}${i}`).digest('hex')}\n\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''));
}

interface Tree {
  dir: string;
  files: Record<string, Buffer>;
}

/** A snapshot-like tree: two LDIF exports, a binary file, an empty file, nested folders. */
function makeTree(name: string, change?: (files: Record<string, Buffer>) => void): Tree {
  const dir = freshDir(name);
  const files: Record<string, Buffer> = {
    'ldif/userroot.ldif': ldif(2_500_000, 'example'), // > 1 MiB: several gzip members
    'ldif/ipaca.ldif': ldif(120_000, 'ipaca'),
    'bak/db/id2entry.db': randomBytes(200_000),
    'etc/dirsrv/slapd-EXAMPLE/empty.conf': Buffer.alloc(0),
  };
  change?.(files);
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), data);
  }
  return { dir, files };
}

/** GNU tar's stdout for the tree, like the stream the host sends over SSH. */
function tarStream(dir: string, paths = ['ldif', 'bak', 'etc']): Readable {
  // stderr is drained, not shown: tests that refuse the stream make tar fail with EPIPE.
  const child = spawn('tar', ['--create', '--file=-', '--numeric-owner', '-C', dir, ...paths], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.resume();
  return child.stdout;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function expectedFiles(tree: Tree): ManifestFile[] {
  return Object.entries(tree.files)
    .map(([path, data]) => ({ path, size: data.length, sha256: sha256(data) }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

function sorted(files: ManifestFile[]): ManifestFile[] {
  return [...files].sort((a, b) => a.path.localeCompare(b.path));
}

function manifestFor(
  name: string,
  ingested: { size: number; sha256: string; files: ManifestFile[] },
  opts: { compress: boolean; encrypted: boolean },
): Manifest {
  return {
    schema: 'ipa-fleet/snapshot/v1',
    id: '20250101T000000Z-test',
    deployment: 'lab',
    hostName: 'ds1',
    fqdn: 'ds1.example.test',
    toolVersion: '0.1.0',
    dsVersion: undefined,
    instance: 'EXAMPLE',
    profile: '389ds',
    roles: [],
    suffixes: [],
    missingPaths: [],
    files: ingested.files,
    archive: {
      name,
      size: ingested.size,
      sha256: ingested.sha256,
      compression: opts.compress ? 'gzip' : 'none',
      encrypted: opts.encrypted,
      recipients: [],
    },
    type: 'DATA',
    time: '2025-01-01T00:00:00Z',
    host: 'ds1.example.test',
    ipa_version: undefined,
    version: '1',
    services: [],
  };
}

/** Files left in a folder (partials included). */
function leftovers(dir: string): string[] {
  return readdirSync(dir);
}

// ---- keys -------------------------------------------------------------------------------------

interface KeyPair {
  privateArmored: string;
  publicArmored: string;
  publicFile: string;
  privateFile: string;
}

async function makeKey(name: string, extra: Partial<Parameters<typeof openpgp.generateKey>[0]> = {}): Promise<KeyPair> {
  const generated = await openpgp.generateKey({
    userIDs: [{ name, email: `${name}@example.test` }],
    format: 'armored',
    ...extra,
  } as Parameters<typeof openpgp.generateKey>[0] & { format: 'armored' });
  const { privateKey, publicKey } = generated as unknown as { privateKey: string; publicKey: string };
  const dir = freshDir(`key-${name}`);
  const publicFile = join(dir, 'public.asc');
  const privateFile = join(dir, 'private.asc');
  writeFileSync(publicFile, publicKey);
  writeFileSync(privateFile, privateKey);
  return { privateArmored: privateKey, publicArmored: publicKey, publicFile, privateFile };
}

let alice: KeyPair;
let mallory: KeyPair;
let gnupgHome: string;

function gpg(args: string[], input?: Buffer): Buffer {
  return execFileSync('gpg', ['--batch', '--quiet', '--no-tty', ...args], {
    env: { ...process.env, GNUPGHOME: gnupgHome },
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

before(async () => {
  alice = await makeKey('alice');
  mallory = await makeKey('mallory');
  const hasGpg = spawnSync('gpg', ['--version']).status === 0;
  assert.ok(
    hasGpg,
    'gpg is not installed: apt-get install -y gnupg (the archive tests check real gpg reads our output)',
  );
  gnupgHome = freshDir('gnupg');
  chmodSync(gnupgHome, 0o700);
  gpg(['--import'], Buffer.from(alice.privateArmored));
});

after(() => {
  if (gnupgHome) spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: gnupgHome } });
});

async function recipients(...pairs: KeyPair[]): Promise<openpgp.PublicKey[]> {
  return (await loadRecipients(pairs.map((p) => p.publicFile))).keys;
}

// ---- ingest → verify round trips ----------------------------------------------------------------

const variants = [
  { label: 'encrypted + gzip', encrypted: true, compress: true },
  { label: 'encrypted, no gzip', encrypted: true, compress: false },
  { label: '--no-encrypt + gzip', encrypted: false, compress: true },
  { label: '--no-encrypt, no gzip', encrypted: false, compress: false },
];

for (const variant of variants) {
  test(`ingest → verify round trip: ${variant.label}`, async () => {
    const tree = makeTree('tree');
    const store = freshDir('store');
    const name = `archive.tar${variant.compress ? '.gz' : ''}${variant.encrypted ? '.pgp' : ''}`;
    const dest = join(store, name);
    const progress: number[] = [];
    const result = await ingestArchive(tarStream(tree.dir), {
      dest,
      recipients: variant.encrypted ? await recipients(alice) : undefined,
      compress: variant.compress,
      onProgress: (n) => progress.push(n),
    });

    // The manifest's per-file hashes are those of the originals; only regular files are listed.
    assert.deepEqual(sorted(result.files), expectedFiles(tree));
    const stored = readFileSync(dest);
    assert.equal(result.size, stored.length);
    assert.equal(result.sha256, sha256(stored));
    assert.ok(result.plainBytes > 2_800_000 && result.plainBytes % 512 === 0, `plainBytes ${result.plainBytes}`);
    assert.equal(progress.at(-1), result.plainBytes);
    assert.equal(statSync(dest).mode & 0o777, 0o600);
    assert.deepEqual(leftovers(store), [name], 'no partial file left beside the archive');
    if (variant.compress) assert.ok(result.size < result.plainBytes * 0.6, 'gzip shrinks the LDIF');

    // Real tools read it: gpg --decrypt, then gzip/tar.
    let tarBytes = variant.encrypted ? gpg(['--decrypt', dest]) : stored;
    if (variant.encrypted) assert.notEqual(stored.subarray(0, 2).toString('hex'), '1f8b');
    if (variant.compress) tarBytes = execFileSync('gzip', ['-dc'], { input: tarBytes, maxBuffer: 64 << 20 });
    const listing = execFileSync('tar', ['-t'], { input: tarBytes }).toString().split('\n').filter(Boolean);
    for (const path of Object.keys(tree.files)) assert.ok(listing.includes(path), `tar -t lists ${path}`);
    const extracted = freshDir('extract');
    execFileSync('tar', ['-x', '-C', extracted], { input: tarBytes });
    for (const [path, data] of Object.entries(tree.files)) assert.ok(readFileSync(join(extracted, path)).equals(data));

    const manifest = manifestFor(name, result, variant);
    assert.deepEqual(await verifyArchiveHash(dest, manifest.archive), {
      ok: true,
      actualSize: result.size,
      actualSha256: result.sha256,
    });
    const key = variant.encrypted ? await loadPrivateKey(alice.privateFile) : undefined;
    assert.deepEqual(await verifyArchiveData(dest, manifest, key), { ok: true, problems: [] });
  });
}

test('encrypted to two recipients: either private key verifies', async () => {
  const tree = makeTree('two');
  const dest = join(freshDir('store'), 'archive.tar.gz.pgp');
  const result = await ingestArchive(tarStream(tree.dir), {
    dest,
    recipients: await recipients(alice, mallory),
    compress: true,
  });
  const manifest = manifestFor('archive.tar.gz.pgp', result, { compress: true, encrypted: true });
  for (const pair of [alice, mallory]) {
    assert.deepEqual(await verifyArchiveData(dest, manifest, await loadPrivateKey(pair.privateFile)), {
      ok: true,
      problems: [],
    });
  }
});

// ---- tampering ------------------------------------------------------------------------------------

async function ingestTree(
  tree: Tree,
  variant: { encrypted: boolean; compress: boolean },
): Promise<{ dest: string; manifest: Manifest }> {
  const name = `archive.tar${variant.compress ? '.gz' : ''}${variant.encrypted ? '.pgp' : ''}`;
  const dest = join(freshDir('store'), name);
  const result = await ingestArchive(tarStream(tree.dir), {
    dest,
    recipients: variant.encrypted ? await recipients(alice) : undefined,
    compress: variant.compress,
  });
  return { dest, manifest: manifestFor(name, result, variant) };
}

for (const variant of variants) {
  test(`one flipped byte is found: ${variant.label}`, async () => {
    const { dest, manifest } = await ingestTree(makeTree('flip'), variant);
    const bytes = readFileSync(dest);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(dest, bytes);

    const hash = await verifyArchiveHash(dest, manifest.archive);
    assert.equal(hash.ok, false);
    assert.equal(hash.actualSize, manifest.archive.size);
    assert.notEqual(hash.actualSha256, manifest.archive.sha256);

    const data = await verifyArchiveData(
      dest,
      manifest,
      variant.encrypted ? await loadPrivateKey(alice.privateFile) : undefined,
    );
    assert.equal(data.ok, false);
    assert.ok(
      data.problems.some(
        (p) => p.includes('differs from the manifest') || p.includes('mismatch') || p.includes('damaged'),
      ),
      data.problems.join('\n'),
    );
  });
}

test('a file changed inside a re-created archive is named (old manifest)', async () => {
  for (const variant of [variants[0]!, variants[3]!]) {
    const original = makeTree('orig');
    const { manifest } = await ingestTree(original, variant);
    const tampered = makeTree('tampered', (files) => {
      const changed = Buffer.from(original.files['ldif/userroot.ldif']!);
      changed.write('uid: admin', 1_500_000); // same size, different content
      files['ldif/userroot.ldif'] = changed;
      files['ldif/ipaca.ldif'] = original.files['ldif/ipaca.ldif']!;
      files['bak/db/id2entry.db'] = original.files['bak/db/id2entry.db']!;
    });
    const { dest } = await ingestTree(tampered, variant);
    const data = await verifyArchiveData(
      dest,
      manifest,
      variant.encrypted ? await loadPrivateKey(alice.privateFile) : undefined,
    );
    assert.equal(data.ok, false);
    assert.ok(data.problems.includes('file ldif/userroot.ldif: SHA-256 mismatch'), data.problems.join('\n'));
    assert.ok(!data.problems.some((p) => p.includes('ipaca.ldif') || p.includes('id2entry')), data.problems.join('\n'));
  }
});

test('missing and unexpected files are listed', async () => {
  const tree = makeTree('extra');
  const { dest, manifest } = await ingestTree(tree, variants[3]!);
  manifest.files = [
    ...manifest.files.filter((f) => f.path !== 'ldif/ipaca.ldif'),
    { path: 'ldif/gone.ldif', size: 10, sha256: sha256(Buffer.from('0123456789')) },
  ];
  const data = await verifyArchiveData(dest, manifest, undefined);
  assert.ok(data.problems.includes('file ldif/gone.ldif missing'), data.problems.join('\n'));
  assert.ok(data.problems.includes('unexpected file ldif/ipaca.ldif'), data.problems.join('\n'));
});

test('a wrong private key is an auth error', async () => {
  const { dest, manifest } = await ingestTree(makeTree('wrongkey'), variants[0]!);
  await assert.rejects(verifyArchiveData(dest, manifest, await loadPrivateKey(mallory.privateFile)), (err: unknown) => {
    assert.ok(err instanceof FleetError);
    assert.equal(err.kind, 'auth');
    assert.equal(err.message, `archive ${dest} is not encrypted to this key`);
    return true;
  });
});

test('an archive replaced by one for another key is a problem, not auth, when the manifest names our key', async () => {
  const { dest, manifest } = await ingestTree(makeTree('named'), variants[1]!);
  const aliceFingerprint = (await loadRecipients([alice.publicFile])).fingerprints[0]!;
  manifest.archive.recipients = [aliceFingerprint];
  const replaced = join(freshDir('store'), 'archive.tar.pgp');
  await ingestArchive(tarStream(makeTree('other').dir), {
    dest: replaced,
    recipients: await recipients(mallory),
    compress: false,
  });
  const data = await verifyArchiveData(replaced, manifest, await loadPrivateKey(alice.privateFile));
  assert.equal(data.ok, false);
  assert.match(data.problems[0]!, /cannot be decrypted \(no recipient matches the key the manifest names/);
  // A key the manifest does not name is still simply the wrong key.
  await assert.rejects(
    verifyArchiveData(dest, manifest, await loadPrivateKey(mallory.privateFile)),
    (err: unknown) => err instanceof FleetError && err.kind === 'auth',
  );
});

test('an encrypted archive without a key is a usage error', async () => {
  const { dest, manifest } = await ingestTree(makeTree('nokey'), variants[1]!);
  await assert.rejects(
    verifyArchiveData(dest, manifest, undefined),
    (err: unknown) => err instanceof FleetError && err.kind === 'usage',
  );
});

// ---- hostile archives: read as data, never extracted ---------------------------------------------

function rawEntry(
  fields: { path: string; type: string; size?: number; linkpath?: string },
  data = Buffer.alloc(0),
): Buffer {
  const header = new Header({
    path: fields.path,
    type: fields.type as never,
    size: fields.size ?? data.length,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: new Date(0),
    ...(fields.linkpath ? { linkpath: fields.linkpath } : {}),
  });
  const block = Buffer.alloc(512);
  header.encode(block, 0);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return Buffer.concat([block, padded]);
}

function rawTar(entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}

test('verify lists absolute paths, .. escapes, links and devices as problems', async () => {
  const ok = Buffer.from('fine\n');
  const tar = rawTar([
    rawEntry({ path: 'ldif/ok.ldif', type: 'File' }, ok),
    rawEntry({ path: '/etc/passwd', type: 'File' }, Buffer.from('root::0:0\n')),
    rawEntry({ path: 'ldif/../../evil', type: 'File' }, Buffer.from('x')),
    rawEntry({ path: 'ldif/link', type: 'SymbolicLink', linkpath: '/etc/shadow' }),
    rawEntry({ path: 'ldif/hard', type: 'Link', linkpath: 'ldif/ok.ldif' }),
    rawEntry({ path: 'dev/sda', type: 'BlockDevice' }),
  ]);
  const dest = join(freshDir('hostile'), 'archive.tar');
  writeFileSync(dest, tar);
  const manifest = manifestFor(
    'archive.tar',
    { size: tar.length, sha256: sha256(tar), files: [{ path: 'ldif/ok.ldif', size: ok.length, sha256: sha256(ok) }] },
    { compress: false, encrypted: false },
  );
  const data = await verifyArchiveData(dest, manifest, undefined);
  assert.equal(data.ok, false);
  const text = data.problems.join('\n');
  assert.match(text, /entry \/etc\/passwd: absolute path/);
  assert.match(text, /entry ldif\/\.\.\/\.\.\/evil: path with a \.\. component/);
  assert.match(text, /entry ldif\/link: a symbolic link to \/etc\/shadow/);
  assert.match(text, /entry ldif\/hard: a hard link to ldif\/ok\.ldif/);
  assert.match(text, /entry dev\/sda: a block device/);
  assert.ok(!text.includes('file ldif/ok.ldif'), text);
  assert.ok(!existsAnywhere('evil'), 'nothing was extracted');
});

function existsAnywhere(name: string): boolean {
  return readdirSync(work, { recursive: true }).some(
    (p) => String(p).endsWith(`/${name}`) && !String(p).includes('extract'),
  );
}

test('a gzip bomb is cut off at the manifest size plus allowance', async () => {
  // 300 MB of zeros in one tar entry, gzipped to ~300 KB; the manifest lists a 5-byte file.
  const entry = rawEntry({ path: 'ldif/bomb.ldif', type: 'File', size: 300 * 1024 * 1024 });
  const zeros = Buffer.alloc(300 * 1024 * 1024 + 1024);
  const gz = gzipSync(Buffer.concat([entry, zeros]), { level: 1 });
  const dest = join(freshDir('bomb'), 'archive.tar.gz');
  writeFileSync(dest, gz);
  const five = Buffer.from('hello');
  const manifest = manifestFor(
    'archive.tar.gz',
    { size: gz.length, sha256: sha256(gz), files: [{ path: 'ldif/bomb.ldif', size: 5, sha256: sha256(five) }] },
    { compress: true, encrypted: false },
  );
  const rssBefore = process.memoryUsage().rss;
  const data = await verifyArchiveData(dest, manifest, undefined);
  assert.equal(data.ok, false);
  assert.ok(
    data.problems.some((p) => p.includes('exceeds the manifest')),
    data.problems.join('\n'),
  );
  assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'no buffering of the plaintext');
});

test('a double-gzipped archive is not unpacked a second time', async () => {
  const tree = makeTree('inner');
  const inner = execFileSync('tar', ['--create', '--gzip', '--file=-', '-C', tree.dir, 'ldif'], {
    maxBuffer: 64 << 20,
  });
  const outer = gzipSync(inner);
  const dest = join(freshDir('double'), 'archive.tar.gz');
  writeFileSync(dest, outer);
  const manifest = manifestFor(
    'archive.tar.gz',
    { size: outer.length, sha256: sha256(outer), files: [] },
    { compress: true, encrypted: false },
  );
  const data = await verifyArchiveData(dest, manifest, undefined);
  assert.ok(data.problems.includes('tar: the stream is compressed, not a plain tar stream'), data.problems.join('\n'));
});

// ---- ingest refuses and cleans up -----------------------------------------------------------------

async function assertNothingLeft(
  store: string,
  run: Promise<unknown>,
  check: (err: unknown) => boolean,
): Promise<void> {
  await assert.rejects(run, check);
  assert.deepEqual(leftovers(store), [], 'neither the archive nor a partial file is left');
}

test('a source stream that errors mid-way leaves nothing behind', async () => {
  for (const variant of variants) {
    const store = freshDir('store');
    const source = new PassThrough();
    const tar = execFileSync('tar', ['--create', '--file=-', '-C', makeTree('err').dir, 'ldif'], {
      maxBuffer: 64 << 20,
    });
    source.write(tar.subarray(0, 300_000));
    const keys = variant.encrypted ? await recipients(alice) : undefined;
    // Destroyed once ingestArchive listens to it: on a loaded machine a plain timer fired before that,
    // and the error had no listener at all.
    void (async () => {
      while (source.listenerCount('error') === 0) await delay(5);
      await delay(50);
      source.destroy(new Error('channel closed by peer'));
    })();
    await assertNothingLeft(
      store,
      ingestArchive(source, {
        dest: join(store, 'archive'),
        recipients: keys,
        compress: variant.compress,
      }),
      (err) => err instanceof Error && err.message === 'channel closed by peer',
    );
  }
});

test('an abort leaves nothing behind and destroys the source', async () => {
  for (const variant of variants) {
    const store = freshDir('store');
    const source = new PassThrough();
    const tar = execFileSync('tar', ['--create', '--file=-', '-C', makeTree('abort').dir, 'ldif'], {
      maxBuffer: 64 << 20,
    });
    source.write(tar.subarray(0, 200_000));
    const keys = variant.encrypted ? await recipients(alice) : undefined;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await assertNothingLeft(
      store,
      ingestArchive(source, {
        dest: join(store, 'archive'),
        recipients: keys,
        compress: variant.compress,
        signal: controller.signal,
      }),
      (err) => err instanceof Error && err.name === 'AbortError',
    );
    assert.ok(source.destroyed);
  }
});

test('an already aborted signal touches nothing', async () => {
  const store = freshDir('store');
  const source = new PassThrough();
  await assertNothingLeft(
    store,
    ingestArchive(source, {
      dest: join(store, 'archive'),
      recipients: undefined,
      compress: false,
      signal: AbortSignal.abort(),
    }),
    () => true,
  );
  assert.ok(source.destroyed);
});

test('a truncated tar stream (clean end, no end-of-archive marker) is refused', async () => {
  const store = freshDir('store');
  const tar = execFileSync('tar', ['--create', '--file=-', '-C', makeTree('trunc').dir, 'ldif'], {
    maxBuffer: 64 << 20,
  });
  await assertNothingLeft(
    store,
    ingestArchive(Readable.from([tar.subarray(0, 512 * 300)]), {
      dest: join(store, 'archive.tar'),
      recipients: undefined,
      compress: false,
    }),
    (err) => err instanceof FleetError && err.kind === 'failure' && /truncated|Truncated/.test(err.message),
  );
});

test('after the end-of-archive marker: zeros are fine and cheap, anything else is refused', async () => {
  const tar = execFileSync('tar', ['--create', '--file=-', '-C', makeTree('eof').dir, 'ldif'], { maxBuffer: 64 << 20 });
  const store = freshDir('store');
  // 200 MiB of padding: the tar Parser alone would buffer all of it (and re-copy it on each write).
  const zeros = Buffer.alloc(1 << 20);
  const padded = Readable.from(
    (function* () {
      yield tar;
      for (let i = 0; i < 200; i++) yield zeros;
    })(),
  );
  const rssBefore = process.memoryUsage().rss;
  const started = Date.now();
  const result = await ingestArchive(padded, {
    dest: join(store, 'padded.tar'),
    recipients: undefined,
    compress: true,
  });
  assert.ok(process.memoryUsage().rss - rssBefore < 150 * 1024 * 1024, 'padding is not buffered');
  assert.ok(Date.now() - started < 60_000);
  assert.equal(result.files.length, 2);
  assert.equal(result.plainBytes, tar.length + 200 * zeros.length);

  const junk = Buffer.concat([tar, Buffer.alloc(1 << 20, 0x41)]);
  await assert.rejects(
    ingestArchive(Readable.from([junk.subarray(0, tar.length), junk.subarray(tar.length)]), {
      dest: join(store, 'junk.tar'),
      recipients: undefined,
      compress: false,
    }),
    { message: 'archive stream: tar: data after the end-of-archive marker' },
  );
  assert.deepEqual(leftovers(store), ['padded.tar']);
});

test('symlinks, hard links and devices in the source stream are refused', async () => {
  const tree = makeTree('links');
  symlinkSync('/etc/passwd', join(tree.dir, 'ldif', 'passwd'));
  const store = freshDir('store');
  await assertNothingLeft(
    store,
    ingestArchive(tarStream(tree.dir), {
      dest: join(store, 'archive.tar.pgp'),
      recipients: await recipients(alice),
      compress: false,
    }),
    (err) =>
      err instanceof FleetError &&
      err.kind === 'failure' &&
      err.message.includes('entry ldif/passwd: a symbolic link to /etc/passwd'),
  );
  for (const type of ['Link', 'CharacterDevice', 'FIFO']) {
    const tar = rawTar([rawEntry({ path: 'x', type, ...(type === 'Link' ? { linkpath: 'y' } : {}) })]);
    await assertNothingLeft(
      store,
      ingestArchive(Readable.from([tar]), { dest: join(store, 'a.tar'), recipients: undefined, compress: false }),
      (err) => err instanceof FleetError && err.message.startsWith('archive stream: entry x:'),
    );
  }
  const climbsOut = rawTar([rawEntry({ path: '../x', type: 'File' }, Buffer.from('x'))]);
  await assertNothingLeft(
    store,
    ingestArchive(Readable.from([climbsOut]), { dest: join(store, 'a.tar'), recipients: undefined, compress: false }),
    (err) => err instanceof FleetError && err.message.includes('.. component'),
  );
});

test('maxFileSize refuses a larger file from its header', async () => {
  const store = freshDir('store');
  await assertNothingLeft(
    store,
    ingestArchive(tarStream(makeTree('max').dir), {
      dest: join(store, 'a.tar'),
      recipients: undefined,
      compress: false,
      maxFileSize: 300_000,
    }),
    (err) =>
      err instanceof FleetError && /entry ldif\/userroot\.ldif: \d+ bytes, over the limit of 300000/.test(err.message),
  );
});

test('an existing destination is never overwritten', async () => {
  const store = freshDir('store');
  const dest = join(store, 'archive.tar');
  writeFileSync(dest, 'previous');
  await assert.rejects(
    ingestArchive(tarStream(makeTree('exists').dir), { dest, recipients: undefined, compress: false }),
    /already exists/,
  );
  assert.equal(readFileSync(dest, 'utf8'), 'previous');
  assert.deepEqual(leftovers(store), ['archive.tar']);
});

test('a full disk is a clean store error and leaves no partial file (tmpfs of 1 MiB)', async () => {
  const mountPoint = freshDir('tmpfs');
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { encoding: 'utf8' });
  assert.equal(
    mount.status,
    0,
    `cannot mount a 1 MiB tmpfs for the ENOSPC test: ${mount.stderr || mount.error?.message}`,
  );
  try {
    for (const variant of variants) {
      const tree = makeTree('big', (files) => {
        files['bak/db/id2entry.db'] = randomBytes(3 * 1024 * 1024); // incompressible, > 1 MiB
      });
      const dest = join(mountPoint, 'archive');
      const opts: IngestOptions = {
        dest,
        recipients: variant.encrypted ? await recipients(alice) : undefined,
        compress: variant.compress,
      };
      await assertNothingLeft(mountPoint, ingestArchive(tarStream(tree.dir), opts), (err) => {
        assert.ok(err instanceof FleetError, String(err));
        assert.equal(err.kind, 'failure');
        assert.equal(err.message, `store: no space left writing ${dest}`);
        return true;
      });
    }
  } finally {
    spawnSync('umount', [mountPoint]);
  }
});

// ---- keys -----------------------------------------------------------------------------------------

describe('loadRecipients', () => {
  test('armored and binary public keys; upper-case fingerprints; duplicates once', async () => {
    const binaryFile = join(freshDir('bin'), 'alice.gpg');
    writeFileSync(binaryFile, (await openpgp.readKey({ armoredKey: alice.publicArmored })).write());
    const loaded = await loadRecipients([alice.publicFile, binaryFile, mallory.publicFile]);
    assert.equal(loaded.keys.length, 2);
    assert.equal(loaded.fingerprints.length, 2);
    for (const fp of loaded.fingerprints) assert.match(fp, /^[0-9A-F]{40}$/);
    const gpgFingerprint = gpg(['--with-colons', '--list-keys', 'alice@example.test'])
      .toString()
      .split('\n')
      .find((l) => l.startsWith('fpr:'))!
      .split(':')[9];
    assert.equal(loaded.fingerprints[0], gpgFingerprint);
  });

  test('an expired key is refused, naming the file', async () => {
    const expired = await makeKey('expired', { date: new Date(Date.now() - 7200_000), keyExpirationTime: 60 });
    await assert.rejects(loadRecipients([alice.publicFile, expired.publicFile]), (err: unknown) => {
      assert.ok(err instanceof FleetError);
      assert.equal(err.kind, 'usage');
      assert.match(err.message, new RegExp(`^cannot encrypt to ${expired.publicFile}: the key expired on `));
      return true;
    });
  });

  test('a revoked key is refused', async () => {
    const pair = await makeKey('revoked');
    const { publicKey } = await openpgp.revokeKey({
      key: await openpgp.readPrivateKey({ armoredKey: pair.privateArmored }),
      format: 'armored',
    });
    writeFileSync(pair.publicFile, publicKey);
    await assert.rejects(loadRecipients([pair.publicFile]), {
      message: `cannot encrypt to ${pair.publicFile}: the key is revoked`,
    });
  });

  test('a sign-only key (no encryption subkey) is refused', async () => {
    const pair = await makeKey('signonly', { subkeys: [] } as never);
    await assert.rejects(loadRecipients([pair.publicFile]), (err: unknown) => {
      assert.ok(err instanceof FleetError && err.kind === 'usage');
      assert.match(
        err.message,
        new RegExp(`^cannot encrypt to ${pair.publicFile}: the key has no valid encryption-capable subkey`),
      );
      return true;
    });
  });

  test('an expired encryption subkey is refused', async () => {
    const pair = await makeKey('oldsub', {
      date: new Date(Date.now() - 7200_000),
      subkeys: [{ keyExpirationTime: 60 }],
    } as never);
    await assert.rejects(loadRecipients([pair.publicFile]), /no valid encryption-capable subkey/);
  });

  test('a private key file is refused: the controller needs only public keys', async () => {
    await assert.rejects(
      loadRecipients([alice.privateFile]),
      (err: unknown) =>
        err instanceof FleetError &&
        err.kind === 'usage' &&
        err.message.startsWith(`${alice.privateFile} holds a private key`),
    );
  });

  test('unreadable, garbage and empty inputs are usage errors', async () => {
    const garbage = join(freshDir('garbage'), 'key.asc');
    writeFileSync(garbage, 'not a key');
    await assert.rejects(
      loadRecipients([join(work, 'nope.asc')]),
      (err: unknown) => err instanceof FleetError && err.kind === 'usage' && err.message.includes('nope.asc'),
    );
    await assert.rejects(
      loadRecipients([garbage]),
      (err: unknown) =>
        err instanceof FleetError &&
        err.kind === 'usage' &&
        err.message.startsWith(`${garbage} is not an OpenPGP public key`),
    );
    await assert.rejects(loadRecipients([]), (err: unknown) => err instanceof FleetError && err.kind === 'usage');
  });
});

describe('loadPrivateKey', () => {
  test('unlocks with the right passphrase; a wrong one is auth without the passphrase', async () => {
    const passphrase = 'correct horse battery staple';
    const pair = await makeKey('locked', { passphrase });
    const key = await loadPrivateKey(pair.privateFile, passphrase);
    assert.ok(key.isDecrypted());
    for (const wrong of ['Tr0ub4dor&3', undefined]) {
      await assert.rejects(loadPrivateKey(pair.privateFile, wrong), (err: unknown) => {
        assert.ok(err instanceof FleetError);
        assert.equal(err.kind, 'auth');
        assert.ok(err.message.startsWith(`cannot unlock ${pair.privateFile}: `));
        if (wrong) assert.equal(err.message, `cannot unlock ${pair.privateFile}: wrong passphrase`);
        assert.ok(
          !JSON.stringify({ m: err.message, s: err.stack, c: String(err.cause) }).includes(wrong ?? passphrase),
        );
        return true;
      });
    }
  });

  test('a public key file is not a private key', async () => {
    await assert.rejects(
      loadPrivateKey(alice.publicFile),
      (err: unknown) => err instanceof FleetError && err.kind === 'usage',
    );
  });
});
