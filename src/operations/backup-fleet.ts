// A backup of the fleet: the backup-fleet playbook over the selected hosts, its parameters built here
// and nowhere else. `ipa-fleet backup`, the scheduler and the demo call it.
import { resolve } from 'node:path';
import { defaultRegistry } from '../actions/index.js';
import { loadRecipients, type Recipients } from '../backup/keys.js';
import { SnapshotStore, type SnapshotEntry } from '../backup/store.js';
import type { RunContext } from '../context.js';
import type { FleetError } from '../errors.js';
import { UsageError } from '../errors.js';
import type { Inventory } from '../inventory/model.js';
import type { ActionRegistry } from '../playbook/registry.js';
import { runPlaybook } from '../playbook/run.js';
import type { EventStream } from '../report/events.js';
import { hostOutcomes, operationState, type HostOutcome, type OperationState } from './outcome.js';

export interface BackupFleetOptions {
  type: 'data' | 'full';
  /** Also the backup task's db2bak folder. */
  binary?: boolean;
  /** The store folder. */
  store: string;
  /** OpenPGP public key files to encrypt to; required unless encrypt is false. */
  encryptTo: string[];
  /** false: store unencrypted (the explicit opt-out; then no encryptTo). */
  encrypt: boolean;
  /** gzip before encrypting (default true). */
  compress?: boolean;
  /** --limit pattern: only these hosts. */
  limit?: string;
  /** Hosts backed up at once (default 10). */
  forks?: number;
  /** The controller's state folder (the run's journal, the deployment lock). */
  stateDir: string;
  events?: EventStream;
  registry?: ActionRegistry;
}

export interface HostBackup extends HostOutcome {
  /** The snapshot the host's backup made. */
  snapshot?: SnapshotEntry;
}

export interface BackupFleetResult {
  runId: string;
  runDir: string;
  state: OperationState;
  /** The snapshots this run made, in plan (inventory) order. */
  snapshots: SnapshotEntry[];
  /** Every planned host, in plan order. */
  hosts: HostBackup[];
  failures: FleetError[];
}

/** Backs up the selected hosts; unusable keys or options are refused before any host is touched. */
export async function backupFleet(
  inventory: Inventory,
  ctx: RunContext,
  opts: BackupFleetOptions,
): Promise<BackupFleetResult> {
  const { keyFiles } = await storeRecipients(opts);
  const store = new SnapshotStore(resolve(opts.store));
  const run = await runPlaybook({
    playbook: 'backup-fleet',
    inventory,
    registry: opts.registry ?? defaultRegistry(),
    params: {
      type: opts.type,
      binary: opts.binary ?? false,
      store: store.root,
      encrypt_to: keyFiles,
      no_encrypt: !opts.encrypt,
      compress: opts.compress ?? true,
    },
    limit: opts.limit,
    ctx,
    ...(opts.events ? { events: opts.events } : {}),
    stateDir: opts.stateDir,
    forks: opts.forks ?? 10,
    confirm: async () => true,
  });
  const hosts: HostBackup[] = [];
  for (const outcome of hostOutcomes(run.tasks)) {
    const made = run.tasks.find((t) => t.host === outcome.host && t.action === 'backup' && snapshotId(t.data));
    const id = made && snapshotId(made.data);
    // The run names the snapshot; its manifest (just written) gives the rest.
    const snapshot = id ? await store.find(`${inventory.deployment}/${outcome.host}/${id}`) : undefined;
    hosts.push({ ...outcome, ok: outcome.ok && snapshot !== undefined, ...(snapshot ? { snapshot } : {}) });
  }
  return {
    runId: run.runId,
    runDir: run.runDir,
    state: operationState(run, hosts),
    snapshots: hosts.flatMap((h) => (h.snapshot ? [h.snapshot] : [])),
    hosts,
    failures: run.failures,
  };
}

/**
 * The recipients a snapshot is encrypted to, from --encrypt-to / --no-encrypt: loaded and checked
 * before any host is touched (undefined = --no-encrypt). Every way into the store uses this.
 */
export async function storeRecipients(opts: {
  encrypt: boolean;
  encryptTo: string[];
}): Promise<{ keyFiles: string[]; recipients: Recipients | undefined }> {
  const keyFiles = opts.encryptTo.map((k) => resolve(k));
  if (opts.encrypt && keyFiles.length === 0)
    throw new UsageError('name the public key(s) to encrypt to with --encrypt-to KEYFILE (or --no-encrypt)');
  if (!opts.encrypt && keyFiles.length > 0) throw new UsageError('--no-encrypt and --encrypt-to exclude each other');
  if (keyFiles.some((k) => k.includes(',')))
    throw new UsageError('--encrypt-to: key file paths may not contain a comma');
  return { keyFiles, recipients: opts.encrypt ? await loadRecipients(keyFiles) : undefined };
}

function snapshotId(data: unknown): string | undefined {
  const id = (data as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
}
