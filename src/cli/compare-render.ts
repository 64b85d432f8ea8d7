// compare's report for people (per suffix: the hosts and their entry counts, then the first differences,
// then what is still in flight) and as the one JSON object docs/json-output.md documents.
import type { Divergence, Lagging } from '../content/live-compare.js';
import type { CompareReport, SuffixComparison } from '../operations/compare.js';
import { table } from './output.js';

/** How many differences the text view names per suffix; --json has them all. */
const SHOWN = 20;

export function compareDifferences(report: CompareReport): number {
  return report.suffixes.reduce((n, s) => n + s.differences.length, 0);
}

export function compareText(report: CompareReport): string {
  return report.suffixes.flatMap(suffixText).join('\n');
}

function suffixText(s: SuffixComparison): string[] {
  const verdict =
    s.differences.length === 0
      ? 'every host holds the same content'
      : `${s.differences.length} entr${s.differences.length === 1 ? 'y differs' : 'ies differ'}`;
  const lag = s.lag.length > 0 ? `, ${s.lag.length} still in flight (lag, not difference)` : '';
  const out = [`${s.kind} ${s.base}: ${verdict}${lag}`];
  out.push(table([['  HOST', 'ENTRIES'], ...s.hosts.map((h) => [`  ${h}`, String(s.entries[h] ?? 0)])]));
  for (const d of s.differences.slice(0, SHOWN)) out.push(`  ${differenceText(d)}`);
  if (s.differences.length > SHOWN) out.push(`  … and ${s.differences.length - SHOWN} more (--json lists them all)`);
  for (const l of s.lag.slice(0, SHOWN)) out.push(`  in flight  ${l.dn}  ${behindText(l)}`);
  if (s.lag.length > SHOWN) out.push(`  … and ${s.lag.length - SHOWN} more in flight`);
  return out;
}

/** missing: most hosts hold it; extra: most lack it; values: the holders disagree. */
function differenceKind(d: Divergence): 'missing' | 'extra' | 'values' {
  const holders = d.variants.flat().length;
  if (d.missingOn.length === 0) return 'values';
  return holders >= d.missingOn.length ? 'missing' : 'extra';
}

function differenceText(d: Divergence): string {
  const kind = differenceKind(d);
  const groups = d.variants.map((g) => g.join(', ')).join(' | ');
  const where =
    kind === 'missing'
      ? `missing on ${d.missingOn.join(', ')}`
      : kind === 'extra'
        ? `extra on ${d.variants.flat().join(', ')}`
        : `values differ: ${groups}`;
  const attrs = d.attributes.length > 0 ? ` (${d.attributes.join(', ')})` : '';
  const held = kind !== 'values' && d.variants.length > 1 ? `; holders differ: ${groups}` : '';
  const stuck =
    d.unreplicated.length > 0
      ? `; not replicated: ${d.unreplicated.map((b) => `${b.host} lacks ${b.csn} of ${b.from}`).join(', ')}`
      : '';
  return `${kind.padEnd(7)} ${d.dn}  ${where}${attrs}${held}${stuck}`;
}

function behindText(l: Lagging): string {
  return l.behind.map((b) => `${b.host} has not seen ${b.csn} (held by ${b.from})`).join('; ');
}

/** `compare --json`: docs/json-output.md. */
export function compareJson(report: CompareReport): Record<string, unknown> {
  return {
    deployment: report.deployment,
    differences: compareDifferences(report),
    seconds: report.seconds,
    suffixes: report.suffixes.map((s) => ({
      kind: s.kind,
      suffix: s.suffix,
      base: s.base,
      hosts: s.hosts,
      entries: s.entries,
      rounds: s.rounds,
      settleSeconds: s.settleMs / 1000,
      differences: s.differences.map((d) => ({
        dn: d.dn,
        kind: differenceKind(d),
        missingOn: d.missingOn,
        variants: d.variants,
        attributes: d.attributes,
        unreplicated: d.unreplicated,
      })),
      lag: s.lag.map((l) => ({ dn: l.dn, behind: l.behind })),
    })),
  };
}
