// A granular restore's writes on one host, each recorded with its inverse before it is made (a
// write-ahead record: an interrupted run can still be undone, and a resumed one re-plans from the
// host and only appends). The record is a file in the run's folder, mode 0600: it holds
// the entries' values as they were, password hashes too, like a backup.

import { appendFile, readFile } from 'node:fs/promises';
import { liveEntry } from '../content/live-entries.js';
import { normalizeDn } from '../directory/dn.js';
import { FleetError } from '../errors.js';
import type { LdapSession } from '../transport/ldap.js';
import { type EntryOp, fromValues, inverseOf, putMods, valuesPresent } from './entry-ops.js';

/** Which suffix a run wrote to. */
export interface RecordedSuffix {
  kind: 'domain' | 'ca';
  suffix: string;
}

export interface EntryRecord extends RecordedSuffix {
  host: string;
  op: EntryOp;
  /** Undefined when the op changed nothing that needs undoing. */
  inverse?: EntryOp;
}

export async function readEntryRecords(file: string): Promise<EntryRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as EntryRecord;
      } catch {
        throw new FleetError('failure', `${file}:${i + 1}: not a record line (the file was damaged)`);
      }
    });
}

/** Makes the writes in order; returns how many changed the host. */
export async function applyEntryOps(
  ldap: LdapSession,
  suffix: RecordedSuffix,
  ops: EntryOp[],
  record: string,
  progress: (done: number) => void,
): Promise<number> {
  let changed = 0;
  const pluginMade = new Set((await readEntryRecords(record)).flatMap(managedEntriesAdded));
  for (const [i, op] of ops.entries()) {
    const before = await liveEntry(ldap, op.dn);
    const inverse = before && pluginMade.has(normalizeDn(op.dn)) ? undefined : inverseOf(op, before);
    const line: EntryRecord = {
      host: ldap.host.name,
      kind: suffix.kind,
      suffix: suffix.suffix,
      op,
      ...(inverse ? { inverse } : {}),
    };
    await appendFile(record, `${JSON.stringify(line)}\n`, { mode: 0o600 });
    for (const dn of managedEntriesAdded(line)) pluginMade.add(dn);
    if (await applyOp(ldap, op, before)) changed++;
    progress(i + 1);
  }
  return changed;
}

async function applyOp(
  ldap: LdapSession,
  op: EntryOp,
  before: Awaited<ReturnType<typeof liveEntry>>,
): Promise<boolean> {
  switch (op.op) {
    case 'put': {
      const target = fromValues(op.attrs);
      if (!before) {
        await addEntry(ldap, op.dn, target);
        return true;
      }
      const mods = putMods(before, target, op.only);
      if (mods.length > 0) await ldap.modify(op.dn, mods);
      return mods.length > 0;
    }
    case 'delete':
      if (before) await ldap.delete(op.dn);
      return before !== undefined;
    case 'add-values':
    case 'delete-values': {
      const todo = valuesPresent(before, op.attr, op.values, op.op === 'delete-values');
      if (!before || todo.length === 0) return false;
      const values = todo.map((v) => Buffer.from(v, 'base64'));
      await ldap.modify(op.dn, [{ op: op.op === 'add-values' ? 'add' : 'delete', attr: op.attr, values }]);
      return true;
    }
  }
}

/**
 * The managed entries of an origin a record adds (this run, or before an interruption). Where they exist
 * when their own put comes, the plugin made them: there is nothing to undo on them, they go when undo
 * deletes their origin (and the plugin lets no one else delete them).
 */
function managedEntriesAdded(r: EntryRecord): string[] {
  if (r.op.op !== 'put' || r.inverse?.op !== 'delete') return [];
  return (r.op.attrs.mepmanagedentry ?? []).map((v) => normalizeDn(Buffer.from(v, 'base64').toString('utf8')));
}

/**
 * The managed-entries plugin writes an origin entry's mepManagedEntry itself (creating the user private
 * group) and refuses an add that already carries it: the origin goes in without it, and the pointer is
 * written here only where no plugin wrote one. The group's own put, planned after, then makes the plugin's
 * group the snapshot's (its ipaUniqueID above all).
 */
async function addEntry(ldap: LdapSession, dn: string, target: Map<string, Buffer[]>): Promise<void> {
  const pointer = target.get('mepmanagedentry');
  if (!pointer) return ldap.add(dn, target);
  const origin = new Map(target);
  origin.delete('mepmanagedentry');
  await ldap.add(dn, origin);
  const added = await liveEntry(ldap, dn);
  if ((added?.attrs.get('mepmanagedentry') ?? []).length === 0) {
    await ldap.modify(dn, [{ op: 'add', attr: 'mepManagedEntry', values: pointer }]);
  }
}

/** The writes that undo a run's records: their inverses, last first. */
export function undoOps(records: EntryRecord[]): EntryOp[] {
  return records.flatMap((r) => (r.inverse ? [r.inverse] : [])).reverse();
}
