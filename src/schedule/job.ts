// One scheduled run of a job: the backup-fleet playbook over the job's deployment (the same plan
// `ipa-fleet backup` runs, FULL one host at a time), then the retention policy when every host
// succeeded, then, when it is due, a re-verification of each host's newest snapshot.
import { resolve } from 'node:path';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { selectHosts } from '../inventory/limit.js';
import type { PrivateKey } from '../backup/keys.js';
import { pruneDeployment } from '../backup/prune.js';
import { acquireStoreLock } from '../backup/store-lock.js';
import { SnapshotStore } from '../backup/store.js';
import { snapshotProblems } from '../backup/verify.js';
import { RunJournal } from '../playbook/journal.js';
import { defaultRegistry } from '../actions/index.js';
import { runPlaybook } from '../playbook/run.js';
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

export async function runScheduledBackup(job: JobConfig, opts: JobRunOptions): Promise<RunReport> {
  const { ctx } = opts;
  const started = new Date();
  const events = new EventStream();
  const finished = new Map<string, { ok: boolean; durationMs: number; error?: string }>();
  let planned: string[] = [];
  events.on((e) => {
    if (e.type === 'run.started') planned = e.hosts;
    if (e.type === 'task.finished' && e.action === 'backup') {
      finished.set(e.host, {
        ok: e.status !== 'failed',
        durationMs: e.durationMs,
        ...(e.error ? { error: e.error } : {}),
      });
    }
    opts.onEvent?.(e);
  });

  let runId: string | undefined;
  const errors: RunReport['errors'] = [];
  const snapshots = new Map<string, { id: string; size: number }>();
  try {
    const outcome = await runPlaybook({
      playbook: 'backup-fleet',
      inventory: await loadInventory(resolve(job.inventory)),
      registry: defaultRegistry(),
      limit: job.limit,
      ctx,
      events,
      stateDir: opts.stateDir,
      forks: job.forks,
      confirm: async () => true,
      sets: [
        `type=${job.type}`,
        `binary=${job.binary}`,
        `store=${job.store}`,
        `encrypt_to=${job.encryptTo.join(',')}`,
        `no_encrypt=${job.noEncrypt}`,
        `compress=${job.compress}`,
      ],
    });
    runId = outcome.runId;
    for (const f of outcome.failures)
      errors.push({ ...(f.host ? { host: f.host } : {}), message: ctx.redactor.mask(f.message) });
    for (const entry of (await RunJournal.open(opts.stateDir, outcome.runId)).entries) {
      if (entry.type !== 'task.finished' || entry.status === 'failed') continue;
      const data = entry.data as { id?: unknown; size?: unknown } | undefined;
      if (typeof data?.id === 'string' && typeof data.size === 'number')
        snapshots.set(entry.host, { id: data.id, size: data.size });
    }
  } catch (err) {
    // The run did not start (a lock held by a restore, an unreadable inventory, a bad key): every
    // host of the job missed its backup.
    errors.push({ message: ctx.redactor.mask(err instanceof Error ? err.message : String(err)) });
    if (planned.length === 0) planned = await jobHosts(job).catch(() => []);
  }

  const perHost: RunReport['perHost'] = {};
  for (const host of planned) {
    const task = finished.get(host);
    const snapshot = snapshots.get(host);
    const ok = task?.ok === true && snapshot !== undefined;
    const error = ok
      ? undefined
      : (task?.error ??
        errors.find((e) => e.host === host)?.message ??
        errors.find((e) => !e.host)?.message ??
        'not run');
    perHost[host] = {
      ok,
      durationSeconds: (task?.durationMs ?? 0) / 1000,
      ...(snapshot ? { snapshot: snapshot.id, size: snapshot.size } : {}),
      ...(error ? { error } : {}),
    };
  }
  const ok = planned.filter((h) => perHost[h]!.ok);
  const failed = planned.filter((h) => !perHost[h]!.ok);
  const cancelled = ctx.signal.aborted;
  const result: RunReport['result'] = cancelled
    ? 'cancelled'
    : failed.length === 0 && ok.length > 0
      ? 'succeeded'
      : ok.length > 0
        ? 'partial'
        : 'failed';

  const store = new SnapshotStore(job.store);
  const deployment = job.deployment;
  let pruned: RunReport['pruned'];
  // Only after a run in which every host succeeded: while a host is failing, nothing is removed.
  if (result === 'succeeded' && job.retention) {
    try {
      const r = await pruneDeployment(store, deployment, job.retention, {
        dryRun: false,
        command: `schedule ${job.name} prune`,
        warn: (m) => ctx.warn(m),
      });
      pruned = { removed: r.decisions.filter((d) => !d.keep).length, kept: r.decisions.filter((d) => d.keep).length };
    } catch (err) {
      errors.push({ message: `prune: ${ctx.redactor.mask((err as Error).message)}` });
    }
  }
  let verify: VerifyReport | undefined;
  if (opts.verify && !cancelled) {
    try {
      verify = await verifyNewest(store, deployment, planned, opts.verify, `schedule ${job.name} verify`, ctx);
      for (const s of verify.snapshots.filter((x) => !x.ok))
        errors.push({ host: s.host, snapshot: s.id, message: `verify ${s.id}: ${s.problems.join('; ')}` });
    } catch (err) {
      errors.push({ message: `verify: ${ctx.redactor.mask((err as Error).message)}` });
    }
  }

  const finishedAt = new Date();
  return {
    job: job.name,
    deployment,
    type: job.type,
    runId,
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

/** The hosts a job backs up: its inventory after its limit. */
export async function jobHosts(job: Pick<JobConfig, 'inventory' | 'limit'>): Promise<string[]> {
  return selectHosts(await loadInventory(job.inventory), job.limit).map((h) => h.name);
}

async function verifyNewest(
  store: SnapshotStore,
  deployment: string,
  hosts: string[],
  opts: { readData: boolean; key: PrivateKey | undefined },
  command: string,
  ctx: RunContext,
): Promise<VerifyReport> {
  const release = await acquireStoreLock(store.root, deployment, 'shared', command, (m) => ctx.warn(m));
  try {
    const snapshots: VerifyReport['snapshots'] = [];
    for (const host of hosts) {
      const newest = (await store.list({ deployment, host })).at(-1);
      if (!newest) {
        snapshots.push({ host, id: '-', ok: false, problems: ['no snapshot in the store'] });
        continue;
      }
      const problems = await snapshotProblems(newest, opts).catch((err: unknown) => [
        err instanceof FleetError ? err.message : String(err),
      ]);
      snapshots.push({ host, id: newest.id, ok: problems.length === 0, problems });
    }
    return { at: new Date().toISOString(), readData: opts.readData, ok: snapshots.every((s) => s.ok), snapshots };
  } finally {
    await release();
  }
}
