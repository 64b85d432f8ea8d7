// The proof of a granular restore (or its undo): every host of the suffix holds what the run wrote —
// the entries it put with the same values, the ones it deleted gone, the values it added or
// removed — read over LDAP on each host, waiting for replication to bring them.

import { setTimeout as delay } from 'node:timers/promises';
import type { ContentEntry } from '../content/entry.js';
import { liveEntry } from '../content/live-entries.js';
import { entryDigest, valueKey } from '../content/values.js';
import { normalizeDn } from '../directory/dn.js';
import { FleetError } from '../errors.js';
import type { LdapSession } from '../transport/ldap.js';
import { fromValues, valuesPresent } from './entry-ops.js';
import type { EntryRecord } from './entry-writes.js';

type Expectation =
  | { dn: string; absent: true }
  | { dn: string; attrs: Map<string, Buffer[]>; only?: string[] }
  | { dn: string; attr: string; value: string; present: boolean };

/** What the records leave behind: the last word on each entry, and on each value. */
export function expectations(records: EntryRecord[]): Expectation[] {
  const byKey = new Map<string, Expectation>();
  for (const { op } of records) {
    const ndn = normalizeDn(op.dn);
    if (op.op === 'delete') byKey.set(ndn, { dn: op.dn, absent: true });
    else if (op.op === 'put')
      byKey.set(ndn, { dn: op.dn, attrs: fromValues(op.attrs), ...(op.only ? { only: op.only } : {}) });
    else
      for (const value of op.values) {
        const key = `${ndn}\0${op.attr}\0${valueKey(op.attr, Buffer.from(value, 'base64'))}`;
        byKey.set(key, { dn: op.dn, attr: op.attr, value, present: op.op === 'add-values' });
      }
  }
  return [...byKey.values()];
}

/** Why the entry does not meet the expectation, or undefined when it does. */
function unmet(entry: ContentEntry | undefined, x: Expectation): string | undefined {
  if ('absent' in x) return entry ? 'still there' : undefined;
  if ('attrs' in x) {
    if (!entry) return 'missing';
    const attrs = x.only ? new Map([...entry.attrs].filter(([a]) => x.only!.includes(a))) : entry.attrs;
    return entryDigest({ ...entry, attrs }) === entryDigest({ ...entry, attrs: x.attrs }) ? undefined : 'other values';
  }
  const ok = valuesPresent(entry, x.attr, [x.value], x.present).length === 1;
  return ok ? undefined : `${x.attr} value ${x.present ? 'missing' : 'still there'}`;
}

export interface HostProof {
  host: string;
  checked: number;
  /** Milliseconds until the host held everything. */
  ms: number;
}

/** Waits until every host holds what the records wrote; throws naming the host and entry that never did. */
export async function proveEntries(
  sessions: LdapSession[],
  records: EntryRecord[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<HostProof[]> {
  const wanted = expectations(records);
  const started = Date.now();
  return Promise.all(
    sessions.map(async (ldap) => {
      for (;;) {
        const problem = await firstUnmet(ldap, wanted);
        if (!problem) return { host: ldap.host.name, checked: wanted.length, ms: Date.now() - started };
        if (Date.now() - started > timeoutMs || signal.aborted)
          throw new FleetError('failure', `${ldap.host.name}: ${problem} after ${Math.round(timeoutMs / 1000)} s`, {
            host: ldap.host.name,
          });
        await delay(250, undefined, { signal }).catch(() => undefined);
      }
    }),
  );
}

async function firstUnmet(ldap: LdapSession, wanted: Expectation[]): Promise<string | undefined> {
  const read = new Map<string, ContentEntry | undefined>();
  for (const x of wanted) {
    const ndn = normalizeDn(x.dn);
    if (!read.has(ndn)) read.set(ndn, await liveEntry(ldap, x.dn));
    const why = unmet(read.get(ndn), x);
    if (why) return `${x.dn}: ${why}`;
  }
  return undefined;
}
