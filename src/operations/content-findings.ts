// audit --content: a suffix whose hosts hold different data is an error finding naming the DNs; what
// replication is still delivering is only information.
import type { Finding } from '../topology/findings.js';
import type { SuffixComparison } from './compare.js';

/** How many DNs a finding's message names; its details list them all. */
const NAMED = 3;

export function contentFindings(s: SuffixComparison): Finding[] {
  const label = s.kind === 'domain' ? 'domain suffix' : 'CA suffix';
  const out: Finding[] = [];
  if (s.differences.length > 0) {
    const hosts = [...new Set(s.differences.flatMap((d) => (d.variants.length > 1 ? s.hosts : d.missingOn)))];
    const named = s.differences.slice(0, NAMED).map((d) => d.dn);
    const more = s.differences.length > NAMED ? ` and ${s.differences.length - NAMED} more` : '';
    out.push({
      id: 'content-differs',
      severity: 'error',
      hosts: hosts.sort(),
      suffix: s.kind,
      message:
        `${count(s.differences.length)} of the ${label} ${s.differences.length === 1 ? 'differs' : 'differ'} ` +
        `between hosts: ${named.join('; ')}${more}`,
      fix:
        `see which hosts hold what with ipa-fleet compare --suffix ${s.kind}; bring the wrong hosts back with ` +
        'ipa-fleet rejoin (or restore-entries for a few entries)',
      details: {
        dns: s.differences.map((d) => d.dn),
        differences: s.differences.map((d) => ({ dn: d.dn, missingOn: d.missingOn, variants: d.variants })),
      },
    });
  }
  if (s.lag.length > 0) {
    out.push({
      id: 'content-in-flight',
      severity: 'info',
      hosts: [...new Set(s.lag.flatMap((l) => l.behind.map((b) => b.host)))].sort(),
      suffix: s.kind,
      message: `${count(s.lag.length)} of the ${label} still on their way (replication lag)`,
      fix: "nothing to do if it clears; if it stays, look at replication-lag and the agreements' status",
      details: { dns: s.lag.map((l) => l.dn) },
    });
  }
  return out;
}

const count = (n: number): string => (n === 1 ? '1 entry' : `${n} entries`);
