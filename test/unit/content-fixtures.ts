// Entries for the content and restore-entries unit tests.
import type { ContentEntry } from '../../src/content/entry.js';
import { normalizeDn } from '../../src/directory/dn.js';

export function entry(dn: string, attrs: Record<string, string[]>, uniqueId?: string): ContentEntry {
  const map = new Map(Object.entries(attrs).map(([a, vs]) => [a, vs.map((v) => Buffer.from(v))]));
  return { dn, ndn: normalizeDn(dn), attrs: map, ...(uniqueId ? { uniqueId } : {}) };
}
