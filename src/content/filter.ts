// An LDAP filter (RFC 4515) evaluated on a ContentEntry, so a selection means the same on both sides of
// a comparison: a snapshot's LDIF has no server to ask. Matching is case-insensitive, DNs by their
// normalized form (values.ts); `>=`/`<=` compare numbers as numbers. Extensible matches are refused.

import {
  AndFilter,
  ApproximateFilter,
  EqualityFilter,
  type Filter,
  FilterParser,
  GreaterThanEqualsFilter,
  LessThanEqualsFilter,
  NotFilter,
  OrFilter,
  PresenceFilter,
  SubstringFilter,
} from 'ldapts';
import { UsageError } from '../errors.js';
import type { ContentEntry } from './entry.js';
import { isDnValued, valueKey } from './values.js';

export type EntryTest = (entry: ContentEntry) => boolean;

/** The test a filter makes; `where` names the option in the error of a filter that does not parse. */
export function entryFilter(text: string, where: string): EntryTest {
  let filter: Filter;
  try {
    filter = FilterParser.parseString(text);
  } catch (err) {
    throw new UsageError(`${where}: '${text}' is not an LDAP filter: ${(err as Error).message}`);
  }
  const test = compile(filter, where, text);
  return test;
}

function compile(f: Filter, where: string, text: string): EntryTest {
  if (f instanceof AndFilter) {
    const parts = f.filters.map((p) => compile(p, where, text));
    return (e) => parts.every((p) => p(e));
  }
  if (f instanceof OrFilter) {
    const parts = f.filters.map((p) => compile(p, where, text));
    return (e) => parts.some((p) => p(e));
  }
  if (f instanceof NotFilter) {
    const inner = compile(f.filter, where, text);
    return (e) => !inner(e);
  }
  if (f instanceof PresenceFilter) return (e) => f.attribute.toLowerCase() === 'objectclass' || has(e, f.attribute);
  if (f instanceof EqualityFilter || f instanceof ApproximateFilter) return valueTest(f.attribute, equals(f));
  if (f instanceof SubstringFilter) return valueTest(f.attribute, substring(f));
  if (f instanceof GreaterThanEqualsFilter) return valueTest(f.attribute, ordered(String(f.value), 1));
  if (f instanceof LessThanEqualsFilter) return valueTest(f.attribute, ordered(String(f.value), -1));
  throw new UsageError(`${where}: '${text}': extensible matches are not evaluated on snapshots`);
}

function has(e: ContentEntry, attr: string): boolean {
  return e.attrs.has(attr.toLowerCase());
}

function valueTest(attr: string, match: (key: string) => boolean): EntryTest {
  const name = attr.toLowerCase();
  return (e) => (e.attrs.get(name) ?? []).some((v) => match(comparable(name, v)));
}

function comparable(attr: string, value: Buffer): string {
  return isDnValued(attr) ? valueKey(attr, value) : value.toString('utf8').toLowerCase();
}

function equals(f: EqualityFilter | ApproximateFilter): (key: string) => boolean {
  const attr = f.attribute.toLowerCase();
  const wanted = comparable(attr, Buffer.isBuffer(f.value) ? f.value : Buffer.from(String(f.value)));
  return (key) => key === wanted;
}

function substring(f: SubstringFilter): (key: string) => boolean {
  const esc = (s: string): string => s.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^${esc(f.initial)}.*${f.any.map((a) => `${esc(a)}.*`).join('')}${esc(f.final)}$`, 's');
  return (key) => pattern.test(key);
}

function ordered(bound: string, sign: 1 | -1): (key: string) => boolean {
  const numeric = /^-?\d+$/.test(bound);
  return (key) => {
    const cmp =
      numeric && /^-?\d+$/.test(key) ? Math.sign(Number(key) - Number(bound)) : key.localeCompare(bound.toLowerCase());
    return cmp === 0 || cmp === sign;
  };
}
