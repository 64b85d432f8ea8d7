// demo: the whole story on a fresh lab: an encrypted fleet backup, damage that replicates
// everywhere, a whole-deployment restore from one host's snapshot, and a check of every host over
// LDAP. Progress goes to the caller (the runs' EventStream and `onProgress`); the result is a report.
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import type { Inventory } from '../inventory/model.js';
import {
  checkDemoHosts,
  DEMO_MASTER,
  damageDemoLab,
  DemoPaths,
  demoDamage,
  demoLabOptions,
  writeDemoKeys,
  type DemoDamage,
  type HostCheck,
} from '../lab/demo.js';
import { labDown, labUp } from '../lab/lab.js';
import { labSpec } from '../lab/spec.js';
import type { EventStream } from '../report/events.js';
import { backupFleet } from './backup-fleet.js';
import type { PhaseReport } from './phase-report.js';
import type { PhasedRunResult } from './phased-run.js';
import { restoreDeployment } from './restore-deployment.js';

export interface DemoOptions {
  /** The backup and restore runs report through it (terminal, --json, log file). */
  events?: EventStream;
  /** Runs, journals and the deployment lock (the user's state folder in the CLI). */
  stateDir: string;
  /** The demo folder: lab/, keys/, store/. */
  dir: string;
  /** Loopback network of the lab hosts, like 127.0.60. */
  net: string;
  /** Leave the lab (and keys and store) in place to explore. */
  keep: boolean;
  forks?: number;
  /** Stage lines (and the lab's own lines) for people. */
  onProgress?: (line: string) => void;
}

export type DemoStage = 'lab up' | 'keys' | 'backup' | 'damage' | 'restore' | 'check' | 'lab down';

export interface DemoReport {
  dir: string;
  labDir: string;
  inventory: string;
  net: string;
  hosts: string[];
  timings: Array<{ stage: DemoStage; seconds: number }>;
  snapshot?: { id: string; host: string };
  backupRun?: string;
  damage?: DemoDamage & { replicatedSeconds: number };
  restore?: { runId: string; state: PhasedRunResult['state']; phases: PhaseReport; hostOrder: string[] };
  checks: HostCheck[];
  /** The first stage that failed, with its error; the stages after it did not run (the check does). */
  failure?: { stage: DemoStage; error: FleetError };
  /** The lab was taken down (else it is kept in labDir). */
  tornDown: boolean;
  teardownError?: string;
  /** Every host converged and passed the check. */
  ok: boolean;
}

/** Runs a stage and records its seconds in the report, also when it fails. */
type Timed = <T>(stage: DemoStage, work: () => Promise<T>) => Promise<T>;

export async function demo(ctx: RunContext, opts: DemoOptions): Promise<DemoReport> {
  const paths = new DemoPaths(resolve(opts.dir));
  const lab = paths.lab;
  const say = opts.onProgress ?? (() => undefined);
  const report: DemoReport = {
    ...{ dir: paths.root, labDir: lab.root, inventory: lab.inventory, net: opts.net },
    ...{ hosts: [], timings: [], checks: [], tornDown: false, ok: false },
  };
  const timed: Timed = async (stage, work) => {
    const started = Date.now();
    try {
      return await work();
    } finally {
      report.timings.push({ stage, seconds: (Date.now() - started) / 1000 });
    }
  };
  const labOptions = demoLabOptions(opts.net);
  labSpec(labOptions); // a bad --net is refused before anything is created
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  say(`demo: lab on ${opts.net}.1-3 in ${lab.root}`);
  // A lab that fails to come up removes itself; there is nothing else to report then.
  await timed('lab up', () => labUp(lab, labOptions, ctx, say));
  const inventory = await loadInventory(lab.inventory);
  report.hosts = inventory.hosts.map((h) => h.name);
  const damage = demoDamage();
  await backUpDamageRestore(inventory, ctx, opts, { paths, damage, report, timed });
  try {
    say('demo: checking every host over LDAP');
    report.checks = await timed('check', () => checkDemoHosts(inventory, ctx, damage));
  } catch (err) {
    report.failure ??= { stage: 'check', error: asFleetError(err, ctx) };
  }
  report.ok =
    report.failure === undefined && report.checks.length === report.hosts.length && report.checks.every((c) => c.ok);
  if (!opts.keep) await tearDown(paths, report, timed, say);
  return report;
}

/** Each stage needs the one before; the first failure ends the sequence and is kept in the report. */
async function backUpDamageRestore(
  inventory: Inventory,
  ctx: RunContext,
  opts: DemoOptions,
  { paths, damage, report, timed }: { paths: DemoPaths; damage: DemoDamage; report: DemoReport; timed: Timed },
): Promise<void> {
  const say = opts.onProgress ?? (() => undefined);
  const run = { stateDir: opts.stateDir, forks: opts.forks ?? 10, confirm: async () => true, events: opts.events };
  let stage: DemoStage = 'keys';
  try {
    const passphrase = await timed('keys', async () => {
      say('demo: OpenPGP key pair for the backup (curve25519)');
      return writeDemoKeys(paths);
    });
    ctx.redactor.add(passphrase);

    stage = 'backup';
    say(`demo: fleet backup of ${report.hosts.join(', ')} into ${paths.store}, encrypted to ${paths.publicKey}`);
    const backup = await timed('backup', () =>
      backupFleet(inventory, ctx, {
        ...run,
        ...{ type: 'data', store: paths.store, encrypt: true, encryptTo: [paths.publicKey] },
      }),
    );
    report.backupRun = backup.runId;
    if (backup.state !== 'succeeded') throw runFailure('backup', backup.runId, backup.state, backup.failures);
    const snapshot = backup.snapshots.find((s) => s.host === DEMO_MASTER);
    if (!snapshot) throw new FleetError('failure', `backup run ${backup.runId} recorded no snapshot of ${DEMO_MASTER}`);
    report.snapshot = { id: snapshot.id, host: DEMO_MASTER };

    stage = 'damage';
    const replicatedSeconds = await timed('damage', () => damageDemoLab(inventory, ctx, damage, say));
    report.damage = { ...damage, replicatedSeconds };

    stage = 'restore';
    say(`demo: restore ${DEMO_MASTER} from its snapshot ${snapshot.id}, then every replica from it (init ldif)`);
    const restore = await timed('restore', () =>
      restoreDeployment(inventory, ctx, {
        ...run,
        ...{ master: DEMO_MASTER, backup: snapshot.id, store: paths.store, init: 'ldif' },
        ...{ key: paths.privateKey, passphrase: `file:${paths.passphrase}` },
      }),
    );
    const { runId, state, phases, hostOrder } = restore;
    report.restore = { runId, state, phases, hostOrder };
    if (state !== 'succeeded') throw runFailure('restore', runId, state, restore.failure ? [restore.failure] : []);
  } catch (err) {
    report.failure = { stage, error: asFleetError(err, ctx) };
  }
}

/** Without --keep the demo leaves nothing behind, also when it failed: the lab holds addresses. */
async function tearDown(paths: DemoPaths, report: DemoReport, timed: Timed, say: (l: string) => void): Promise<void> {
  try {
    await timed('lab down', () => labDown(paths.lab, say));
    await rm(paths.keys, { recursive: true, force: true });
    await rm(paths.store, { recursive: true, force: true });
    await rmdir(paths.root).catch(() => undefined); // only when nothing else is in it
    report.tornDown = true;
  } catch (err) {
    report.teardownError = (err as Error).message;
  }
}

/** The run's own error (its kind decides the exit code), or a plain failure naming the run. */
function runFailure(what: string, runId: string, state: string, failures: FleetError[]): FleetError {
  const first = failures[0];
  const text = `${what} run ${runId} ${state}`;
  if (!first) return new FleetError('failure', text);
  return new FleetError(first.kind === 'partial' ? 'failure' : first.kind, `${text}: ${first.message}`, {
    host: first.host,
    cause: first,
  });
}

/** A bug is not a user's problem: its stack goes to the log, the report keeps one line. */
function asFleetError(err: unknown, ctx: RunContext): FleetError {
  if (err instanceof FleetError) return err;
  ctx.log.error(ctx.redactor.mask((err as Error)?.stack ?? String(err)));
  return new FleetError(
    'failure',
    `${(err as Error)?.message ?? String(err)} (internal error; details in the log file)`,
    {
      cause: err,
    },
  );
}
