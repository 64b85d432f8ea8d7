import { UsageError } from '../errors.js';

/** What `lab up` builds. Pure data; see plan functions below. */
export interface LabSpec {
  /** First three octets of the hosts' loopback addresses (127.0.10 → 127.0.10.1, .2, …). */
  net: string;
  hosts: LabHost[];
  /** Undirected edges; each becomes two agreements (one each way). */
  domainEdges: Array<[string, string]>;
  caEdges: Array<[string, string]>;
  entries: number;
  /**
   * flat: inetOrgPerson users in ou=people; ipa: FreeIPA's layout, schema and plugins (ipa-data.ts);
   * none: empty replicated suffixes, nothing imported or initialized (a drill's sandbox: the restore fills it).
   */
  data: LabData;
  /** The inventory's deployment name, the 389-DS instance name and the replicated suffixes of every host. */
  deployment: string;
  instance: string;
  suffixes: { domain: string; ca: string };
  /** `lab up --kerberos`: a KDC of the lab's own, and sshd on every host accepting GSSAPI logins. */
  kerberos?: LabRealm;
  /** Hosts refuse root logins; the inventory logs in as this user and becomes root with sudo. */
  sudo?: LabSudo;
  /**
   * How the replicas get the data: online total updates breadth-first over the agreements (default), or
   * ldif: the first host's export with its replication data imported on every other host before the
   * agreements exist, as an administrator seeds large replicas (minutes instead of an hour at 200 000).
   */
  init?: LabInit;
}

type LabInit = 'online' | 'ldif';
const LAB_INITS: readonly LabInit[] = ['online', 'ldif'];

/** The lab's Kerberos realm: its name (the lab domain in capitals) and where its KDC listens (port 88). */
export interface LabRealm {
  realm: string;
  kdcAddress: string;
}

export interface LabSudo {
  user: string;
  /** A controller file holding the user's password (sudo asks for it); absent: NOPASSWD. */
  passwordFile: string | undefined;
}

type LabData = 'flat' | 'ipa' | 'none';
/** What `lab up --data` offers; 'none' is the drill's. */
const LAB_DATA: readonly LabData[] = ['flat', 'ipa'];

export interface LabHost {
  /** Short letter name: a, b, c… (a drill's sandbox: the FQDN's first label). */
  short: string;
  fqdn: string;
  /** The inventory name when it is not the FQDN (a drill's sandbox keeps the deployment's names). */
  name?: string;
  address: string;
  /** 1-based index; also the domain replica ID. */
  index: number;
  ca: boolean;
  /** The backends dscreate makes (a non-CA host may still have the CA backend, unreplicated). */
  backends: Array<{ name: string; suffix: string }>;
  /** Replica IDs: of the domain suffix, and of the CA suffix on CA hosts. */
  rids: { domain: number; ca?: number };
  /** The inventory roles. */
  roles: string[];
  /** A controller folder whose files go into the instance's schema folder before it first starts. */
  schemaDir?: string;
}

const LAB_DOMAIN = 'ipa.test';
export const LAB_SUFFIX = 'dc=ipa,dc=test';
export const LAB_CA_SUFFIX = 'o=ipaca';
export const LAB_INSTANCE = 'IPA-TEST';
const LAB_DEPLOYMENT = 'ipa-lab';
const MAX_LAB_HOSTS = 26;
/**
 * The KDC's host number on the lab's net: above any lab host (at most 26) and below 254, which the lab
 * tests' claim on a net holds (test/lab/fixture.ts claimNet).
 */
const KDC_HOST = 250;

export interface LabOptions {
  hosts: number;
  topology: string;
  ca: string;
  caTopology: string | undefined;
  entries: number;
  net: string;
  data: string;
  /** Optional, so that options written before --kerberos still describe a lab (without a realm). */
  kerberos?: boolean;
  /** `--sudo-user`: log in as this user and sudo to root (with `sudoPasswordFile` or `sudoNopasswd`). */
  sudoUser?: string;
  sudoPasswordFile?: string;
  sudoNopasswd?: boolean;
  /** `--init`: online (default) or ldif. */
  init?: string;
}

export const LAB_DEFAULTS: LabOptions = {
  hosts: 3,
  topology: 'chain',
  ca: 'a,b',
  caTopology: undefined,
  entries: 200,
  net: '127.0.10',
  data: 'flat',
  kerberos: false,
  init: 'online',
};

function labHostName(index: number): string {
  return `${String.fromCharCode(96 + index)}.${LAB_DOMAIN}`;
}

export function labSpec(opts: LabOptions): LabSpec {
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_LAB_HOSTS) {
    throw new UsageError(`--hosts: must be a whole number from 1 to ${MAX_LAB_HOSTS}, got ${opts.hosts}`);
  }
  if (!Number.isInteger(opts.entries) || opts.entries < 0 || opts.entries > 1_000_000) {
    throw new UsageError(`--entries: must be a whole number from 0 to 1000000, got ${opts.entries}`);
  }
  if (!LAB_DATA.includes(opts.data as LabData)) {
    throw new UsageError(`--data: must be one of ${LAB_DATA.join(', ')}, got '${opts.data}'`);
  }
  const init = (opts.init ?? 'online') as LabInit;
  if (!LAB_INITS.includes(init)) throw new UsageError(`--init: must be one of ${LAB_INITS.join(', ')}, got '${init}'`);
  const net = /^127\.(\d{1,3})\.(\d{1,3})$/.exec(opts.net);
  if (!net || Number(net[1]) > 255 || Number(net[2]) > 255) {
    throw new UsageError(
      `--net: must be the first three octets of a loopback address like 127.0.10, got '${opts.net}'`,
    );
  }
  const sudo = labSudo(opts);
  const shorts = Array.from({ length: opts.hosts }, (_, i) => String.fromCharCode(97 + i));
  const caShorts =
    opts.ca.trim() === 'none'
      ? []
      : opts.ca
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  for (const s of caShorts) {
    if (!shorts.includes(s)) throw new UsageError(`--ca: '${s}' is not a lab host (hosts are ${shorts.join(', ')})`);
  }
  const hosts: LabHost[] = shorts.map((short, i) => ({
    short,
    fqdn: labHostName(i + 1),
    address: `${opts.net}.${i + 1}`,
    index: i + 1,
    ca: caShorts.includes(short),
    backends: [
      { name: 'userroot', suffix: LAB_SUFFIX },
      { name: 'ipaca', suffix: LAB_CA_SUFFIX },
    ],
    rids: caShorts.includes(short) ? { domain: i + 1, ca: 1000 + i + 1 } : { domain: i + 1 },
    roles: caShorts.includes(short) ? ['ca'] : [],
  }));
  const domainEdges = topologyEdges(opts.topology, shorts, '--topology');
  const caMembers = shorts.filter((s) => caShorts.includes(s));
  const caEdges = topologyEdges(opts.caTopology ?? 'chain', caMembers, '--ca-topology');
  const toFqdn = (s: string): string => hosts.find((h) => h.short === s)!.fqdn;
  return {
    net: opts.net,
    hosts,
    domainEdges: domainEdges.map(([x, y]) => [toFqdn(x), toFqdn(y)]),
    caEdges: caEdges.map(([x, y]) => [toFqdn(x), toFqdn(y)]),
    entries: opts.entries,
    data: opts.data as LabData,
    deployment: LAB_DEPLOYMENT,
    instance: LAB_INSTANCE,
    suffixes: { domain: LAB_SUFFIX, ca: LAB_CA_SUFFIX },
    ...(opts.kerberos ? { kerberos: { realm: LAB_DOMAIN.toUpperCase(), kdcAddress: `${opts.net}.${KDC_HOST}` } } : {}),
    ...(sudo ? { sudo } : {}),
    ...(init === 'ldif' ? { init } : {}),
  };
}

/** `--sudo-user NAME` with exactly one of `--sudo-password-file F` and `--sudo-nopasswd`. */
function labSudo(opts: LabOptions): LabSudo | undefined {
  if (opts.sudoUser === undefined) {
    if (opts.sudoPasswordFile !== undefined || opts.sudoNopasswd)
      throw new UsageError('--sudo-password-file and --sudo-nopasswd need --sudo-user');
    return undefined;
  }
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(opts.sudoUser) || opts.sudoUser === 'root') {
    throw new UsageError(`--sudo-user: '${opts.sudoUser}' is not a user name other than root (like fleetadmin)`);
  }
  if ((opts.sudoPasswordFile !== undefined) === Boolean(opts.sudoNopasswd)) {
    throw new UsageError('--sudo-user: give exactly one of --sudo-password-file FILE and --sudo-nopasswd');
  }
  return { user: opts.sudoUser, passwordFile: opts.sudoPasswordFile };
}

/** The host's name in the lab's inventory. */
export function labHostInventoryName(host: LabHost): string {
  return host.name ?? host.fqdn;
}

/** chain | star | ring | mesh | "a-b,b-c,…" over the given members → undirected edges. */
export function topologyEdges(spec: string, members: string[], option: string): Array<[string, string]> {
  const edges: Array<[string, string]> = [];
  const n = members.length;
  switch (spec) {
    case 'chain':
      for (let i = 1; i < n; i++) edges.push([members[i - 1]!, members[i]!]);
      return edges;
    case 'star':
      for (let i = 1; i < n; i++) edges.push([members[0]!, members[i]!]);
      return edges;
    case 'ring':
      for (let i = 1; i < n; i++) edges.push([members[i - 1]!, members[i]!]);
      if (n > 2) edges.push([members[n - 1]!, members[0]!]);
      return edges;
    case 'mesh':
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) edges.push([members[i]!, members[j]!]);
      return edges;
  }
  const seen = new Set<string>();
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([a-z])-([a-z])$/.exec(part);
    if (!m)
      throw new UsageError(`${option}: '${part}' is not an edge like a-b (use chain, star, ring, mesh or "a-b,b-c")`);
    const [x, y] = [m[1]!, m[2]!];
    for (const h of [x, y]) {
      if (!members.includes(h))
        throw new UsageError(`${option}: '${h}' in '${part}' is not one of ${members.join(', ') || '(no hosts)'}`);
    }
    if (x === y) throw new UsageError(`${option}: '${part}' joins a host to itself`);
    const key = [x, y].sort().join('-');
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push([x, y]);
  }
  if (edges.length === 0 && n > 1) throw new UsageError(`${option}: '${spec}' gives no edges`);
  if (!connected(members, edges)) {
    throw new UsageError(`${option}: '${spec}' leaves some hosts unconnected (${members.join(', ')})`);
  }
  return edges;
}

function connected(members: string[], edges: Array<[string, string]>): boolean {
  if (members.length <= 1) return true;
  const seen = new Set([members[0]!]);
  const queue = [members[0]!];
  while (queue.length) {
    const cur = queue.shift()!;
    for (const [x, y] of edges) {
      const next = x === cur ? y : y === cur ? x : undefined;
      if (next && !seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return members.every((m) => seen.has(m));
}

/**
 * Order in which hosts receive their initial total update: breadth-first from the first
 * host over the edges, each consumer fed by the neighbour that reached it first.
 */
export function initOrder(
  first: string,
  edges: Array<[string, string]>,
): Array<{ supplier: string; consumer: string; level: number }> {
  const out: Array<{ supplier: string; consumer: string; level: number }> = [];
  const seen = new Set([first]);
  let frontier = [first];
  let level = 1;
  while (frontier.length) {
    const next: string[] = [];
    for (const cur of frontier) {
      for (const [x, y] of edges) {
        const peer = x === cur ? y : y === cur ? x : undefined;
        if (peer && !seen.has(peer)) {
          seen.add(peer);
          next.push(peer);
          out.push({ supplier: cur, consumer: peer, level });
        }
      }
    }
    frontier = next;
    level++;
  }
  return out;
}
