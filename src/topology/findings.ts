// What an audit reports. The JSON form (`audit --json`) is this shape; docs/guide.md ("Audit JSON") documents it.
import type { JsonValue } from '../json.js';

type Severity = 'error' | 'warning' | 'info';
export type SuffixKind = 'domain' | 'ca';

const FINDING_IDS = [
  'host-unreachable', // SSH or LDAP failed
  'host-not-in-inventory', // an agreement points at a host the inventory does not list
  'host-without-agreements', // an inventory host takes part in no agreement of the suffix
  'agreement-one-way', // A→B exists, B→A does not
  'graph-disconnected', // the suffix's hosts fall into separate islands
  'too-many-agreements', // more than 4 agreements on a host (FreeIPA's recommendation)
  'agreement-disabled', // nsds5ReplicaEnabled: off
  'schedule-never-opens', // nsDS5ReplicaUpdateSchedule that never lets updates through
  'init-failed', // last total update failed
  'refresh-pending', // nsds5BeginReplicaRefresh set but the init does not run / finish
  'update-status-red', // incremental update failing (server text, e.g. generation ID mismatch)
  'update-status-amber', // incremental update degraded
  'generation-mismatch', // {replicageneration} differs between hosts of the suffix
  'duplicate-rid', // two hosts with the same replica ID
  'stale-rid', // a RUV element of a RID no live supplier owns (CleanAllRUV candidate)
  'replication-lag', // a host is behind a supplier RID by more than the threshold
  'conflict-entries', // nsds5ReplConflict entries
  'glue-entries', // glue entries left by conflicts
  'changelog-trimming-off', // changelog without max age: grows for ever
  'ca-host-without-ca-agreements',
  'clock-skew', // clocks of the hosts differ by more than the threshold
  'backup-stale', // newest snapshot in the store older than --backup-max-age, or none
  'host-quarantined', // offline during a restore: holds old data until ipa-fleet rejoin
  'content-differs', // audit --content: hosts of a suffix hold different entries or values
  'content-in-flight', // audit --content: entries replication is still delivering (lag, not difference)
  'drill-stale', // no restore drill of the deployment passed within --drill-max-age (or none recorded)
] as const;

export type FindingId = (typeof FINDING_IDS)[number];

export interface Finding {
  id: FindingId;
  severity: Severity;
  /** Hosts the finding is about (inventory names, or the agreement's host name when not in it). */
  hosts: string[];
  /** Undefined for findings about a host as a whole (unreachable, clock). */
  suffix: SuffixKind | undefined;
  message: string;
  /** One line telling the administrator what to do. */
  fix: string;
  details?: JsonValue;
}

const ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      ORDER[a.severity] - ORDER[b.severity] ||
      a.id.localeCompare(b.id) ||
      (a.suffix ?? '').localeCompare(b.suffix ?? '') ||
      a.hosts.join().localeCompare(b.hosts.join()),
  );
}
