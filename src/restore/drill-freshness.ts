// The audit's drill-freshness check (--drill-max-age): a deployment whose newest drill that passed
// is older than the limit, or that has none, is a warning, because a backup nobody restored recently
// is only hoped to restore. Pure: the caller reads the drill records and passes the clock.
import { formatAge } from '../format.js';
import type { JsonValue } from '../json.js';
import type { Check } from '../topology/checks.js';
import type { Finding } from '../topology/findings.js';
import { type DrillRecord, lastPassed } from './drill-records.js';

/** `records`: the deployment's drill records, oldest first; `hosts`: the hosts the audit covers. */
export function drillFreshnessCheck(records: readonly DrillRecord[], maxAgeSeconds: number, hosts: string[]): Check {
  return ({ inventory, now }) => {
    const deployment = inventory.deployment;
    const passed = lastPassed(records);
    const limit = `the limit is ${formatAge(maxAgeSeconds)}`;
    const finding = (message: string, details: Finding['details']): Finding[] => [
      {
        id: 'drill-stale',
        severity: 'warning',
        hosts,
        suffix: undefined,
        message,
        fix:
          `run a restore drill (ipa-fleet -i <inventory> drill) and schedule one (a kind: drill job; ` +
          'ipa-fleet schedule status -c <schedule>)',
        details,
      },
    ];
    const failedSince = records.filter(
      (r) => !r.restorable && (!passed || Date.parse(r.finishedAt) > Date.parse(passed.finishedAt)),
    );
    const newestFailure = failedSince.at(-1);
    const failures = newestFailure
      ? `; ${failedSince.length} drill(s) failed since, the newest ${describeFailure(newestFailure)}`
      : '';
    const failureDetails: Record<string, JsonValue> = newestFailure
      ? { failedSince: failedSince.length, newestFailure: failureSummary(newestFailure) }
      : {};
    if (records.length === 0)
      return finding(`no restore drill of ${deployment} is recorded; ${limit}`, { maxAgeSeconds });
    if (!passed)
      return finding(
        `no restore drill of ${deployment} has passed: ${records.length} recorded, the newest ` +
          `${describeFailure(newestFailure!)}; ${limit}`,
        { maxAgeSeconds, ...failureDetails },
      );
    const age = now - Date.parse(passed.finishedAt) / 1000;
    if (age <= maxAgeSeconds) return [];
    return finding(
      `the newest restore drill of ${deployment} that passed finished ${formatAge(age)} ago ` +
        `(${passed.finishedAt})${failures}; ${limit}`,
      {
        lastPassed: passed.finishedAt,
        ageSeconds: Math.round(age),
        maxAgeSeconds,
        snapshots: passed.snapshots.map((s) => `${s.host} ${s.id}`),
        ...failureDetails,
      },
    );
  };
}

function describeFailure(r: DrillRecord): string {
  const phase = r.failedPhase ? ` in phase ${r.failedPhase}` : '';
  return `(${r.finishedAt}) failed${phase}${r.error ? `: ${r.error}` : ''}`;
}

function failureSummary(r: DrillRecord): Record<string, JsonValue> {
  return { finishedAt: r.finishedAt, failedPhase: r.failedPhase ?? null, error: r.error ?? null };
}
