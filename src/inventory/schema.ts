// The per-host settings an inventory may set (on a host or in group vars), each with the check that
// turns its YAML value into the model's value. Settings are flat "leaves" named by their YAML path
// (`ssh.port`), which makes the merge a per-leaf choice and keeps error messages in the user's terms.

import { LocatedError } from '../located/located-error.js';
import { quote, type DocNode } from '../located/document.js';
import type { HostKeyPolicy, Profile, SecretSource, SshTransportKind } from './model.js';
import { checkAddress, checkInstanceName, checkUser, normalizeAddress, parseJumpTarget } from './names.js';
import { resolveInventoryPath, type PathBase } from './paths.js';
import { parseSecretSource } from './secrets.js';
import { closest } from '../located/suggest.js';

/** FreeIPA server roles this tool acts on. A closed list, so that `cs` for `ca` is caught. */
export const ROLES = ['ca', 'kra', 'dns', 'adtrust'] as const;

const PROFILES: readonly Profile[] = ['389ds', 'freeipa'];
const HOST_KEY_POLICIES: readonly HostKeyPolicy[] = ['strict', 'accept-new'];
const SSH_TRANSPORTS: readonly SshTransportKind[] = ['ssh2', 'openssh'];

/** A day: longer than any sane timeout, short enough to catch milliseconds written as seconds. */
const MAX_SECONDS = 86_400;

export interface SettingValues {
  address: string;
  roles: string[];
  profile: Profile;
  'ssh.transport': SshTransportKind;
  'ssh.user': string;
  'ssh.become': 'sudo';
  'ssh.become_user': string;
  'ssh.become_password': SecretSource;
  'ssh.port': number;
  'ssh.identity_file': string;
  'ssh.identity_passphrase': SecretSource;
  'ssh.known_hosts': string;
  'ssh.host_key_policy': HostKeyPolicy;
  /** `null`: `none`, i.e. connect directly even if a group sets a jump host. */
  'ssh.proxy_jump': string | null;
  'ssh.connect_timeout': number; // ms
  'ssh.connect_retries': number;
  'ssh.keepalive_interval': number; // ms
  'ldap.instance': string;
  'ldap.port': number;
  'ldap.bind_dn': string;
  'ldap.password': SecretSource;
  'ldap.direct': 'ldaps';
  'ldap.ca_file': string;
  'ldap.timeout': number; // ms
  'suffixes.domain': string;
  'suffixes.ca': string;
  'suffixes.ca_instance': string;
  'suffixes.ca_port': number;
}

export type SettingName = keyof SettingValues;

export interface SettingContext extends PathBase {
  file: string;
}

type Parser<T> = (node: DocNode, ctx: SettingContext) => T;

function fail(ctx: SettingContext, node: DocNode, problem: string): never {
  throw new LocatedError(ctx.file, node.line, node.path, problem);
}

function describeType(node: DocNode): string {
  if (node.kind !== 'scalar') return node.kind === 'map' ? 'a mapping' : 'a list';
  if (node.value === null) return 'empty';
  return typeof node.value === 'string' ? 'a string' : typeof node.value === 'number' ? 'a number' : 'a boolean';
}

const text: Parser<string> = (node, ctx) => {
  if (node.kind !== 'scalar' || typeof node.value !== 'string' || node.value === '') {
    fail(
      ctx,
      node,
      'must be a non-empty string, not ' +
        `${node.kind === 'scalar' && node.value === '' ? 'an empty one' : describeType(node)}`,
    );
  }
  return node.value;
};

function checked(check: (value: string) => string | undefined): Parser<string> {
  return (node, ctx) => {
    const value = text(node, ctx);
    const problem = check(value);
    if (problem) fail(ctx, node, problem);
    return value;
  };
}

function oneOf<T extends string>(choices: readonly T[]): Parser<T> {
  return (node, ctx) => {
    const value = node.kind === 'scalar' ? String(node.value) : undefined;
    if (
      node.kind === 'scalar' &&
      typeof node.value === 'string' &&
      (choices as readonly string[]).includes(node.value)
    ) {
      return node.value as T;
    }
    const hint = value !== undefined ? closest(value, choices) : undefined;
    fail(ctx, node, `must be one of ${choices.join(', ')}${hint ? ` (did you mean ${hint}?)` : ''}`);
  };
}

function integer(min: number, max: number, what: string): Parser<number> {
  return (node, ctx) => {
    if (
      node.kind !== 'scalar' ||
      typeof node.value !== 'number' ||
      !Number.isInteger(node.value) ||
      node.value < min ||
      node.value > max
    ) {
      fail(
        ctx,
        node,
        `must be ${what} between ${min} and ` +
          `${max}${node.kind === 'scalar' && typeof node.value === 'string' ? ' (a number, not a string)' : ''}`,
      );
    }
    return node.value;
  };
}

const port = integer(1, 65535, 'a port number');

/** Seconds in the file, milliseconds in the model. */
const seconds: Parser<number> = (node, ctx) => {
  if (
    node.kind !== 'scalar' ||
    typeof node.value !== 'number' ||
    !Number.isFinite(node.value) ||
    node.value <= 0 ||
    node.value > MAX_SECONDS
  ) {
    fail(ctx, node, `must be a number of seconds greater than 0 and at most ${MAX_SECONDS}`);
  }
  return Math.round(node.value * 1000);
};

const path: Parser<string> = (node, ctx) => {
  const resolved = resolveInventoryPath(text(node, ctx), ctx);
  if ('problem' in resolved) fail(ctx, node, resolved.problem);
  return resolved.path;
};

const secret: Parser<SecretSource> = (node, ctx) => {
  // Lists and mappings are not secrets; everything scalar goes through the literal check, unquoted.
  if (node.kind !== 'scalar') fail(ctx, node, `must be file:PATH, env:NAME or prompt, not ${describeType(node)}`);
  const parsed = parseSecretSource(node.value, ctx);
  if ('problem' in parsed) fail(ctx, node, parsed.problem);
  return parsed;
};

/** `x=y,…`: attribute=value pairs separated by unescaped commas (multi-valued RDNs joined by `+`). */
function looksLikeDn(dn: string): boolean {
  const rdns = dn.split(/(?<!\\),/);
  return rdns.every((rdn) =>
    rdn.split(/(?<!\\)\+/).every((ava) => /^\s*([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)\s*=\s*\S/.test(ava)),
  );
}

const dn: Parser<string> = (node, ctx) => {
  const value = text(node, ctx);
  if (!looksLikeDn(value))
    fail(ctx, node, `${quote(value)} is not a DN (expected attr=value,… e.g. dc=example,dc=com)`);
  return value;
};

const roles: Parser<string[]> = (node, ctx) => {
  if (node.kind !== 'seq') fail(ctx, node, `must be a list of roles (${ROLES.join(', ')}), not ${describeType(node)}`);
  const seen = new Set<string>();
  for (const item of node.items) {
    const role = item.kind === 'scalar' && typeof item.value === 'string' ? item.value : undefined;
    if (role === undefined || !(ROLES as readonly string[]).includes(role)) {
      const hint = role !== undefined ? closest(role, ROLES) : undefined;
      fail(
        ctx,
        item,
        `unknown role${role !== undefined ? ` ${quote(role)}` : ''}; ` +
          `roles are ${ROLES.join(', ')}${hint ? ` (did you mean ${hint}?)` : ''}`,
      );
    }
    if (seen.has(role)) fail(ctx, item, `role ${role} is listed twice`);
    seen.add(role);
  }
  return [...seen];
};

const proxyJump: Parser<string | null> = (node, ctx) => {
  const value = text(node, ctx);
  if (value === 'none') return null;
  // Whether it names an inventory host is known only once every host is read; the syntax is checked here.
  const target = parseJumpTarget(value);
  if ('problem' in target) fail(ctx, node, target.problem);
  return value;
};

export const SETTINGS: { [K in SettingName]: Parser<SettingValues[K]> } = {
  address: (node, ctx) => normalizeAddress(checked(checkAddress)(node, ctx)),
  roles,
  profile: oneOf(PROFILES),
  'ssh.transport': oneOf(SSH_TRANSPORTS),
  'ssh.user': checked(checkUser),
  'ssh.become': oneOf(['sudo'] as const),
  'ssh.become_user': checked(checkUser),
  'ssh.become_password': secret,
  'ssh.port': port,
  'ssh.identity_file': path,
  'ssh.identity_passphrase': secret,
  'ssh.known_hosts': path,
  'ssh.host_key_policy': oneOf(HOST_KEY_POLICIES),
  'ssh.proxy_jump': proxyJump,
  'ssh.connect_timeout': seconds,
  'ssh.connect_retries': integer(0, 100, 'a whole number'),
  'ssh.keepalive_interval': seconds,
  'ldap.instance': checked(checkInstanceName),
  'ldap.port': port,
  'ldap.bind_dn': dn,
  'ldap.password': secret,
  'ldap.direct': oneOf(['ldaps'] as const),
  'ldap.ca_file': path,
  'ldap.timeout': seconds,
  'suffixes.domain': dn,
  'suffixes.ca': dn,
  'suffixes.ca_instance': checked(checkInstanceName),
  'suffixes.ca_port': port,
};

const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Own keys only: `constructor` or `__proto__` in a YAML file must not reach Object.prototype. */
export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(SETTINGS, name);
}

/** The nested mappings; their keys merge one by one. */
export const SECTIONS = ['ssh', 'ldap', 'suffixes'] as const;
export type Section = (typeof SECTIONS)[number];

/** YAML keys allowed inside `section`, or beside the sections when it is undefined. */
export function keysOf(section: Section | undefined): string[] {
  return SETTING_NAMES.filter((name) =>
    section === undefined ? !name.includes('.') : name.startsWith(`${section}.`),
  ).map((name) => (section === undefined ? name : name.slice(section.length + 1)));
}

/** Names people bring from Ansible or OpenSSH, mapped to ours. Keys are compared case- and `_`-insensitively. */
const ALIASES: Record<string, string> = {
  ansiblehost: 'address',
  hostname: 'address',
  host: 'address',
  ip: 'address',
  ansibleuser: 'ssh.user',
  ansiblebecome: 'ssh.become',
  ansiblebecomeuser: 'ssh.become_user',
  ansiblebecomepassword: 'ssh.become_password',
  ansiblebecomepass: 'ssh.become_password',
  ansibleport: 'ssh.port',
  ansiblesshprivatekeyfile: 'ssh.identity_file',
  privatekey: 'ssh.identity_file',
  privatekeyfile: 'ssh.identity_file',
  keyfile: 'ssh.identity_file',
  userknownhostsfile: 'ssh.known_hosts',
  stricthostkeychecking: 'ssh.host_key_policy',
  bindpw: 'ldap.password',
  basedn: 'suffixes.domain',
  suffix: 'suffixes.domain',
  role: 'roles',
};

/**
 * A hint for an unknown key in `section` (undefined: the host/vars level), e.g. "did you mean
 * identity_file?" or "did you mean ssh.port or ldap.port?". Empty when nothing is close.
 */
export function suggestSettingKey(key: string, section: Section | undefined): string {
  if (section === 'ssh' && /^pass(word)?$/i.test(key)) {
    return 'ssh password authentication is not supported; use identity_file (with identity_passphrase) or ssh-agent';
  }
  if (/^[A-Za-z][A-Za-z0-9-]*=/.test(key)) {
    return 'this looks like part of a DN: inside {…} a comma ends the value, so quote DNs there';
  }
  const here = closest(key, keysOf(section));
  if (here !== undefined) return `did you mean ${here}?`;
  const relative = (full: string): string =>
    section !== undefined && full.startsWith(`${section}.`) ? full.slice(section.length + 1) : full;
  const folded = key.toLowerCase().replace(/[_-]/g, '');
  const alias = Object.hasOwn(ALIASES, folded) ? ALIASES[folded] : undefined;
  if (alias !== undefined) return `did you mean ${relative(alias)}?`;
  // A key that belongs in another section, e.g. `port` at host level → ssh.port or ldap.port.
  const elsewhere = SETTING_NAMES.filter(
    (name) =>
      name.includes('.') &&
      !(section !== undefined && name.startsWith(`${section}.`)) &&
      closest(key, [name.slice(name.indexOf('.') + 1)]) !== undefined,
  );
  if (elsewhere.length > 0) return `did you mean ${elsewhere.join(' or ')}?`;
  return '';
}
