// `--limit` with Ansible's meaning: terms separated by `,` (or `:`), each a host name, a group name
// or a glob over both; `&term` intersects, `!term` excludes. Like Ansible, the plain terms are united
// first, then intersected, then excluded, so the order of terms does not matter.

import { UsageError } from '../errors.js';
import { quote } from '../located/document.js';
import type { Host, Inventory } from './model.js';
import { closest } from '../located/suggest.js';

/** The hosts `pattern` selects, in inventory order. No pattern: every host. */
export function selectHosts(inv: Inventory, pattern: string | undefined): Host[] {
  if (pattern === undefined) return [...inv.hosts];
  if (pattern.trim() === '') throw new UsageError('--limit: the pattern is empty');

  const union = new Set<string>();
  const intersections: Array<Set<string>> = [];
  const exclusions: Array<Set<string>> = [];
  let sawPlain = false;

  for (const raw of splitTerms(inv, pattern)) {
    const op = raw[0] === '!' || raw[0] === '&' ? raw[0] : '';
    const term = raw.slice(op.length).trim();
    if (term === '') throw new UsageError(`--limit: ${quote(raw)} has no name after ${op}`);
    const matched = match(inv, term);
    if (op === '!') exclusions.push(matched);
    else if (op === '&') intersections.push(matched);
    else {
      sawPlain = true;
      for (const name of matched) union.add(name);
    }
  }

  // Only `!x` / `&x` terms: they apply to everything, as in Ansible.
  const base = sawPlain ? union : new Set(inv.hosts.map((h) => h.name));
  const selected = inv.hosts.filter(
    (h) => base.has(h.name) && intersections.every((s) => s.has(h.name)) && !exclusions.some((s) => s.has(h.name)),
  );
  if (selected.length === 0) throw new UsageError(`--limit: ${quote(pattern)} selects no host`);
  return selected;
}

/**
 * Commas separate terms when there are any; otherwise colons do, except in a name that itself holds
 * colons (an IPv6 host name) — the same compromise Ansible makes.
 */
function splitTerms(inv: Inventory, pattern: string): string[] {
  const separator = pattern.includes(',') ? ',' : ':';
  if (separator === ':') {
    const whole = pattern.trim().replace(/^[!&]/, '');
    if (inv.groups.has(whole) || inv.hosts.some((h) => h.name === whole)) return [pattern.trim()];
  }
  return pattern
    .split(separator)
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** Host names a single term (without its `!`/`&`) selects; throws when it matches nothing. */
function match(inv: Inventory, term: string): Set<string> {
  if (term.startsWith('~'))
    throw new UsageError(`--limit: ${quote(term)}: regular expressions are not supported; use globs (*, ?, [abc])`);
  if (term.startsWith('@'))
    throw new UsageError(`--limit: ${quote(term)}: limit files are not supported; list the hosts`);
  if (term === 'all' || term === '*') return new Set(inv.hosts.map((h) => h.name));

  const glob = /[*?[]/.test(term) ? globToRegExp(term) : undefined;
  const matches = (name: string): boolean => (glob ? glob.test(name) : name === term);
  const selected = new Set<string>();
  for (const host of inv.hosts) if (matches(host.name)) selected.add(host.name);
  for (const [group, members] of inv.groups) {
    // A glob never selects the implicit `all` group: `!a*` must not exclude every host.
    if (glob && group === 'all') continue;
    if (matches(group)) for (const name of members) selected.add(name);
  }
  if (selected.size === 0) {
    const hint = glob ? undefined : closest(term, [...inv.hosts.map((h) => h.name), ...inv.groups.keys()]);
    throw new UsageError(`--limit: ${quote(term)} matches no host or group${hint ? ` (did you mean ${hint}?)` : ''}`);
  }
  return selected;
}

/** fnmatch-style: `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`; everything else is literal. */
function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        source += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else {
      source += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}
