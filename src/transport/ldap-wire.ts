// A paged subtree search spoken directly over a byte stream, for the bulk reads of a content
// comparison. ldapts encodes the requests; the responses are decoded here, straight from the bytes
// into each entry's DN and attribute values: ldapts builds a message object, an Attribute per
// attribute and a result object per entry, which was half of a digest worker's CPU (bench:compare).
// Only what a search and a simple bind answer is understood: anything else is an error.

import type { Duplex } from 'node:stream';
import { BindRequest, FilterParser, PagedResultsControl, SearchRequest, UnbindRequest } from 'ldapts';

/** An entry as the server sent it: its DN, then each attribute description with its values. */
export interface WireEntry {
  dn: string;
  attributes: Array<[description: string, values: Buffer[]]>;
}

/** An LDAP result other than success, or a stream that broke off; `code` is the LDAP result code. */
class WireError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

export interface WireSearch {
  base: string;
  filter: string;
  attributes: string[];
  pageSize: number;
  /** Which attributes' values are wanted at all; the others are skipped unread. */
  keep: (description: string) => boolean;
}

const PAGED_RESULTS = '1.2.840.113556.1.4.319';
const TAG = { bindResponse: 0x61, entry: 0x64, done: 0x65, reference: 0x73, controls: 0xa0 } as const;

/** One LDAP conversation on a stream: one request at a time, its answers read as they arrive. */
export class WireClient {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private ended = false;
  private nextId = 1;

  constructor(
    private readonly stream: Duplex,
    private readonly timeoutMs: number,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  async bind(dn: string, password: string): Promise<void> {
    const id = this.send(new BindRequest({ messageId: this.nextId, dn, password }).write());
    const m = await this.message(id);
    if (m.tag !== TAG.bindResponse) throw new WireError(`bind: unexpected answer 0x${m.tag.toString(16)}`);
    const result = readResult(m.body, m.opStart, m.opEnd);
    if (result.code !== 0) throw new WireError(`bind: ${result.text}`, result.code);
  }

  /**
   * Each page of the subtree's entries (RFC 2696), until the server's cookie is empty. The next page
   * is asked for before this one is handed out, so the server reads it while the caller digests.
   */
  async *pages(search: WireSearch): AsyncGenerator<WireEntry[]> {
    const filter = FilterParser.parseString(search.filter);
    const ask = (cookie: Buffer): number =>
      this.send(
        new SearchRequest({
          messageId: this.nextId,
          baseDN: search.base,
          scope: 'sub',
          filter,
          attributes: search.attributes,
          controls: [new PagedResultsControl({ value: { size: search.pageSize, cookie } })],
        }).write(),
      );
    let id: number | undefined = ask(Buffer.alloc(0));
    while (id !== undefined) {
      const page: WireEntry[] = [];
      for (;;) {
        const m = await this.message(id);
        if (m.tag === TAG.entry) page.push(readEntry(m.body, m.opStart, search.keep));
        else if (m.tag === TAG.done) {
          const result = readResult(m.body, m.opStart, m.opEnd);
          if (result.code !== 0) throw new WireError(`search ${search.base}: ${result.text}`, result.code);
          const cookie = pagedCookie(m.body, m.opEnd, m.end);
          id = cookie.length > 0 ? ask(cookie) : undefined;
          break;
        } else if (m.tag !== TAG.reference) throw new WireError(`search: unexpected answer 0x${m.tag.toString(16)}`);
      }
      yield page;
    }
  }

  /** Tells the server the conversation is over (no answer comes). */
  unbind(): void {
    if (!this.ended) this.send(new UnbindRequest({ messageId: this.nextId }).write());
  }

  private send(bytes: Buffer): number {
    this.stream.write(bytes);
    return this.nextId++;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  /** The next whole message, which must answer request `id`. */
  private async message(id: number): Promise<Message> {
    for (;;) {
      const m = frame(this.buffered);
      if (m) {
        this.buffered = this.buffered.subarray(m.end);
        if (m.id !== id) throw new WireError(`answer to message ${m.id} while waiting for ${id}`);
        return m;
      }
      if (this.ended) throw new WireError('connection closed by the server');
      await this.arrival();
    }
  }

  private arrival(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new WireError(`no answer within ${Math.round(this.timeoutMs / 1000)} s: timed out`));
      }, this.timeoutMs);
      this.waiting = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

interface Message {
  id: number;
  tag: number;
  /** The buffer holding it; the protocol operation's content is [opStart, opEnd); the message ends at end. */
  body: Buffer;
  opStart: number;
  opEnd: number;
  end: number;
}

/** A TLV's header at `at`: where its content starts and ends, or undefined when not all of it is here. */
function header(b: Buffer, at: number): { start: number; end: number } | undefined {
  if (at + 2 > b.length) return undefined;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new WireError(`unsupported BER length of ${n} bytes`);
    if (start + n > b.length) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  return { start, end: start + len };
}

/** The whole LDAPMessage at the start of `b`, or undefined until all of it has arrived. */
function frame(b: Buffer): Message | undefined {
  const outer = header(b, 0);
  if (!outer || outer.end > b.length) return undefined;
  if (b[0] !== 0x30) throw new WireError(`not an LDAP message (tag 0x${b[0]!.toString(16)})`);
  const idTlv = header(b, outer.start)!;
  const id = readInt(b, idTlv.start, idTlv.end);
  const op = header(b, idTlv.end)!;
  return { id, tag: b[idTlv.end]!, body: b, opStart: op.start, opEnd: op.end, end: outer.end };
}

function readInt(b: Buffer, start: number, end: number): number {
  let n = b[start]! & 0x80 ? -1 : 0;
  for (let i = start; i < end; i++) n = n * 256 + b[i]!;
  return n;
}

/** SearchResultEntry: objectName, then a SEQUENCE of { type, SET OF value }. */
function readEntry(b: Buffer, start: number, keep: (description: string) => boolean): WireEntry {
  const name = header(b, start)!;
  const dn = b.toString('utf8', name.start, name.end);
  const list = header(b, name.end)!;
  const attributes: WireEntry['attributes'] = [];
  for (let at = list.start; at < list.end; ) {
    const attr = header(b, at)!;
    const type = header(b, attr.start)!;
    const description = b.toString('latin1', type.start, type.end);
    if (keep(description)) {
      const set = header(b, type.end)!;
      const values: Buffer[] = [];
      for (let v = set.start; v < set.end; ) {
        const value = header(b, v)!;
        values.push(b.subarray(value.start, value.end));
        v = value.end;
      }
      attributes.push([description, values]);
    }
    at = attr.end;
  }
  return { dn, attributes };
}

/** An LDAPResult: resultCode, matchedDN, diagnosticMessage (a referral after them is not read). */
function readResult(b: Buffer, start: number, end: number): { code: number; text: string } {
  const code = header(b, start)!;
  const matched = header(b, code.end)!;
  const diagnostic = matched.end < end ? header(b, matched.end) : undefined;
  const value = readInt(b, code.start, code.end);
  const text = diagnostic ? b.toString('utf8', diagnostic.start, diagnostic.end) : '';
  return { code: value, text: text ? `${text} (${value})` : `result code ${value}` };
}

/** The paged-results cookie among the message's controls after the operation; empty when there is none. */
function pagedCookie(b: Buffer, from: number, end: number): Buffer {
  if (from >= end || b[from] !== TAG.controls) return Buffer.alloc(0);
  const controls = header(b, from)!;
  for (let at = controls.start; at < controls.end; ) {
    const control = header(b, at)!;
    const type = header(b, control.start)!;
    if (b.toString('latin1', type.start, type.end) === PAGED_RESULTS) {
      let next = type.end;
      if (b[next] === 0x01) next = header(b, next)!.end; // criticality
      const value = header(b, next)!;
      const seq = header(b, value.start)!;
      const size = header(b, seq.start)!;
      const cookie = header(b, size.end)!;
      return Buffer.from(b.subarray(cookie.start, cookie.end));
    }
    at = control.end;
  }
  return Buffer.alloc(0);
}
