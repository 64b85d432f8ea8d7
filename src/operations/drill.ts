// drill: a restore of the deployment's snapshots into an isolated sandbox on the controller, shaped
// like the deployment, through the same restore operation as production, then a content proof.
// It never contacts the deployment: the snapshots come from the store, the topology from their
// manifests (or the inventory), and every connection goes to the sandbox's own loopback addresses.
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkStoreDeployment, defaultStoreDir, SnapshotStore } from '../backup/store.js';
import { type ContentDifference, differenceSummary } from '../content/host-compare.js';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import { loadInventory } from '../inventory/index.js';
import type { Inventory } from '../inventory/model.js';
import { labDown, labUpSpec } from '../lab/lab.js';
import { LabPaths } from '../lab/paths.js';
import { isRunning, readPid } from '../lab/processes.js';
import { sandboxPlan, type SandboxPlan } from '../lab/sandbox.js';
import type { EventStream } from '../report/events.js';
import { type DrillRecord, recordDrill } from '../restore/drill-records.js';
import { openRestoreSource, type RestoreSource } from '../restore/source.js';
import {
  type ChosenSnapshots,
  checkResources,
  chooseNet,
  chooseSnapshots,
  extractSchema,
  proveContent,
} from './drill-sandbox.js';
import { askPassphrase, restoreDeployment } from './restore-deployment.js';

export interface DrillOptions {
  /** A snapshot id of the master, or 'latest' (default). */
  backup?: string;
  /** The host whose snapshot is restored (default: the snapshot's host, else the inventory's first). */
  master?: string;
  store?: string;
  key?: string;
  passphrase?: string;
  /** Leave the sandbox running after the drill. */
  keep?: boolean;
  /** The controller's state folder (drill records, sandboxes). */
  stateDir: string;
  /** The sandbox's loopback net (first three octets, like 127.0.200); default: a free one no inventory host uses. */
  net?: string;
  /** The restore's progress events (terminal, NDJSON, log). */
  events?: EventStream;
  /** Progress lines of the drill's own phases (building and removing the sandbox, the content proof). */
  onProgress?: (line: string) => void;
}

export interface DrillPhase {
  name: string;
  seconds: number;
  ok: boolean;
}

export interface DrillReport extends DrillRecord {
  phases: DrillPhase[];
  /** Where the drill's topology came from: the snapshots' manifests, or (older snapshots) the inventory. */
  topologySource: 'snapshot' | 'inventory';
  /** The sandbox left running (--keep): its folder and inventory. */
  sandbox?: { dir: string; inventory: string };
  master: string;
  /** The master's snapshot id. */
  backup: string;
  /** How the restore re-initialized the sandbox's replicas. */
  init: 'ldif';
  /** What the sandbox could not copy from the deployment, and what the drill removed on its way. */
  notes: string[];
  /** Entries on which a sandbox host and the snapshot disagree (the first 20; `differenceCount` in all). */
  differences: Array<Omit<ContentDifference, 'digests'>>;
  differenceCount: number;
}

/** How many differences a report lists. */
const LISTED = 20;

export async function drill(inventory: Inventory, ctx: RunContext, opts: DrillOptions): Promise<DrillReport> {
  const started = new Date();
  // The deployment names the sandbox's folder: the store's rule for names keeps it inside the state folder.
  checkStoreDeployment(inventory.deployment);
  const store = new SnapshotStore(resolve(opts.store ?? defaultStoreDir()));
  const chosen = await chooseSnapshots(store, inventory, opts);
  await askPassphrase(ctx, opts.passphrase ?? '');
  const source = await openRestoreSource(ctx, inventory.deployment, {
    store: store.root,
    backup: `${chosen.master.deployment}/${chosen.master.host}/${chosen.master.id}`,
    ...(opts.key ? { key: resolve(opts.key) } : {}),
    ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
  });
  const root = join(resolve(opts.stateDir), 'drills', inventory.deployment);
  const paths = new LabPaths(join(root, 'sandbox'));
  const net = opts.net ?? (await chooseNet(inventory));
  const plan = sandboxPlan(inventory, chosen.master.manifest, chosen.manifests, net);
  const print = opts.onProgress ?? ((line: string) => ctx.log.info(line));
  await claimSandbox(root, paths, plan, ctx, print);
  const run = new DrillRun(print);
  try {
    await checkResources(root, chosen.master.manifest, plan.spec.hosts.length);
    await runDrill(run, { inventory, ctx, opts, store, chosen, source, paths, plan, print });
  } finally {
    if (!opts.keep) await run.phase('teardown', () => removeSandbox(paths, print)).catch(() => undefined);
    await rm(join(root, OWNER_FILE), { force: true });
  }
  const report = run.report({ inventory, started, chosen, plan, paths, keep: opts.keep === true });
  // An interrupted drill reached no verdict: recording it as not restorable would flag the audit and
  // metrics for a scheduler stop or a Ctrl-C.
  if (report.restorable || !ctx.signal.aborted) await recordDrill(opts.stateDir, recordOf(report));
  return report;
}

interface DrillInputs {
  inventory: Inventory;
  ctx: RunContext;
  opts: DrillOptions;
  store: SnapshotStore;
  chosen: ChosenSnapshots;
  source: RestoreSource;
  paths: LabPaths;
  plan: SandboxPlan;
  print: (line: string) => void;
}

/** Build, restore, prove; a failing phase ends the drill (the report names it), never the caller. */
async function runDrill(run: DrillRun, d: DrillInputs): Promise<void> {
  const { ctx, opts, chosen, source, paths, plan, print } = d;
  let sandbox: Inventory | undefined;
  const built = await run.phase('sandbox', async () => {
    const from = chosen.schemaFrom;
    if (from) {
      const schema = join(paths.root, 'schema');
      const files = await extractSchema(from, source.key, schema);
      if (files > 0) for (const h of plan.spec.hosts) h.schemaDir = schema;
      plan.notes.push(
        `${files} schema file(s) of FULL snapshot ${from.id} (${from.host}) loaded into every sandbox instance`,
      );
    } else {
      plan.notes.push(`no FULL snapshot of ${plan.spec.deployment}: the sandbox has 389-DS's stock schema only`);
    }
    await labUpSpec(paths, plan.spec, ctx, print);
    sandbox = await loadInventory(paths.inventory);
  });
  if (!built || !sandbox) return;
  const restored = sandbox;
  run.recoveryStarted();
  const restore = await run.restorePhases(() =>
    restoreDeployment(restored, ctx, {
      master: chosen.master.host,
      backup: chosen.master.id,
      store: d.store.root,
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
      // The sandbox takes the snapshot's data, not its configuration (listen addresses, certificates and
      // replication credentials of the deployment's hosts); ldif: one export imported everywhere, the
      // faster re-initialization (LAB.md: 4.6 s per import against 41 s per online hop at 20 000 entries).
      type: 'data',
      init: 'ldif',
      stateDir: join(paths.root, 'state'),
      ...(opts.events ? { events: opts.events } : {}),
    }),
  );
  if (!restore) return;
  await run.phase('content proof', async () => {
    const proof = await proveContent(restored, ctx, chosen.master, source.key, plan);
    run.entries = proof.entries;
    run.differences = proof.differences;
    const hosts = restored.hosts.length;
    print(`drill: ${proof.entries} entries compared on ${hosts} host(s): ${proof.differences.length} differ`);
    if (proof.differences.length > 0)
      throw new FleetError(
        'failure',
        `${proof.differences.length} entr${proof.differences.length === 1 ? 'y differs' : 'ies differ'} from ` +
          `the snapshot (first: ${differenceSummary(proof.differences[0]!)})`,
      );
  });
  run.recoveryEnded();
}

/** The drill's phases, timed; the first failure is kept with its phase. */
class DrillRun {
  readonly phases: DrillPhase[] = [];
  failure: { phase: string; error: string } | undefined;
  entries = 0;
  differences: ContentDifference[] = [];
  private recoveryFrom = 0;
  private recoveryMs = 0;

  constructor(private readonly print: (line: string) => void) {}

  /** Runs one phase; true when it passed. */
  async phase(name: string, fn: () => Promise<void>): Promise<boolean> {
    const t0 = Date.now();
    try {
      await fn();
      this.phases.push({ name, seconds: (Date.now() - t0) / 1000, ok: true });
      return true;
    } catch (err) {
      this.phases.push({ name, seconds: (Date.now() - t0) / 1000, ok: false });
      this.failure ??= { phase: name, error: oneLine(err) };
      this.print(`drill: ${name} failed: ${oneLine(err)}`);
      return false;
    }
  }

  /** The restore's own phases (preflight … converge) with their wall seconds; true when it succeeded. */
  async restorePhases(fn: () => ReturnType<typeof restoreDeployment>): Promise<boolean> {
    const t0 = Date.now();
    let result: Awaited<ReturnType<typeof restoreDeployment>>;
    try {
      result = await fn();
    } catch (err) {
      this.phases.push({ name: 'restore', seconds: (Date.now() - t0) / 1000, ok: false });
      this.failure ??= { phase: 'restore', error: oneLine(err) };
      return false;
    }
    for (const name of result.phases.phases) {
      const seconds = result.phases.wall[name];
      if (seconds === undefined && name !== result.failedPhase) continue;
      this.phases.push({ name, seconds: seconds ?? 0, ok: name !== result.failedPhase });
    }
    if (result.state === 'succeeded') return true;
    this.failure ??= {
      phase: result.failedPhase ?? 'restore',
      error: result.failure ? oneLine(result.failure) : `the restore ${result.state}`,
    };
    return false;
  }

  recoveryStarted(): void {
    this.recoveryFrom = Date.now();
  }
  recoveryEnded(): void {
    this.recoveryMs = Date.now() - this.recoveryFrom;
  }

  report(r: {
    inventory: Inventory;
    started: Date;
    chosen: DrillInputs['chosen'];
    plan: SandboxPlan;
    paths: LabPaths;
    keep: boolean;
  }): DrillReport {
    const restorable = this.failure === undefined;
    const m = r.chosen.master;
    const snapshots = [...r.chosen.manifests].map(([host, manifest]) => ({ host, id: manifest.id }));
    return {
      deployment: r.inventory.deployment,
      restorable,
      ...(this.failure ? { failedPhase: this.failure.phase, error: this.failure.error } : {}),
      startedAt: r.started.toISOString(),
      finishedAt: new Date().toISOString(),
      recoverySeconds: restorable ? Math.round(this.recoveryMs / 100) / 10 : 0,
      hosts: r.plan.spec.hosts.length,
      entries: this.entries,
      snapshots,
      phases: this.phases.map((p) => ({ ...p, seconds: Math.round(p.seconds * 10) / 10 })),
      topologySource: r.plan.topologySource,
      ...(r.keep && existsSync(r.paths.state) ? { sandbox: { dir: r.paths.root, inventory: r.paths.inventory } } : {}),
      master: m.host,
      backup: m.id,
      init: 'ldif',
      notes: r.plan.notes,
      differences: this.differences.slice(0, LISTED).map(({ digests: _, ...d }) => d),
      differenceCount: this.differences.length,
    };
  }
}

function recordOf(r: DrillReport): DrillRecord {
  const { deployment, restorable, failedPhase, error, startedAt, finishedAt, recoverySeconds, hosts, entries } = r;
  return {
    deployment,
    restorable,
    ...(failedPhase !== undefined ? { failedPhase } : {}),
    ...(error !== undefined ? { error } : {}),
    startedAt,
    finishedAt,
    recoverySeconds,
    hosts,
    entries,
    snapshots: r.snapshots,
  };
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.trim();
}

/** Who runs the deployment's drill now (pid), so a second one waits its turn and a dead one's sandbox goes. */
const OWNER_FILE = 'drill.pid';

/**
 * One drill per deployment at a time; what a drill that was killed left behind (its sandbox's
 * processes, by pid as `lab down` ends them, and its folder) is removed before building.
 */
async function claimSandbox(
  root: string,
  paths: LabPaths,
  plan: SandboxPlan,
  ctx: RunContext,
  print: (line: string) => void,
): Promise<void> {
  const ownerFile = join(root, OWNER_FILE);
  const owner = await readPid(ownerFile);
  if (owner !== undefined && owner !== process.pid && (await isRunning(owner, 'node')))
    throw new FleetError('lock', `a drill of ${plan.spec.deployment} is running (pid ${owner}); wait for it to end`);
  await mkdir(root, { recursive: true, mode: 0o700 });
  await writeFile(ownerFile, `${process.pid}\n`);
  if (existsSync(paths.state)) {
    await labDown(paths, print);
    const message = `removed the sandbox ${paths.root}, left by a drill that did not finish (or ran with --keep)`;
    ctx.warn(message);
    plan.notes.push(message);
  } else if (existsSync(paths.root)) {
    await rm(paths.root, { recursive: true, force: true });
  }
}

async function removeSandbox(paths: LabPaths, print: (line: string) => void): Promise<void> {
  if (existsSync(paths.state)) await labDown(paths, print);
  else await rm(paths.root, { recursive: true, force: true });
}
