// Ingest one host's tar stream (e.g. the stdout of `tar --create` over SSH) into the store, in ONE
// pass with bounded memory:
//
//   source ─► tee ─┬─► tar inspector (per-file size + SHA-256; refuses links, devices, escapes)
//                  └─► [gzip] ─► [OpenPGP encrypt] ─► SHA-256 + size ─► <dest>.partial-<random>
//
// then fsync, rename to <dest>, fsync the folder. Every stage is a stream in one `pipeline`, so
// backpressure runs from the disk back to the SSH channel, and an error or abort anywhere tears
// the whole chain down (the source included: its channel is closed) and removes the partial file.
// No <dest> exists unless the whole archive was written, synced and renamed.
//
// The inspector is shared with verify.ts, which treats an archive's content as hostile data: it
// never extracts, it only reads headers and hashes bodies.

import { createHash, randomBytes } from 'node:crypto';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Duplex, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { constants as zlibConstants, gzip } from 'node:zlib';
import * as openpgp from 'openpgp';
import type { PublicKey } from 'openpgp';
import { Parser, type ReadEntry } from 'tar';
import { syncFolder } from '../atomic-file.js';
import { FleetError } from '../errors.js';
import type { ManifestFile } from './manifest.js';

export interface IngestOptions {
  /** Final path of the archive. It must not exist yet; it appears only when complete and synced. */
  dest: string;
  /** Public keys to encrypt to; undefined = --no-encrypt (the archive is the plain [gzipped] tar). */
  recipients: PublicKey[] | undefined;
  /** gzip the tar before encrypting. */
  compress: boolean;
  /** Called with the count of tar bytes received so far, once per chunk. */
  onProgress?: (bytesIn: number) => void;
  signal?: AbortSignal;
  /** Largest regular file accepted in the stream, in bytes (checked from the header, before its data). */
  maxFileSize?: number;
}

export interface IngestResult {
  /** Size and SHA-256 of the stored archive (the ciphertext when encrypted). */
  size: number;
  sha256: string;
  /** Every regular file in the tar, in stream order. */
  files: ManifestFile[];
  /** Bytes of the tar stream as received (before compression and encryption). */
  plainBytes: number;
}

/**
 * gzip level. LDIF compresses to a fraction at level 1 already; higher levels cost several times
 * the CPU for a few percent, and this stage sits in the SSH → disk path (see the ingest bench).
 */
const GZIP_LEVEL = zlibConstants.Z_BEST_SPEED;

const gzipBlock = promisify(gzip) as (data: Buffer, options: { level: number }) => Promise<Buffer>;

/** Plaintext per gzip member. deflate's window is 32 KiB, so members this size cost no ratio. */
const GZIP_BLOCK = 1 << 20;

/** gzip members compressed at once (libuv's pool has 4 threads; file writes need one too). */
const GZIP_IN_FLIGHT = 3;

/** Write-side buffer of the partial file's stream: what may be queued between encryption and disk. */
const WRITE_HIGH_WATER_MARK = 1 << 20;

/** Chunks (of the source's size, 32–64 KiB for SSH or a pipe) queued in front of openpgp. */
const ENCRYPT_QUEUE_CHUNKS = 16;

export async function ingestArchive(source: Readable, opts: IngestOptions): Promise<IngestResult> {
  const { dest } = opts;
  const partial = `${dest}.partial-${randomBytes(6).toString('hex')}`;
  let handle: FileHandle | undefined;
  let sink: ReturnType<typeof hashingFileSink> | undefined;
  let renamed = false;
  try {
    opts.signal?.throwIfAborted();
    if (opts.recipients !== undefined && opts.recipients.length === 0) {
      throw new FleetError('usage', 'ingest: an empty recipient list (use undefined for --no-encrypt)');
    }
    if (await exists(dest)) throw new FleetError('failure', `store: ${dest} already exists`);

    const inspector = new TarInspector({ maxFileSize: opts.maxFileSize });
    const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream> = [
      source,
      inspectingTee(inspector, opts.onProgress),
    ];
    if (opts.compress) stages.push(parallelGzip());
    if (opts.recipients !== undefined) stages.push(await encryptingStage(opts.recipients));

    handle = await open(partial, 'wx', 0o600);
    sink = hashingFileSink(handle);
    stages.push(sink.stream);
    await (pipeline as (...args: unknown[]) => Promise<void>)(...stages, opts.signal ? { signal: opts.signal } : {});

    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(partial, dest);
    renamed = true;
    await syncFolder(dirname(dest));
    return { size: sink.size(), sha256: sink.sha256(), files: inspector.files, plainBytes: inspector.bytes };
  } catch (err) {
    if (!source.destroyed) source.destroy();
    await handle?.close().catch(() => undefined);
    await unlink(partial).catch(() => undefined);
    if (renamed) await unlink(dest).catch(() => undefined);
    // A full disk is the cause even when a stage upstream (the tar parser of a stream cut short)
    // reported first.
    throw ingestError(sink?.failure() ?? err, dest, opts.signal);
  }
}

/** The error ingest reports: disk full is named as such; an abort reports the signal's reason. */
function ingestError(err: unknown, dest: string, signal: AbortSignal | undefined): unknown {
  if (hasCode(err, 'ENOSPC') || hasCode(err, 'EDQUOT')) {
    return new FleetError('failure', `store: no space left writing ${dest}`, { cause: err });
  }
  if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : err;
  return err;
}

/** Pass every chunk on unchanged after the inspector has seen it; refuse the stream on its first issue. */
function inspectingTee(inspector: TarInspector, onProgress: ((bytes: number) => void) | undefined): Transform {
  const refuse = (): FleetError | null =>
    inspector.hasIssues ? new FleetError('failure', `archive stream: ${inspector.issues[0]!}`) : null;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      inspector.write(chunk);
      const issue = refuse();
      if (issue) return callback(issue);
      try {
        onProgress?.(inspector.bytes);
      } catch (err) {
        return callback(err as Error);
      }
      callback(null, chunk);
    },
    flush(callback) {
      inspector.end().then(() => callback(refuse()), callback);
    },
  });
}

/**
 * gzip in independent 1 MiB members, compressed on libuv's thread pool several at a time and
 * emitted in order. deflate is the slowest stage of the pipeline (~60 MB/s on one core for LDIF),
 * and a stream of concatenated gzip members is plain gzip to every reader (RFC 1952 §2.2: gzip,
 * tar -z, zlib's gunzip, Node's createGunzip). Memory stays bounded: at most GZIP_IN_FLIGHT blocks
 * are being compressed, and the transform waits for the oldest before taking more input.
 */
function parallelGzip(level: number = GZIP_LEVEL): Transform {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const jobs: Array<Promise<Buffer>> = [];
  const dispatch = (): void => {
    const block = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const job = gzipBlock(block, { level });
    job.catch(() => undefined); // handled when awaited in order; this only marks it as handled
    jobs.push(job);
  };
  const emitReady = async (all: boolean, stream: Transform): Promise<void> => {
    while (jobs.length > 0 && (all || jobs.length >= GZIP_IN_FLIGHT)) stream.push(await jobs.shift()!);
  };
  const stream: Transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes < GZIP_BLOCK) return callback();
      dispatch();
      emitReady(false, stream).then(() => callback(), callback);
    },
    flush(callback) {
      if (pendingBytes > 0) dispatch();
      emitReady(true, stream).then(() => callback(), callback);
    },
  });
  return stream;
}

/** A Duplex: plaintext in, OpenPGP binary message out (no OpenPGP compression: gzip is ours). */
async function encryptingStage(keys: PublicKey[]): Promise<Duplex> {
  // A few chunks of slack between the tee and openpgp let both sides work without waiting on
  // each other's promise turns (~15% faster in the bench); still a small, fixed bound.
  const plain = new TransformStream<Uint8Array, Uint8Array>(
    {},
    { highWaterMark: ENCRYPT_QUEUE_CHUNKS },
    { highWaterMark: 0 },
  );
  let encrypted: ReadableStream<Uint8Array>;
  try {
    const message = await openpgp.createMessage({ binary: plain.readable, format: 'binary' });
    encrypted = (await openpgp.encrypt({
      message,
      encryptionKeys: keys,
      format: 'binary',
      config: { preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed },
    })) as ReadableStream<Uint8Array>;
  } catch (err) {
    throw new FleetError('usage', `cannot encrypt: ${errorText(err)}`, { cause: err });
  }
  return Duplex.fromWeb({ writable: plain.writable, readable: encrypted } as never);
}

/** Writes to an open file, hashing and counting what it writes; short writes are continued. */
function hashingFileSink(handle: FileHandle): {
  stream: Writable;
  size: () => number;
  sha256: () => string;
  failure: () => unknown;
} {
  const hash = createHash('sha256');
  let size = 0;
  let failed: unknown;
  const writeAll = async (chunk: Buffer): Promise<void> => {
    for (let offset = 0; offset < chunk.length; ) {
      const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
      if (bytesWritten <= 0) throw Object.assign(new Error('write returned no progress'), { code: 'ENOSPC' });
      offset += bytesWritten;
    }
  };
  // writev: while one write is in flight, the chunks queued behind it go down in the next call.
  const stream = new Writable({
    highWaterMark: WRITE_HIGH_WATER_MARK,
    writev(chunks: Array<{ chunk: Buffer }>, callback) {
      for (const { chunk } of chunks) {
        hash.update(chunk);
        size += chunk.length;
      }
      const joined = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
      writeAll(joined).then(
        () => callback(),
        (err: Error) => {
          failed = err;
          callback(err);
        },
      );
    },
  });
  let digest: string | undefined;
  return { stream, size: () => size, sha256: () => (digest ??= hash.digest('hex')), failure: () => failed };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The tar inspector

export interface TarInspectorOptions {
  maxFileSize?: number | undefined;
}

const REGULAR_FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const MAX_ISSUES = 200;

/**
 * Reads a plain tar stream chunk by chunk, synchronously, and records each regular file's path,
 * size and SHA-256. It never writes anything anywhere. Whatever a snapshot must not hold is an
 * issue (one line each, naming the entry): links, devices, FIFOs, unknown entry types, absolute
 * paths, `..` components, duplicate paths, a damaged header, a truncated stream, a compressed
 * stream where plain tar was expected (the `tar` Parser would otherwise unpack it on its own,
 * outside our size limits). Ingest refuses the stream on the first issue; verify lists them all.
 */
export class TarInspector {
  readonly files: ManifestFile[] = [];
  /** Tar bytes seen so far. */
  bytes = 0;
  private readonly parser: Parser;
  private readonly maxFileSize: number | undefined;
  private readonly seen = new Set<string>();
  private readonly issueCounts = new Map<string, number>();
  private issuesDropped = 0;
  /** The first bytes, held until there are enough to tell a tar header from a compressed stream. */
  private head: Buffer | undefined = Buffer.alloc(0);
  private stopped = false;
  private sawEnd = false;
  private trailingReported = false;
  private done = false;
  private readonly finished: Promise<void>;

  constructor(opts: TarInspectorOptions = {}) {
    this.maxFileSize = opts.maxFileSize;
    // zstd: false stops the Parser from sniffing zstd; gzip sniffing cannot be turned off, hence
    // the check of the first bytes in write(). brotli is only tried for *.tbr file names.
    this.parser = new Parser({ strict: false, zstd: false });
    this.parser.on('entry', (entry: ReadEntry) => this.onEntry(entry));
    this.parser.on('ignoredEntry', (entry: ReadEntry) => {
      const what = entry.meta
        ? `an oversized ${entry.type} header`
        : `an unsupported entry type (${String(entry.type)})`;
      this.issue(`entry ${shown(entry.path)}: ${what}`);
    });
    this.parser.on('warn', (_code: string, message: string | Error) => this.issue(`tar: ${errorText(message)}`));
    this.parser.on('eof', () => {
      this.sawEnd = true;
    });
    this.finished = new Promise<void>((resolve) => {
      this.parser.on('error', (err: Error) => {
        this.issue(`tar: ${errorText(err)}`);
        this.stopped = true;
        resolve();
      });
      this.parser.on('end', () => resolve());
    });
  }

  write(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.stopped) return;
    if (this.sawEnd) {
      // Past the end-of-archive marker the Parser would keep every byte in one growing buffer
      // (tar 7.5: re-concatenated on each write, so memory and time grow without bound). Only
      // tar's record padding belongs here: zeros, checked and dropped.
      if (!this.trailingReported && !isZeros(chunk)) {
        this.trailingReported = true;
        this.issue('tar: data after the end-of-archive marker');
      }
      return;
    }
    if (this.head !== undefined) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 512) return;
      chunk = this.head;
      this.head = undefined;
      if (!this.looksPlain(chunk)) return;
    }
    this.parser.write(chunk);
  }

  /** Resolves once the parser has seen the end of the stream (or gave up). Never rejects. */
  async end(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.head !== undefined) {
      const rest = this.head;
      this.head = undefined;
      if (rest.length > 0 && this.looksPlain(rest)) this.parser.write(rest);
    }
    if (this.stopped) return;
    this.parser.end();
    await this.finished;
    if (!this.stopped && !this.sawEnd) {
      this.issue(
        this.bytes === 0 ? 'tar: empty stream' : 'tar: the stream ended before the end-of-archive marker (truncated?)',
      );
    }
  }

  private looksPlain(start: Buffer): boolean {
    const starts = (magic: number[]): boolean => magic.every((byte, i) => start[i] === byte);
    if (starts(GZIP_MAGIC) || starts(ZSTD_MAGIC)) {
      this.issue('tar: the stream is compressed, not a plain tar stream');
      this.stopped = true;
      return false;
    }
    return true;
  }

  /** One line per issue; a repeated issue (a damaged stream fails every following block) once, with a count. */
  get issues(): string[] {
    const lines = [...this.issueCounts].map(([text, count]) => (count > 1 ? `${text} (${count} times)` : text));
    if (this.issuesDropped > 0) lines.push(`… ${this.issuesDropped} further issue(s) not listed`);
    return lines;
  }

  get hasIssues(): boolean {
    return this.issueCounts.size > 0;
  }

  private issue(text: string): void {
    const count = this.issueCounts.get(text);
    if (count !== undefined) this.issueCounts.set(text, count + 1);
    // A hostile archive cannot flood memory with issues.
    else if (this.issueCounts.size < MAX_ISSUES) this.issueCounts.set(text, 1);
    else this.issuesDropped++;
  }

  private onEntry(entry: ReadEntry): void {
    const path = entry.path;
    const type = String(entry.type);
    const pathProblem = unsafePath(path);
    if (pathProblem) this.issue(`entry ${shown(path)}: ${pathProblem}`);

    if (type === 'Directory') {
      entry.resume();
      return;
    }
    if (!REGULAR_FILE_TYPES.has(type)) {
      this.issue(
        `entry ${shown(path)}: ${describeType(type, entry.linkpath)} ` +
          '(snapshots hold only regular files and directories)',
      );
      entry.resume();
      return;
    }
    if (this.seen.has(path)) this.issue(`entry ${shown(path)}: duplicate entry`);
    this.seen.add(path);
    const declared = entry.size ?? 0;
    if (this.maxFileSize !== undefined && declared > this.maxFileSize) {
      this.issue(`entry ${shown(path)}: ${declared} bytes, over the limit of ${this.maxFileSize}`);
    }
    const hash = createHash('sha256');
    let size = 0;
    entry.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    entry.on('end', () => {
      if (!pathProblem) this.files.push({ path, size, sha256: hash.digest('hex') });
    });
  }
}

const ZEROS = Buffer.alloc(64 * 1024);

/** Whether a chunk is all zero bytes (tar's end-of-archive padding). */
export function isZeros(chunk: Buffer): boolean {
  for (let at = 0; at < chunk.length; at += ZEROS.length) {
    const part = chunk.subarray(at, at + ZEROS.length);
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

/** Why a path inside an archive is unsafe to restore, or undefined. */
export function unsafePath(path: string): string | undefined {
  if (path === '') return 'empty path';
  if (path.includes('\0')) return 'NUL in the path';
  if (path.startsWith('/')) return 'absolute path';
  if (/^[A-Za-z]:/.test(path) || path.includes('\\')) return 'Windows-style path';
  if (path.split('/').includes('..')) return 'path with a .. component';
  return undefined;
}

function describeType(type: string, linkpath: string | undefined): string {
  switch (type) {
    case 'SymbolicLink':
      return `a symbolic link to ${shown(linkpath ?? '')}`;
    case 'Link':
      return `a hard link to ${shown(linkpath ?? '')}`;
    case 'CharacterDevice':
      return 'a character device';
    case 'BlockDevice':
      return 'a block device';
    case 'FIFO':
      return 'a FIFO';
    default:
      return `an entry of type ${type}`;
  }
}

/** A path from an archive as it may be printed: control characters escaped, length capped. */
export function shown(path: string): string {
  // eslint-disable-next-line no-control-regex
  const safe = path.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length > 300 ? `${safe.slice(0, 300)}…` : safe;
}

export function hasCode(err: unknown, code: string): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
