// Reads an Ansible inventory, INI or YAML, into one neutral shape: groups (hosts, children, vars)
// and hosts (vars), each with the line it came from. Only what Ansible's own ini and yaml inventory
// plugins accept is read; values are kept as text, vault-encrypted ones only as "vault". Problems
// name file and line but never quote a line or a value: an inventory line may hold a password.

import { extname } from 'node:path';
import { LocatedError } from '../located/located-error.js';
import { childPath, quote, readDocument, type DocMap, type DocNode } from '../located/document.js';

export type AnsibleValue = { line: number } & (
  | { kind: 'text'; text: string }
  /** A list or mapping: ansible-freeipa has some (ipareplica_servers); none is mapped to a setting. */
  | { kind: 'structured' }
  /** `!vault` or `$ANSIBLE_VAULT;…`: encrypted, never decrypted here. */
  | { kind: 'vault' }
);

interface AnsibleGroup {
  name: string;
  line: number;
  /** Hosts listed in the group itself, in order. */
  hosts: string[];
  children: string[];
  vars: Map<string, AnsibleValue>;
}

interface AnsibleHost {
  name: string;
  line: number;
  /** Every group's line may give the host vars; later lines win, as in Ansible. */
  vars: Map<string, AnsibleValue>;
}

export interface AnsibleInventory {
  file: string;
  format: 'ini' | 'yaml';
  /** In the order they appear; `all` always exists. */
  groups: Map<string, AnsibleGroup>;
  hosts: Map<string, AnsibleHost>;
  /** Structure Ansible would skip with a warning (e.g. an unknown key in a YAML group). */
  warnings: string[];
}

const VAULT_HEADER = '$ANSIBLE_VAULT;';
/** `www[01:50].example.com` may not stand for more hosts than this. */
const MAX_EXPANDED_HOSTS = 10_000;

/** A file Ansible would read as YAML (by extension, or by its first line), else INI. */
export function parseAnsibleInventory(source: string, file: string): AnsibleInventory {
  const text = source.replace(/^\uFEFF/, ''); // a byte-order mark from a Windows editor
  if (text.trimStart().startsWith(VAULT_HEADER)) {
    throw new LocatedError(
      file,
      1,
      undefined,
      'the file is encrypted with Ansible Vault; decrypt it into a private file first ' +
        '(ansible-vault decrypt --output FILE)',
    );
  }
  return looksLikeYaml(text, file) ? parseYaml(text, file) : parseIni(text, file);
}

function looksLikeYaml(text: string, file: string): boolean {
  const ext = extname(file).toLowerCase();
  if (['.yml', '.yaml', '.json'].includes(ext)) return true;
  if (['.ini', '.cfg'].includes(ext)) return false;
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '' && !/^\s*[#;]/.test(l));
  return first !== undefined && /^(---|\{|[^\s=[]+:(\s|$))/.test(first.trim());
}

function newInventory(file: string, format: 'ini' | 'yaml'): AnsibleInventory {
  const inv: AnsibleInventory = { file, format, groups: new Map(), hosts: new Map(), warnings: [] };
  groupNamed(inv, 'all', 1);
  return inv;
}

function groupNamed(inv: AnsibleInventory, name: string, line: number): AnsibleGroup {
  let group = inv.groups.get(name);
  if (!group) {
    group = { name, line, hosts: [], children: [], vars: new Map() };
    inv.groups.set(name, group);
  }
  return group;
}

function addHost(inv: AnsibleInventory, group: AnsibleGroup, name: string, line: number): AnsibleHost {
  let host = inv.hosts.get(name);
  if (!host) {
    host = { name, line, vars: new Map() };
    inv.hosts.set(name, host);
  }
  if (!group.hosts.includes(name)) group.hosts.push(name);
  return host;
}

function addChild(inv: AnsibleInventory, parent: AnsibleGroup, child: string, line: number): void {
  groupNamed(inv, child, line);
  if (!parent.children.includes(child)) parent.children.push(child);
}

function textValue(text: string, line: number): AnsibleValue {
  return text.startsWith(VAULT_HEADER) ? { kind: 'vault', line } : { kind: 'text', text, line };
}

// --- INI -------------------------------------------------------------------------------------------

type IniSection = { group: AnsibleGroup; kind: 'hosts' | 'vars' | 'children' };

function parseIni(text: string, file: string): AnsibleInventory {
  const inv = newInventory(file, 'ini');
  // Hosts before any section are "ungrouped", as in Ansible.
  let section: IniSection | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#') || raw.startsWith(';')) continue;
    const fail: (problem: string) => never = (problem) => {
      throw new LocatedError(file, line, undefined, problem);
    };
    if (raw.startsWith('[')) {
      section = iniSection(inv, raw, line, fail);
      continue;
    }
    section ??= { group: groupNamed(inv, 'ungrouped', line), kind: 'hosts' };
    if (section.kind === 'vars') {
      const eq = raw.indexOf('=');
      if (eq <= 0) fail(`expected key=value in [${section.group.name}:vars]`);
      section.group.vars.set(raw.slice(0, eq).trim(), textValue(iniVarValue(raw.slice(eq + 1).trim()), line));
    } else if (section.kind === 'children') {
      const m = /^([^:\]\s]+)\s*(#.*)?$/.exec(raw);
      if (!m) fail(`expected one group name per line in [${section.group.name}:children]`);
      addChild(inv, section.group, m[1]!, line);
    } else {
      iniHostLine(inv, section.group, raw, line, fail);
    }
  }
  return inv;
}

function iniSection(inv: AnsibleInventory, raw: string, line: number, fail: (p: string) => never): IniSection {
  const m = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(#.*)?$/.exec(raw);
  if (!m) fail('invalid section header; expected [group], [group:vars] or [group:children]');
  const kind = m[2] ?? 'hosts';
  if (m[2] !== undefined && kind !== 'vars' && kind !== 'children') {
    fail(`unknown section type :${kind}; expected [${m[1]}:vars] or [${m[1]}:children]`);
  }
  return { group: groupNamed(inv, m[1]!, line), kind: kind as IniSection['kind'] };
}

/** `host [key=value …]`, split like a shell line (quotes, backslashes, `#` comments). */
function iniHostLine(
  inv: AnsibleInventory,
  group: AnsibleGroup,
  raw: string,
  line: number,
  fail: (p: string) => never,
): void {
  const words = shellWords(raw);
  if ('problem' in words) fail(words.problem);
  const [pattern, ...assignments] = words.words;
  if (pattern === undefined) return;
  // `ipadm_password=…` under [group] instead of [group:vars]: said without repeating the line.
  if (pattern.includes('=')) fail(`expected a host name first; key=value lines belong in [${group.name}:vars]`);
  const vars = new Map<string, AnsibleValue>();
  for (const word of assignments) {
    const eq = word.indexOf('=');
    if (eq <= 0) fail('expected key=value after the host name');
    vars.set(word.slice(0, eq), textValue(word.slice(eq + 1), line));
  }
  const { names, port } = hostPattern(pattern, fail);
  if (port !== undefined) vars.set('ansible_port', { kind: 'text', text: port, line });
  for (const name of names) {
    const host = addHost(inv, group, name, line);
    for (const [key, value] of vars) host.vars.set(key, value);
  }
}

/** A `[group:vars]` value: Ansible evaluates it as a Python literal, so a quoted string loses its quotes. */
function iniVarValue(value: string): string {
  const m = /^(['"])(.*)\1$/s.exec(value);
  return m ? m[2]!.replace(/\\(['"\\])/g, '$1') : value;
}

/** POSIX shell word splitting as Python's shlex.split(comments=True) does it, which Ansible uses. */
export function shellWords(line: string): { words: string[] } | { problem: string } {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === '#') {
      // shlex ends the word too: `k=abc#1` is `k=abc` for Ansible.
      if (word !== undefined) words.push(word);
      return { words };
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return { problem: "unterminated quote (') on the host line" };
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (ch === '"') {
      let j = i + 1;
      let text = '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '\\"$`'.includes(line[j + 1]!)) j++;
        text += line[j];
      }
      if (j >= line.length) return { problem: 'unterminated quote (") on the host line' };
      word = (word ?? '') + text;
      i = j;
    } else if (ch === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== undefined) words.push(word);
  return { words };
}

/** `name`, `name:port`, and ranges `www[01:10].example.com`, `db-[a:c]` (with an optional step). */
function hostPattern(pattern: string, fail: (p: string) => never): { names: string[]; port?: string } {
  let depth = 0;
  const colons: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '[') depth++;
    else if (pattern[i] === ']') depth--;
    else if (pattern[i] === ':' && depth === 0) colons.push(i);
  }
  let name = pattern;
  let port: string | undefined;
  // One colon outside brackets ends a port; several are an IPv6 address.
  if (colons.length === 1 && /^\d+$/.test(pattern.slice(colons[0]! + 1))) {
    name = pattern.slice(0, colons[0]);
    port = pattern.slice(colons[0]! + 1);
  }
  const names = expandRanges(name, fail);
  return port === undefined ? { names } : { names, port };
}

function expandRanges(pattern: string, fail: (p: string) => never): string[] {
  const m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(pattern);
  if (!m) return [pattern];
  const [, head, range, tail] = m as unknown as [string, string, string, string];
  const parts = range.split(':');
  const [from, to, stepText = '1'] = parts;
  const step = Number(stepText);
  if (parts.length < 2 || parts.length > 3 || from === undefined || to === undefined || !(step >= 1)) {
    fail(`host range [${range}] is not [start:end] or [start:end:step]`);
  }
  const values: string[] = [];
  if (/^\d+$/.test(from) && /^\d+$/.test(to)) {
    // A leading zero sets the width, as Ansible pads `[01:10]`.
    const width = from.startsWith('0') ? from.length : 0;
    for (let n = Number(from); n <= Number(to) && values.length <= MAX_EXPANDED_HOSTS; n += step) {
      values.push(String(n).padStart(width, '0'));
    }
  } else if (/^[a-z]$/i.test(from) && /^[a-z]$/i.test(to)) {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c += step) values.push(String.fromCharCode(c));
  } else {
    fail(`host range [${range}] must run between two numbers or two letters`);
  }
  if (values.length === 0) fail(`host range [${range}] is empty`);
  const names = values.flatMap((v) => expandRanges(`${head}${v}${tail}`, fail));
  if (names.length > MAX_EXPANDED_HOSTS) fail(`host range stands for more than ${MAX_EXPANDED_HOSTS} hosts`);
  return names;
}

// --- YAML ------------------------------------------------------------------------------------------

const GROUP_KEYS = ['hosts', 'vars', 'children'];

function parseYaml(text: string, file: string): AnsibleInventory {
  const inv = newInventory(file, 'yaml');
  const root = readDocument(text, file, ['!vault', '!unsafe']);
  if (root === null) throw new LocatedError(file, 1, undefined, 'the inventory is empty');
  if (root.kind !== 'map') {
    throw new LocatedError(file, root.line, undefined, 'the top level must be a mapping of groups (all: …)');
  }
  const plugin = root.entries.find((e) => e.key === 'plugin');
  if (plugin) {
    // ansible-freeipa's own `plugin: freeipa` asks a server for its hosts; its output is an inventory.
    throw new LocatedError(
      file,
      plugin.keyLine,
      'plugin',
      "an inventory plugin's configuration, not an inventory: convert what it produces " +
        '(ansible-inventory -i FILE --list --yaml > hosts.yml)',
    );
  }
  for (const entry of root.entries) yamlGroup(inv, entry.key, entry.keyLine, entry.value, undefined);
  return inv;
}

function yamlGroup(inv: AnsibleInventory, name: string, line: number, node: DocNode, parent?: AnsibleGroup): void {
  const group = groupNamed(inv, name, line);
  if (parent && !parent.children.includes(name)) parent.children.push(name);
  if (node.kind === 'scalar' && node.value === null) return;
  const fail: (at: DocNode, problem: string) => never = (at, problem) => {
    throw new LocatedError(inv.file, at.line, at.path, problem);
  };
  if (node.kind !== 'map') fail(node, 'a group must be a mapping with hosts, vars and/or children');
  for (const { key, keyLine, value } of (node as DocMap).entries) {
    if (!GROUP_KEYS.includes(key)) {
      inv.warnings.push(`${inv.file}:${keyLine}: ${childPath(node.path, key)}: unknown key skipped, as Ansible does`);
      continue;
    }
    if (value.kind === 'scalar' && value.value === null) continue;
    if (value.kind !== 'map') fail(value, `must be a mapping, not ${value.kind === 'seq' ? 'a list' : 'a value'}`);
    for (const entry of (value as DocMap).entries) {
      if (key === 'vars') group.vars.set(entry.key, yamlValue(entry.value));
      else if (key === 'children') yamlGroup(inv, entry.key, entry.keyLine, entry.value, group);
      else yamlHost(inv, group, entry.key, entry.keyLine, entry.value, fail);
    }
  }
}

function yamlHost(
  inv: AnsibleInventory,
  group: AnsibleGroup,
  pattern: string,
  line: number,
  node: DocNode,
  fail: (at: DocNode, problem: string) => never,
): void {
  const { names, port } = hostPattern(pattern, (problem) => fail(node, problem));
  const empty = node.kind === 'scalar' && node.value === null;
  if (!empty && node.kind !== 'map') fail(node, `host ${quote(pattern)} must have a mapping of vars (or nothing)`);
  for (const name of names) {
    const host = addHost(inv, group, name, line);
    if (port !== undefined) host.vars.set('ansible_port', { kind: 'text', text: port, line });
    if (!empty) for (const entry of (node as DocMap).entries) host.vars.set(entry.key, yamlValue(entry.value));
  }
}

function yamlValue(node: DocNode): AnsibleValue {
  if (node.kind !== 'scalar') return { kind: 'structured', line: node.line };
  if (node.tag === '!vault') return { kind: 'vault', line: node.line };
  return textValue(node.value === null ? '' : String(node.value), node.line);
}
