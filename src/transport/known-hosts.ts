// OpenSSH known_hosts: parse, verify a presented host key, and append newly accepted keys.
// Matching follows OpenSSH's hostfile.c / match.c so an administrator's existing file means the
// same thing here as it does to `ssh`. Key blobs are the raw SSH wire-format public keys
// (what ssh2's hostVerifier receives and what known_hosts' third field base64-encodes).

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AuthError, FleetError } from '../errors.js';
import { readTextIfExists } from '../text-file.js';

/** How a line names its hosts: `|1|salt|hmac` or a comma list of (possibly negated) globs. */
type HostPatterns =
  | { kind: 'hashed'; salt: Buffer; hash: Buffer }
  | { kind: 'patterns'; patterns: { negated: boolean; glob: string }[] };

/** A usable key line; `revoked` lines (`@revoked`) refuse their key instead of accepting it. */
interface HostKeyLine {
  kind: 'key' | 'revoked';
  /** 1-based line number in the file. */
  line: number;
  hosts: HostPatterns;
  keyType: string;
  keyBlob: Buffer;
  comment: string;
}

/** Kept (not silently dropped) so callers can warn: certificates are not supported. */
interface CertAuthorityLine {
  kind: 'cert-authority';
  line: number;
}

/** A line that could not be understood; it never matches anything. */
export interface MalformedLine {
  kind: 'malformed';
  line: number;
  problem: string;
}

/** One entry per non-blank, non-comment line, in file order. */
export type KnownHostEntry = HostKeyLine | CertAuthorityLine | MalformedLine;

export type HostKeyCheck =
  | { status: 'match' }
  /** `otherKeyTypes`: key types recorded for this host that differ from the presented one. */
  | { status: 'unknown'; otherKeyTypes: string[] }
  | { status: 'changed'; expectedFingerprints: string[] }
  | { status: 'revoked' };

const HASH_MAGIC = '|1|';
const SHA1_LENGTH = 20;

/** `SHA256:<base64 without padding>`, exactly as `ssh-keygen -l` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type name (e.g. `ssh-ed25519`) that opens every SSH public key blob. */
export function keyTypeOf(keyBlob: Buffer): string {
  const type = readKeyType(keyBlob);
  if (type === undefined) throw new AuthError('host key is not a valid SSH public key blob');
  return type;
}

function readKeyType(keyBlob: Buffer): string | undefined {
  if (keyBlob.length < 4) return undefined;
  const length = keyBlob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > keyBlob.length) return undefined;
  const type = keyBlob.subarray(4, 4 + length).toString('latin1');
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/**
 * The name a host is recorded under: `host` on port 22, `[host]:port` otherwise.
 * Lowercased, because ssh lowercases the host name before looking it up or hashing it.
 */
export function hostKeyLookupName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const content = raw.trim();
    if (content === '' || content.startsWith('#')) return;
    entries.push(parseLine(content, index + 1));
  });
  return entries;
}

function countLines(text: string): number {
  return text === '' ? 0 : text.replace(/\n$/, '').split('\n').length;
}

function parseLine(content: string, line: number): KnownHostEntry {
  const malformed = (problem: string): MalformedLine => ({ kind: 'malformed', line, problem });
  let fields = content.split(/[ \t]+/);
  let kind: HostKeyLine['kind'] = 'key';
  if (fields[0] === '@cert-authority') return { kind: 'cert-authority', line };
  if (fields[0] === '@revoked') {
    kind = 'revoked';
    fields = fields.slice(1);
  } else if (fields[0]!.startsWith('@')) {
    return malformed(`unknown marker ${fields[0]}`);
  }
  const [hostField, keyType, keyBase64, ...comment] = fields;
  if (hostField === undefined || keyType === undefined || keyBase64 === undefined) {
    return malformed('expected "hosts key-type base64-key [comment]"');
  }
  const hosts = parseHostField(hostField);
  if (hosts === undefined) return malformed(`bad hashed host field ${hostField}`);
  const keyBlob = decodeBase64Strict(keyBase64);
  if (keyBlob === undefined) return malformed('key is not valid base64');
  const blobType = readKeyType(keyBlob);
  if (blobType === undefined) return malformed('key is not an SSH public key blob');
  if (blobType !== keyType) return malformed(`key type ${keyType} does not match the key (${blobType})`);
  return { kind, line, hosts, keyType, keyBlob, comment: comment.join(' ') };
}

function parseHostField(field: string): HostPatterns | undefined {
  if (field.startsWith('|')) {
    // OpenSSH: a hashed field is exactly one `|1|salt|hash`, never part of a list.
    if (!field.startsWith(HASH_MAGIC)) return undefined;
    const parts = field.slice(HASH_MAGIC.length).split('|');
    if (parts.length !== 2) return undefined;
    const salt = decodeBase64Strict(parts[0]!);
    const hash = decodeBase64Strict(parts[1]!);
    if (salt?.length !== SHA1_LENGTH || hash?.length !== SHA1_LENGTH) return undefined;
    return { kind: 'hashed', salt, hash };
  }
  const patterns = field
    .toLowerCase()
    .split(',')
    .filter((p) => p !== '' && p !== '!')
    .map((p) => (p.startsWith('!') ? { negated: true, glob: p.slice(1) } : { negated: false, glob: p }));
  return { kind: 'patterns', patterns };
}

/** Buffer.from(…, 'base64') skips junk silently; a known_hosts key must be clean base64. */
function decodeBase64Strict(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, '') ? bytes : undefined;
}

function hostMatches(hosts: HostPatterns, lookupName: string): boolean {
  if (hosts.kind === 'hashed') {
    return timingSafeEqual(hashHostName(lookupName, hosts.salt), hosts.hash);
  }
  // match.c match_pattern_list: any matching negation vetoes the line; else one positive suffices.
  let positive = false;
  for (const { negated, glob } of hosts.patterns) {
    if (!globMatches(lookupName, glob)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

function hashHostName(lookupName: string, salt: Buffer): Buffer {
  return createHmac('sha1', salt).update(lookupName).digest();
}

/** OpenSSH glob: `*` is any run of characters, `?` exactly one; no other metacharacters. */
function globMatches(name: string, glob: string): boolean {
  let n = 0;
  let g = 0;
  let starG = -1;
  let starN = 0;
  while (n < name.length) {
    if (g < glob.length && (glob[g] === '?' || glob[g] === name[n])) {
      n++;
      g++;
    } else if (g < glob.length && glob[g] === '*') {
      starG = g++;
      starN = n;
    } else if (starG >= 0) {
      g = starG + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}

/**
 * Verify a presented host key against parsed entries.
 *
 * Like OpenSSH, keys are compared per key type: a host recorded only with, say, an ssh-rsa key
 * that now presents an ssh-ed25519 key is 'unknown' (not 'changed'), because servers hold several
 * host keys and which one is offered depends on algorithm negotiation. 'changed' means a key of
 * the same type is recorded and differs — always refuse it. An 'unknown' result lists the other
 * recorded types in `otherKeyTypes`; a caller applying accept-new should refuse (or at least
 * warn, as ssh does) when that list is non-empty, since a man in the middle can simply offer a
 * type we have not recorded yet.
 *
 * A matching `@revoked` line wins over everything else. As in OpenSSH, revoked lines are scoped by
 * their host patterns (write `@revoked * …` to revoke a key everywhere).
 */
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  keyType: string,
  keyBlob: Buffer,
): HostKeyCheck {
  const lookupName = hostKeyLookupName(host, port);
  const forHost = entries.filter(
    (e): e is HostKeyLine => (e.kind === 'key' || e.kind === 'revoked') && hostMatches(e.hosts, lookupName),
  );
  if (forHost.some((e) => e.kind === 'revoked' && e.keyBlob.equals(keyBlob))) return { status: 'revoked' };
  const accepted = forHost.filter((e) => e.kind === 'key');
  const sameType = accepted.filter((e) => e.keyType === keyType);
  if (sameType.some((e) => e.keyBlob.equals(keyBlob))) return { status: 'match' };
  if (sameType.length > 0) {
    return { status: 'changed', expectedFingerprints: unique(sameType.map((e) => fingerprint(e.keyBlob))) };
  }
  return { status: 'unknown', otherKeyTypes: unique(accepted.map((e) => e.keyType)) };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** Host names as given: one name, a list, or a comma-joined list (names never contain commas). */
export type HostNames = string | readonly string[];

function splitNames(hosts: HostNames): string[] {
  const names = (typeof hosts === 'string' ? hosts.split(',') : [...hosts])
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) throw new FleetError('failure', 'no host name to record in known_hosts');
  return names;
}

/**
 * One known_hosts line (no newline) naming every host, each as `host` or `[host]:port`.
 * `hashed` writes `|1|salt|hmac` as `HashKnownHosts yes` does; a hashed line holds exactly one name
 * (OpenSSH's format), so pass a single name then — KnownHosts.remember writes one line per name.
 */
export function formatKnownHostsLine(
  hosts: HostNames,
  port: number,
  keyBlob: Buffer,
  opts: { hashed?: boolean } = {},
): string {
  const keyType = keyTypeOf(keyBlob);
  const lookupNames = splitNames(hosts).map((name) => hostKeyLookupName(name, port));
  let hostField = lookupNames.join(',');
  if (opts.hashed) {
    if (lookupNames.length !== 1)
      throw new FleetError('failure', 'a hashed known_hosts line holds exactly one host name');
    const salt = randomBytes(SHA1_LENGTH);
    hostField = `${HASH_MAGIC}${salt.toString('base64')}|${hashHostName(lookupNames[0]!, salt).toString('base64')}`;
  }
  return `${hostField} ${keyType} ${keyBlob.toString('base64')}`;
}

/**
 * Append lines (in one write). Existing lines are never rewritten or removed: accepting a new key
 * must not be able to replace a known one. The file is created 0600 (its directory 0700), like ssh.
 */
export async function appendKnownHost(file: string, line: string | readonly string[]): Promise<void> {
  const lines = (typeof line === 'string' ? [line] : [...line]).map((l) => l.replace(/\r?\n$/, ''));
  if (lines.some((l) => /[\r\n]/.test(l))) {
    throw new FleetError('failure', `refusing to write a multi-line known_hosts entry to ${file}`);
  }
  if (lines.length === 0) return;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const handle = await open(file, 'a+', 0o600);
  try {
    // A last line without a newline would otherwise be glued to ours and corrupted.
    const { size } = await handle.stat();
    let separator = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) separator = '\n';
    }
    await handle.appendFile(`${separator}${lines.join('\n')}\n`);
  } finally {
    await handle.close();
  }
}

/** One known_hosts file, loaded once per run and appended to as new keys are accepted. */
export class KnownHosts {
  readonly file: string;
  private readonly entries: KnownHostEntry[];
  /** Lines in the file as far as this run knows, to number the lines it appends. */
  private lineCount: number;

  private constructor(file: string, text: string) {
    this.file = file;
    this.entries = parseKnownHosts(text);
    this.lineCount = countLines(text);
  }

  /** A missing file is an empty one (first connection ever). */
  static async load(file: string): Promise<KnownHosts> {
    return new KnownHosts(file, (await readTextIfExists(file, `known_hosts ${file}`)) ?? '');
  }

  /** Lines that were skipped, for a warning naming `file:line`. */
  get malformed(): readonly MalformedLine[] {
    return this.entries.filter((e): e is MalformedLine => e.kind === 'malformed');
  }

  /** True when the file has `@cert-authority` lines, which we ignore (no certificate support). */
  get hasCertAuthorities(): boolean {
    return this.entries.some((e) => e.kind === 'cert-authority');
  }

  /**
   * Key types recorded for a host, so the transport can prefer them in host key negotiation
   * (as ssh does) and not be talked into a type we have no record of.
   */
  keyTypesFor(host: string, port: number): string[] {
    const lookupName = hostKeyLookupName(host, port);
    return unique(
      this.entries
        .filter((e): e is HostKeyLine => e.kind === 'key' && hostMatches(e.hosts, lookupName))
        .map((e) => e.keyType),
    );
  }

  check(host: string, port: number, keyBlob: Buffer): HostKeyCheck {
    let keyType: string;
    try {
      keyType = keyTypeOf(keyBlob);
    } catch (err) {
      throw new AuthError('presented host key is not a valid SSH public key blob', { host, cause: err });
    }
    return checkHostKey(this.entries, host, port, keyType, keyBlob);
  }

  /**
   * Record a newly accepted key (accept-new) under every given name (e.g. inventory name and
   * address). Refuses when the key is revoked or a different key of the same type is recorded for
   * any of the names; names that already have this key are left alone.
   */
  async remember(hosts: HostNames, port: number, keyBlob: Buffer, opts: { hashed?: boolean } = {}): Promise<void> {
    const toRecord: string[] = [];
    for (const host of splitNames(hosts)) {
      const result = this.check(host, port, keyBlob);
      if (result.status === 'revoked') {
        throw new AuthError(`host key ${fingerprint(keyBlob)} is revoked in ${this.file}`, { host });
      }
      if (result.status === 'changed') {
        throw new AuthError(
          `host key changed: got ${fingerprint(keyBlob)}, ${this.file} has ${result.expectedFingerprints.join(', ')}`,
          { host },
        );
      }
      if (result.status === 'unknown') toRecord.push(host);
    }
    if (toRecord.length === 0) return;
    const lines = opts.hashed
      ? toRecord.map((host) => formatKnownHostsLine(host, port, keyBlob, opts))
      : [formatKnownHostsLine(toRecord, port, keyBlob)];
    await appendKnownHost(this.file, lines);
    for (const line of lines) this.entries.push(parseLine(line, ++this.lineCount));
  }
}
