// Verify a stored archive against its manifest.
//
// verifyArchiveHash: the stored bytes (ciphertext when encrypted) against the manifest's size and
// SHA-256. Cheap, needs no key: what `verify` runs on every snapshot.
//
// verifyArchiveData: the content. The archive is decrypted as a stream (openpgp with
// allowUnauthenticatedStream: the default config buffers the whole plaintext until the integrity
// check at the end, which runs the controller out of memory on a real backup), gunzipped when the
// manifest says gzip, and parsed as tar in-stream; every regular file is hashed and compared with
// the manifest. Plaintext never reaches the disk, and until the stream has ended without error
// and every hash matched it is treated as untrusted data: nothing is extracted, entries that
// could escape a restore folder (absolute paths, `..`, links, devices) are listed as problems,
// and reading stops once the tar exceeds what the manifest accounts for, so a gzip bomb costs a
// bounded amount of CPU and no memory (nothing is buffered beyond the streams' own windows).
//
// openArchive (file → [decrypt] → [gunzip] → plain tar) is shared with unpack.ts, which hands the
// files of a snapshot to a restore one at a time.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline as pipelineCallback, Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as openpgp from 'openpgp';
import type { PrivateKey } from 'openpgp';
import { FleetError } from '../errors.js';
import { errorText, hasCode, shown, TarInspector } from './archive.js';
import type { Manifest } from './manifest.js';

export interface HashCheck {
  ok: boolean;
  actualSize: number;
  actualSha256: string;
}

export interface DataCheck {
  ok: boolean;
  /** One line each, e.g. "file ldif/userroot.ldif: SHA-256 mismatch", "file x missing", "unexpected file y". */
  problems: string[];
}

/**
 * Tar bytes allowed beyond the sum of the manifest's file sizes: headers and padding of every
 * file (a long path adds a header block or two), directories, the end-of-archive blocks and tar's
 * record padding. Past it, reading stops: the content cannot match the manifest anyway.
 */
export function tarSizeLimit(manifest: Pick<Manifest, 'files'>): number {
  const data = manifest.files.reduce((sum, f) => sum + f.size, 0);
  return data + manifest.files.length * 4096 + 64 * 1024 * 1024;
}

export async function verifyArchiveHash(file: string, expected: { size: number; sha256: string }): Promise<HashCheck> {
  await assertReadable(file);
  const hash = createHash('sha256');
  let actualSize = 0;
  try {
    await pipeline(
      createReadStream(file),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          actualSize += chunk.length;
          callback();
        },
      }),
    );
  } catch (err) {
    throw new FleetError('failure', `archive ${file} cannot be read: ${errorText(err)}`, { cause: err });
  }
  const actualSha256 = hash.digest('hex');
  return {
    ok: actualSize === expected.size && actualSha256 === expected.sha256.toLowerCase(),
    actualSize,
    actualSha256,
  };
}

/** Stops the pipeline once the tar stream exceeds the manifest's allowance. */
class SizeLimitExceeded extends Error {}

export async function verifyArchiveData(
  file: string,
  manifest: Manifest,
  key: PrivateKey | undefined,
): Promise<DataCheck> {
  const name = basename(file);
  let reader: ArchiveReader;
  try {
    reader = await openArchive(file, manifest, key);
  } catch (err) {
    if (err instanceof UndecryptableArchive) return { ok: false, problems: [err.message] };
    throw err;
  }

  const problems: string[] = [];
  const limit = tarSizeLimit(manifest);
  const inspector = new TarInspector();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      inspector.write(chunk);
      if (inspector.bytes > limit) return callback(new SizeLimitExceeded());
      callback();
    },
  });

  let complete = true;
  try {
    await (pipeline as (...args: unknown[]) => Promise<void>)(...reader.stages, sink);
  } catch (err) {
    complete = false;
    if (err instanceof SizeLimitExceeded) {
      problems.push(
        `archive ${name}: the tar content exceeds the manifest's ${limit} bytes (files plus allowance): ` +
          'stopped reading',
      );
    } else {
      problems.push(`archive ${name}: ${reader.explain(err)}`);
    }
  }
  await reader.close();
  if (complete) await inspector.end();
  problems.push(...inspector.issues);

  if (complete) {
    if (!reader.storedMatches()) problems.push(`archive ${name}: size or SHA-256 differs from the manifest`);
  } else {
    problems.push(`archive ${name}: content check incomplete (stopped after ${inspector.bytes} tar bytes)`);
  }
  problems.push(...compareFiles(manifest, inspector, complete));
  return { ok: problems.length === 0, problems };
}

/** The manifest's files against those the archive held. Missing files only count when the stream completed. */
function compareFiles(manifest: Manifest, inspector: TarInspector, complete: boolean): string[] {
  const problems: string[] = [];
  const found = new Map(inspector.files.map((f) => [f.path, f]));
  const listed = new Set<string>();
  for (const want of manifest.files) {
    listed.add(want.path);
    const got = found.get(want.path);
    if (!got) {
      if (complete) problems.push(`file ${shown(want.path)} missing`);
      continue;
    }
    if (got.size !== want.size) {
      problems.push(`file ${shown(want.path)}: size ${got.size} differs from the manifest's ${want.size}`);
    } else if (got.sha256 !== want.sha256.toLowerCase()) {
      problems.push(`file ${shown(want.path)}: SHA-256 mismatch`);
    }
  }
  for (const got of inspector.files) {
    if (!listed.has(got.path)) problems.push(`unexpected file ${shown(got.path)}`);
  }
  return problems;
}

/** A stored archive opened for reading its content (see openArchive). */
export interface ArchiveReader {
  /** From the file to the plain tar stream: run them in one pipeline, with the caller's sink last. */
  stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream>;
  /** Why that pipeline failed, from the stage whose error came first (the others only echo it). */
  explain(err: unknown): string;
  /** The stored bytes match the manifest's size and SHA-256; meaningful once the pipeline completed. */
  storedMatches(): boolean;
  /** Tears the stages down (if they are still running) and resolves once the file is closed. */
  close(): Promise<void>;
}

/** The archive's bytes cannot be decrypted (not OpenPGP, damaged, replaced): the archive is bad, not the key. */
class UndecryptableArchive extends FleetError {
  constructor(file: string, cause: unknown) {
    super('failure', `archive ${basename(file)}: cannot be decrypted (${errorText(cause)})`, { cause });
    this.name = 'UndecryptableArchive';
  }
}

/**
 * Open a stored archive as a stream of plain tar: decrypted (when the manifest says so) and
 * gunzipped (likewise), with the stored bytes hashed on the way for storedMatches(). Throws
 * FleetError 'usage' (encrypted, no key), 'failure' (unreadable file), 'auth' (not encrypted to
 * this key) or UndecryptableArchive. Nothing is read beyond the streams' windows until the caller
 * runs the stages.
 */
export async function openArchive(
  file: string,
  manifest: Manifest,
  key: PrivateKey | undefined,
): Promise<ArchiveReader> {
  const { archive } = manifest;
  if (archive.encrypted && key === undefined) {
    throw new FleetError('usage', `archive ${file} is encrypted: a private key is needed to read its content`);
  }
  await assertReadable(file);

  const stored = createHash('sha256');
  let storedSize = 0;
  let digest: string | undefined;
  let firstFailure: { stage: string; err: unknown } | undefined;
  const watch = <S extends NodeJS.EventEmitter>(stage: string, stream: S): S => {
    stream.once('error', (err: unknown) => {
      firstFailure ??= { stage, err };
    });
    return stream;
  };

  const fileStream = watch('read', createReadStream(file));
  const fileClosed = new Promise<void>((resolve) => fileStream.once('close', () => resolve()));
  const counted = watch(
    'read',
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        stored.update(chunk);
        storedSize += chunk.length;
        callback(null, chunk);
      },
    }),
  );
  // An error on either side destroys both, which errors the web stream openpgp reads; destroying
  // `counted` (when a later stage fails) closes the file.
  const storedBytes = pipelineCallback(fileStream, counted, () => undefined);
  const close = async (): Promise<void> => {
    storedBytes.destroy();
    fileStream.destroy();
    await fileClosed;
  };

  const stages: ArchiveReader['stages'] = [];
  if (archive.encrypted) {
    try {
      const named = archive.recipients.some((fp) => fp.toUpperCase() === key!.getFingerprint().toUpperCase());
      stages.push(watch('decrypt', await decryptingStream(file, storedBytes, key!, named)));
    } catch (err) {
      await close();
      if (err instanceof FleetError) throw err;
      throw new UndecryptableArchive(file, err);
    }
  } else {
    stages.push(storedBytes);
  }
  if (archive.compression === 'gzip') stages.push(watch('gunzip', createGunzip()));

  return {
    stages,
    explain: (err) => describeFailure(firstFailure ?? { stage: 'read', err }),
    storedMatches: () => {
      if (storedSize !== archive.size) return false;
      digest ??= stored.digest('hex');
      return digest === archive.sha256.toLowerCase();
    },
    close,
  };
}

/**
 * Start decrypting `ciphertext` with `key`; resolves with the plaintext stream once the session key
 * is decrypted. An archive with no recipient matching the key is a FleetError 'auth' — unless the
 * manifest names this key as a recipient (`named`): then the archive was damaged or replaced, and
 * the plain error is thrown for the caller to list, as for anything else (not OpenPGP, a damaged
 * key packet).
 */
export async function decryptingStream(
  file: string,
  ciphertext: Readable,
  key: PrivateKey,
  named: boolean,
): Promise<Readable> {
  const message = await openpgp.readMessage({
    binaryMessage: Readable.toWeb(ciphertext) as ReadableStream<Uint8Array>,
  });
  const recipients = message.getEncryptionKeyIDs();
  const ours = key.getKeyIDs();
  const addressed = recipients.some((id) => ours.some((mine) => mine.equals(id)));
  const anonymous = recipients.some((id) => /^0+$/.test(id.toHex()));
  if (!addressed && !anonymous) {
    if (named) throw new Error('no recipient matches the key the manifest names (damaged or replaced archive)');
    throw new FleetError('auth', `archive ${file} is not encrypted to this key`);
  }
  let data: ReadableStream<Uint8Array>;
  try {
    ({ data } = (await openpgp.decrypt({
      message,
      decryptionKeys: key,
      format: 'binary',
      config: { allowUnauthenticatedStream: true },
    })) as { data: ReadableStream<Uint8Array> });
  } catch (err) {
    if (!addressed && !named)
      throw new FleetError('auth', `archive ${file} is not encrypted to this key`, { cause: err });
    throw err;
  }
  return Readable.fromWeb(data as never);
}

function describeFailure(failure: { stage: string; err: unknown }): string {
  const text = errorText(failure.err);
  switch (failure.stage) {
    case 'decrypt':
      return `decryption failed, the archive is damaged or was altered (${text})`;
    case 'gunzip':
      return `gzip data is damaged (${text})`;
    default:
      return `read failed (${text})`;
  }
}

async function assertReadable(file: string): Promise<void> {
  try {
    const handle = await open(file, 'r');
    await handle.close();
  } catch (err) {
    const reason = hasCode(err, 'ENOENT') ? 'no such file' : errorText(err);
    throw new FleetError('failure', `archive ${file} cannot be read: ${reason}`, { cause: err });
  }
}

/** What is wrong with one stored snapshot: the archive's size and hash, and with readData every file inside. */
export async function snapshotProblems(
  entry: { archive: string; manifest: Manifest },
  opts: { readData: boolean; key: PrivateKey | undefined },
): Promise<string[]> {
  const expected = entry.manifest.archive;
  const hash = await verifyArchiveHash(entry.archive, expected);
  if (!hash.ok)
    return [
      `archive: expected ${expected.size} bytes SHA-256 ${expected.sha256.slice(0, 12)}…, ` +
        `found ${hash.actualSize} bytes ${hash.actualSha256.slice(0, 12)}…`,
    ];
  return opts.readData ? (await verifyArchiveData(entry.archive, entry.manifest, opts.key)).problems : [];
}
