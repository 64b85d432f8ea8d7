// The audit's backup-freshness check: a host whose newest snapshot in the store is older than the
// threshold (or that has none) is a warning. Pure: the caller reads the store and passes the clock.
import { formatAge } from '../format.js';
import type { Check } from '../topology/checks.js';

export interface NewestSnapshot {
  id: string;
  /** ISO 8601 UTC. */
  time: string;
}

export function backupFreshnessCheck(
  newest: ReadonlyMap<string, NewestSnapshot | undefined>,
  maxAgeSeconds: number,
  store: string,
): Check {
  return ({ inventory, now }) =>
    inventory.hosts
      .filter((h) => newest.has(h.name))
      .flatMap((h) => {
        const snapshot = newest.get(h.name);
        const fix =
          `back it up (ipa-fleet backup -i <inventory> --limit ${h.name}) and check its schedule ` +
          '(ipa-fleet schedule status -c <schedule>)';
        if (!snapshot) {
          return [
            {
              id: 'backup-stale' as const,
              severity: 'warning' as const,
              hosts: [h.name],
              suffix: undefined,
              message: `${h.name} has no snapshot in ${store}`,
              fix,
            },
          ];
        }
        const age = now - Date.parse(snapshot.time) / 1000;
        if (age <= maxAgeSeconds) return [];
        return [
          {
            id: 'backup-stale' as const,
            severity: 'warning' as const,
            hosts: [h.name],
            suffix: undefined,
            message:
              `the newest snapshot of ${h.name} (${snapshot.id}) is ${formatAge(age)} old; ` +
              `the limit is ${formatAge(maxAgeSeconds)}`,
            fix,
            details: { snapshot: snapshot.id, time: snapshot.time, ageSeconds: Math.round(age), maxAgeSeconds },
          },
        ];
      });
}
