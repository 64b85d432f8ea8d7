// What host names, group names, addresses, users and jump hosts may look like. These values end up
// on ssh command lines, in remote shell commands and in file names, so anything a shell would
// interpret (spaces, quotes, `$`, `;`, `|`, backticks, …) is refused here rather than escaped later.

import { isIPv6 } from 'node:net';
import { quote } from '../located/document.js';

/** Each check returns a problem to report, or undefined when the value is fine. */
type Check = (value: string) => string | undefined;

function describeChar(ch: string): string {
  if (ch === ' ') return 'a space';
  if (ch === '\t') return 'a tab';
  if (ch === "'") return "a quote (')";
  if (ch === '"') return 'a quote (")';
  return /^[\x21-\x7e]$/.test(ch) ? `'${ch}'` : `the character ${JSON.stringify(ch)}`;
}

function charsetProblem(value: string, what: string, allowed: RegExp, allowedText: string): string | undefined {
  if (value === '') return `${what} is empty`;
  const bad = [...value].find((ch) => !allowed.test(ch));
  if (bad !== undefined) {
    return `${quote(value)} is not a valid ${what}: ${describeChar(bad)} is not allowed (use ${allowedText})`;
  }
  if (value.startsWith('-')) return `${quote(value)} is not a valid ${what}: it must not start with '-'`;
  return undefined;
}

export const checkHostName: Check = (name) =>
  charsetProblem(name, 'host name', /[A-Za-z0-9._:-]/, "letters, digits, '.', '-', '_' and ':'") ??
  (name.startsWith('.') ? `${quote(name)} is not a valid host name: it must not start with '.'` : undefined);

/** Group names also appear in --limit patterns, so they avoid every pattern character. */
export const checkGroupName: Check = (name) => {
  const problem = charsetProblem(name, 'group name', /[A-Za-z0-9_-]/, "letters, digits, '_' and '-'");
  if (problem) return problem;
  if (name === 'all') return "'all' is the implicit top-level group; it cannot be declared under children";
  return undefined;
};

/** A DNS name, an IPv4 address, or an IPv6 address with or without brackets. */
export const checkAddress: Check = (address) => {
  const inner = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : undefined;
  if (inner !== undefined) {
    return isIPv6(inner) ? undefined : `${quote(address)} is not a valid IPv6 address`;
  }
  if (address.includes(':')) {
    if (isIPv6(address)) return undefined;
    return /^[A-Za-z0-9.-]+:\d+$/.test(address)
      ? `${quote(address)} looks like host:port; put the port in ssh.port`
      : `${quote(address)} is not a valid IPv6 address`;
  }
  return charsetProblem(address, 'address', /[A-Za-z0-9._-]/, "letters, digits, '.', '-' and '_'");
};

/** The address as a socket wants it: IPv6 without brackets. */
export function normalizeAddress(address: string): string {
  return address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
}

export const checkUser: Check = (user) =>
  charsetProblem(user, 'user name', /[A-Za-z0-9._-]/, "letters, digits, '.', '-' and '_'");

/** 389-DS instance names (slapd-NAME); they appear in unit names and paths on the host. */
export const checkInstanceName: Check = (name) => {
  if (/^slapd-./.test(name)) return `use the instance name without the 'slapd-' prefix (${quote(name.slice(6))})`;
  return charsetProblem(name, 'instance name', /[A-Za-z0-9_-]/, "letters, digits, '-' and '_'");
};

export const checkDeploymentName: Check = (name) =>
  charsetProblem(name, 'deployment name', /[A-Za-z0-9._-]/, "letters, digits, '.', '-' and '_'") ??
  (name.startsWith('.') ? `${quote(name)} is not a valid deployment name: it must not start with '.'` : undefined);

export interface JumpTarget {
  user: string | undefined;
  /** Without IPv6 brackets. */
  address: string;
  port: number | undefined;
}

/** Parses `[user@]host[:port]` (IPv6 hosts in brackets). Throws nothing; returns a problem instead. */
export function parseJumpTarget(spec: string): JumpTarget | { problem: string } {
  if (spec.includes(',')) {
    return { problem: 'only one jump host is supported; to chain jumps, give the jump host its own proxy_jump' };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    return { problem: 'use the [user@]host[:port] form, not a URI' };
  }
  const match = /^(?:([^@]*)@)?(\[[^\]]*\]|[^:@[\]]*)(?::([^:]*))?$/.exec(spec);
  if (!match) return { problem: `${quote(spec)} is not of the form [user@]host[:port]` };
  const [, user, host = '', portText] = match;
  if (user !== undefined) {
    const problem = checkUser(user);
    if (problem) return { problem };
  }
  const hostProblem = checkAddress(host);
  if (hostProblem) return { problem: hostProblem };
  let port: number | undefined;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) return { problem: `port in ${quote(spec)} must be between 1 and 65535` };
  }
  return { user, address: normalizeAddress(host), port };
}
