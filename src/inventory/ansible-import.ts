// An ansible-freeipa inventory (INI or YAML) → an ipa-fleet inventory. Pure: text in, YAML text and
// warnings out. The servers are the hosts of `ipaserver` (the first one is the deployment's first
// server) and of `ipareplicas`; clients hold no directory and are left out. Each host's variables are
// resolved the way Ansible does (host > child group > parent group > all), then mapped; settings every
// host shares go to all.vars. No secret is ever copied: a password found (literal, template or vault)
// becomes the `prompt` placeholder, and messages name the variable and where it was set, not its value.

import { isAbsolute, resolve } from 'node:path';
import { Document, isScalar, visit } from 'yaml';
import { FleetError } from '../errors.js';
import { LocatedError } from '../located/located-error.js';
import { quote } from '../located/document.js';
import { parseAnsibleInventory, shellWords, type AnsibleInventory, type AnsibleValue } from './ansible-parse.js';
import { parseInventory } from './load.js';
import {
  checkAddress,
  checkDeploymentName,
  checkGroupName,
  checkHostName,
  checkInstanceName,
  checkUser,
  parseJumpTarget,
} from './names.js';

export interface AnsibleImportEnvironment {
  /** Ansible reads a relative key path from the folder it runs in; it is made absolute against this. */
  cwd: string;
  homeDir: string;
}

export interface AnsibleImport {
  /** The ipa-fleet inventory, with comments. */
  yaml: string;
  /** One line each, for stderr; no secret in any of them. */
  warnings: string[];
  /** The converted hosts, the first server first. */
  hosts: string[];
  deployment: string;
}

/** What a secret setting holds until the administrator says where the secret is. */
const PLACEHOLDER = 'prompt';

const SERVER_GROUP = /^ipaservers?$/;
const REPLICA_GROUP = /^ipareplicas?(_.+)?$/;
const CLIENT_GROUP = /^ipaclients?(_.+)?$/;

/** Variables that hold a password although no setting of ipa-fleet takes them. */
const SECRET_NAME = /(^|_)(pass|password|passwd|pin|secret|token)$/i;
const BECOME_PASSWORDS = [
  'ansible_become_password',
  'ansible_become_pass',
  'ansible_sudo_pass',
  'ansible_sudo_password',
];
const NO_SSH_PASSWORD = 'ipa-fleet logs in with a key or an agent, not an SSH password';
const WHY_UNUSED: Record<string, string> = {
  ipaadmin_password: 'ipa-fleet binds as the Directory Manager (ipadm_password), not as the IPA admin',
  ansible_password: NO_SSH_PASSWORD,
  ansible_ssh_pass: NO_SSH_PASSWORD,
  ansible_ssh_password: NO_SSH_PASSWORD,
};

/** The order settings are written in. */
const LEAVES = [
  'ssh.user',
  'ssh.port',
  'ssh.identity_file',
  'ssh.known_hosts',
  'ssh.host_key_policy',
  'ssh.proxy_jump',
  'ssh.become',
  'ssh.become_user',
  'ssh.become_password',
  'ldap.instance',
  'ldap.password',
  'suffixes.domain',
] as const;
type Leaf = (typeof LEAVES)[number];

/** A variable's value for one host, and where it was set. */
interface Resolved {
  value: AnsibleValue;
  /** `group ipa`, `host ipa1.example.com`. */
  origin: string;
}

interface ConvertedHost {
  name: string;
  kind: 'server' | 'replica';
  address: string | undefined;
  roles: string[];
  leaves: Map<Leaf, string | number>;
  domain: string | undefined;
  realm: string | undefined;
}

/** Warnings in order, each once (a group's variable reaches many hosts). */
class Notes {
  readonly lines = new Set<string>();
  readonly unused = new Set<string>();
  constructor(readonly file: string) {}

  about(name: string, at: Resolved, message: string): void {
    this.lines.add(`${this.file}:${at.value.line}: ${name} (${at.origin}): ${message}`);
  }

  add(message: string): void {
    this.lines.add(`${this.file}: ${message}`);
  }
}

export function importAnsibleInventory(text: string, file: string, env: AnsibleImportEnvironment): AnsibleImport {
  const inv = parseAnsibleInventory(text, file);
  const notes = new Notes(file);
  for (const w of inv.warnings) notes.lines.add(w);
  const tree = groupTree(inv);
  const chosen = chooseServers(inv, tree, notes);
  const hosts = chosen.hosts.map(({ name, kind }) =>
    convertHost(inv, name, kind, new HostVars(resolveVars(inv, tree, name), notes), env),
  );
  const deployment = completeNaming(inv, hosts);
  if (notes.unused.size > 0) {
    notes.add(
      `ignored ${notes.unused.size} variable(s) ipa-fleet does not use: ${[...notes.unused].sort().join(', ')}`,
    );
  }
  const yaml = render(inv, tree, hosts, deployment, chosen.leftOut);
  checkLoads(yaml, file, env);
  return { yaml, warnings: [...notes.lines], hosts: hosts.map((h) => h.name), deployment };
}

// --- groups ----------------------------------------------------------------------------------------

interface GroupTree {
  /** Ansible's group depth: all is 0, a group is one deeper than its deepest parent. */
  depth: Map<string, number>;
  parents: Map<string, Set<string>>;
  /** Every host of the group, through its children too, in order. */
  members(group: string): string[];
}

function groupTree(inv: AnsibleInventory): GroupTree {
  const parents = new Map<string, Set<string>>([...inv.groups.keys()].map((g) => [g, new Set<string>()]));
  for (const group of inv.groups.values()) for (const child of group.children) parents.get(child)!.add(group.name);
  for (const [name, set] of parents) if (name !== 'all' && set.size === 0) set.add('all');
  const depth = new Map<string, number>();
  const visiting: string[] = [];
  const depthOf = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (visiting.includes(name)) {
      const cycle = [...visiting.slice(visiting.indexOf(name)), name];
      throw new LocatedError(inv.file, inv.groups.get(name)!.line, undefined, `group cycle: ${cycle.join(' → ')}`);
    }
    visiting.push(name);
    const d = name === 'all' ? 0 : Math.max(...[...parents.get(name)!].map((p) => depthOf(p) + 1));
    visiting.pop();
    depth.set(name, d);
    return d;
  };
  for (const name of inv.groups.keys()) depthOf(name);
  const members = (group: string): string[] => {
    if (group === 'all') return [...inv.hosts.keys()];
    const g = inv.groups.get(group)!;
    return [...new Set([...g.hosts, ...g.children.flatMap(members)])];
  };
  return { depth, parents, members };
}

/** The host's groups: those that list it, their ancestors, and all. */
function groupsOf(inv: AnsibleInventory, tree: GroupTree, host: string): Set<string> {
  const found = new Set<string>(['all']);
  const add = (g: string): void => {
    if (found.has(g)) return;
    found.add(g);
    for (const p of tree.parents.get(g)!) add(p);
  };
  for (const g of inv.groups.values()) if (g.hosts.includes(host)) add(g.name);
  return found;
}

/** Ansible's precedence: groups by depth, then ansible_group_priority, then name; the host's own vars last. */
function resolveVars(inv: AnsibleInventory, tree: GroupTree, host: string): Map<string, Resolved> {
  const priority = (g: string): number => {
    const v = inv.groups.get(g)!.vars.get('ansible_group_priority');
    return v?.kind === 'text' && /^\d+$/.test(v.text) ? Number(v.text) : 1;
  };
  const ordered = [...groupsOf(inv, tree, host)].sort(
    (a, b) => tree.depth.get(a)! - tree.depth.get(b)! || priority(a) - priority(b) || a.localeCompare(b),
  );
  const vars = new Map<string, Resolved>();
  for (const g of ordered) {
    for (const [name, value] of inv.groups.get(g)!.vars) vars.set(name, { value, origin: `group ${g}` });
  }
  for (const [name, value] of inv.hosts.get(host)!.vars) vars.set(name, { value, origin: `host ${host}` });
  vars.delete('ansible_group_priority');
  return vars;
}

interface ChosenHosts {
  hosts: Array<{ name: string; kind: 'server' | 'replica' }>;
  /** Comment lines on what was not converted. */
  leftOut: string[];
}

function chooseServers(inv: AnsibleInventory, tree: GroupTree, notes: Notes): ChosenHosts {
  const named = (re: RegExp): string[] => [...inv.groups.keys()].filter((g) => re.test(g));
  const serverGroups = named(SERVER_GROUP);
  if (serverGroups.length === 0) {
    throw new LocatedError(
      inv.file,
      undefined,
      undefined,
      'no ipaserver group: ansible-freeipa puts the first server in [ipaserver] (YAML: all.children.ipaserver)',
    );
  }
  const servers = [...new Set(serverGroups.flatMap(tree.members))];
  if (servers.length === 0) {
    const group = inv.groups.get(serverGroups[0]!)!;
    throw new LocatedError(inv.file, group.line, undefined, `the ${group.name} group has no hosts`);
  }
  const replicas = [...new Set(named(REPLICA_GROUP).flatMap(tree.members))].filter((h) => !servers.includes(h));
  const taken = new Set([...servers, ...replicas]);
  const clients = [...new Set(named(CLIENT_GROUP).flatMap(tree.members))].filter((h) => !taken.has(h));
  const others = [...inv.hosts.keys()].filter((h) => !taken.has(h) && !clients.includes(h));
  const leftOut: string[] = [];
  if (clients.length > 0)
    leftOut.push(`${clients.length} IPA client(s) (${clients.join(', ')}): clients hold no directory`);
  if (others.length > 0) {
    leftOut.push(`${others.length} host(s) in no ipaserver or ipareplicas group: ${others.join(', ')}`);
  }
  for (const line of leftOut) notes.add(`left out ${line}`);
  return {
    hosts: [
      ...servers.map((name) => ({ name, kind: 'server' as const })),
      ...replicas.map((name) => ({ name, kind: 'replica' as const })),
    ],
    leftOut,
  };
}

// --- one host's variables --------------------------------------------------------------------------

/** One host's resolved variables; every name asked for counts as used, the rest are reported once. */
class HostVars {
  private readonly used = new Set<string>();
  constructor(
    readonly vars: Map<string, Resolved>,
    readonly notes: Notes,
  ) {}

  /** The first of `names` that is set, as text; vault, templates and lists are reported and skipped. */
  text(...names: string[]): { text: string; name: string; at: Resolved } | undefined {
    for (const name of names) this.used.add(name);
    for (const name of names) {
      const at = this.vars.get(name);
      if (!at) continue;
      if (at.value.kind === 'vault') this.notes.about(name, at, 'vault-encrypted: not decrypted, not converted');
      else if (at.value.kind === 'structured') this.notes.about(name, at, 'a list or mapping: not converted');
      else if (at.value.text.includes('{{')) this.notes.about(name, at, 'a Jinja template: not converted');
      else return { text: at.value.text, name, at };
      return undefined;
    }
    return undefined;
  }

  /** Whether the variable is set at all, whatever it holds (a list of certificate files, say). */
  isSet(name: string): boolean {
    this.used.add(name);
    return this.vars.has(name);
  }

  /** Ansible's `bool`: yes, true, on, 1 (any case) are true; any other text is false; unset is undefined. */
  bool(name: string): boolean | undefined {
    const found = this.text(name);
    return found === undefined ? undefined : /^(yes|y|true|on|1)$/i.test(found.text.trim());
  }

  /** Whether any of `names` holds a secret; each one found is reported, its value never read out. */
  secret(names: string[], becomes: string): boolean {
    let found = false;
    for (const name of names) {
      this.used.add(name);
      const at = this.vars.get(name);
      if (!at || (at.value.kind === 'text' && at.value.text === '')) continue;
      found = true;
      this.notes.about(name, at, `${secretKind(at.value)}: not copied; ${becomes} is ${PLACEHOLDER}`);
    }
    return found;
  }

  /** The variables no mapping asked for: secrets get a warning each, the rest one summary line. */
  reportUnused(): void {
    for (const [name, at] of this.vars) {
      if (this.used.has(name)) continue;
      if (SECRET_NAME.test(name) || at.value.kind === 'vault') {
        const why = WHY_UNUSED[name] ?? 'ipa-fleet does not use it';
        this.notes.about(name, at, `${secretKind(at.value)}: not copied; not needed: ${why}`);
      } else {
        this.notes.unused.add(name);
      }
    }
  }

  fail(found: { name: string; at: Resolved }, problem: string): never {
    throw new LocatedError(this.notes.file, found.at.value.line, found.name, `${problem} (${found.at.origin})`);
  }
}

function secretKind(value: AnsibleValue): string {
  if (value.kind === 'vault') return 'vault-encrypted, not decrypted';
  if (value.kind === 'text' && value.text.includes('{{')) return 'a template (the secret is elsewhere)';
  return 'a literal password';
}

function convertHost(
  inv: AnsibleInventory,
  name: string,
  kind: 'server' | 'replica',
  vars: HostVars,
  env: AnsibleImportEnvironment,
): ConvertedHost {
  const nameProblem = checkHostName(name);
  if (nameProblem) throw new LocatedError(inv.file, inv.hosts.get(name)!.line, undefined, nameProblem);
  const leaves = new Map<Leaf, string | number>();
  const address = vars.text('ansible_host', 'ansible_ssh_host');
  if (address) {
    const problem = checkAddress(address.text);
    if (problem) vars.fail(address, problem);
  }
  connection(vars, leaves, env);
  // ipadm_password is the Directory Manager's; it is always asked for, whether the inventory had it or not.
  vars.secret(['ipadm_password'], 'ldap.password');
  leaves.set('ldap.password', PLACEHOLDER);
  const prefix = kind === 'server' ? 'ipaserver' : 'ipareplica';
  const domain = vars.text(...(kind === 'server' ? ['ipaserver_domain'] : ['ipareplica_domain', 'ipaserver_domain']));
  const realm = vars.text(...(kind === 'server' ? ['ipaserver_realm'] : ['ipareplica_realm', 'ipaserver_realm']));
  if (domain) checkDomain(vars, domain);
  const roles = rolesOf(vars, prefix);
  const plugin = vars.text('ansible_connection');
  if (plugin && !/^(ssh|smart|paramiko)$/.test(plugin.text)) {
    vars.notes.about(plugin.name, plugin.at, `${quote(plugin.text)}: ipa-fleet reaches hosts over SSH only`);
  }
  vars.reportUnused();
  return {
    name,
    kind,
    address: address?.text,
    roles,
    leaves,
    domain: domain?.text.replace(/\.$/, '').toLowerCase(),
    realm: realm?.text,
  };
}

/** Two labels or more, the last not a number: `example.com`, not `com` nor the end of an IP address. */
function isDnsDomain(text: string): boolean {
  const label = '[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?';
  return new RegExp(`^${label}(\\.${label})+\\.?$`).test(text) && !/\.\d+\.?$/.test(text);
}

function checkDomain(vars: HostVars, found: { text: string; name: string; at: Resolved }): void {
  if (!isDnsDomain(found.text)) vars.fail(found, `${quote(found.text)} is not a DNS domain such as example.com`);
}

/** ansible-freeipa's setup_* switches; a server has the CA unless told otherwise or installed CA-less. */
function rolesOf(vars: HostVars, prefix: 'ipaserver' | 'ipareplica'): string[] {
  const roles: string[] = [];
  if (prefix === 'ipaserver') {
    const caLess = ['ipaserver_dirsrv_cert_files', 'ipaserver_http_cert_files'].some((n) => vars.isSet(n));
    if (vars.bool('ipaserver_setup_ca') !== false && !caLess) roles.push('ca');
  } else if (vars.bool('ipareplica_setup_ca')) {
    roles.push('ca');
  }
  for (const role of ['kra', 'dns', 'adtrust']) if (vars.bool(`${prefix}_setup_${role}`)) roles.push(role);
  return roles;
}

/** SSH login and sudo: ansible_user/port/key, the ssh options ipa-fleet has, ansible_become. */
function connection(vars: HostVars, leaves: Map<Leaf, string | number>, env: AnsibleImportEnvironment): void {
  const user = vars.text('ansible_user', 'ansible_ssh_user', 'ansible_remote_user');
  if (user) {
    const problem = checkUser(user.text);
    if (problem) vars.fail(user, problem);
    leaves.set('ssh.user', user.text);
  }
  const port = vars.text('ansible_port', 'ansible_ssh_port');
  if (port) {
    if (!/^\d{1,5}$/.test(port.text) || Number(port.text) < 1 || Number(port.text) > 65535) {
      vars.fail(port, 'must be a port number between 1 and 65535');
    }
    leaves.set('ssh.port', Number(port.text));
  }
  const key = vars.text('ansible_ssh_private_key_file', 'ansible_private_key_file');
  if (key) leaves.set('ssh.identity_file', controllerPath(key.text, env));
  leaves.set('ssh.known_hosts', '~/.ssh/known_hosts');
  for (const name of ['ansible_ssh_common_args', 'ansible_ssh_extra_args']) {
    const args = vars.text(name);
    if (args) sshOptions(vars, args, leaves, env);
  }
  become(vars, leaves, user?.text);
}

/** ansible-freeipa's playbooks all say `become: true`: a login other than root means sudo unless told not to. */
function become(vars: HostVars, leaves: Map<Leaf, string | number>, user: string | undefined): void {
  const asked = vars.bool('ansible_become');
  if (!(asked ?? (user !== undefined && user !== 'root'))) return;
  leaves.set('ssh.become', 'sudo');
  const method = vars.text('ansible_become_method');
  if (method && method.text !== 'sudo') {
    vars.notes.about(method.name, method.at, `${quote(method.text)}: ipa-fleet only uses sudo (ssh.become: sudo)`);
  }
  const target = vars.text('ansible_become_user');
  if (target && target.text !== 'root') {
    const problem = checkUser(target.text);
    if (problem) vars.fail(target, problem);
    leaves.set('ssh.become_user', target.text);
  }
  if (vars.secret(BECOME_PASSWORDS, 'ssh.become_password')) leaves.set('ssh.become_password', PLACEHOLDER);
}

/** `~` stays (ipa-fleet expands it); a relative path is where ansible-playbook run from `cwd` finds it. */
function controllerPath(path: string, env: AnsibleImportEnvironment): string {
  return path === '~' || path.startsWith('~/') || isAbsolute(path) ? path : resolve(env.cwd, path);
}

/** The options of ansible_ssh_common_args that ipa-fleet has: ProxyJump (or a plain ProxyCommand), known_hosts. */
function sshOptions(
  vars: HostVars,
  found: { text: string; name: string; at: Resolved },
  leaves: Map<Leaf, string | number>,
  env: AnsibleImportEnvironment,
): void {
  const words = shellWords(found.text);
  if ('problem' in words) vars.fail(found, words.problem.replace(' on the host line', ''));
  const list = 'words' in words ? words.words : [];
  const skipped: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const word = list[i]!;
    const flag = /^-([oJ])(.*)$/.exec(word);
    const arg = flag ? flag[2] || list[++i] : undefined;
    const option = flag?.[1] === 'J' ? ['ProxyJump', arg] : /^([A-Za-z]+)\s*(?:=|\s)\s*(.*)$/.exec(arg ?? '')?.slice(1);
    if (!flag || arg === undefined || !option) {
      skipped.push(word.startsWith('-') ? word.slice(0, 2) : 'an argument');
      continue;
    }
    const done = sshOption(option[0]!, option[1]!, leaves, env);
    if (done !== true) skipped.push(done);
  }
  if (skipped.length > 0) {
    vars.notes.about(found.name, found.at, `not carried over: ${[...new Set(skipped)].join(', ')}`);
  }
}

/** One `-o Option=value`; true when carried over, else the name of what was left (for the warning). */
function sshOption(
  option: string,
  value: string,
  leaves: Map<Leaf, string | number>,
  env: AnsibleImportEnvironment,
): true | string {
  switch (option.toLowerCase()) {
    case 'proxyjump': {
      if ('problem' in parseJumpTarget(value) || value === 'none')
        return 'ProxyJump (ipa-fleet takes one [user@]host[:port])';
      leaves.set('ssh.proxy_jump', value);
      return true;
    }
    case 'proxycommand': {
      // `ssh -W %h:%p [-q] [-p PORT] [-l USER] [user@]bastion` is a jump host written the old way.
      const m = /^ssh(?:\s+-q)?\s+-W\s*%h:%p(?:\s+-q)?(?:\s+-p\s*(\d+))?(?:\s+-l\s*(\S+))?(?:\s+-q)?\s+(\S+)$/.exec(
        value,
      );
      if (!m) return 'ProxyCommand (only ssh -W %h:%p [user@]host is understood)';
      const jump = `${m[2] ? `${m[2]}@` : ''}${m[3]}${m[1] ? `:${m[1]}` : ''}`;
      if ('problem' in parseJumpTarget(jump)) return 'ProxyCommand';
      leaves.set('ssh.proxy_jump', jump);
      return true;
    }
    case 'userknownhostsfile': {
      const first = value.trim().split(/\s+/)[0] ?? '';
      if (first === '' || first === '/dev/null') return 'UserKnownHostsFile (ipa-fleet always checks host keys)';
      leaves.set('ssh.known_hosts', controllerPath(first, env));
      return true;
    }
    case 'stricthostkeychecking': {
      const v = value.toLowerCase();
      if (v === 'accept-new' || v === 'no' || v === 'off') leaves.set('ssh.host_key_policy', 'accept-new');
      // ipa-fleet never skips the check: `no` is read as accept-new (a changed key is still refused).
      return v === 'no' || v === 'off' ? 'StrictHostKeyChecking=no (accept-new written instead)' : true;
    }
    default:
      return option;
  }
}

// --- naming: domain, realm, instance, deployment ---------------------------------------------------

/**
 * Fills each host's domain suffix and instance. A host without ipaserver_domain takes the first
 * server's; the first server without one takes its own name's domain, as ipa-server-install does.
 * The realm defaults to the domain in capitals; the instance is the realm with dots turned to dashes.
 */
function completeNaming(inv: AnsibleInventory, hosts: ConvertedHost[]): string {
  const first = hosts[0]!;
  if (first.domain === undefined) {
    const dot = first.name.indexOf('.');
    if (dot < 0 || !isDnsDomain(first.name.slice(dot + 1))) {
      throw new LocatedError(
        inv.file,
        inv.hosts.get(first.name)!.line,
        undefined,
        `ipaserver_domain is not set and ${quote(first.name)} is not a fully qualified name to take it from`,
      );
    }
    first.domain = first.name.slice(dot + 1).toLowerCase();
  }
  for (const host of hosts) {
    host.domain ??= first.domain;
    host.realm ??= host === first || first.realm === undefined ? host.domain.toUpperCase() : first.realm;
    const instance = host.realm.replace(/\./g, '-');
    const problem = checkInstanceName(instance);
    if (problem) {
      throw new LocatedError(
        inv.file,
        inv.hosts.get(host.name)!.line,
        undefined,
        `realm ${quote(host.realm)}: ${problem}`,
      );
    }
    host.leaves.set('ldap.instance', instance);
    host.leaves.set(
      'suffixes.domain',
      host.domain
        .split('.')
        .map((l) => `dc=${l}`)
        .join(','),
    );
  }
  const deployment = first.domain.replace(/\./g, '-');
  if (checkDeploymentName(deployment))
    throw new FleetError('usage', `${inv.file}: no deployment name from ${first.domain}`);
  return deployment;
}

// --- the ipa-fleet inventory -----------------------------------------------------------------------

function nest(leaves: Iterable<[Leaf, string | number]>): Record<string, Record<string, string | number>> {
  const out: Record<string, Record<string, string | number>> = {};
  for (const [leaf, value] of leaves) {
    const [section, key] = leaf.split('.') as [string, string];
    out[section] = { ...out[section], [key]: value };
  }
  return out;
}

/** Settings every host has with the same value go to all.vars; the rest stay on their hosts. */
function hoist(hosts: ConvertedHost[]): {
  shared: Map<Leaf, string | number>;
  own: Map<string, Map<Leaf, string | number>>;
} {
  const shared = new Map<Leaf, string | number>();
  for (const leaf of LEAVES) {
    const values = hosts.map((h) => h.leaves.get(leaf));
    if (values[0] !== undefined && values.every((v) => v === values[0])) shared.set(leaf, values[0]);
  }
  const own = new Map(
    hosts.map((h) => [
      h.name,
      new Map(LEAVES.filter((l) => h.leaves.has(l) && !shared.has(l)).map((l) => [l, h.leaves.get(l)!])),
    ]),
  );
  return { shared, own };
}

function render(
  inv: AnsibleInventory,
  tree: GroupTree,
  hosts: ConvertedHost[],
  deployment: string,
  leftOut: string[],
): string {
  const { shared, own } = hoist(hosts);
  const hostEntries = Object.fromEntries(
    hosts.map((h) => [
      h.name,
      { ...(h.address ? { address: h.address } : {}), roles: h.roles, ...nest(own.get(h.name)!) },
    ]),
  );
  const children = groupEntries(
    inv,
    tree,
    hosts.map((h) => h.name),
  );
  const doc = new Document({
    all: {
      vars: {
        deployment,
        profile: 'freeipa',
        ...nest(LEAVES.filter((l) => shared.has(l)).map((l) => [l, shared.get(l)!])),
      },
      hosts: hostEntries,
      ...(Object.keys(children).length > 0 ? { children } : {}),
    },
  });
  visit(doc, {
    Seq: (_key, node) => {
      node.flow = true;
    },
    Map: (_key, node) => {
      // A host with only an address and roles fits on one line.
      if (node.items.every((p) => isScalar(p.key) && ['address', 'roles'].includes(String(p.key.value))))
        node.flow = true;
    },
    Scalar: (_key, node) => {
      if (node.value === PLACEHOLDER)
        node.comment = ' asked on the terminal; for unattended runs: file:PATH or env:NAME';
    },
  });
  doc.commentBefore = header(inv, hosts, leftOut);
  return doc.toString({ nullStr: '', lineWidth: 0, flowCollectionPadding: false });
}

function header(inv: AnsibleInventory, hosts: ConvertedHost[], leftOut: string[]): string {
  const lines = [
    ` ipa-fleet inventory converted from the Ansible inventory ${inv.file} (${inv.format})`,
    ' by `ipa-fleet inventory import-ansible`. Check it: ipa-fleet -i THIS_FILE inventory check',
    '',
    ` Secrets: no password was copied from the Ansible inventory. Each secret here is \`${PLACEHOLDER}\``,
    ' (asked on the terminal when needed); replace it with file:PATH (a 0600 file holding it) or',
    ' env:NAME for unattended runs such as scheduled backups.',
    ` The first server, ${hosts[0]!.name}, is listed first: commands that default to one host take it.`,
  ];
  if (!hosts.some((h) => h.leaves.has('ssh.user'))) {
    lines.push(
      ' No ansible_user: ipa-fleet logs in as root, or with ssh.transport: openssh as ~/.ssh/config or',
      ' your local user say, like Ansible (set ssh.user, and ssh.become: sudo, if root may not log in).',
    );
  }
  for (const line of leftOut) lines.push(` Left out: ${line}.`);
  return lines.join('\n');
}

/**
 * The Ansible groups that hold a converted host, nested as they were, so --limit takes the same
 * names (ipaserver, ipareplicas, …). A group listed under several parents is written once in full.
 * Groups whose names ipa-fleet cannot take are left out (their hosts stay).
 */
function groupEntries(inv: AnsibleInventory, tree: GroupTree, hosts: string[]): Record<string, unknown> {
  const relevant = new Set(
    [...inv.groups.keys()].filter(
      (g) =>
        g !== 'all' &&
        g !== 'ungrouped' &&
        checkGroupName(g) === undefined &&
        !inv.hosts.has(g) &&
        tree.members(g).some((h) => hosts.includes(h)),
    ),
  );
  const written = new Set<string>();
  const entry = (name: string): unknown => {
    if (written.has(name)) return null;
    written.add(name);
    const g = inv.groups.get(name)!;
    const own = g.hosts.filter((h) => hosts.includes(h));
    const kids = g.children.filter((c) => relevant.has(c));
    return {
      ...(own.length > 0 ? { hosts: Object.fromEntries(own.map((h) => [h, null])) } : {}),
      ...(kids.length > 0 ? { children: Object.fromEntries(kids.map((c) => [c, entry(c)])) } : {}),
    };
  };
  const top = [...relevant].filter((g) => ![...tree.parents.get(g)!].some((p) => relevant.has(p)));
  return Object.fromEntries(top.map((g) => [g, entry(g)]));
}

/** The result must load as it is (placeholders included); anything else is a bug here, said as such. */
function checkLoads(yaml: string, file: string, env: AnsibleImportEnvironment): void {
  try {
    parseInventory(yaml, 'imported.yaml', { homeDir: env.homeDir, hasLocalKnownHosts: false });
  } catch (err) {
    if (!(err instanceof FleetError)) throw err;
    throw new FleetError('usage', `${file}: the converted inventory does not load: ${err.message}`);
  }
}
