// restoreDeployment: the whole deployment back to one snapshot of its master (the restore-deployment
// playbook), and resumeRestore, which finishes a stopped one from its journal. Both return what the
// run did, phase by phase; nothing is printed here.
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { SnapshotType } from '../backup/manifest.js';
import type { RunContext } from '../context.js';
import { FleetError, UsageError } from '../errors.js';
import { parseSecretSource } from '../inventory/secrets.js';
import type { Inventory } from '../inventory/model.js';
import type { JsonObject } from '../json.js';
import { RunJournal } from '../playbook/journal.js';
import { FactsUnavailableError, resumeRun, runPlaybook } from '../playbook/run.js';
import { PASSPHRASE_PROMPT } from '../restore/source.js';
import { engineSettings, phasedRunResult, type PhasedRunResult, type RunSettings } from './phased-run.js';
import { recreateMissingInstances } from './recreate-instances.js';

export type InitMode = 'ldif' | 'online';

export interface RestoreOptions extends RunSettings {
  /** The host to restore from the snapshot (an inventory name). */
  master: string;
  /** The snapshot: an id or a unique prefix of one. */
  backup: string;
  /** The snapshot store folder (default: the state dir's store). */
  store?: string;
  /** OpenPGP private key file that decrypts the snapshot. */
  key?: string;
  /** Where the key's passphrase comes from: file:PATH, env:NAME or prompt (asked before the run). */
  passphrase?: string;
  /** DATA or FULL restore (default: the snapshot's type). */
  type?: SnapshotType;
  /** ldif: export once, import everywhere; online: total updates, breadth-first (default ldif). */
  init?: InitMode;
  /** Hosts that may be down: they are quarantined until they rejoin. */
  allowOffline?: string[];
  /** Restore across 389-DS major.minor versions. */
  forceVersion?: boolean;
  /** Per export, import or total update: seconds, or a duration like 90s, 30m, 2h (default 1h). */
  initTimeout?: string | number;
  /** How long the canary may take to reach every host (default 2m). */
  canaryTimeout?: string | number;
}

export interface RestoreResult extends PhasedRunResult {
  /** The run that recreated missing instances first (rebuilt hosts); absent when none was missing. */
  recreated?: PhasedRunResult;
}

export async function restoreDeployment(
  inventory: Inventory,
  ctx: RunContext,
  opts: RestoreOptions,
): Promise<RestoreResult> {
  const params = restoreParams(inventory, opts);
  await askPassphrase(ctx, opts.passphrase ?? '');
  // Rebuilt hosts first: the restore's facts and plan need an instance on every host.
  const recreated = await recreateMissingInstances(inventory, ctx, opts);
  if (recreated && recreated.state !== 'succeeded') return { ...recreated, recreated };
  try {
    const outcome = await runPlaybook({
      playbook: 'restore-deployment',
      inventory,
      params,
      limit: undefined,
      ctx,
      ...engineSettings(opts),
    });
    return { ...phasedRunResult(outcome), ...(recreated ? { recreated } : {}) };
  } catch (err) {
    throw unreachableBeforeChange(err, opts.master);
  }
}

/** Options for finishing a stopped restore; the plan (master, snapshot, init …) is the recorded one. */
export interface ResumeRestoreOptions extends RunSettings {
  /** The inventory to use instead of the one the run recorded (it must be of the same deployment). */
  inventory?: Inventory;
}

/** Finishes a stopped restore with its recorded plan: the tasks already done are skipped. */
export async function resumeRestore(
  runId: string,
  ctx: RunContext,
  opts: ResumeRestoreOptions,
): Promise<RestoreResult> {
  const { plan } = await RunJournal.open(opts.stateDir, runId);
  if (plan.playbook.name !== 'restore-deployment')
    throw new UsageError(`run ${runId} is a ${plan.playbook.name} run, not a restore; use ipa-fleet run --resume`);
  await askPassphrase(ctx, String(plan.params.passphrase ?? ''));
  const outcome = await resumeRun(runId, {
    ...(opts.inventory ? { inventory: opts.inventory } : {}),
    ctx,
    ...engineSettings(opts),
  });
  return phasedRunResult(outcome);
}

/** How replicas are re-initialized, from its name (the --init option). */
export function initMode(value: string): InitMode {
  if (value !== 'ldif' && value !== 'online') throw new UsageError(`--init: ldif or online, not '${value}'`);
  return value;
}

/** A restore's type, from its name (the --type option). */
export function snapshotType(value: string): SnapshotType {
  if (value !== 'data' && value !== 'full') throw new UsageError(`--type: data or full, not '${value}'`);
  return value;
}

/** The playbook's parameters, after the checks of the options against the inventory. */
function restoreParams(inventory: Inventory, opts: RestoreOptions): JsonObject {
  const init = initMode(opts.init ?? 'ldif');
  if (opts.type) snapshotType(opts.type);
  for (const [name, v] of [
    ['--key', opts.key],
    ['--store', opts.store],
  ] as const) {
    if (v?.includes(',')) throw new UsageError(`${name}: the path may not contain a comma`);
  }
  const known = inventory.hosts.map((h) => h.name);
  if (!known.includes(opts.master))
    throw new UsageError(`--master: '${opts.master}' is not a host of the inventory (${known.join(', ')})`);
  const allowOffline = opts.allowOffline ?? [];
  for (const name of allowOffline) {
    if (!known.includes(name))
      throw new UsageError(`--allow-offline: '${name}' is not a host of the inventory (${known.join(', ')})`);
  }
  return {
    master: opts.master,
    backup: opts.backup,
    init,
    force_version: opts.forceVersion ?? false,
    allow_offline: allowOffline,
    ...(opts.store ? { store: resolve(opts.store) } : {}),
    ...(opts.key ? { key: resolve(opts.key) } : {}),
    ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
    ...(opts.type ? { type: opts.type } : {}),
    ...(opts.initTimeout !== undefined ? { init_timeout: opts.initTimeout } : {}),
    ...(opts.canaryTimeout !== undefined ? { canary_timeout: opts.canaryTimeout } : {}),
  };
}

/** A prompted passphrase is asked before the run starts, not in the middle of its progress lines. */
export async function askPassphrase(ctx: RunContext, source: string): Promise<void> {
  if (!source) return;
  const src = parseSecretSource(source, { baseDir: process.cwd(), homeDir: homedir() });
  if ('problem' in src) throw new UsageError(`--passphrase: ${src.problem}`);
  await ctx.secrets.get(src, PASSPHRASE_PROMPT);
}

// What a refusal because a host is down adds (the restore runbook quotes them).
const MASTER_DOWN =
  '; nothing was changed (the master must be reachable: bring it back, or restore another host with --master)';
const HOST_DOWN =
  "; nothing was changed (to restore without it and quarantine it until 'ipa-fleet rejoin': --allow-offline";

/** Refused before any change because a host is down: say how to go on without it. */
function unreachableBeforeChange(err: unknown, master: string): unknown {
  const failures = err instanceof FactsUnavailableError ? err.failures : [err];
  const down = failures.find((e): e is FleetError => e instanceof FleetError && e.kind === 'unreachable');
  if (!down?.host) return err;
  const message = down.host === master ? `${down.message}${MASTER_DOWN}` : `${down.message}${HOST_DOWN} ${down.host})`;
  return new FleetError('unreachable', message, { host: down.host });
}
