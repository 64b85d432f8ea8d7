// Loads an Ansible-shaped YAML inventory into the resolved model.
//
// Precedence, per setting: the host's own value, else the most specific group that sets it (a child
// group beats its parents, `all` is the parent of every group). Two groups that are not nested and
// disagree are refused rather than ordered by name: on a restore, a silently chosen port or role is
// worse than an error. The nested mappings (ssh, ldap, suffixes) merge key by key; lists replace.

import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { LocatedError } from '../located/located-error.js';
import { childPath, quote, readDocument, type DocMap, type DocNode } from '../located/document.js';
import { DEFAULTS, type BecomeSettings, type Host, type Inventory, type SshSettings } from './model.js';
import { checkAddress, checkDeploymentName, checkGroupName, checkHostName } from './names.js';
import {
  SECTIONS,
  SETTINGS,
  isSettingName,
  keysOf,
  suggestSettingKey,
  type Section,
  type SettingContext,
  type SettingName,
  type SettingValues,
} from './schema.js';
import { closest } from '../located/suggest.js';
import { readInputFile } from '../text-file.js';

/** What parsing needs to know about the machine; loadInventory finds it out, tests pass it in. */
export interface InventoryEnvironment {
  /** For `~/` and the default known_hosts (default: os.homedir()). */
  homeDir: string;
  /** Whether `<inventory dir>/known_hosts` exists; if so it is the default known_hosts file. */
  hasLocalKnownHosts: boolean;
}

export async function loadInventory(file: string): Promise<Inventory> {
  const text = await readInputFile(file, 'inventory');
  const localKnownHosts = join(dirname(resolve(file)), 'known_hosts');
  const hasLocalKnownHosts = await stat(localKnownHosts).then(
    (s) => s.isFile(),
    () => false,
  );
  return parseInventory(text, file, { homeDir: homedir(), hasLocalKnownHosts });
}

interface Leaf<T> {
  value: T;
  line: number;
  path: string;
}

/** The settings one host or group declares itself. */
type Layer = { [K in SettingName]?: Leaf<SettingValues[K]> };

interface GroupDecl {
  name: string;
  line: number;
  path: string;
  parents: Set<string>;
  children: Array<{ name: string; line: number; path: string }>;
  vars: Layer;
}

interface HostDecl {
  name: string;
  line: number;
  path: string;
  /** Groups that list the host under `hosts`. */
  directGroups: Set<string>;
  vars: Layer;
}

const GROUP_KEYS = ['hosts', 'vars', 'children'];

/** What reading the document declares: every group and host with its own settings, and the deployment name. */
interface Declarations {
  file: string;
  ctx: SettingContext;
  groups: Map<string, GroupDecl>;
  hosts: Map<string, HostDecl>;
  deployment?: Leaf<string>;
}

/** Where the declarations put each host: its groups in declaration order, and each group's ancestors. */
interface Ancestry {
  groupOrder: string[];
  memberships: Map<string, string[]>;
  ancestorsOf(name: string): Set<string>;
}

function fail(file: string, line: number | undefined, key: string | undefined, problem: string): never {
  throw new LocatedError(file, line, key || undefined, problem);
}

/** Parses inventory text. Pure apart from `env` defaults; `file` is used for messages and relative paths. */
export function parseInventory(text: string, file: string, env: Partial<InventoryEnvironment> = {}): Inventory {
  const homeDir = env.homeDir ?? homedir();
  const ctx: SettingContext = { file, baseDir: dirname(resolve(file)), homeDir };
  const decls: Declarations = { file, ctx, groups: new Map(), hosts: new Map() };

  const allEntry = declareAll(decls, text);
  checkHostGroupClashes(decls);
  checkGroupCycles(decls);
  const ancestry = ancestryOf(decls);
  if (decls.hosts.size === 0) fail(file, allEntry.keyLine, 'all', 'the inventory has no hosts');

  const localKnownHosts = join(ctx.baseDir, 'known_hosts');
  const defaultKnownHosts = env.hasLocalKnownHosts ? localKnownHosts : join(homeDir, '.ssh', 'known_hosts');
  const resolved: Host[] = [];
  const jumpLeaves = new Map<string, Leaf<string | null>>();
  for (const decl of decls.hosts.values()) {
    resolved.push(resolveHost(decls, ancestry, decl, defaultKnownHosts, jumpLeaves));
  }
  checkJumpLoops(decls, jumpLeaves);
  const deploymentName = deploymentNameOf(decls);

  const groupMembers = new Map<string, string[]>();
  for (const g of ancestry.groupOrder) {
    groupMembers.set(
      g,
      resolved.filter((h) => h.groups.includes(g)).map((h) => h.name),
    );
  }
  return { file, deployment: deploymentName, hosts: resolved, groups: groupMembers };
}

// --- the document: top level, groups, hosts, settings ---------------------------------------------

/** Reads the document, checks its top level and declares the `all` group with everything under it. */
function declareAll(decls: Declarations, text: string): { keyLine: number } {
  const { file } = decls;
  const root = readDocument(text, file);
  if (root === null) fail(file, 1, undefined, "the inventory is empty; expected a top-level 'all' mapping");
  if (root.kind !== 'map') {
    fail(file, root.line, undefined, "the top level must be a mapping with the single key 'all'");
  }
  const top = root;
  for (const { key, keyLine } of top.entries) {
    if (key !== 'all') {
      fail(
        file,
        keyLine,
        childPath('', key),
        closest(key, ['all'])
          ? 'unknown key; did you mean all?'
          : "only 'all' is allowed at the top level; declare groups under all.children",
      );
    }
  }
  const allEntry = top.entries.find((e) => e.key === 'all');
  if (!allEntry) fail(file, top.line, undefined, "missing the top-level 'all' mapping");
  declareGroup(decls, 'all', allEntry.keyLine, 'all', allEntry.value, undefined);
  return allEntry;
}

function declareGroup(
  decls: Declarations,
  name: string,
  line: number,
  path: string,
  node: DocNode,
  parent: GroupDecl | undefined,
): void {
  const { file } = decls;
  let group = decls.groups.get(name);
  if (!group) {
    group = { name, line, path, parents: new Set(), children: [], vars: {} };
    decls.groups.set(name, group);
  }
  if (parent) {
    parent.children.push({ name, line, path });
    group.parents.add(parent.name);
  }
  if (node.kind === 'scalar' && node.value === null) return;
  if (node.kind !== 'map') fail(file, node.line, path, 'a group must be a mapping with hosts, vars and/or children');
  for (const { key, keyLine, value } of node.entries) {
    const keyPath = childPath(path, key);
    const empty = value.kind === 'scalar' && value.value === null;
    if (GROUP_KEYS.includes(key) && !empty && value.kind !== 'map') {
      fail(
        file,
        value.line,
        keyPath,
        key === 'hosts'
          ? 'must be a mapping of host names (each with its settings, or empty), not a list'
          : `must be a mapping, not ${value.kind === 'seq' ? 'a list' : 'a single value'}`,
      );
    }
    const entries = empty ? [] : (value as DocMap).entries;
    if (key === 'hosts') {
      for (const entry of entries) {
        declareHost(decls, entry.key, entry.keyLine, childPath(keyPath, entry.key), entry.value, name);
      }
    } else if (key === 'vars') {
      if (!empty) {
        readSettings(decls, value as DocMap, group.vars, `group '${name}'`, name === 'all' ? 'all' : 'group');
      }
    } else if (key === 'children') {
      for (const entry of entries) {
        const childKeyPath = childPath(keyPath, entry.key);
        const problem = checkGroupName(entry.key);
        if (problem) fail(file, entry.keyLine, childKeyPath, problem);
        declareGroup(decls, entry.key, entry.keyLine, childKeyPath, entry.value, group);
      }
    } else {
      fail(file, keyLine, keyPath, unknownGroupKey(key));
    }
  }
}

/** The message for a key a group does not have: a setting outside vars, or a misspelt group key. */
function unknownGroupKey(key: string): string {
  const isSetting = isSettingName(key) || (SECTIONS as readonly string[]).includes(key) || key === 'deployment';
  const hint = isSetting ? `group settings go under vars: did you mean vars.${key}?` : closest(key, GROUP_KEYS);
  return `unknown key; ${isSetting ? hint : hint ? `did you mean ${hint}?` : `a group has ${GROUP_KEYS.join(', ')}`}`;
}

function declareHost(decls: Declarations, name: string, line: number, path: string, node: DocNode, group: string) {
  const { file } = decls;
  const problem = checkHostName(name);
  if (problem) fail(file, line, path, problem);
  let host = decls.hosts.get(name);
  if (!host) {
    host = { name, line, path, directGroups: new Set(), vars: {} };
    decls.hosts.set(name, host);
  }
  host.directGroups.add(group);
  if (node.kind === 'scalar' && node.value === null) return;
  if (node.kind !== 'map') fail(file, node.line, path, 'host settings must be a mapping (or empty)');
  readSettings(decls, node, host.vars, `host ${quote(name)}`, 'host');
}

/** Host settings, or a group's vars (`level` says which; `all` may also name the deployment). */
function readSettings(decls: Declarations, node: DocMap, layer: Layer, owner: string, level: SettingsLevel): void {
  const { file } = decls;
  for (const { key, keyLine, value } of node.entries) {
    const path = childPath(node.path, key);
    if ((SECTIONS as readonly string[]).includes(key)) {
      readSection(decls, key as Section, value, path, layer, owner);
    } else if (key === 'deployment') {
      if (level !== 'all') fail(file, keyLine, path, 'the deployment name can only be set in all.vars');
      const name = value.kind === 'scalar' && typeof value.value === 'string' ? value.value : '';
      if (name === '') fail(file, value.line, path, 'must be a non-empty string');
      const problem = checkDeploymentName(name);
      if (problem) fail(file, value.line, path, problem);
      decls.deployment = { value: name, line: value.line, path };
    } else if (key === 'address' && level !== 'host') {
      fail(file, keyLine, path, 'address is per host; set it under the host, not in group vars');
    } else if (isSettingName(key) && !key.includes('.')) {
      setLeaf(decls, layer, key, value, owner);
    } else if (level === 'host' && GROUP_KEYS.includes(key)) {
      const settings = `${keysOf(undefined).join(', ')}, ${SECTIONS.join(', ')}`;
      fail(file, keyLine, path, `a host has no ${key}; its settings (${settings}) go directly under its name`);
    } else {
      const expected = [
        ...keysOf(undefined).filter((k) => level === 'host' || k !== 'address'),
        ...SECTIONS,
        ...(level === 'all' ? ['deployment'] : []),
      ];
      unknownKey(file, keyLine, path, suggestSettingKey(key, undefined), expected);
    }
  }
}

type SettingsLevel = 'host' | 'group' | 'all';

/** One nested section (ssh, ldap, suffixes) of a host's settings or a group's vars. */
function readSection(decls: Declarations, section: Section, value: DocNode, path: string, layer: Layer, owner: string) {
  if (value.kind === 'scalar' && value.value === null) return;
  if (value.kind !== 'map') {
    fail(decls.file, value.line, path, `must be a mapping of ${section} settings (${keysOf(section).join(', ')})`);
  }
  for (const entry of value.entries) {
    const name = `${section}.${entry.key}`;
    if (isSettingName(name)) setLeaf(decls, layer, name, entry.value, owner);
    else {
      const hint = suggestSettingKey(entry.key, section);
      unknownKey(decls.file, entry.keyLine, childPath(path, entry.key), hint, keysOf(section));
    }
  }
}

function setLeaf(decls: Declarations, layer: Layer, name: SettingName, node: DocNode, owner: string): void {
  const earlier = layer[name];
  if (earlier) fail(decls.file, node.line, node.path, `already set for ${owner} at line ${earlier.line}; set it once`);
  (layer as Record<string, Leaf<unknown>>)[name] = {
    value: SETTINGS[name](node, decls.ctx),
    line: node.line,
    path: node.path,
  };
}

function unknownKey(file: string, line: number, path: string, hint: string, expected: readonly string[]): never {
  return fail(file, line, path, hint ? `unknown key; ${hint}` : `unknown key (expected ${expected.join(', ')})`);
}

// --- groups: names, cycles, ancestry ---------------------------------------------------------------

function checkHostGroupClashes({ file, groups, hosts }: Declarations): void {
  for (const group of groups.values()) {
    const host = hosts.get(group.name);
    if (host) {
      const [later, other] = host.line > group.line ? [host, group] : [group, host];
      fail(
        file,
        later.line,
        later.path,
        `${quote(group.name)} is both a host and a group (see line ${other.line}); --limit could not tell them apart`,
      );
    }
  }
}

function checkGroupCycles({ file, groups }: Declarations): void {
  const visiting: string[] = [];
  const done = new Set<string>();
  const visit = (name: string): void => {
    visiting.push(name);
    for (const child of groups.get(name)!.children) {
      const at = visiting.indexOf(child.name);
      if (at >= 0) {
        fail(file, child.line, child.path, `group cycle: ${[...visiting.slice(at), child.name].join(' → ')}`);
      }
      if (!done.has(child.name)) visit(child.name);
    }
    visiting.pop();
    done.add(name);
  };
  visit('all');
}

/** Each group's ancestors (memoised) and each host's groups: `all`, its direct groups and their ancestors. */
function ancestryOf({ groups, hosts }: Declarations): Ancestry {
  const ancestry = new Map<string, Set<string>>();
  const ancestorsOf = (name: string): Set<string> => {
    let result = ancestry.get(name);
    if (!result) {
      result = new Set<string>();
      for (const parent of groups.get(name)!.parents) {
        result.add(parent);
        for (const a of ancestorsOf(parent)) result.add(a);
      }
      ancestry.set(name, result);
    }
    return result;
  };
  const groupOrder = [...groups.keys()];
  const memberships = new Map<string, string[]>();
  for (const host of hosts.values()) {
    const member = new Set<string>(['all']);
    for (const g of host.directGroups) {
      member.add(g);
      for (const a of ancestorsOf(g)) member.add(a);
    }
    memberships.set(
      host.name,
      groupOrder.filter((g) => member.has(g)),
    );
  }
  return { groupOrder, memberships, ancestorsOf };
}

// --- resolve each host -----------------------------------------------------------------------------

/** The host's own value, else the most specific group's; groups that are not nested must agree. */
function resolveLeaf<K extends SettingName>(
  { file, groups }: Declarations,
  { memberships, ancestorsOf }: Ancestry,
  host: HostDecl,
  name: K,
): Leaf<SettingValues[K]> | undefined {
  const own = host.vars[name];
  if (own) return own as Leaf<SettingValues[K]>;
  const candidates = memberships
    .get(host.name)!
    .filter((g) => groups.get(g)!.vars[name] !== undefined)
    .map((g) => ({ group: g, leaf: groups.get(g)!.vars[name] as Leaf<SettingValues[K]> }));
  // Drop every group that is an ancestor of another candidate: the child is more specific.
  const specific = candidates.filter((c) => !candidates.some((o) => o !== c && ancestorsOf(o.group).has(c.group)));
  const [first, ...rest] = specific;
  for (const other of rest) {
    if (JSON.stringify(other.leaf.value) !== JSON.stringify(first!.leaf.value)) {
      const [a, b] = other.leaf.line >= first!.leaf.line ? [first!, other] : [other, first!];
      fail(
        file,
        b.leaf.line,
        b.leaf.path,
        `host ${quote(host.name)} is in groups '${a.group}' and '${b.group}', ` +
          `which set this differently (see line ${a.leaf.line}) ` +
          'and neither group contains the other; set it on the host or in one group',
      );
    }
  }
  return first?.leaf;
}

/** One host's resolved settings, looked up by name. */
interface HostSettings {
  leaf<K extends SettingName>(name: K): Leaf<SettingValues[K]> | undefined;
  value<K extends SettingName>(name: K): SettingValues[K] | undefined;
  required<K extends SettingName>(name: K): SettingValues[K];
}

function hostSettings(decls: Declarations, ancestry: Ancestry, decl: HostDecl): HostSettings {
  const leaf = <K extends SettingName>(name: K): Leaf<SettingValues[K]> | undefined =>
    resolveLeaf(decls, ancestry, decl, name);
  const value = <K extends SettingName>(name: K): SettingValues[K] | undefined => leaf(name)?.value;
  const required = <K extends SettingName>(name: K): SettingValues[K] => {
    const found = value(name);
    if (found === undefined) {
      const groups = ancestry.memberships.get(decl.name)!.join(', ');
      fail(
        decls.file,
        decl.line,
        childPath(decl.path, name),
        `is required; set it on the host or in the vars of one of its groups (${groups})`,
      );
    }
    return found!;
  };
  return { leaf, value, required };
}

/** The ssh section of one host; its inventory jump host (if any) goes into `jumpLeaves`. */
function sshSettingsOf(
  file: string,
  s: HostSettings,
  name: string,
  defaultKnownHosts: string,
  jumpLeaves: Map<string, Leaf<string | null>>,
): SshSettings {
  const { leaf, value } = s;
  const passphrase = leaf('ssh.identity_passphrase');
  const identityFile = value('ssh.identity_file');
  if (passphrase && identityFile === undefined) {
    fail(
      file,
      passphrase.line,
      passphrase.path,
      'identity_passphrase is set but identity_file is not (ssh-agent keys need no passphrase here)',
    );
  }
  const jump = leaf('ssh.proxy_jump');
  if (jump && jump.value !== null) jumpLeaves.set(name, jump);
  return {
    transport: value('ssh.transport') ?? DEFAULTS.sshTransport,
    user: value('ssh.user') ?? DEFAULTS.sshUser,
    userGiven: value('ssh.user') !== undefined,
    become: becomeOf(file, s),
    port: value('ssh.port') ?? DEFAULTS.sshPort,
    identityFile,
    identityPassphrase: passphrase?.value,
    knownHostsFile: value('ssh.known_hosts') ?? defaultKnownHosts,
    hostKeyPolicy: value('ssh.host_key_policy') ?? 'strict',
    proxyJump: jump?.value ?? undefined,
    connectTimeoutMs: value('ssh.connect_timeout') ?? DEFAULTS.connectTimeoutMs,
    connectRetries: value('ssh.connect_retries') ?? DEFAULTS.connectRetries,
    keepaliveIntervalMs: value('ssh.keepalive_interval') ?? DEFAULTS.keepaliveIntervalMs,
  };
}

/** `ssh.become` with its user and password; either of those without `become: sudo` is a mistake. */
function becomeOf(file: string, { leaf, value }: HostSettings): BecomeSettings | undefined {
  const method = value('ssh.become');
  if (method === undefined) {
    const stray = leaf('ssh.become_user') ?? leaf('ssh.become_password');
    if (stray) fail(file, stray.line, stray.path, `${stray.path.split('.').pop()} is set but ssh.become is not`);
    return undefined;
  }
  return { method, user: value('ssh.become_user') ?? DEFAULTS.becomeUser, password: value('ssh.become_password') };
}

/** Resolves one host; its inventory jump host (if any) goes into `jumpLeaves` for the loop check. */
function resolveHost(
  decls: Declarations,
  ancestry: Ancestry,
  decl: HostDecl,
  defaultKnownHosts: string,
  jumpLeaves: Map<string, Leaf<string | null>>,
): Host {
  const { file } = decls;
  const s = hostSettings(decls, ancestry, decl);
  const { leaf, value, required } = s;
  const address = value('address') ?? decl.name;
  if (value('address') === undefined) {
    // The name doubles as the address; it passed the host-name check but may still not be one.
    const problem = checkAddress(address);
    if (problem) fail(file, decl.line, decl.path, `${problem} (a host's name is its address unless address is set)`);
  }

  const caInstance = leaf('suffixes.ca_instance');
  const caPort = leaf('suffixes.ca_port');
  if (caPort && !caInstance) {
    fail(file, caPort.line, caPort.path, 'ca_port is for a separate CA instance; set suffixes.ca_instance too');
  }
  if (caInstance && !caPort) {
    const problem = 'set suffixes.ca_port too (a separate CA instance usually listens on 7389)';
    fail(file, caInstance.line, caInstance.path, problem);
  }

  const ssh = sshSettingsOf(file, s, decl.name, defaultKnownHosts, jumpLeaves);
  const direct = value('ldap.direct');
  return {
    name: decl.name,
    address,
    groups: ancestry.memberships.get(decl.name)!,
    roles: value('roles') ?? [],
    profile: value('profile') ?? DEFAULTS.profile,
    ssh,
    ldap: {
      instance: required('ldap.instance'),
      port: value('ldap.port') ?? (direct === 'ldaps' ? DEFAULTS.ldapsPort : DEFAULTS.ldapPort),
      bindDn: value('ldap.bind_dn') ?? DEFAULTS.bindDn,
      password: required('ldap.password'),
      direct,
      caFile: value('ldap.ca_file'),
      timeoutMs: value('ldap.timeout') ?? DEFAULTS.ldapTimeoutMs,
    },
    suffixes: {
      domain: required('suffixes.domain'),
      ca: {
        suffix: value('suffixes.ca') ?? DEFAULTS.caSuffix,
        instance: caInstance?.value,
        port: caPort?.value,
      },
    },
    source: { file, line: decl.line },
  };
}

// --- jump hosts and the deployment name ------------------------------------------------------------

/** The jump hosts that are inventory hosts must not loop. */
function checkJumpLoops({ file, hosts }: Declarations, jumpLeaves: Map<string, Leaf<string | null>>): void {
  for (const [name, jump] of jumpLeaves) {
    const chain = [name];
    let next = jump.value;
    while (next !== null && hosts.has(next)) {
      if (chain.includes(next)) {
        fail(
          file,
          jump.line,
          jump.path,
          next === name && chain.length === 1
            ? `host ${quote(name)} would jump through itself; give it proxy_jump: none`
            : `proxy_jump loops: ${[...chain, next].join(' → ')}`,
        );
      }
      chain.push(next);
      next = jumpLeaves.get(next)?.value ?? null;
    }
  }
}

/** all.vars.deployment, else the inventory's file name. */
function deploymentNameOf({ file, deployment }: Declarations): string {
  if (deployment !== undefined) return deployment.value;
  const name = basename(file, extname(file));
  const problem = checkDeploymentName(name);
  if (problem)
    fail(file, undefined, 'all.vars.deployment', `not set, and the file name cannot stand in for it: ${problem}`);
  return name;
}
