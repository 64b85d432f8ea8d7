// One scheduled run of a drill job: the same `drill` operation `ipa-fleet drill` runs, with the
// job's store, key and snapshot. The drill keeps its own record (the state folder's drill records,
// pass or fail); this module only turns its outcome, or the error it threw, into the job's summary
// and never records a drill itself: a drill that threw before recording is a failed run of the job
// (metrics, hooks, status), not a drill record.
import { resolve } from 'node:path';
import type { RunContext } from '../context.js';
import { loadInventory } from '../inventory/load.js';
import { describeSecretSource } from '../inventory/secrets.js';
import { drill } from '../operations/drill.js';
import { type DrillRecord, readDrills } from '../restore/drill-records.js';
import type { DrillJobConfig } from './config.js';
import type { DrillRunReport } from './state.js';

export interface DrillRunOptions {
  ctx: RunContext;
  /** The controller's state folder: drill records and sandboxes. */
  stateDir: string;
  scheduledAt: Date;
}

export async function runScheduledDrill(job: DrillJobConfig, opts: DrillRunOptions): Promise<DrillRunReport> {
  const { ctx } = opts;
  const started = new Date();
  try {
    // The drill reads the passphrase from its source, as `ipa-fleet drill --passphrase SOURCE` does.
    const report = await drill(await loadInventory(resolve(job.inventory)), ctx, {
      backup: job.backup,
      store: job.store,
      ...(job.key ? { key: job.key } : {}),
      ...(job.passphrase ? { passphrase: describeSecretSource(job.passphrase) } : {}),
      stateDir: opts.stateDir,
    });
    return { ...fromRecord(job, opts, started, report), phases: report.phases.map((p) => ({ ...p })) };
  } catch (err) {
    const message = ctx.redactor.mask(err instanceof Error ? err.message : String(err));
    // A drill that recorded its failure before throwing: its record says the most.
    const recorded = (await readDrills(opts.stateDir, job.deployment).catch(() => [])).at(-1);
    if (recorded && Date.parse(recorded.startedAt) >= started.getTime())
      return fromRecord(job, opts, started, { ...recorded, error: recorded.error ?? message });
    return failedDrillReport(job, opts.scheduledAt, started, message, ctx.signal.aborted);
  }
}

function fromRecord(job: DrillJobConfig, opts: DrillRunOptions, started: Date, r: DrillRecord): DrillRunReport {
  const finished = new Date();
  const mask = (t: string): string => opts.ctx.redactor.mask(t);
  return {
    kind: 'drill',
    job: job.name,
    deployment: job.deployment,
    backup: job.backup,
    result: r.restorable ? 'succeeded' : opts.ctx.signal.aborted ? 'cancelled' : 'failed',
    scheduledAt: opts.scheduledAt.toISOString(),
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: (finished.getTime() - started.getTime()) / 1000,
    restorable: r.restorable,
    recoverySeconds: r.recoverySeconds,
    ...(r.failedPhase ? { failedPhase: r.failedPhase } : {}),
    ...(r.error ? { error: mask(firstLine(r.error)) } : {}),
    hosts: r.hosts,
    entries: r.entries,
    snapshots: r.snapshots.map((s) => ({ host: s.host, id: s.id })),
  };
}

/** A drill that stopped before a verdict (or a run that threw): failed, or cancelled by SIGTERM. */
export function failedDrillReport(
  job: DrillJobConfig,
  scheduledAt: Date,
  started: Date,
  message: string,
  cancelled: boolean,
): DrillRunReport {
  const finished = new Date();
  return {
    kind: 'drill',
    job: job.name,
    deployment: job.deployment,
    backup: job.backup,
    result: cancelled ? 'cancelled' : 'failed',
    scheduledAt: scheduledAt.toISOString(),
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: (finished.getTime() - started.getTime()) / 1000,
    restorable: undefined,
    recoverySeconds: undefined,
    error: firstLine(message),
    snapshots: [],
  };
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim();
}
