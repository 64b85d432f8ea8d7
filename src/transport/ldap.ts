import { readFile } from 'node:fs/promises';
import { Attribute, Change, Client, InvalidCredentialsError, ResultCodeError } from 'ldapts';
import type { RunContext } from '../context.js';
import { AuthError, FleetError, UnreachableError } from '../errors.js';
import type { Duplex } from 'node:stream';
import type { Host } from '../inventory/model.js';
import type { SshSession } from './session.js';

/** An LDAP operation got no answer in time; the server may still have applied it. */
export class LdapTimeoutError extends FleetError {
  constructor(host: string, what: string, cause: unknown) {
    super('failure', `${host}: ldap ${what}: timed out`, { host, cause });
    this.name = 'LdapTimeoutError';
  }
}

/** Why a session's connection ended, for the errors of the requests made on it afterwards. */
interface ConnectionEnd {
  timedOut?: string;
}

/** A directory entry with attribute names lower-cased and every value a string. */
export class DirEntry {
  constructor(
    readonly dn: string,
    private readonly attrs: Map<string, string[]>,
  ) {}

  get(name: string): string | undefined {
    return this.attrs.get(name.toLowerCase())?.[0];
  }

  getAll(name: string): string[] {
    return this.attrs.get(name.toLowerCase()) ?? [];
  }

  has(name: string): boolean {
    return this.attrs.has(name.toLowerCase());
  }

  names(): string[] {
    return [...this.attrs.keys()];
  }
}

export interface SearchRequest {
  scope?: 'base' | 'one' | 'sub';
  filter?: string;
  attributes?: string[];
  /** Page through large result sets (RFC 2696). */
  paged?: boolean;
}

/** Values are text, or bytes sent as they are (hashes, keys). */
export type Modification =
  | { op: 'replace'; attr: string; values: string[] | Buffer[] }
  | { op: 'add'; attr: string; values: string[] | Buffer[] }
  | { op: 'delete'; attr: string; values?: string[] | Buffer[] };

/**
 * LDAP to one host's 389-DS, bound as the inventory's bind DN. The TCP connection is a
 * direct-tcpip channel through the host's SSH connection, so LDAP never has to be exposed.
 * Every operation has the inventory's LDAP timeout; errors name host, operation and result.
 */
export class LdapSession {
  private constructor(
    readonly host: Host,
    private readonly client: Client,
    private readonly ctx: RunContext,
    private readonly ended: ConnectionEnd,
  ) {}

  /** Opens and binds. `port` overrides the inventory port (e.g. a separate CA instance). */
  static async open(
    host: Host,
    ssh: SshSession | undefined,
    ctx: RunContext,
    port = host.ldap.port,
  ): Promise<LdapSession> {
    const { ldap } = host;
    const password = await ctx.secrets.get(ldap.password, `${host.name}: ldap.password`);
    const ended: ConnectionEnd = {};
    let client: Client;
    if (ldap.direct === 'ldaps') {
      const ca = ldap.caFile ? await readFile(ldap.caFile) : undefined;
      client = new Client({
        url: `ldaps://${host.address}:${port}`,
        timeout: ldap.timeoutMs,
        connectTimeout: host.ssh.connectTimeoutMs,
        tlsOptions: { ca, servername: host.name },
      });
    } else {
      if (!ssh) throw new FleetError('failure', `${host.name}: LDAP over SSH needs an SSH session`);
      const channel = await openTunnel(ssh, host, port);
      let used = false;
      const why = (): string => (ended.timedOut ? ` after ${ended.timedOut} timed out` : '');
      client = new Client({
        url: `ldap://${host.name}:${port}`,
        timeout: ldap.timeoutMs,
        connectTimeout: host.ssh.connectTimeoutMs,
        // ldapts calls this again on reconnect; a channel cannot be reused, so a lost
        // connection is an error and the caller opens a new session.
        createConnection: (() => {
          if (used) throw new UnreachableError(host.name, `LDAP connection through ssh was closed${why()}`);
          used = true;
          return channel;
        }) as never,
      });
    }
    try {
      await client.bind(ldap.bindDn, password);
    } catch (err) {
      await client.unbind().catch(() => undefined);
      if (err instanceof InvalidCredentialsError) {
        throw new AuthError(`LDAP bind as '${ldap.bindDn}' failed: invalid credentials (49); check ldap.password`, {
          host: host.name,
          cause: err,
        });
      }
      throw describeLdapError(host.name, `bind as '${ldap.bindDn}'`, err);
    }
    ctx.log.verbose(
      `${host.name}: LDAP bound as '${ldap.bindDn}' on port ${port}${ldap.direct ? ' (ldaps)' : ' through ssh'}`,
    );
    return new LdapSession(host, client, ctx, ended);
  }

  /** The error for a failed operation; a timeout is remembered, as ldapts closes the connection on one. */
  private failed(what: string, err: unknown): FleetError {
    const e = describeLdapError(this.host.name, what, err);
    if (e instanceof LdapTimeoutError)
      this.ended.timedOut ??= `${what} (no answer within ${this.host.ldap.timeoutMs / 1000} s)`;
    return e;
  }

  /** False once the connection is gone (server restarted, channel closed): open a new session. */
  get isOpen(): boolean {
    return this.client.isConnected;
  }

  async search(base: string, req: SearchRequest = {}): Promise<DirEntry[]> {
    const what = `search ${base}${req.filter ? ` ${req.filter}` : ''}`;
    try {
      const res = await this.client.search(base, {
        scope: req.scope ?? 'sub',
        filter: req.filter ?? '(objectClass=*)',
        attributes: req.attributes ?? [],
        paged: req.paged ? { pageSize: 500 } : false,
      });
      return res.searchEntries.map(toDirEntry);
    } catch (err) {
      throw this.failed(what, err);
    }
  }

  /**
   * The entries under `base` a page at a time (RFC 2696), each value as the bytes the server sent:
   * memory is one page, however large the subtree. Names keep the server's case and options. A base
   * that does not exist has no entries under it.
   */
  async *pages(base: string, req: SearchRequest & { pageSize?: number } = {}): AsyncGenerator<RawEntry[]> {
    const what = `search ${base}${req.filter ? ` ${req.filter}` : ''}`;
    try {
      const pages = this.client.searchPaginated(base, {
        scope: req.scope ?? 'sub',
        filter: req.filter ?? '(objectClass=*)',
        attributes: req.attributes ?? [],
        paged: { pageSize: req.pageSize ?? 1000 },
        explicitBufferAttributes: EVERY_ATTRIBUTE,
      });
      for await (const page of pages) yield page.searchEntries.map(toRawEntry);
    } catch (err) {
      if (err instanceof ResultCodeError && err.code === 32) return; // noSuchObject: nothing under base

      throw this.failed(what, err);
    }
  }

  /** The entry at `dn`, or undefined when it does not exist. */
  async read(dn: string, attributes: string[] = ['*']): Promise<DirEntry | undefined> {
    try {
      const res = await this.client.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes });
      return res.searchEntries.map(toDirEntry)[0];
    } catch (err) {
      if (err instanceof ResultCodeError && err.code === 32) return undefined; // noSuchObject
      throw this.failed(`read ${dn}`, err);
    }
  }

  async modify(dn: string, mods: Modification[]): Promise<void> {
    const changes = mods.map(
      (m) =>
        new Change({
          operation: m.op,
          modification: new Attribute({ type: m.attr, values: m.op === 'delete' ? (m.values ?? []) : m.values }),
        }),
    );
    try {
      await this.client.modify(dn, changes);
      this.ctx.log.debug(`${this.host.name}: ldap modify ${dn}: ${mods.map((m) => `${m.op} ${m.attr}`).join(', ')}`);
    } catch (err) {
      throw this.failed(`modify ${dn}`, err);
    }
  }

  async add(dn: string, attributes: Record<string, string | string[]> | Map<string, Buffer[]>): Promise<void> {
    const attrs =
      attributes instanceof Map ? [...attributes].map(([type, values]) => new Attribute({ type, values })) : attributes;
    try {
      await this.client.add(dn, attrs);
      this.ctx.log.debug(`${this.host.name}: ldap add ${dn}`);
    } catch (err) {
      throw this.failed(`add ${dn}`, err);
    }
  }

  async delete(dn: string): Promise<void> {
    try {
      await this.client.del(dn);
      this.ctx.log.debug(`${this.host.name}: ldap delete ${dn}`);
    } catch (err) {
      throw this.failed(`delete ${dn}`, err);
    }
  }

  async close(): Promise<void> {
    await this.client.unbind().catch(() => undefined);
  }
}

/**
 * A direct-tcpip channel from the host to its own LDAP port. ldapts waits for a 'connect'
 * event unless the socket already looks open, so the channel is marked open (NODE-LIBS.md).
 * The host's address is used, not 127.0.0.1: an instance may listen on one address only.
 */
/** A channel through the host's SSH session to its LDAP port, ready to carry an LDAP client's bytes. */
export async function openTunnel(ssh: SshSession, host: Host, port: number): Promise<Duplex> {
  const channel = await ssh.forwardOut(host.address, port).catch((err: unknown) => {
    throw new UnreachableError(
      host.name,
      `LDAP port ${port} not reachable through ssh: ${(err as Error).message}`,
      err,
    );
  });
  Object.assign(channel, { connecting: false, readyState: 'open' });
  return channel;
}

/**
 * Every attribute's values as the bytes received: ldapts asks `explicitBufferAttributes.includes(type)`
 * per attribute and then hands over the buffers it parsed, where it would otherwise give strings that
 * toRawEntry had to encode again (a third of a content comparison's controller time went to that).
 */
const EVERY_ATTRIBUTE = { includes: (_type: string): boolean => true } as unknown as string[];

/** An entry as the server sent it: the attribute descriptions and their values as bytes. */
export interface RawEntry {
  dn: string;
  attributes: [description: string, values: Buffer[]][];
}

function toRawEntry(entry: Record<string, unknown> & { dn: string }): RawEntry {
  const attributes: RawEntry['attributes'] = [];
  for (const name in entry) {
    if (name === 'dn') continue;
    const value = entry[name];
    // Buffers as received (EVERY_ATTRIBUTE); a string only where a caller's search decoded one.
    const values = Array.isArray(value) ? (value as unknown[]) : [value];
    if (values.length > 0)
      attributes.push([
        name,
        values.every(Buffer.isBuffer)
          ? (values as Buffer[])
          : values.map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v)))),
      ]);
  }
  return { dn: entry.dn, attributes };
}

function toDirEntry(entry: Record<string, unknown> & { dn: string }): DirEntry {
  const attrs = new Map<string, string[]>();
  for (const [name, value] of Object.entries(entry)) {
    if (name === 'dn') continue;
    const values = Array.isArray(value) ? value : [value];
    // ldapts lists every requested attribute, with no values when the entry lacks it.
    if (values.length === 0) continue;
    const key = name.toLowerCase();
    attrs.set(key, [
      ...(attrs.get(key) ?? []),
      ...values.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))),
    ]);
  }
  return new DirEntry(entry.dn, attrs);
}

function describeLdapError(host: string, what: string, err: unknown): FleetError {
  if (err instanceof FleetError) return err;
  if (err instanceof ResultCodeError) {
    // ldapts' message is often only "Code: 0x20"; the class name says which result it was.
    const name = err.constructor.name
      .replace(/Error$/, '')
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .toLowerCase();
    const text = err.message
      .split('\n')[0]!
      .replace(/\s*Code: 0x[0-9a-f]+\s*/i, '')
      .trim();
    return new FleetError('failure', `${host}: ldap ${what}: ${name} (${err.code})${text ? `: ${text}` : ''}`, {
      host,
      cause: err,
    });
  }
  const e = err as Error & { code?: string };
  if (/timeout|timed out/i.test(e.message)) {
    return new LdapTimeoutError(host, what, err);
  }
  if (e.code === 'ECONNREFUSED' || /connect|closed|ECONNRESET|socket/i.test(e.message)) {
    return new UnreachableError(host, `ldap ${what}: ${e.message}`, err);
  }
  return new FleetError('failure', `${host}: ldap ${what}: ${e.message}`, { host, cause: err });
}
