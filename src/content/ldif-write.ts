// The LDIF (RFC 2849 change records) that brings the other side back to the snapshot for the
// entries of a diff: deletes of added entries (children first), adds of deleted ones (parents
// first), value-level modifies of modified ones. Secret attributes are left out with a comment:
// this LDIF is printed; restore-entries writes them without ever showing them.

import { isSecretAttribute } from './data.js';
import type { AttributeChange } from './compare.js';
import type { EntryDiff } from './diff.js';

export function revertLdif(diffs: EntryDiff[]): string {
  const records: string[] = [];
  for (const d of [...diffs].reverse())
    if (d.change === 'added') records.push(`${line('dn', d.dn)}\nchangetype: delete\n`);
  for (const d of diffs) {
    if (d.change === 'deleted') records.push(addRecord(d));
    if (d.change === 'modified') records.push(modifyRecord(d));
  }
  return records.join('\n');
}

function addRecord(d: EntryDiff): string {
  const out = [line('dn', d.dn), 'changetype: add'];
  for (const c of d.changes) {
    if (isSecretAttribute(c.attr)) out.push(secretComment(c.attr));
    else for (const v of c.removed) out.push(line(c.attr, v));
  }
  return `${out.join('\n')}\n`;
}

function modifyRecord(d: EntryDiff): string {
  const out = [line('dn', d.dn), 'changetype: modify'];
  for (const c of d.changes) {
    if (isSecretAttribute(c.attr)) out.push(secretComment(c.attr));
    else out.push(...modification(c));
  }
  return `${out.join('\n')}\n`;
}

function modification(c: AttributeChange): string[] {
  const out: string[] = [];
  if (c.added.length > 0) out.push(`delete: ${c.attr}`, ...c.added.map((v) => line(c.attr, v)), '-');
  if (c.removed.length > 0) out.push(`add: ${c.attr}`, ...c.removed.map((v) => line(c.attr, v)), '-');
  return out;
}

function secretComment(attr: string): string {
  return `# ${attr}: a secret, not printed (restore-entries writes it)`;
}

/** `attr: value`, or `attr:: base64` for a value LDIF cannot hold as is (RFC 2849 SAFE-STRING). */
function line(attr: string, value: Buffer | string): string {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const text = bytes.toString('utf8');
  // Printable ASCII only (no NUL, CR, LF, no bytes of other scripts), not starting with space, ':' or '<'.
  const safe = /^[\x20-\x7e]*$/.test(text) && !/^[ :<]| $/.test(text);
  return safe ? `${attr}: ${text}` : `${attr}:: ${bytes.toString('base64')}`;
}
