// unpackSnapshot on archives stored by ingestArchive (encrypted or not, gzipped or not) and on
// hand-made hostile ones: files handed out one at a time, checked against the manifest.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { Header } from 'tar';
import { ingestArchive } from '../../src/backup/archive.js';
import { loadPrivateKey, loadRecipients, type PrivateKey } from '../../src/backup/keys.js';
import type { Manifest, ManifestFile } from '../../src/backup/manifest.js';
import { unpackSnapshot, type SnapshotFile } from '../../src/backup/unpack.js';
import { FleetError } from '../../src/errors.js';

const work = mkdtempSync(join(tmpdir(), 'ipa-fleet-unpack-'));
after(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
function freshDir(name: string): string {
  const dir = join(work, `${name}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---- fixtures ---------------------------------------------------------------------------------

interface RawEntry {
  path: string;
  type?: string;
  data?: Buffer;
  linkpath?: string;
  mode?: number;
  uid?: number;
}

/** One tar entry (header + padded data), as tar writes it. */
function rawEntry(e: RawEntry): Buffer {
  const data = e.data ?? Buffer.alloc(0);
  const header = new Header({
    path: e.path,
    type: (e.type ?? 'File') as never,
    size: data.length,
    mode: e.mode ?? 0o644,
    uid: e.uid ?? 0,
    gid: e.uid ?? 0,
    mtime: new Date(0),
    ...(e.linkpath ? { linkpath: e.linkpath } : {}),
  });
  const block = Buffer.alloc(512);
  header.encode(block, 0);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return Buffer.concat([block, padded]);
}

function rawTar(entries: RawEntry[]): Buffer {
  return Buffer.concat([...entries.map(rawEntry), Buffer.alloc(1024)]);
}

function ldif(bytes: number, seed: string): Buffer {
  const parts: string[] = [];
  for (let i = 0, size = 0; size < bytes; i++) {
    const entry = `dn: uid=user${i},cn=users,cn=accounts,dc=${seed},dc=test\nobjectClass: inetOrgPerson\nuid: user${i}\n\n`;
    parts.push(entry);
    size += entry.length;
  }
  return Buffer.from(parts.join(''));
}

/** A snapshot's tar: folders, two LDIF exports (one over several MiB), a config file, an empty file. */
function snapshotEntries(): RawEntry[] {
  return [
    { path: 'ldif/', type: 'Directory', mode: 0o755 },
    { path: 'ldif/userroot.ldif', data: ldif(3_000_000, 'example'), mode: 0o600, uid: 389 },
    { path: 'ldif/ipaca.ldif', data: ldif(40_000, 'ipaca'), mode: 0o600, uid: 389 },
    { path: 'etc/', type: 'Directory' },
    {
      path: 'etc/dirsrv/slapd-EXAMPLE/dse.ldif',
      data: Buffer.from('dn: cn=config\ncn: config\n\n'),
      mode: 0o640,
      uid: 389,
    },
    { path: 'etc/dirsrv/slapd-EXAMPLE/empty.conf', data: Buffer.alloc(0) },
  ];
}

function filesOf(entries: RawEntry[]): ManifestFile[] {
  return entries
    .filter((e) => (e.type ?? 'File') === 'File')
    .map((e) => ({ path: e.path, size: e.data?.length ?? 0, sha256: sha256(e.data ?? Buffer.alloc(0)) }));
}

function manifestFor(
  name: string,
  stored: { size: number; sha256: string },
  files: ManifestFile[],
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
    files,
    archive: {
      name,
      size: stored.size,
      sha256: stored.sha256,
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

let alicePublic: string;
let alicePrivate: PrivateKey;
let malloryPrivate: PrivateKey;

async function makeKey(name: string): Promise<{ publicFile: string; privateFile: string }> {
  const { privateKey, publicKey } = (await openpgp.generateKey({
    userIDs: [{ name, email: `${name}@example.test` }],
    format: 'armored',
  })) as unknown as { privateKey: string; publicKey: string };
  const dir = freshDir(`key-${name}`);
  writeFileSync(join(dir, 'public.asc'), publicKey);
  writeFileSync(join(dir, 'private.asc'), privateKey);
  return { publicFile: join(dir, 'public.asc'), privateFile: join(dir, 'private.asc') };
}

before(async () => {
  const alice = await makeKey('alice');
  const mallory = await makeKey('mallory');
  alicePublic = alice.publicFile;
  alicePrivate = await loadPrivateKey(alice.privateFile);
  malloryPrivate = await loadPrivateKey(mallory.privateFile);
});

/** Store a tar the way a backup does (ingestArchive) and write the manifest it would get. */
async function stored(
  tar: Buffer,
  opts: { compress: boolean; encrypted: boolean },
  files?: ManifestFile[],
): Promise<{ archive: string; manifest: Manifest }> {
  const name = `archive.tar${opts.compress ? '.gz' : ''}${opts.encrypted ? '.pgp' : ''}`;
  const archive = join(freshDir('store'), name);
  const recipients = opts.encrypted ? (await loadRecipients([alicePublic])).keys : undefined;
  const result = await ingestArchive(Readable.from([tar]), { dest: archive, recipients, compress: opts.compress });
  return { archive, manifest: manifestFor(name, result, files ?? result.files, opts) };
}

/** A hostile tar written straight to the store (ingest would refuse it), with a manifest that vouches for its bytes. */
function storedRaw(tar: Buffer, files: ManifestFile[]): { archive: string; manifest: Manifest } {
  const archive = join(freshDir('raw'), 'archive.tar');
  writeFileSync(archive, tar);
  return {
    archive,
    manifest: manifestFor('archive.tar', { size: tar.length, sha256: sha256(tar) }, files, {
      compress: false,
      encrypted: false,
    }),
  };
}

interface Received {
  file: SnapshotFile;
  data: Buffer;
}

/** An onFile that reads each file to the end, slowly, and checks it is never called twice at once. */
function collector(opts: { delayMs?: number } = {}): {
  onFile: (file: SnapshotFile, content: Readable) => Promise<void>;
  received: Received[];
  errors: unknown[];
} {
  const received: Received[] = [];
  const errors: unknown[] = [];
  let active = 0;
  return {
    received,
    errors,
    onFile: async (file, content) => {
      assert.equal(active++, 0, 'onFile is never called while another call runs');
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of content) {
          chunks.push(chunk as Buffer);
          if (opts.delayMs) await sleep(opts.delayMs);
        }
        if (opts.delayMs) await sleep(opts.delayMs * 5);
        received.push({ file, data: Buffer.concat(chunks) });
      } catch (err) {
        errors.push(err);
        throw err;
      } finally {
        active--;
      }
    },
  };
}

/** Descriptors of this process still open on `file` (Linux). */
function openOn(file: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;
}

const failure =
  (pattern: RegExp) =>
  (err: unknown): boolean => {
    assert.ok(err instanceof FleetError, `a FleetError, got ${String(err)}`);
    assert.equal(err.kind, 'failure');
    assert.match(err.message, pattern);
    return true;
  };

// ---- round trips --------------------------------------------------------------------------------

const variants = [
  { label: 'encrypted + gzip', encrypted: true, compress: true },
  { label: 'encrypted, no gzip', encrypted: true, compress: false },
  { label: 'plain + gzip', encrypted: false, compress: true },
  { label: 'plain, no gzip', encrypted: false, compress: false },
];

describe('unpackSnapshot: round trips', () => {
  for (const variant of variants) {
    test(variant.label, async () => {
      const entries = snapshotEntries();
      const { archive, manifest } = await stored(rawTar(entries), variant);
      const { onFile, received } = collector({ delayMs: 1 });
      const result = await unpackSnapshot(archive, manifest, variant.encrypted ? alicePrivate : undefined, onFile);

      const files = entries.filter((e) => (e.type ?? 'File') === 'File');
      assert.deepEqual(
        received.map((r) => r.file.path),
        files.map((f) => f.path),
        'archive order, directories skipped',
      );
      for (const [i, f] of files.entries()) {
        assert.ok(received[i]!.data.equals(f.data ?? Buffer.alloc(0)), `${f.path} content`);
        assert.equal(received[i]!.file.size, f.data?.length ?? 0);
        assert.equal(received[i]!.file.mode, f.mode ?? 0o644);
        assert.equal(received[i]!.file.uid, f.uid ?? 0);
      }
      assert.deepEqual(result, {
        files: files.length,
        bytes: files.reduce((sum, f) => sum + (f.data?.length ?? 0), 0),
      });
      assert.equal(openOn(archive), 0, 'the archive is closed');
    });
  }

  test('files onFile leaves unread, or stops reading, are read past and still checked', async () => {
    const { archive, manifest } = await stored(rawTar(snapshotEntries()), { encrypted: true, compress: true });
    const seen: string[] = [];
    const result = await unpackSnapshot(archive, manifest, alicePrivate, async (file, content) => {
      seen.push(file.path);
      if (file.path === 'ldif/ipaca.ldif') {
        for await (const _chunk of content) break; // reads one chunk, then destroys the stream
      }
      // every other file: not read at all
    });
    assert.deepEqual(seen, [
      'ldif/userroot.ldif',
      'ldif/ipaca.ldif',
      'etc/dirsrv/slapd-EXAMPLE/dse.ldif',
      'etc/dirsrv/slapd-EXAMPLE/empty.conf',
    ]);
    assert.equal(result.files, 4);

    // And an unread file is still checked: the wrong hash is found though nobody read it.
    manifest.files = manifest.files.map((f) =>
      f.path === 'ldif/userroot.ldif' ? { ...f, sha256: sha256(Buffer.from('other')) } : f,
    );
    await assert.rejects(
      unpackSnapshot(archive, manifest, alicePrivate, async () => undefined),
      failure(/file ldif\/userroot\.ldif: SHA-256 differs from the manifest/),
    );
  });

  test('a slow consumer holds the reading back (the next file waits for onFile)', async () => {
    const { archive, manifest } = await stored(rawTar(snapshotEntries()), { encrypted: false, compress: true });
    const events: string[] = [];
    await unpackSnapshot(archive, manifest, undefined, async (file, content) => {
      events.push(`start ${file.path}`);
      for await (const _chunk of content) {
        /* drain */
      }
      await sleep(20); // e.g. waiting for the upload to be acknowledged
      events.push(`end ${file.path}`);
    });
    for (let i = 0; i < events.length; i += 2) {
      assert.match(events[i]!, /^start /);
      assert.equal(events[i + 1], events[i]!.replace('start', 'end'));
    }
  });
});

// ---- refusals ---------------------------------------------------------------------------------------

describe('unpackSnapshot: refusals', () => {
  test('a tampered encrypted archive is refused', async () => {
    const { archive, manifest } = await stored(rawTar(snapshotEntries()), { encrypted: true, compress: true });
    const bytes = readFileSync(archive);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(archive, bytes);
    const { onFile } = collector();
    await assert.rejects(
      unpackSnapshot(archive, manifest, alicePrivate, onFile),
      failure(/^archive archive\.tar\.gz\.pgp: /),
    );
    assert.equal(openOn(archive), 0);
  });

  test('a tampered plain archive: the altered file errors instead of ending, nothing after it is handed out', async () => {
    const entries = snapshotEntries();
    const tar = rawTar(entries);
    const { archive, manifest } = storedRaw(tar, filesOf(entries));
    // In the body of ldif/ipaca.ldif: the directory header, userroot's header and body, ipaca's header.
    const userroot = entries[1]!.data!.length;
    const at = 512 + 512 + Math.ceil(userroot / 512) * 512 + 512 + 100;
    const bytes = readFileSync(archive);
    bytes[at] = bytes[at]! === 0x41 ? 0x42 : 0x41;
    writeFileSync(archive, bytes);
    const { onFile, received, errors } = collector();
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, onFile),
      failure(/file ldif\/ipaca\.ldif: SHA-256 differs from the manifest/),
    );
    assert.deepEqual(
      received.map((r) => r.file.path),
      ['ldif/userroot.ldif'],
      'the altered file never ended cleanly',
    );
    assert.equal(errors.length, 1, 'its consumer saw the error');
    assert.match(String(errors[0]), /SHA-256 differs/);
  });

  test('a wrong SHA-256 in the manifest is found at the end of that entry, before the next is handed out', async () => {
    const entries = snapshotEntries();
    const files = filesOf(entries).map((f) =>
      f.path === 'ldif/ipaca.ldif' ? { ...f, sha256: sha256(Buffer.from('something else')) } : f,
    );
    const { archive, manifest } = await stored(rawTar(entries), { encrypted: true, compress: false }, files);
    const seen: string[] = [];
    await assert.rejects(
      unpackSnapshot(archive, manifest, alicePrivate, async (file, content) => {
        seen.push(file.path);
        content.resume();
        await new Promise((resolve, reject) => content.once('end', resolve).once('error', reject));
      }),
      failure(/archive archive\.tar\.pgp: file ldif\/ipaca\.ldif: SHA-256 differs from the manifest/),
    );
    assert.deepEqual(seen, ['ldif/userroot.ldif', 'ldif/ipaca.ldif']);
  });

  test('a size that differs from the manifest is refused from the header, before handing the file out', async () => {
    const entries = snapshotEntries();
    const files = filesOf(entries).map((f) => (f.path === 'ldif/ipaca.ldif' ? { ...f, size: f.size + 1 } : f));
    const { archive, manifest } = await stored(rawTar(entries), { encrypted: false, compress: true }, files);
    const { onFile, received } = collector();
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, onFile),
      failure(/file ldif\/ipaca\.ldif: size \d+ differs from the manifest's \d+/),
    );
    assert.deepEqual(
      received.map((r) => r.file.path),
      ['ldif/userroot.ldif'],
    );
  });

  test('a symbolic link (and hard links, devices, FIFOs) are refused, naming the entry', async () => {
    const ok = { path: 'ldif/ok.ldif', data: Buffer.from('dn: dc=t\n\n') };
    const cases: Array<[RawEntry, RegExp]> = [
      [
        { path: 'ldif/link', type: 'SymbolicLink', linkpath: '/etc/shadow' },
        /entry ldif\/link: a SymbolicLink to \/etc\/shadow \(snapshots hold only regular files and directories\)/,
      ],
      [{ path: 'ldif/hard', type: 'Link', linkpath: 'ldif/ok.ldif' }, /entry ldif\/hard: a Link to ldif\/ok\.ldif/],
      [{ path: 'dev/sda', type: 'BlockDevice' }, /entry dev\/sda: a BlockDevice/],
      [{ path: 'ldif/fifo', type: 'FIFO' }, /entry ldif\/fifo: a FIFO/],
    ];
    for (const [hostile, message] of cases) {
      const { archive, manifest } = storedRaw(rawTar([ok, hostile]), filesOf([ok]));
      const { onFile, received } = collector();
      await assert.rejects(unpackSnapshot(archive, manifest, undefined, onFile), failure(message));
      assert.deepEqual(
        received.map((r) => r.file.path),
        ['ldif/ok.ldif'],
      );
    }
  });

  test('unsafe paths are refused even when the manifest lists them', async () => {
    for (const [path, message] of [
      ['ldif/../../etc/cron.d/evil', /entry ldif\/\.\.\/\.\.\/etc\/cron\.d\/evil: path with a \.\. component/],
      ['/etc/passwd', /entry \/etc\/passwd: absolute path/],
      ['ldif/a\u001b[2Jb', /entry ldif\/a\\x1b\[2Jb: /],
    ] as const) {
      const entry = { path, data: Buffer.from('x') };
      const { archive, manifest } = storedRaw(rawTar([entry]), filesOf([entry]));
      const { onFile, received } = collector();
      if (path.includes('\u001b')) {
        // Not unsafe, but not listed: shown() escapes it in the message.
        manifest.files = [];
      }
      await assert.rejects(unpackSnapshot(archive, manifest, undefined, onFile), failure(message));
      assert.equal(received.length, 0);
    }
  });

  test('a file the manifest does not list is refused', async () => {
    const entries = snapshotEntries();
    const files = filesOf(entries).filter((f) => f.path !== 'etc/dirsrv/slapd-EXAMPLE/dse.ldif');
    const { archive, manifest } = await stored(rawTar(entries), { encrypted: true, compress: true }, files);
    const { onFile, received } = collector();
    await assert.rejects(
      unpackSnapshot(archive, manifest, alicePrivate, onFile),
      failure(/entry etc\/dirsrv\/slapd-EXAMPLE\/dse\.ldif: not listed in the manifest/),
    );
    assert.equal(received.length, 2);
  });

  test('a file the manifest lists but the archive lacks is found at the end', async () => {
    const entries = snapshotEntries();
    const files = [...filesOf(entries), { path: 'ldif/gone.ldif', size: 3, sha256: sha256(Buffer.from('abc')) }];
    const { archive, manifest } = await stored(rawTar(entries), { encrypted: false, compress: false }, files);
    const { onFile, received } = collector();
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, onFile),
      failure(/file ldif\/gone\.ldif listed in the manifest is missing/),
    );
    assert.equal(received.length, 4);
  });

  test('stored bytes that differ from the manifest are found at the end', async () => {
    const { archive, manifest } = await stored(rawTar(snapshotEntries()), { encrypted: false, compress: true });
    manifest.archive.sha256 = sha256(Buffer.from('another archive'));
    const { onFile } = collector();
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, onFile),
      failure(/archive archive\.tar\.gz: size or SHA-256 differs from the manifest/),
    );
  });

  test('a tar stream beyond the manifest allowance stops the reading', async () => {
    // A valid tar followed by 70 MiB of zero padding: gzipped to ~70 KiB, past the 64 MiB allowance.
    const ok = { path: 'ldif/ok.ldif', data: Buffer.from('dn: dc=t\n\n') };
    const gz = gzipSync(Buffer.concat([rawTar([ok]), Buffer.alloc(70 * 1024 * 1024)]), { level: 1 });
    const archive = join(freshDir('bomb'), 'archive.tar.gz');
    writeFileSync(archive, gz);
    const manifest = manifestFor('archive.tar.gz', { size: gz.length, sha256: sha256(gz) }, filesOf([ok]), {
      compress: true,
      encrypted: false,
    });
    const { onFile } = collector();
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, onFile),
      failure(/the tar content exceeds the manifest's \d+ bytes/),
    );
  });

  test('a compressed stream where tar belongs is not unpacked a second time', async () => {
    // Written straight to the store: ingest refuses such a stream already.
    const outer = gzipSync(gzipSync(rawTar(snapshotEntries())));
    const archive = join(freshDir('double'), 'archive.tar.gz');
    writeFileSync(archive, outer);
    const manifest = manifestFor(
      'archive.tar.gz',
      { size: outer.length, sha256: sha256(outer) },
      filesOf(snapshotEntries()),
      { compress: true, encrypted: false },
    );
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, collector().onFile),
      failure(/tar: the stream is compressed, not a plain tar stream/),
    );
  });

  test('a truncated tar is refused', async () => {
    const tar = rawTar(snapshotEntries());
    const cut = tar.subarray(0, 512 * 200);
    const { archive, manifest } = storedRaw(cut, filesOf(snapshotEntries()));
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, collector().onFile),
      failure(/truncated|Truncated/),
    );
  });
});

// ---- keys, onFile errors, aborts --------------------------------------------------------------------

describe('unpackSnapshot: keys, errors, aborts', () => {
  test('an archive not encrypted to the key is an auth error; no key at all is a usage error', async () => {
    const { archive, manifest } = await stored(rawTar(snapshotEntries()), { encrypted: true, compress: true });
    await assert.rejects(unpackSnapshot(archive, manifest, malloryPrivate, collector().onFile), (err: unknown) => {
      assert.ok(err instanceof FleetError);
      assert.equal(err.kind, 'auth');
      assert.equal(err.message, `archive ${archive} is not encrypted to this key`);
      return true;
    });
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, collector().onFile),
      (err: unknown) => err instanceof FleetError && err.kind === 'usage',
    );
    assert.equal(openOn(archive), 0);
  });

  test('an error thrown by onFile propagates as is and closes the archive', async () => {
    for (const variant of variants) {
      const { archive, manifest } = await stored(rawTar(snapshotEntries()), variant);
      const boom = new Error('upload failed: disk full on ds1');
      let calls = 0;
      await assert.rejects(
        unpackSnapshot(archive, manifest, variant.encrypted ? alicePrivate : undefined, async (_file, content) => {
          calls++;
          // Mid-way through the big file.
          let read = 0;
          for await (const chunk of content) {
            read += (chunk as Buffer).length;
            if (read > 1_000_000) throw boom;
          }
        }),
        (err: unknown) => err === boom,
      );
      assert.equal(calls, 1);
      assert.equal(openOn(archive), 0, `${variant.label}: the archive is closed`);
    }
  });

  test('an abort stops the unpack, the current file errors, and the archive is closed', async () => {
    const { archive, manifest } = await stored(rawTar(snapshotEntries()), { encrypted: true, compress: true });
    const controller = new AbortController();
    const errors: unknown[] = [];
    let finished = false;
    const run = unpackSnapshot(
      archive,
      manifest,
      alicePrivate,
      async (_file, content) => {
        try {
          for await (const _chunk of content) {
            controller.abort();
            await sleep(5);
          }
        } catch (err) {
          errors.push(err);
          await sleep(30);
          finished = true; // unpackSnapshot waits for this call before it rejects
          throw err;
        }
      },
      { signal: controller.signal },
    );
    await assert.rejects(run, (err: unknown) => err instanceof Error && err.name === 'AbortError');
    assert.equal(errors.length, 1);
    assert.ok(finished, 'onFile had returned');
    assert.equal(openOn(archive), 0);
  });

  test('an already aborted signal opens nothing', async () => {
    const { archive, manifest } = await stored(rawTar(snapshotEntries()), { encrypted: false, compress: false });
    await assert.rejects(
      unpackSnapshot(archive, manifest, undefined, collector().onFile, { signal: AbortSignal.abort() }),
      (err: unknown) => err instanceof Error && err.name === 'AbortError',
    );
  });

  test('an undecryptable archive (not OpenPGP) is a failure naming the archive', async () => {
    // Fixed bytes, not random ones: random bytes now and then read as an OpenPGP packet addressed to someone else.
    const junk = Buffer.from('this is not an OpenPGP message, just text that no key decrypts\n'.repeat(64));
    const archive = join(freshDir('junk'), 'archive.tar.gz.pgp');
    writeFileSync(archive, junk);
    const manifest = manifestFor('archive.tar.gz.pgp', { size: junk.length, sha256: sha256(junk) }, [], {
      compress: true,
      encrypted: true,
    });
    await assert.rejects(unpackSnapshot(archive, manifest, alicePrivate, collector().onFile), (err: unknown) => {
      assert.ok(err instanceof FleetError);
      assert.match(err.message, /^archive archive\.tar\.gz\.pgp: cannot be decrypted/);
      return true;
    });
    assert.equal(openOn(archive), 0);
  });
});
