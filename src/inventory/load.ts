// Loads an Ansible-shaped YAML inventory into the resolved model.
//
// Precedence, per setting: the host's own value, else the most specific group that sets it (a child
// group beats its parents, `all` is the parent of every group). Two groups that are not nested and
// disagree are refused rather than ordered by name: on a restore, a silently chosen port or role is
// worse than an error. The nested mappings (ssh, ldap, suffixes) merge key by key; lists replace.

import { stat, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { LocatedError } from '../located/located-error.js';
import { childPath, quote, readDocument, type DocMap, type DocNode } from '../located/document.js';
import { DEFAULTS, type Host, type Inventory } from './model.js';
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

/** What parsing needs to know about the machine; loadInventory finds it out, tests pass it in. */
export interface InventoryEnvironment {
  /** For `~/` and the default known_hosts (default: os.homedir()). */
  homeDir: string;
  /** Whether `<inventory dir>/known_hosts` exists; if so it is the default known_hosts file. */
  hasLocalKnownHosts: boolean;
}

export async function loadInventory(file: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : String(code ?? err);
    throw new LocatedError(file, undefined, undefined, `cannot read the inventory: ${reason}`);
  }
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

/** Parses inventory text. Pure apart from `env` defaults; `file` is used for messages and relative paths. */
export function parseInventory(text: string, file: string, env: Partial<InventoryEnvironment> = {}): Inventory {
  const homeDir = env.homeDir ?? homedir();
  const ctx: SettingContext = { file, baseDir: dirname(resolve(file)), homeDir };
  function fail(line: number | undefined, key: string | undefined, problem: string): never {
    throw new LocatedError(file, line, key || undefined, problem);
  }

  const groups = new Map<string, GroupDecl>();
  const hosts = new Map<string, HostDecl>();
  let deployment: Leaf<string> | undefined;

  const setLeaf = (layer: Layer, name: SettingName, node: DocNode, owner: string): void => {
    const earlier = layer[name];
    if (earlier) fail(node.line, node.path, `already set for ${owner} at line ${earlier.line}; set it once`);
    (layer as Record<string, Leaf<unknown>>)[name] = {
      value: SETTINGS[name](node, ctx),
      line: node.line,
      path: node.path,
    };
  };

  const unknownKey = (line: number, path: string, hint: string, expected: readonly string[]): never =>
    fail(line, path, hint ? `unknown key; ${hint}` : `unknown key (expected ${expected.join(', ')})`);

  /** Host settings, or a group's vars (`level` says which; `all` may also name the deployment). */
  const readSettings = (node: DocMap, layer: Layer, owner: string, level: 'host' | 'group' | 'all'): void => {
    for (const { key, keyLine, value } of node.entries) {
      const path = childPath(node.path, key);
      if ((SECTIONS as readonly string[]).includes(key)) {
        const section = key as Section;
        if (value.kind === 'scalar' && value.value === null) continue;
        if (value.kind !== 'map')
          fail(value.line, path, `must be a mapping of ${section} settings (${keysOf(section).join(', ')})`);
        for (const entry of value.entries) {
          const name = `${section}.${entry.key}`;
          if (isSettingName(name)) setLeaf(layer, name, entry.value, owner);
          else
            unknownKey(
              entry.keyLine,
              childPath(path, entry.key),
              suggestSettingKey(entry.key, section),
              keysOf(section),
            );
        }
      } else if (key === 'deployment') {
        if (level !== 'all') fail(keyLine, path, 'the deployment name can only be set in all.vars');
        const name = value.kind === 'scalar' && typeof value.value === 'string' ? value.value : '';
        if (name === '') fail(value.line, path, 'must be a non-empty string');
        const problem = checkDeploymentName(name);
        if (problem) fail(value.line, path, problem);
        deployment = { value: name, line: value.line, path };
      } else if (key === 'address' && level !== 'host') {
        fail(keyLine, path, 'address is per host; set it under the host, not in group vars');
      } else if (isSettingName(key) && !key.includes('.')) {
        setLeaf(layer, key, value, owner);
      } else if (level === 'host' && GROUP_KEYS.includes(key)) {
        fail(
          keyLine,
          path,
          `a host has no ${key}; its settings (${keysOf(undefined).join(', ')}, ${SECTIONS.join(', ')}) go directly under its name`,
        );
      } else {
        const expected = [
          ...keysOf(undefined).filter((k) => level === 'host' || k !== 'address'),
          ...SECTIONS,
          ...(level === 'all' ? ['deployment'] : []),
        ];
        unknownKey(keyLine, path, suggestSettingKey(key, undefined), expected);
      }
    }
  };

  const declareHost = (name: string, line: number, path: string, node: DocNode, group: string): void => {
    const problem = checkHostName(name);
    if (problem) fail(line, path, problem);
    let host = hosts.get(name);
    if (!host) {
      host = { name, line, path, directGroups: new Set(), vars: {} };
      hosts.set(name, host);
    }
    host.directGroups.add(group);
    if (node.kind === 'scalar' && node.value === null) return;
    if (node.kind !== 'map') fail(node.line, path, 'host settings must be a mapping (or empty)');
    readSettings(node, host.vars, `host ${quote(name)}`, 'host');
  };

  const declareGroup = (
    name: string,
    line: number,
    path: string,
    node: DocNode,
    parent: GroupDecl | undefined,
  ): void => {
    let group = groups.get(name);
    if (!group) {
      group = { name, line, path, parents: new Set(), children: [], vars: {} };
      groups.set(name, group);
    }
    if (parent) {
      parent.children.push({ name, line, path });
      group.parents.add(parent.name);
    }
    if (node.kind === 'scalar' && node.value === null) return;
    if (node.kind !== 'map') fail(node.line, path, 'a group must be a mapping with hosts, vars and/or children');
    for (const { key, keyLine, value } of node.entries) {
      const keyPath = childPath(path, key);
      const empty = value.kind === 'scalar' && value.value === null;
      if (GROUP_KEYS.includes(key) && !empty && value.kind !== 'map') {
        fail(
          value.line,
          keyPath,
          key === 'hosts'
            ? 'must be a mapping of host names (each with its settings, or empty), not a list'
            : `must be a mapping, not ${value.kind === 'seq' ? 'a list' : 'a single value'}`,
        );
      }
      const entries = empty ? [] : (value as DocMap).entries;
      if (key === 'hosts') {
        for (const entry of entries)
          declareHost(entry.key, entry.keyLine, childPath(keyPath, entry.key), entry.value, name);
      } else if (key === 'vars') {
        if (!empty) readSettings(value as DocMap, group.vars, `group '${name}'`, name === 'all' ? 'all' : 'group');
      } else if (key === 'children') {
        for (const entry of entries) {
          const childKeyPath = childPath(keyPath, entry.key);
          const problem = checkGroupName(entry.key);
          if (problem) fail(entry.keyLine, childKeyPath, problem);
          declareGroup(entry.key, entry.keyLine, childKeyPath, entry.value, group);
        }
      } else {
        const isSetting = isSettingName(key) || (SECTIONS as readonly string[]).includes(key) || key === 'deployment';
        const hint = isSetting ? `group settings go under vars: did you mean vars.${key}?` : closest(key, GROUP_KEYS);
        fail(
          keyLine,
          keyPath,
          `unknown key; ${isSetting ? hint : hint ? `did you mean ${hint}?` : `a group has ${GROUP_KEYS.join(', ')}`}`,
        );
      }
    }
  };

  // --- read the document -------------------------------------------------------------------------
  const root = readDocument(text, file);
  if (root === null) fail(1, undefined, "the inventory is empty; expected a top-level 'all' mapping");
  if (root.kind !== 'map') fail(root.line, undefined, "the top level must be a mapping with the single key 'all'");
  const top = root;
  for (const { key, keyLine } of top.entries) {
    if (key !== 'all') {
      fail(
        keyLine,
        childPath('', key),
        closest(key, ['all'])
          ? 'unknown key; did you mean all?'
          : "only 'all' is allowed at the top level; declare groups under all.children",
      );
    }
  }
  const allEntry = top.entries.find((e) => e.key === 'all');
  if (!allEntry) fail(top.line, undefined, "missing the top-level 'all' mapping");
  declareGroup('all', allEntry.keyLine, 'all', allEntry.value, undefined);

  // --- groups: names, cycles, ancestry -----------------------------------------------------------
  for (const group of groups.values()) {
    const host = hosts.get(group.name);
    if (host) {
      const [later, other] = host.line > group.line ? [host, group] : [group, host];
      fail(
        later.line,
        later.path,
        `${quote(group.name)} is both a host and a group (see line ${other.line}); --limit could not tell them apart`,
      );
    }
  }
  const visiting: string[] = [];
  const done = new Set<string>();
  const checkCycles = (name: string): void => {
    visiting.push(name);
    for (const child of groups.get(name)!.children) {
      const at = visiting.indexOf(child.name);
      if (at >= 0) fail(child.line, child.path, `group cycle: ${[...visiting.slice(at), child.name].join(' → ')}`);
      if (!done.has(child.name)) checkCycles(child.name);
    }
    visiting.pop();
    done.add(name);
  };
  checkCycles('all');

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

  if (hosts.size === 0) fail(allEntry.keyLine, 'all', 'the inventory has no hosts');

  // --- membership ----------------------------------------------------------------------------------
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

  // --- resolve each host -----------------------------------------------------------------------------
  const resolveLeaf = <K extends SettingName>(host: HostDecl, name: K): Leaf<SettingValues[K]> | undefined => {
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
          b.leaf.line,
          b.leaf.path,
          `host ${quote(host.name)} is in groups '${a.group}' and '${b.group}', which set this differently (see line ${a.leaf.line}) ` +
            'and neither group contains the other; set it on the host or in one group',
        );
      }
    }
    return first?.leaf;
  };

  const localKnownHosts = join(ctx.baseDir, 'known_hosts');
  const defaultKnownHosts = env.hasLocalKnownHosts ? localKnownHosts : join(homeDir, '.ssh', 'known_hosts');

  const resolved: Host[] = [];
  const jumpLeaves = new Map<string, Leaf<string | null>>();
  for (const decl of hosts.values()) {
    const leaf = <K extends SettingName>(name: K): Leaf<SettingValues[K]> | undefined => resolveLeaf(decl, name);
    const value = <K extends SettingName>(name: K): SettingValues[K] | undefined => leaf(name)?.value;
    const required = <K extends SettingName>(name: K): SettingValues[K] => {
      const found = value(name);
      if (found === undefined) {
        fail(
          decl.line,
          childPath(decl.path, name),
          `is required; set it on the host or in the vars of one of its groups (${memberships.get(decl.name)!.join(', ')})`,
        );
      }
      return found!;
    };

    const address = value('address') ?? decl.name;
    if (value('address') === undefined) {
      // The name doubles as the address; it passed the host-name check but may still not be one.
      const problem = checkAddress(address);
      if (problem) fail(decl.line, decl.path, `${problem} (a host's name is its address unless address is set)`);
    }

    const caInstance = leaf('suffixes.ca_instance');
    const caPort = leaf('suffixes.ca_port');
    if (caPort && !caInstance)
      fail(caPort.line, caPort.path, 'ca_port is for a separate CA instance; set suffixes.ca_instance too');
    if (caInstance && !caPort)
      fail(
        caInstance.line,
        caInstance.path,
        'set suffixes.ca_port too (a separate CA instance usually listens on 7389)',
      );

    const passphrase = leaf('ssh.identity_passphrase');
    const identityFile = value('ssh.identity_file');
    if (passphrase && identityFile === undefined) {
      fail(
        passphrase.line,
        passphrase.path,
        'identity_passphrase is set but identity_file is not (ssh-agent keys need no passphrase here)',
      );
    }

    const jump = leaf('ssh.proxy_jump');
    if (jump && jump.value !== null) jumpLeaves.set(decl.name, jump);

    const direct = value('ldap.direct');
    resolved.push({
      name: decl.name,
      address,
      groups: memberships.get(decl.name)!,
      roles: value('roles') ?? [],
      profile: value('profile') ?? DEFAULTS.profile,
      ssh: {
        user: value('ssh.user') ?? DEFAULTS.sshUser,
        port: value('ssh.port') ?? DEFAULTS.sshPort,
        identityFile,
        identityPassphrase: passphrase?.value,
        knownHostsFile: value('ssh.known_hosts') ?? defaultKnownHosts,
        hostKeyPolicy: value('ssh.host_key_policy') ?? 'strict',
        proxyJump: jump?.value ?? undefined,
        connectTimeoutMs: value('ssh.connect_timeout') ?? DEFAULTS.connectTimeoutMs,
        connectRetries: value('ssh.connect_retries') ?? DEFAULTS.connectRetries,
        keepaliveIntervalMs: value('ssh.keepalive_interval') ?? DEFAULTS.keepaliveIntervalMs,
      },
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
    });
  }

  // --- jump hosts: the inventory ones must not loop ----------------------------------------------------
  for (const [name, jump] of jumpLeaves) {
    const chain = [name];
    let next = jump.value;
    while (next !== null && hosts.has(next)) {
      if (chain.includes(next)) {
        fail(
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

  let deploymentName = deployment?.value;
  if (deploymentName === undefined) {
    deploymentName = basename(file, extname(file));
    const problem = checkDeploymentName(deploymentName);
    if (problem)
      fail(undefined, 'all.vars.deployment', `not set, and the file name cannot stand in for it: ${problem}`);
  }

  const groupMembers = new Map<string, string[]>();
  for (const g of groupOrder) {
    groupMembers.set(
      g,
      resolved.filter((h) => h.groups.includes(g)).map((h) => h.name),
    );
  }

  return { file, deployment: deploymentName!, hosts: resolved, groups: groupMembers };
}
