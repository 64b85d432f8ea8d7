// One scheduled run of a job: a fleet backup of the job's deployment (the same operation
// `ipa-fleet backup` runs, FULL one host at a time), then the retention policy when every host
// succeeded, then, when it is due, a re-verification of each host's newest snapshot.
import { resolve } from 'node:path';
import type { PrivateKey } from '../backup/keys.js';
import { SnapshotStore } from '../backup/store.js';
import type { RunContext } from '../context.js';
import { loadInventory } from '../inventory/load.js';
import { selectHosts } from '../inventory/limit.js';
import { backupFleet, type HostBackup } from '../operations/backup-fleet.js';
import { prune } from '../operations/prune.js';
import { verifySnapshots } from '../operations/verify.js';
import { EventStream, type FleetEvent } from '../report/events.js';
import type { JobConfig } from './config.js';
import type { RunReport, VerifyReport } from './state.js';

export interface JobRunOptions {
  ctx: RunContext;
  stateDir: string;
  scheduledAt: Date;
  /** Re-verify the newest snapshots after the backup. */
  verify: { readData: boolean; key: PrivateKey | undefined } | undefined;
  /** Each finished host task, for the daemon's log. */
  onEvent?: (event: FleetEvent) => void;
}

type Errors = RunReport['errors'];

export async function runScheduledBackup(job: JobConfig, opts: JobRunOptions): Promise<RunReport> {
  const { ctx } = opts;
  const started = new Date();
  const backup = await backUp(job, opts);
  const { errors } = backup;
  const perHost = perHostReport(backup.planned, backup.hosts, errors, (t) => ctx.redactor.mask(t));
  const ok = backup.planned.filter((h) => perHost[h]!.ok);
  const failed = backup.planned.filter((h) => !perHost[h]!.ok);
  const cancelled = ctx.signal.aborted;
  const result: RunReport['result'] = cancelled
    ? 'cancelled'
    : failed.length === 0 && ok.length > 0
      ? 'succeeded'
      : ok.length > 0
        ? 'partial'
        : 'failed';
  const store = new SnapshotStore(job.store);
  // Only after a run in which every host succeeded: while a host is failing, nothing is removed.
  const pruned = result === 'succeeded' && job.retention ? await pruneJob(store, job, ctx, errors) : undefined;
  const verify = opts.verify && !cancelled ? await verifyJob(store, job, backup.planned, opts, errors) : undefined;
  const finishedAt = new Date();
  return {
    job: job.name,
    deployment: job.deployment,
    type: job.type,
    runId: backup.runId,
    result,
    scheduledAt: opts.scheduledAt.toISOString(),
    startedAt: started.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: (finishedAt.getTime() - started.getTime()) / 1000,
    hosts: { ok, failed },
    perHost,
    errors,
    pruned,
    verify,
  };
}

interface JobBackup {
  runId: string | undefined;
  planned: string[];
  hosts: Map<string, HostBackup>;
  errors: Errors;
}

async function backUp(job: JobConfig, opts: JobRunOptions): Promise<JobBackup> {
  const { ctx } = opts;
  const events = new EventStream();
  events.on((e) => opts.onEvent?.(e));
  const errors: Errors = [];
  try {
    const result = await backupFleet(await loadInventory(resolve(job.inventory)), ctx, {
      type: job.type,
      binary: job.binary,
      store: job.store,
      encryptTo: job.encryptTo,
      encrypt: !job.noEncrypt,
      compress: job.compress,
      limit: job.limit,
      forks: job.forks,
      stateDir: opts.stateDir,
      events,
    });
    for (const f of result.failures)
      errors.push({ ...(f.host ? { host: f.host } : {}), message: ctx.redactor.mask(f.message) });
    return {
      runId: result.runId,
      planned: result.hosts.map((h) => h.host),
      hosts: new Map(result.hosts.map((h) => [h.host, h])),
      errors,
    };
  } catch (err) {
    // The run did not start (a lock held by a restore, an unreadable inventory, a bad key): every
    // host of the job missed its backup.
    errors.push({ message: ctx.redactor.mask(err instanceof Error ? err.message : String(err)) });
    return { runId: undefined, planned: await jobHosts(job).catch(() => []), hosts: new Map(), errors };
  }
}

function perHostReport(
  planned: string[],
  hosts: Map<string, HostBackup>,
  errors: Errors,
  mask: (text: string) => string,
): RunReport['perHost'] {
  const perHost: RunReport['perHost'] = {};
  for (const name of planned) {
    const host = hosts.get(name);
    const snapshot = host?.snapshot;
    const ok = host?.ok === true && snapshot !== undefined;
    const error = ok
      ? undefined
      : ((host?.error ? mask(host.error.message) : undefined) ??
        errors.find((e) => e.host === name)?.message ??
        errors.find((e) => !e.host)?.message ??
        'not run');
    perHost[name] = {
      ok,
      durationSeconds: (host?.durationMs ?? 0) / 1000,
      ...(snapshot ? { snapshot: snapshot.id, size: snapshot.size } : {}),
      ...(error ? { error } : {}),
    };
  }
  return perHost;
}

async function pruneJob(
  store: SnapshotStore,
  job: JobConfig,
  ctx: RunContext,
  errors: Errors,
): Promise<RunReport['pruned']> {
  try {
    const r = await prune(store, ctx, {
      policy: job.retention!,
      deployment: job.deployment,
      dryRun: false,
      command: `schedule ${job.name} prune`,
    });
    return { removed: r.removed, kept: r.kept };
  } catch (err) {
    errors.push({ message: `prune: ${ctx.redactor.mask((err as Error).message)}` });
    return undefined;
  }
}

async function verifyJob(
  store: SnapshotStore,
  job: JobConfig,
  hosts: string[],
  opts: JobRunOptions,
  errors: Errors,
): Promise<VerifyReport | undefined> {
  const { ctx } = opts;
  try {
    const result = await verifySnapshots(store, ctx, {
      targets: { newestOf: { deployment: job.deployment, hosts } },
      readData: opts.verify!.readData,
      ...(opts.verify!.key ? { key: opts.verify!.key } : {}),
      keepGoing: true,
      command: `schedule ${job.name} verify`,
    });
    const verify: VerifyReport = { at: new Date().toISOString(), ...result };
    for (const s of verify.snapshots.filter((x) => !x.ok))
      errors.push({ host: s.host, snapshot: s.id, message: `verify ${s.id}: ${s.problems.join('; ')}` });
    return verify;
  } catch (err) {
    errors.push({ message: `verify: ${ctx.redactor.mask((err as Error).message)}` });
    return undefined;
  }
}

/** The hosts a job backs up: its inventory after its limit. */
export async function jobHosts(job: Pick<JobConfig, 'inventory' | 'limit'>): Promise<string[]> {
  return selectHosts(await loadInventory(job.inventory), job.limit).map((h) => h.name);
}
