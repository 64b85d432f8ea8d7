// ipa-backup's tar turned into a snapshot's tar, as one stream, in one pass:
//
//   ipa-data.tar (gzip) ─► gunzip ─► tar entries ─┬─ <INST>-<backend>.ldif ─► ldif/<backend>.ldif (surveyed)
//                                                 ├─ <INST>/…              ─► bak/…
//                                                 └─ files.tar ─► gunzip ─► tar entries ─► the FULL paths
//                                      ─► one new tar ─► ingestArchive (hash, gzip, encrypt, store)
//
// Entries are handed on one at a time and each chunk is written only when the next stage can
// take it, so memory stays at the streams' windows whatever the backup holds: nothing is staged.
import { Readable, PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Header, Parser, Pax, type ReadEntry } from 'tar';
import { FleetError, UsageError } from '../errors.js';
import { errorText, isZeros, unsafePath } from './archive.js';
import {
  ipaBackupPart,
  keepsConfigFile,
  LdifSurveyor,
  type ConvertedLdif,
  type IpaBackupType,
} from './ipa-backup-archive.js';

export interface ConvertOptions {
  type: IpaBackupType;
  /** The inventory host's ldap.instance: the LDIFs and the db2bak folder must be its. */
  instance: string;
  /** FULL: the paths (below /, without the leading slash) the snapshot takes from files.tar. */
  configRoots: readonly string[];
  /** Names the archive in messages, e.g. `a.ipa.test:/var/lib/ipa/backup/ipa-full-…/ipa-full.tar`. */
  where: string;
}

export interface ConversionResult {
  ldifs: ConvertedLdif[];
  bakFiles: number;
  configFiles: number;
  /** FULL: configuration roots that had at least one file in files.tar. */
  configRootsSeen: string[];
  /** Files of files.tar outside the FULL paths (the database files, logs, …): not taken. */
  leftOut: number;
  /** Entries that are neither files nor folders (links, devices): not taken, named here. */
  skipped: string[];
  filesTar: boolean;
}

const REGULAR = new Set(['File', 'OldFile', 'ContiguousFile']);

/**
 * Reads ipa-backup's gzipped tar from `source` and writes the snapshot's tar to `tar`. `done`
 * settles when the last byte is written (or with the first refusal: UsageError for what the
 * backup holds that cannot be used, FleetError 'failure' for damaged data); `tar` then errors.
 */
export function convertIpaBackup(
  source: Readable,
  opts: ConvertOptions,
): { tar: Readable; done: Promise<ConversionResult> } {
  const writer = new TarWriter();
  const result: ConversionResult = {
    ldifs: [],
    bakFiles: 0,
    configFiles: 0,
    configRootsSeen: [],
    leftOut: 0,
    skipped: [],
    filesTar: false,
  };
  const reader = new TarEntryReader(opts.where, (entry) => outerEntry(entry, opts, writer, result));
  const done = (async () => {
    try {
      await pipeline(source, createGunzip(), reader);
      await writer.end();
      return result;
    } catch (err) {
      const failure = reader.failure ?? gzipProblem(err, opts.where);
      writer.stream.destroy(failure instanceof Error ? failure : new Error(errorText(failure)));
      throw failure;
    }
  })();
  return { tar: writer.stream, done };
}

async function outerEntry(
  entry: ReadEntry,
  opts: ConvertOptions,
  writer: TarWriter,
  result: ConversionResult,
): Promise<void> {
  const part = ipaBackupPart(entry.path, opts.type, opts.instance);
  if (part.kind === 'refused') throw new UsageError(`${opts.where}: ${part.problem}`);
  if (String(entry.type) === 'Directory' || part.kind === 'folder') return;
  if (!REGULAR.has(String(entry.type))) {
    result.skipped.push(`${entry.path} (${String(entry.type)})`);
    return;
  }
  if (part.kind === 'files') {
    result.filesTar = true;
    const files = new TarEntryReader(`${opts.where}: files.tar`, (inner) => filesEntry(inner, opts, writer, result));
    await pipeline(Readable.from(entry), createGunzip(), files).catch((err: unknown) => {
      throw files.failure ?? gzipProblem(err, `${opts.where}: files.tar`);
    });
    return;
  }
  const problem = unsafePath(part.target);
  if (problem) throw new UsageError(`${opts.where}: entry ${entry.path}: ${problem}`);
  if (part.kind === 'bak') {
    await writer.add(entry, part.target);
    result.bakFiles++;
    return;
  }
  const surveyor = new LdifSurveyor();
  await writer.add(entry, part.target, (chunk) => surveyor.write(chunk));
  result.ldifs.push({ backend: part.backend, target: part.target, survey: surveyor.end() });
}

async function filesEntry(
  entry: ReadEntry,
  opts: ConvertOptions,
  writer: TarWriter,
  result: ConversionResult,
): Promise<void> {
  const path = entry.path.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
  if (String(entry.type) === 'Directory') return;
  if (!keepsConfigFile(path, opts.configRoots)) {
    result.leftOut++;
    return;
  }
  if (!REGULAR.has(String(entry.type))) {
    result.skipped.push(`files.tar: ${path} (${String(entry.type)})`);
    return;
  }
  const problem = unsafePath(path);
  if (problem) throw new UsageError(`${opts.where}: files.tar: entry ${path}: ${problem}`);
  await writer.add(entry, path);
  result.configFiles++;
  const root = opts.configRoots.find((r) => path === r || path.startsWith(`${r}/`))!;
  if (!result.configRootsSeen.includes(root)) result.configRootsSeen.push(root);
}

/** zlib's errors say which archive is not gzip data; others pass unchanged. */
function gzipProblem(err: unknown, where: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_'))
    return new FleetError('failure', `${where}: damaged, or not gzip data as ipa-backup writes it (${errorText(err)})`);
  return err;
}

/**
 * Hands the entries of a plain tar stream to `onEntry` one at a time: the next is handed out once
 * the previous handler resolved and its entry was read to the end. A write completes only when the
 * parser can take more and no entry waits, so backpressure runs from the handler to the source.
 */
class TarEntryReader extends Writable {
  /** What stopped the reading from here (a refusal, a damaged tar, the handler's error). */
  failure: unknown;
  private readonly parser = new Parser({ strict: true, zstd: false });
  private readonly queue: ReadEntry[] = [];
  private busy = false;
  private parserFull = false;
  private sawEnd = false;
  private wake: (() => void) | undefined;
  private readonly parserEnded: Promise<void>;

  constructor(
    private readonly where: string,
    private readonly onEntry: (entry: ReadEntry) => Promise<void>,
  ) {
    super();
    this.parser.on('entry', (entry: ReadEntry) => {
      this.queue.push(entry);
      this.next();
    });
    const damaged = (err: unknown): void => this.fail(new FleetError('failure', `${where}: tar: ${errorText(err)}`));
    this.parser.on('warn', (_code: string, message: unknown) => damaged(message));
    this.parser.on('error', damaged);
    this.parser.on('eof', () => {
      this.sawEnd = true;
    });
    this.parser.on('drain', () => {
      this.parserFull = false;
      this.wake?.();
    });
    this.parserEnded = new Promise((resolve) => this.parser.on('end', () => resolve()));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.sawEnd) {
      // Past the end-of-archive marker only tar's zero padding belongs (the Parser would keep it all).
      if (isZeros(chunk)) callback();
      else this.fail(new FleetError('failure', `${this.where}: tar: data after the end-of-archive marker`));
      return;
    }
    this.parserFull = !this.parser.write(chunk);
    this.whenReady(() => !this.parserFull && this.queue.length === 0, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.parser.end();
    this.parserEnded.then(() => {
      if (!this.sawEnd) {
        this.fail(new FleetError('failure', `${this.where}: tar: the stream ended before its end (truncated?)`));
        return;
      }
      this.whenReady(() => !this.busy && this.queue.length === 0, callback);
    }, callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.wake = undefined;
    for (const entry of this.queue.splice(0)) entry.resume();
    callback(err);
  }

  private whenReady(ready: () => boolean, callback: () => void): void {
    if (this.destroyed) return;
    if (ready()) {
      callback();
      return;
    }
    this.wake = () => {
      if (this.destroyed || !ready()) return;
      this.wake = undefined;
      callback();
    };
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined || this.destroyed) return;
    this.failure = err;
    this.destroy(err instanceof Error ? err : new Error(errorText(err)));
  }

  private next(): void {
    if (this.busy || this.destroyed) return;
    const entry = this.queue.shift();
    if (entry === undefined) return;
    this.busy = true;
    // On the next microtask: the entry may end at once, and the Parser then emits the next one.
    Promise.resolve()
      .then(() => this.onEntry(entry))
      .then(() => readToEnd(entry))
      .then(
        () => {
          this.busy = false;
          this.next();
          this.wake?.();
        },
        (err: unknown) => this.fail(err),
      );
  }
}

/** Reads past whatever of an entry its handler left unread. */
async function readToEnd(entry: ReadEntry): Promise<void> {
  if (entry.emittedEnd) return;
  await new Promise<void>((resolve) => {
    entry.once('end', () => resolve());
    entry.resume();
  });
}

/** Writes a tar stream of regular files to `stream`, waiting for its reader at every write. */
class TarWriter {
  readonly stream = new PassThrough();

  /** One file: the entry's size, mode, owner and time, its data from `entry`, each chunk shown to `see`. */
  async add(entry: ReadEntry, path: string, see?: (chunk: Buffer) => void): Promise<void> {
    const size = entry.size ?? 0;
    const fields = {
      path,
      type: 'File' as const,
      size,
      mode: (entry.mode ?? 0o600) & 0o7777,
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      mtime: entry.mtime ?? new Date(0),
      ...(entry.uname ? { uname: entry.uname } : {}),
      ...(entry.gname ? { gname: entry.gname } : {}),
    };
    const header = new Header(fields);
    const block = Buffer.alloc(512);
    // A path longer than ustar holds goes in a pax header before it, as GNU tar --format=pax writes it.
    if (header.encode(block, 0)) await this.put(new Pax(fields).encode());
    await this.put(block);
    let written = 0;
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      written += chunk.length;
      see?.(chunk);
      await this.put(chunk);
    }
    if (written !== size)
      throw new FleetError('failure', `${path}: ${written} bytes read, its tar header says ${size}`);
    if (size % 512 !== 0) await this.put(Buffer.alloc(512 - (size % 512)));
  }

  /** The end-of-archive marker, then the end of the stream. */
  async end(): Promise<void> {
    await this.put(Buffer.alloc(1024));
    this.stream.end();
  }

  private async put(chunk: Buffer): Promise<void> {
    if (this.stream.destroyed) throw new Error('the store stopped reading the archive');
    if (this.stream.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const drained = (): void => {
        this.stream.off('close', closed);
        resolve();
      };
      const closed = (): void => {
        this.stream.off('drain', drained);
        reject(new Error('the store stopped reading the archive'));
      };
      this.stream.once('drain', drained);
      this.stream.once('close', closed);
    });
  }
}
