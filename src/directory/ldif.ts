// LDIF exports of 389-DS, as streams.
//
// stripRuvTombstone: an LDIF exported with the replication data (db2ldif -r, an export task with
// nsExportReplica) holds the suffix's RUV tombstone. Imported as is, the restored server would keep
// the old replica generation and its RUV; ipa-restore removes that entry before importing so the
// server starts a new generation, and so do we. Every other byte passes unchanged: the filter
// works on lines, holds only the lines of a record until its DN is known (the comments before it
// and the dn line, folded or not), then streams the rest of the record through or drops it.

import { Transform, type TransformCallback } from 'node:stream';

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const HASH = 0x23;
const COLON = 0x3a;
const LESS_THAN = 0x3c;

/** The first RDN of every RUV tombstone (normalized: lower case, no spaces around `=`). */
const RUV_TOMBSTONE_RDN = 'nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff';

type Mode =
  | 'between' // outside any record: blank lines pass
  | 'record' // a record whose DN is not complete yet: its lines are held
  | 'pass' // inside a record that stays: bytes pass up to its blank line
  | 'drop' // inside the RUV tombstone: bytes are dropped up to its blank line
  | 'dropped'; // the blank lines after the RUV tombstone: dropped with it

/**
 * A byte stream of LDIF in, the same LDIF out without the RUV tombstone entry (the entry whose
 * DN's first RDN is nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff), with the blank lines that
 * followed it. A comment directly above the entry goes with it; a leading `version: 1` stays.
 * Memory: the held lines of one record, at most the largest entry.
 */
export class RuvTombstoneFilter extends Transform {
  private mode: Mode = 'between';
  /** The incomplete last line while lines are assembled (every mode but pass and drop). */
  private partial: Buffer[] = [];
  /** The current record's lines, held until its DN is known. */
  private held: Buffer[] = [];
  /** The dn line's value (after `dn:`), one part per physical line, from the dn line on. */
  private dn: Buffer[] | undefined;
  /** `version:` is the version-spec only before the first record. */
  private seenRecord = false;
  /** The current line's length so far and first byte, while streaming (pass, drop): for the blank line. */
  private lineLength = 0;
  private lineFirst = 0;
  /** What this chunk lets through, pushed as one buffer. */
  private out: Buffer[] = [];
  private count = 0;

  /** RUV tombstone entries removed so far. */
  removed(): number {
    return this.count;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let at = 0; at < chunk.length; ) {
      at = this.mode === 'pass' || this.mode === 'drop' ? this.stream(chunk, at) : this.assemble(chunk, at);
    }
    this.emitOut();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.partial.length > 0) {
      // The last line, without a line break.
      const line = Buffer.concat(this.partial);
      this.partial = [];
      this.line(line);
    }
    if (this.mode === 'record') this.settle();
    this.emitOut();
    callback();
  }

  /** Pass or drop bytes up to and including the record's blank line; returns where it stopped. */
  private stream(chunk: Buffer, from: number): number {
    let at = from;
    let blank = false;
    while (at < chunk.length && !blank) {
      const lf = chunk.indexOf(LF, at);
      if (lf === -1) {
        if (this.lineLength === 0) this.lineFirst = chunk[at]!;
        this.lineLength += chunk.length - at;
        at = chunk.length;
        break;
      }
      const length = this.lineLength + (lf - at);
      const first = this.lineLength > 0 ? this.lineFirst : chunk[at];
      blank = length === 0 || (length === 1 && first === CR);
      this.lineLength = 0;
      at = lf + 1;
    }
    if (this.mode === 'pass') this.out.push(chunk.subarray(from, at));
    if (blank) this.mode = this.mode === 'pass' ? 'between' : 'dropped';
    return at;
  }

  /** Collect one whole line (it may span chunks) and act on it; returns where it stopped. */
  private assemble(chunk: Buffer, from: number): number {
    const lf = chunk.indexOf(LF, from);
    if (lf === -1) {
      this.partial.push(chunk.subarray(from));
      return chunk.length;
    }
    const piece = chunk.subarray(from, lf + 1);
    const line = this.partial.length === 0 ? piece : Buffer.concat([...this.partial, piece]);
    this.partial = [];
    this.line(line);
    return lf + 1;
  }

  private line(line: Buffer): void {
    const content = withoutLineBreak(line);
    const blank = content.length === 0;
    if (this.mode === 'between' && blank) return void this.out.push(line);
    if (this.mode === 'dropped' && blank) return;
    if (this.mode !== 'record') this.mode = 'record';

    if (blank) {
      // The record ends before anything after its dn line.
      const dropped = this.settle();
      if (!dropped) this.out.push(line);
      this.mode = dropped ? 'dropped' : 'between';
      return;
    }
    if (content[0] === SPACE) {
      // A continuation of the line before.
      this.held.push(line);
      this.dn?.push(content.subarray(1));
      return;
    }
    if (this.dn !== undefined) {
      // The dn line is complete: the record is known.
      const dropped = this.settle();
      if (!dropped) this.out.push(line);
      this.mode = dropped ? 'drop' : 'pass';
      return;
    }
    if (content[0] === HASH) {
      this.held.push(line);
      return;
    }
    if (startsWithName(content, 'dn:')) {
      this.held.push(line);
      this.dn = [content.subarray(3)];
      return;
    }
    if (!this.seenRecord && startsWithName(content, 'version:')) {
      // The version-spec stays; the first record may follow without a blank line.
      this.release();
      this.out.push(line);
      return;
    }
    // A record that does not start with a dn line is not the RUV tombstone.
    this.seenRecord = true;
    this.release();
    this.out.push(line);
    this.mode = 'pass';
  }

  /** The record's DN is known (or it has none): drop or release its held lines. True when dropped. */
  private settle(): boolean {
    this.seenRecord = true;
    const ruv = this.dn !== undefined && isRuvTombstoneDn(this.dn);
    if (ruv) {
      this.count++;
      this.held = [];
    } else {
      this.release();
    }
    this.dn = undefined;
    return ruv;
  }

  private release(): void {
    for (const line of this.held) this.out.push(line);
    this.held = [];
  }

  private emitOut(): void {
    if (this.out.length === 0) return;
    this.push(this.out.length === 1 ? this.out[0] : Buffer.concat(this.out));
    this.out = [];
  }
}

export function stripRuvTombstone(): RuvTombstoneFilter {
  return new RuvTombstoneFilter();
}

/** The value of a dn line (parts after `dn:`, unfolded): is its first RDN the RUV tombstone's? */
export function isRuvTombstoneDn(parts: Buffer[]): boolean {
  const value = Buffer.concat(parts);
  let dn: string;
  if (value[0] === COLON) {
    dn = Buffer.from(value.subarray(1).toString('latin1').trim(), 'base64').toString('utf8');
  } else if (value[0] === LESS_THAN) {
    return false; // dn:< URL: never written by 389-DS
  } else {
    dn = value.toString('utf8').replace(/^ +/, '');
  }
  return (
    firstRdn(dn)
      .replace(/\s*=\s*/, '=')
      .trim()
      .toLowerCase() === RUV_TOMBSTONE_RDN
  );
}

/** The DN up to its first unescaped comma (RFC 4514). */
function firstRdn(dn: string): string {
  for (let i = 0; i < dn.length; i++) {
    if (dn[i] === '\\') i++;
    else if (dn[i] === ',') return dn.slice(0, i);
  }
  return dn;
}

function withoutLineBreak(line: Buffer): Buffer {
  let end = line.length;
  if (end > 0 && line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === CR) end--;
  return line.subarray(0, end);
}

/** `name` is lower case ASCII with its colon; attribute names in LDIF are case-insensitive. */
function startsWithName(content: Buffer, name: string): boolean {
  if (content.length < name.length) return false;
  for (let i = 0; i < name.length; i++) {
    const byte = content[i]!;
    const lower = byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
    if (lower !== name.charCodeAt(i)) return false;
  }
  return true;
}
