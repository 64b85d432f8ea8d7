// Applying a retention policy to the store: per deployment, under its exclusive store lock.
// `backups prune` and the scheduler (after a run in which every host succeeded) call it.
import { pruneDeployment } from '../backup/prune.js';
import type { RetentionDecision, RetentionPolicy } from '../backup/retention.js';
import type { SnapshotStore, StagingLeftover } from '../backup/store.js';
import type { RunContext } from '../context.js';

export interface PruneOptions {
  policy: RetentionPolicy;
  /** Only this deployment; every deployment in the store without it. */
  deployment?: string;
  /** Decide and report, remove nothing. */
  dryRun: boolean;
  /** Names the store lock's holder, e.g. `backups prune`. */
  command: string;
  /** Where lock waits are told (default ctx.warn). */
  warn?: (message: string) => void;
}

export interface DeploymentPrune {
  deployment: string;
  /** Every snapshot with keep or remove and why, per host, newest first. */
  decisions: RetentionDecision[];
  /** Staging folders of crashed backups (older than an hour) removed, or that would be. */
  leftovers: StagingLeftover[];
}

export interface PruneResult {
  dryRun: boolean;
  deployments: DeploymentPrune[];
  removed: number;
  kept: number;
}

export async function prune(store: SnapshotStore, ctx: RunContext, opts: PruneOptions): Promise<PruneResult> {
  const names = opts.deployment ? [opts.deployment] : [...new Set((await store.list()).map((s) => s.deployment))];
  const deployments: DeploymentPrune[] = [];
  for (const deployment of names) {
    const result = await pruneDeployment(store, deployment, opts.policy, {
      dryRun: opts.dryRun,
      command: opts.command,
      warn: opts.warn ?? ((m) => ctx.warn(m)),
    });
    deployments.push({ deployment, ...result });
  }
  const decisions = deployments.flatMap((d) => d.decisions);
  return {
    dryRun: opts.dryRun,
    deployments,
    removed: decisions.filter((d) => !d.keep).length,
    kept: decisions.filter((d) => d.keep).length,
  };
}
