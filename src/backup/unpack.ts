// Read a stored snapshot archive and hand its files, one at a time, to a restore.
//
//   file ─► [decrypt] ─► [gunzip] ─► tar Parser ─► onFile({ path, size, … }, content)
//
// The opening stages are verify.ts's (openArchive). Each regular file is checked against the
// manifest before it is handed out (listed, same size, safe path) and hashed while it streams;
// a SHA-256 mismatch is found when the entry ends, and its content stream errors instead of
// ending, so a consumer never sees a clean end of altered data. Links, devices, FIFOs, unsafe
// paths and unlisted files stop everything. The stored archive's own size and hash can only be
// known at the very end: the caller must treat what it received as untrusted until
// unpackSnapshot resolves.
//
// Backpressure runs from onFile back to the disk: no tar bytes are written to the parser while
// an entry waits to be handed out or the current entry's consumer is not reading, so memory stays
// at the streams' windows whatever the archive holds.

import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PrivateKey } from 'openpgp';
import { Parser, type ReadEntry } from 'tar';
import { FleetError } from '../errors.js';
import { errorText, isZeros, shown, unsafePath } from './archive.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { openArchive, tarSizeLimit } from './verify.js';

/** One file of a snapshot, as handed to onFile. Owner and mode are the tar header's. */
export interface SnapshotFile {
  path: string;
  size: number;
  mode?: number;
  uid?: number;
  gid?: number;
}

export type SnapshotFileHandler = (file: SnapshotFile, content: Readable) => Promise<void>;

export interface UnpackResult {
  /** Files handed to onFile, and the sum of their sizes. */
  files: number;
  bytes: number;
}

/**
 * Hand every regular file of a stored snapshot archive to `onFile`, in archive order, one at a
 * time: the next file is handed out once onFile's promise resolved and its content was read to
 * the end (content onFile leaves unread is read past, and still checked). Directories are
 * skipped. Throws FleetError 'failure' naming the entry or the archive on anything the manifest
 * does not vouch for, 'auth' when the archive is not encrypted to `key`, 'usage' when it is
 * encrypted and no key is given; an error thrown by onFile is thrown as is. It never returns
 * while an onFile call is still running, and the archive file is closed when it does.
 */
export async function unpackSnapshot(
  file: string,
  manifest: Manifest,
  key: PrivateKey | undefined,
  onFile: SnapshotFileHandler,
  opts: { signal?: AbortSignal } = {},
): Promise<UnpackResult> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const name = basename(file);
  const reader = await openArchive(file, manifest, key);
  const handout = new TarHandout(name, manifest, onFile);
  try {
    signal?.throwIfAborted();
    await (pipeline as (...args: unknown[]) => Promise<void>)(...reader.stages, handout, signal ? { signal } : {});
  } catch (err) {
    await reader.close();
    await handout.settled();
    if (handout.failure !== undefined) throw handout.failure;
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : err;
    throw new FleetError('failure', `archive ${name}: ${reader.explain(err)}`, { cause: err });
  }
  await reader.close();
  if (!reader.storedMatches())
    throw new FleetError('failure', `archive ${name}: size or SHA-256 differs from the manifest`);
  const missing = manifest.files.filter((f) => !handout.handed(f.path));
  if (missing.length > 0) {
    const listed = missing
      .slice(0, 5)
      .map((f) => shown(f.path))
      .join(', ');
    const more = missing.length > 5 ? ` and ${missing.length - 5} more` : '';
    throw new FleetError('failure', `archive ${name}: file ${listed}${more} listed in the manifest is missing`);
  }
  return { files: handout.files, bytes: handout.bytes };
}

const REGULAR_FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const COMPRESSED_MAGIC = [
  [0x1f, 0x8b], // gzip
  [0x28, 0xb5, 0x2f, 0xfd], // zstd
];

/**
 * The pipeline's last stage: feeds the tar Parser and hands the files out. A write completes only
 * when the parser can take more and no entry is waiting for its turn; the end waits for the last
 * onFile. Any refusal or onFile error destroys the stage, which tears the pipeline down.
 */
class TarHandout extends Writable {
  files = 0;
  bytes = 0;
  /** What stopped the unpack from here (a refusal or onFile's error); upstream errors are not kept. */
  failure: unknown;
  private readonly parser = new Parser({ strict: false, zstd: false });
  private readonly expected: Map<string, ManifestFile>;
  private readonly limit: number;
  private readonly handedOut = new Set<string>();
  /** Entries the Parser emitted, in archive order, not yet taken: each is checked only on its turn. */
  private readonly waiting: ReadEntry[] = [];
  private running: Promise<void> | undefined;
  private current: Readable | undefined;
  private tarBytes = 0;
  private parserFull = false;
  /** The first bytes, held until a compressed stream can be told from tar (the Parser would unpack it). */
  private head: Buffer | undefined = Buffer.alloc(0);
  private sawEnd = false;
  private readonly parserEnded: Promise<void>;
  /** The write or final waiting for room; re-checked on every change. */
  private waiter: (() => void) | undefined;
  /** Rejects once this stage is torn down: a handout waiting on its entry stops waiting. */
  private readonly stopped: Promise<never>;

  constructor(
    private readonly name: string,
    manifest: Manifest,
    private readonly onFile: SnapshotFileHandler,
  ) {
    super();
    this.expected = new Map(manifest.files.map((f) => [f.path, f]));
    this.limit = tarSizeLimit(manifest);
    this.parser.on('entry', (entry: ReadEntry) => this.onEntry(entry));
    this.parser.on('ignoredEntry', (entry: ReadEntry) => {
      const what = entry.meta
        ? `an oversized ${entry.type} header`
        : `an unsupported entry type (${String(entry.type)})`;
      this.refuse(`entry ${shown(entry.path)}: ${what}`);
    });
    this.parser.on('warn', (_code: string, message: string | Error) => this.refuse(`tar: ${errorText(message)}`));
    this.parser.on('error', (err: Error) => this.refuse(`tar: ${errorText(err)}`));
    this.parser.on('eof', () => {
      this.sawEnd = true;
    });
    this.parser.on('drain', () => {
      this.parserFull = false;
      this.waiter?.();
    });
    this.parserEnded = new Promise((resolve) => this.parser.on('end', () => resolve()));
    this.stopped = new Promise((_resolve, reject) => this.once('close', () => reject(new Error('unpack stopped'))));
    this.stopped.catch(() => undefined);
  }

  handed(path: string): boolean {
    return this.handedOut.has(path);
  }

  /** Resolves once no onFile call is running. */
  async settled(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.tarBytes += chunk.length;
    if (this.tarBytes > this.limit) {
      this.refuse(`the tar content exceeds the manifest's ${this.limit} bytes (files plus allowance): stopped reading`);
      return;
    }
    if (this.sawEnd) {
      // Past the end-of-archive marker the Parser would keep every byte; only tar's zero padding belongs here.
      if (isZeros(chunk)) callback();
      else this.refuse('tar: data after the end-of-archive marker');
      return;
    }
    if (this.head !== undefined) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 512) {
        callback();
        return;
      }
      chunk = this.head;
      this.head = undefined;
      if (!this.looksPlain(chunk)) return;
    }
    this.parserFull = !this.parser.write(chunk);
    this.whenRoom(() => !this.parserFull && this.waiting.length === 0, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.head !== undefined) {
      const rest = this.head;
      this.head = undefined;
      if (rest.length > 0 && !this.looksPlain(rest)) return;
      this.parser.write(rest);
    }
    this.parser.end();
    this.parserEnded.then(() => {
      if (this.destroyed) return;
      if (!this.sawEnd) {
        this.refuse('tar: the stream ended before the end-of-archive marker (truncated?)');
        return;
      }
      this.whenRoom(() => this.waiting.length === 0 && this.running === undefined, callback);
    }, callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // The consumer of the current file sees why it stops (not a clean end of a partial file).
    this.current?.destroy(err ?? new Error('unpack stopped'));
    this.waiter = undefined;
    callback(err);
  }

  private whenRoom(ready: () => boolean, callback: () => void): void {
    if (this.destroyed) return;
    if (ready()) {
      callback();
      return;
    }
    this.waiter = () => {
      if (this.destroyed || !ready()) return;
      this.waiter = undefined;
      callback();
    };
  }

  private looksPlain(start: Buffer): boolean {
    if (COMPRESSED_MAGIC.some((magic) => magic.every((byte, i) => start[i] === byte))) {
      this.refuse('tar: the stream is compressed, not a plain tar stream');
      return false;
    }
    return true;
  }

  private refuse(problem: string): void {
    this.fail(new FleetError('failure', `archive ${this.name}: ${problem}`));
  }

  /** The first failure wins; later ones (the same cause seen by the consumer) are dropped. */
  private fail(err: unknown): void {
    if (this.failure !== undefined || this.destroyed) return;
    this.failure = err;
    this.destroy(err instanceof Error ? err : new Error(errorText(err)));
  }

  private onEntry(entry: ReadEntry): void {
    if (this.destroyed) {
      entry.resume();
      return;
    }
    this.waiting.push(entry);
    this.next();
  }

  /** Take the next waiting entry once the previous onFile is done. */
  private next(): void {
    if (this.running !== undefined || this.destroyed) return;
    const entry = this.waiting.shift();
    if (entry === undefined) return;
    const taken = (file: ManifestFile | undefined): void => {
      this.running = undefined;
      if (file) {
        this.files++;
        this.bytes += file.size;
      }
      this.next();
      this.waiter?.();
    };
    const failed = (err: unknown): void => {
      this.running = undefined;
      this.fail(err);
    };
    // take() starts on the next microtask, after `running` is set: the entry it resumes may end at
    // once, and the Parser then emits the next entry, which must find this one running.
    this.running = Promise.resolve()
      .then(() => this.take(entry))
      .then(taken, failed);
    this.waiter?.();
  }

  /** Check an entry against the manifest and hand it out; directories are read past. Returns the file handed out. */
  private async take(entry: ReadEntry): Promise<ManifestFile | undefined> {
    if (this.destroyed) throw new Error('unpack stopped');
    const path = entry.path;
    const type = String(entry.type);
    const refused = (problem: string): never => {
      this.refuse(problem);
      throw this.failure ?? new Error(problem);
    };
    const pathProblem = unsafePath(path);
    if (pathProblem) refused(`entry ${shown(path)}: ${pathProblem}`);
    if (type === 'Directory') {
      entry.resume();
      return undefined;
    }
    if (!REGULAR_FILE_TYPES.has(type)) {
      const target = entry.linkpath ? ` to ${shown(entry.linkpath)}` : '';
      refused(`entry ${shown(path)}: a ${type}${target} (snapshots hold only regular files and directories)`);
    }
    const want = this.expected.get(path);
    if (!want) return refused(`entry ${shown(path)}: not listed in the manifest`);
    if (this.handedOut.has(path)) refused(`entry ${shown(path)}: duplicate entry`);
    if ((entry.size ?? 0) !== want.size) {
      refused(`file ${shown(path)}: size ${entry.size ?? 0} differs from the manifest's ${want.size}`);
    }
    await this.handOut(entry, want);
    return want;
  }

  private async handOut(entry: ReadEntry, want: ManifestFile): Promise<void> {
    const hash = createHash('sha256');
    let size = 0;
    const content = new Readable({
      read: () => {
        entry.resume();
      },
    });
    // Our own listener, so an error nobody reads (onFile returned without looking) is not fatal.
    content.on('error', () => undefined);
    // A consumer that gives up early (destroys content) does not stall the archive: the rest of
    // the entry is read past, and still checked.
    content.on('close', () => {
      if (!content.readableEnded) entry.resume();
    });
    const checked = new Promise<void>((resolve, reject) => {
      entry.on('end', () => {
        const problem =
          size !== want.size
            ? `file ${shown(want.path)}: ${size} bytes read, the manifest says ${want.size}`
            : hash.digest('hex') !== want.sha256.toLowerCase()
              ? `file ${shown(want.path)}: SHA-256 differs from the manifest`
              : undefined;
        if (problem === undefined) {
          content.push(null);
          return resolve();
        }
        this.refuse(problem);
        reject(this.failure);
      });
      // Attached last: it starts the entry flowing, and an empty entry ends right away.
      entry.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
        if (!content.destroyed && !content.push(chunk)) entry.pause();
      });
    });
    checked.catch(() => undefined); // awaited below; this only marks it handled if onFile throws first

    this.current = content;
    this.handedOut.add(want.path);
    try {
      const header = { mode: entry.mode, uid: entry.uid, gid: entry.gid };
      await this.onFile({ path: want.path, size: want.size, ...defined(header) }, content);
      if (!content.readableEnded && !content.destroyed) content.resume();
      await Promise.race([checked, this.stopped]);
      await endOrClose(content);
    } finally {
      if (this.current === content) this.current = undefined;
    }
  }
}

function defined<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function endOrClose(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}
