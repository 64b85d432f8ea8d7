// Applying a retention policy to one deployment's part of the store, under its exclusive lock:
// used by `backups prune` and by the scheduler after each successful run.
import { acquireStoreLock } from './store-lock.js';
import { planRetention, type RetentionDecision, type RetentionPolicy } from './retention.js';
import type { SnapshotStore, StagingLeftover } from './store.js';

export interface PruneResult {
  decisions: RetentionDecision[];
  /** Staging folders of crashed backups (older than an hour) removed, or that would be. */
  leftovers: StagingLeftover[];
}

export async function pruneDeployment(
  store: SnapshotStore,
  deployment: string,
  policy: RetentionPolicy,
  opts: { dryRun: boolean; command: string; warn: (m: string) => void; onDecision?: (d: RetentionDecision) => void },
): Promise<PruneResult> {
  const release = await acquireStoreLock(store.root, deployment, 'exclusive', opts.command, opts.warn);
  try {
    const snapshots = await store.list({ deployment });
    const decisions = planRetention(
      snapshots.map((s) => ({ id: s.id, host: s.host, time: s.time })),
      policy,
    );
    for (const d of decisions) {
      opts.onDecision?.(d);
      if (!d.keep && !opts.dryRun) await store.remove(snapshots.find((s) => s.id === d.id && s.host === d.host)!);
    }
    const leftovers = await store.staleStaging(60 * 60_000, { deployment });
    if (!opts.dryRun) for (const leftover of leftovers) await store.removeStaging(leftover);
    return { decisions, leftovers };
  } finally {
    await release();
  }
}
