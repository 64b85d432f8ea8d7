// diff's report for people (a summary by kind, then each entry with its values) and as the one
// JSON object docs/json-output.md documents. Secrets appear as "changed", never with values.

import type { AttributeChange } from '../content/compare.js';
import type { EntryDiff } from '../content/diff.js';
import { shownValues, valueText, type ShownValue } from '../content/display.js';
import { ENTRY_KINDS, kindOf, type EntryKind } from '../content/ipa-layout.js';
import type { DiffReport, SuffixDiff } from '../operations/diff.js';
import { table } from './output.js';

type Counts = Record<EntryDiff['change'], number>;

export function differenceCount(report: DiffReport): number {
  return report.suffixes.reduce((n, s) => n + s.entries.length, 0);
}

export function diffText(report: DiffReport): string {
  const other = 'host' in report.against ? `live ${report.against.host}` : `snapshot ${report.against.snapshot.id}`;
  const head = `snapshot ${report.snapshot.id} of ${report.snapshot.host} (${report.snapshot.time}) → ${other}`;
  const out = [head];
  for (const s of report.suffixes) out.push(...suffixText(s));
  return out.join('\n');
}

function suffixText(s: SuffixDiff): string[] {
  const out = [`${s.kind} ${s.suffix}: ${countText(counts(s.entries))}`];
  if (s.entries.length === 0) return out;
  if (s.ipaShaped) {
    const rows = [...byKind(s)].map(([kind, c]) => [
      `  ${kind}`,
      String(c.added),
      String(c.deleted),
      String(c.modified),
    ]);
    out.push(table([['  KIND', 'ADDED', 'DELETED', 'MODIFIED'], ...rows]));
  }
  for (const e of s.entries) {
    const kind = kindOf(e.ndn, s.suffix);
    out.push(`${e.change.padEnd(8)} ${e.dn}${kind === 'other' ? '' : `  (${kind})`}`);
    for (const c of e.changes) out.push(...changeText(c));
  }
  return out;
}

function changeText(c: AttributeChange): string[] {
  const removed = shownValues(c.attr, c.removed);
  const added = shownValues(c.attr, c.added);
  if (!removed || !added) return [`    ~ ${c.attr}: ${attributeChange(c)} (secret, not shown)`];
  return [
    ...removed.map((v) => `    - ${c.attr}: ${valueText(v)}`),
    ...added.map((v) => `    + ${c.attr}: ${valueText(v)}`),
  ];
}

function counts(entries: EntryDiff[]): Counts {
  const c: Counts = { added: 0, deleted: 0, modified: 0 };
  for (const e of entries) c[e.change]++;
  return c;
}

function countText(c: Counts): string {
  const total = c.added + c.deleted + c.modified;
  return total === 0 ? 'no differences' : `${c.added} added, ${c.deleted} deleted, ${c.modified} modified`;
}

/** Counts per kind, in ENTRY_KINDS' order, kinds with no differences left out. */
function byKind(s: SuffixDiff): Map<EntryKind, Counts> {
  const map = new Map<EntryKind, Counts>();
  for (const kind of ENTRY_KINDS) {
    const c = counts(s.entries.filter((e) => kindOf(e.ndn, s.suffix) === kind));
    if (c.added + c.deleted + c.modified > 0) map.set(kind, c);
  }
  return map;
}

function attributeChange(c: AttributeChange): 'added' | 'removed' | 'changed' {
  return c.removed.length === 0 ? 'added' : c.added.length === 0 ? 'removed' : 'changed';
}

/** `diff --json`: docs/json-output.md. */
export function diffJson(report: DiffReport): Record<string, unknown> {
  return {
    snapshot: report.snapshot,
    against: report.against,
    selection: report.selection,
    differences: differenceCount(report),
    suffixes: report.suffixes.map((s) => ({
      kind: s.kind,
      suffix: s.suffix,
      summary: counts(s.entries),
      ...(s.ipaShaped ? { byKind: Object.fromEntries(byKind(s)) } : {}),
      entries: s.entries.map((e) => ({
        dn: e.dn,
        kind: kindOf(e.ndn, s.suffix),
        change: e.change,
        attributes: e.changes.map(attributeJson),
      })),
    })),
  };
}

function attributeJson(c: AttributeChange): Record<string, unknown> {
  const removed = shownValues(c.attr, c.removed);
  const added = shownValues(c.attr, c.added);
  const values = (name: string, v: ShownValue[] | undefined) => (v && v.length > 0 ? { [name]: v } : {});
  return {
    name: c.attr,
    change: attributeChange(c),
    ...(removed && added ? { ...values('removed', removed), ...values('added', added) } : { secret: true }),
  };
}
