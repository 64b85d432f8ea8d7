// Facts from one host: what the planners and the audit reason about. Read-only: nothing here
// changes a host. Every value is plain data (strings, numbers, booleans, arrays, objects) so facts
// can be stored in plan.json and read back.
import { listAgreements, type Agreement } from '../directory/agreements.js';
import { escapeRdnValue, normalizeDn, replicaDn } from '../directory/dn.js';
import { bakDir, configDir, ldifDir } from '../directory/instance.js';
import { readRuv, type AgmtMaxCsn, type Ruv } from '../directory/ruv.js';
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import type { LdapSession } from '../transport/ldap.js';
import { shellQuote } from '../transport/shell.js';
import type { SshSession } from '../transport/session.js';
import type { Transport } from '../transport/transport.js';

const LDBM_DN = 'cn=ldbm database,cn=plugins,cn=config';
/** A remote fact command that takes longer than this is a failure (a hung mount, say). */
const COMMAND_TIMEOUT_MS = 30_000;

export interface HostFacts {
  /** Inventory name. */
  host: string;
  /** When gathering started (controller clock, ISO 8601 UTC). */
  gatheredAt: string;
  /** `hostname -f` (or `hostname` when that fails). */
  fqdn: string;
  /** PRETTY_NAME from os-release. */
  os: string | undefined;
  clock: ClockFacts;
  /** Root DSE vendorVersion of the main instance, e.g. `389-Directory/2.3.1 B2025.016.1616`. */
  dsVersion: string | undefined;
  /** 389-DS instances configured on the host (`/etc/dirsrv/slapd-<name>`, `.removed` ones left out). */
  instances: string[];
  /** Backends of the main instance (port `ldap.port`). */
  backends: BackendFacts[];
  suffixes: {
    domain: SuffixFacts;
    /** Present when the host has role `ca` or a backend serves the CA suffix. */
    ca: SuffixFacts | undefined;
  };
  /** Per instance (main instance, and the separate CA instance when there is one). */
  freeSpace: Record<string, InstanceSpace>;
}

interface ClockFacts {
  /** Remote `date -u` in unix seconds (fractional when the host's date knows %N). */
  remoteEpochSeconds: number;
  /** Controller time in unix seconds at the midpoint of the remote command. */
  controllerEpochSeconds: number;
  /** remote − controller; positive when the host's clock is ahead. Precise to about roundTripMs/2. */
  skewSeconds: number;
  roundTripMs: number;
}

interface BackendFacts {
  /** Backend name as the server spells it (the cn; `userroot` on a lab host). */
  name: string;
  suffix: string;
}

export interface SuffixFacts {
  kind: 'domain' | 'ca';
  suffix: string;
  /** The 389-DS instance and LDAP port that serve this suffix. */
  instance: string;
  port: number;
  /** Name of the backend that serves the suffix; undefined when none does. */
  backend: string | undefined;
  /**
   * Live entries in the suffix, counted over LDAP (DNs only, paged): normal entries and LDAP
   * subentries (e.g. the replication keep-alive entries), no tombstones; 0 when the backend is
   * empty. Undefined unless asked for (`countEntries`), and without a backend: a count is a search
   * of every entry, and 389-DS 2.3.1's backend monitor has no entry counter to read instead.
   */
  entryCount: number | undefined;
  replica: ReplicaFacts | undefined;
  agreements: Agreement[];
  ruv: Ruv | undefined;
  agmtMaxCsns: AgmtMaxCsn[];
  /** `nsslapd-changelogmaxage` of the backend's changelog (e.g. `7d`); undefined = never trimmed. */
  changelogMaxAge: string | undefined;
}

interface ReplicaFacts {
  /** nsDS5ReplicaId: suppliers 1–65534, hubs and consumers 65535. */
  rid: number;
  /** nsDS5ReplicaType: 3 = read-write supplier, 2 = read-only (hub/consumer). */
  type: number;
  /** nsDS5Flags: 1 = keeps a changelog. */
  flags: number;
}

interface InstanceSpace {
  ldif: DiskSpace;
  bak: DiskSpace;
}

interface DiskSpace {
  /** The folder asked about (`/var/lib/dirsrv/slapd-<instance>/ldif`). */
  path: string;
  /** The folder measured: `path`, or its nearest existing parent when `path` is missing. */
  measuredPath: string;
  availableBytes: number;
  totalBytes: number;
  mountPoint: string;
}

export type HostFactsResult = { ok: true; facts: HostFacts } | { ok: false; error: FleetError };

export interface FactsOptions {
  /**
   * Count each suffix's live entries (`entryCount`): a paged search of every entry, so off by
   * default. Nothing the planners or the audit decide depends on it.
   */
  countEntries?: boolean;
}

/** Gathers one host's facts. Rejects (with a FleetError) when the host or its directory cannot be read. */
export async function gatherFacts(transport: Transport, host: Host, opts: FactsOptions = {}): Promise<HostFacts> {
  const gatheredAt = new Date().toISOString();
  const ssh = await transport.ssh(host);
  const shell = shellFacts(ssh, host);
  const directory = (async () => {
    const ldap = await transport.ldap(host);
    const [dsVersion, backends] = await Promise.all([readDsVersion(ldap), listBackends(ldap)]);
    return { ldap, dsVersion, backends };
  })();
  // Both halves run together; settle both before looking at either so neither rejects unobserved.
  const [shellResult, dirResult] = await Promise.allSettled([shell, directory]);
  if (shellResult.status === 'rejected') throw shellResult.reason;
  if (dirResult.status === 'rejected') {
    // A server that does not answer is down; one without its configuration folder does not exist.
    if (!shellResult.value.instances.includes(host.ldap.instance)) throw instanceMissing(host);
    throw dirResult.reason;
  }
  const { fqdn, os, clock, instances, freeSpace } = shellResult.value;
  const { ldap, dsVersion, backends } = dirResult.value;

  const count = opts.countEntries === true;
  const [domain, ca] = await Promise.all([
    suffixFacts(ldap, 'domain', host.suffixes.domain, backends, {
      instance: host.ldap.instance,
      port: host.ldap.port,
      count,
    }),
    caSuffixFacts(transport, host, ldap, backends, instances, count),
  ]);
  return {
    host: host.name,
    gatheredAt,
    fqdn,
    os,
    clock,
    dsVersion,
    instances,
    backends,
    suffixes: { domain, ca },
    freeSpace,
  };
}

/** The host has no 389-DS instance of that name: a rebuilt machine, or an instance removed. */
function instanceMissing(host: Host): FleetError {
  return new FleetError(
    'failure',
    `${host.name}: 389-DS instance ${host.ldap.instance} does not exist (no ${configDir(host.ldap.instance)}); ` +
      'a FULL restore recreates it (docs/restore-runbook.md, "Restoring onto a rebuilt host")',
    { host: host.name },
  );
}

/**
 * Gathers every host's facts in parallel. Never rejects because one host failed: the map (in
 * the order of `hosts`) holds either facts or the host's error. `onHost` is told as each host ends.
 */
export async function gatherAllFacts(
  transport: Transport,
  hosts: readonly Host[],
  onHost?: (host: Host, result: HostFactsResult) => void,
  opts: FactsOptions = {},
): Promise<Map<string, HostFacts | FleetError>> {
  const outcomes = await Promise.all(
    hosts.map(async (host): Promise<HostFacts | FleetError> => {
      let result: HostFactsResult;
      try {
        result = { ok: true, facts: await gatherFacts(transport, host, opts) };
      } catch (err) {
        result = { ok: false, error: asFleetError(host, err) };
      }
      if (onHost) {
        try {
          onHost(host, result);
        } catch (err) {
          transport.ctx.log.warn(`${host.name}: facts callback failed: ${(err as Error).message}`);
        }
      }
      return result.ok ? result.facts : result.error;
    }),
  );
  return new Map(hosts.map((h, i) => [h.name, outcomes[i]!]));
}

// ---- shell facts ----

interface ShellFacts {
  fqdn: string;
  os: string | undefined;
  clock: ClockFacts;
  instances: string[];
  freeSpace: Record<string, InstanceSpace>;
}

async function shellFacts(ssh: SshSession, host: Host): Promise<ShellFacts> {
  // The clock first and alone, so its round trip does not include waiting for a channel.
  const clock = await readClock(ssh);
  const own = [...new Set([host.ldap.instance, host.suffixes.ca.instance].filter((i): i is string => !!i))];
  const dirs = own.flatMap((inst) => [ldifDir(inst), bakDir(inst)]);
  // Everything else in one command: each remote exec costs a round trip and a channel, and an
  // audit of 10 hosts ran 60 of them.
  const sections = parseSections(
    await ssh.run(shellFactsScript(dirs), {
      timeoutMs: COMMAND_TIMEOUT_MS,
      display: 'read hostname, os-release, instances, free space',
    }),
  );
  const fqdn = (sections.get('fqdn') ?? '').trim();
  if (!fqdn)
    throw new FleetError('failure', `${ssh.target.name}: the host did not report its hostname`, {
      host: ssh.target.name,
    });
  const space = (path: string, i: number): DiskSpace => {
    const [measuredPath = '', ...rest] = (sections.get(`df${i}`) ?? '').split('\n');
    const df = parseDf(rest.join('\n'));
    if (!df)
      throw new FleetError(
        'failure',
        `${ssh.target.name}: cannot read free space of ${path} from df: '${(sections.get(`df${i}`) ?? '').trim()}'`,
        { host: ssh.target.name },
      );
    return { path, measuredPath, ...df };
  };
  const freeSpace = Object.fromEntries(
    own.map((inst, k) => [inst, { ldif: space(dirs[2 * k]!, 2 * k), bak: space(dirs[2 * k + 1]!, 2 * k + 1) }]),
  );
  return {
    fqdn,
    os: prettyName(sections.get('os') ?? ''),
    clock,
    instances: instanceNames(sections.get('instances') ?? ''),
    freeSpace,
  };
}

const SECTION = '@@ipa-fleet-facts:';

/**
 * One shell script printing each fact after a marker line; a missing folder is measured at its nearest
 * existing parent.
 */
function shellFactsScript(dirs: string[]): string {
  return [
    `printf '%s\\n' '${SECTION}fqdn'; h=$(hostname -f 2>/dev/null) && [ -n "$h" ] && printf '%s\\n' "$h" || hostname`,
    `printf '%s\\n' '${SECTION}os'; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true`,
    `printf '%s\\n' '${SECTION}instances'; if [ -d /etc/dirsrv ]; then ls -1 /etc/dirsrv; fi`,
    ...dirs.map(
      (dir, i) =>
        `printf '%s\\n' '${SECTION}df${i}'; d=${shellQuote(dir)}; while [ ! -d "$d" ]; do d=$(dirname -- "$d"); ` +
        `done; printf '%s\\n' "$d"; df -P -B1 -- "$d"`,
    ),
    'true',
  ].join('\n');
}

function parseSections(output: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | undefined;
  const lines: string[] = [];
  const flush = (): void => {
    if (current !== undefined) sections.set(current, lines.join('\n'));
    lines.length = 0;
  };
  for (const line of output.split('\n')) {
    if (line.startsWith(SECTION)) {
      flush();
      current = line.slice(SECTION.length).trim();
    } else if (current !== undefined) {
      lines.push(line);
    }
  }
  flush();
  return sections;
}

async function readClock(ssh: SshSession): Promise<ClockFacts> {
  const started = Date.now();
  const out = await ssh.run('date -u +%s.%N', { timeoutMs: COMMAND_TIMEOUT_MS });
  const ended = Date.now();
  // Without %N support the fraction is not digits; the whole seconds still count.
  const m = /^(\d+)(\.\d+)?/.exec(out.trim());
  if (!m)
    throw new FleetError('failure', `${ssh.target.name}: cannot read the clock: 'date -u' printed '${out.trim()}'`, {
      host: ssh.target.name,
    });
  const remote = Number(m[1]) + (m[2] ? Number(`0${m[2]}`) : 0);
  const controller = (started + ended) / 2000;
  return {
    remoteEpochSeconds: remote,
    controllerEpochSeconds: controller,
    skewSeconds: Math.round((remote - controller) * 1000) / 1000,
    roundTripMs: ended - started,
  };
}

/** PRETTY_NAME from an os-release file (shell-style quoting). */
function prettyName(osRelease: string): string | undefined {
  for (const line of osRelease.split('\n')) {
    const m = /^\s*PRETTY_NAME=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[1]!.trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    return value || undefined;
  }
  return undefined;
}

/** Instance names from an `ls -1 /etc/dirsrv` listing. */
function instanceNames(listing: string): string[] {
  return listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('slapd-') && l.length > 'slapd-'.length && !l.endsWith('.removed'))
    .map((l) => l.slice('slapd-'.length));
}

/** The data line of `df -P -B1 <dir>`: sizes in bytes and the mount point. */
function parseDf(output: string): { availableBytes: number; totalBytes: number; mountPoint: string } | undefined {
  const lines = output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    // Filesystem and mount point may hold spaces; the four numbers in between do not.
    const m = /^(.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+|-)%?\s+(\/.*)$/.exec(lines[i]!);
    if (m) return { totalBytes: Number(m[2]), availableBytes: Number(m[4]), mountPoint: m[6]! };
  }
  return undefined;
}

// ---- directory facts ----

async function readDsVersion(ldap: LdapSession): Promise<string | undefined> {
  return (await ldap.read('', ['vendorVersion']))?.get('vendorVersion');
}

async function listBackends(ldap: LdapSession): Promise<BackendFacts[]> {
  const entries = await ldap.search(LDBM_DN, {
    scope: 'one',
    filter: '(objectClass=nsBackendInstance)',
    attributes: ['cn', 'nsslapd-suffix'],
  });
  return entries
    .map((e) => ({ name: e.get('cn') ?? '', suffix: e.get('nsslapd-suffix') ?? '' }))
    .filter((b) => b.name !== '');
}

async function caSuffixFacts(
  transport: Transport,
  host: Host,
  mainLdap: LdapSession,
  mainBackends: BackendFacts[],
  instances: string[],
  count: boolean,
): Promise<SuffixFacts | undefined> {
  const ca = host.suffixes.ca;
  const isCa = host.roles.includes('ca');
  if (ca.port === undefined || ca.port === host.ldap.port) {
    if (!isCa && !findBackend(mainBackends, ca.suffix)) return undefined;
    return suffixFacts(mainLdap, 'ca', ca.suffix, mainBackends, {
      instance: host.ldap.instance,
      port: host.ldap.port,
      count,
    });
  }
  // A separate CA instance (old layout). A host without the ca role may simply not have one.
  const instance = ca.instance ?? host.ldap.instance;
  if (!isCa && ca.instance && !instances.includes(ca.instance)) return undefined;
  let ldap: LdapSession;
  let backends: BackendFacts[];
  try {
    ldap = await transport.ldap(host, ca.port);
    backends = await listBackends(ldap);
  } catch (err) {
    if (!isCa && err instanceof FleetError && err.kind === 'unreachable') return undefined;
    throw err;
  }
  if (!isCa && !findBackend(backends, ca.suffix)) return undefined;
  return suffixFacts(ldap, 'ca', ca.suffix, backends, { instance, port: ca.port, count });
}

/** Where a suffix is served, and whether its entries are counted. */
interface SuffixPlace {
  instance: string;
  port: number;
  count: boolean;
}

async function suffixFacts(
  ldap: LdapSession,
  kind: 'domain' | 'ca',
  suffix: string,
  backends: BackendFacts[],
  { instance, port, count }: SuffixPlace,
): Promise<SuffixFacts> {
  const backend = findBackend(backends, suffix)?.name;
  const [entryCount, replica, agreements, ruv, changelogMaxAge] = await Promise.all([
    backend && count ? countLiveEntries(ldap, suffix) : undefined,
    readReplica(ldap, suffix),
    listAgreements(ldap, suffix),
    backend ? readRuv(ldap, suffix) : undefined,
    backend ? readChangelogMaxAge(ldap, backend) : undefined,
  ]);
  return {
    kind,
    suffix,
    instance,
    port,
    backend,
    entryCount,
    replica,
    agreements,
    ruv: ruv?.ruv,
    agmtMaxCsns: ruv?.agmtMaxCsns ?? [],
    changelogMaxAge,
  };
}

/**
 * Live entries (normal and LDAP subentries, not tombstones); 0 when the suffix entry is missing.
 * A paged search of every entry: only where nothing the server reports gives the number.
 */
export async function countLiveEntries(ldap: LdapSession, suffix: string): Promise<number> {
  if (!(await ldap.read(suffix, ['1.1']))) return 0;
  const entries = await ldap.search(suffix, {
    scope: 'sub',
    filter: '(|(objectClass=*)(objectClass=ldapSubEntry))',
    attributes: ['1.1'],
    paged: true,
  });
  return entries.length;
}

async function readReplica(ldap: LdapSession, suffix: string): Promise<ReplicaFacts | undefined> {
  const dn = replicaDn(suffix);
  const entry = await ldap.read(dn, ['nsDS5ReplicaId', 'nsDS5ReplicaType', 'nsDS5Flags']);
  if (!entry) return undefined;
  const num = (attr: string, fallback?: number): number => {
    const text = entry.get(attr);
    if (text === undefined && fallback !== undefined) return fallback;
    const n = Number(text);
    if (text === undefined || !/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n)) {
      throw new FleetError(
        'failure',
        `${ldap.host.name}: ${dn}: ${attr} is ${text === undefined ? 'missing' : `'${text}', not a number`}`,
        { host: ldap.host.name },
      );
    }
    return n;
  };
  return { rid: num('nsDS5ReplicaId'), type: num('nsDS5ReplicaType'), flags: num('nsDS5Flags', 0) };
}

async function readChangelogMaxAge(ldap: LdapSession, backend: string): Promise<string | undefined> {
  const entry = await ldap.read(`cn=changelog,cn=${escapeRdnValue(backend)},${LDBM_DN}`, ['nsslapd-changelogmaxage']);
  return entry?.get('nsslapd-changelogmaxage');
}

function findBackend(backends: BackendFacts[], suffix: string): BackendFacts | undefined {
  const want = normalizeDn(suffix);
  return backends.find((b) => normalizeDn(b.suffix) === want);
}

function asFleetError(host: Host, err: unknown): FleetError {
  if (err instanceof FleetError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FleetError('failure', `${host.name}: gathering facts: ${message}`, { host: host.name, cause: err });
}
