// Before a restore: hosts whose 389-DS instance is gone (rebuilt machines) get it back from their
// FULL snapshot (the recreate-instance playbook), so that the restore's facts, plan and steps find
// an instance to restore into. The master is recreated from the restore's own snapshot; any other
// host from its newest FULL snapshot in the store (its data then comes from the master as usual).
import type { RunContext } from '../context.js';
import { FleetError, UsageError } from '../errors.js';
import type { Inventory } from '../inventory/model.js';
import { defaultStoreDir, SnapshotStore, type SnapshotEntry } from '../backup/store.js';
import { dseLdifPath } from '../directory/instance.js';
import { runPlaybook } from '../playbook/run.js';
import { shellQuote } from '../transport/shell.js';
import { Transport } from '../transport/transport.js';
import { engineSettings, phasedRunResult, type PhasedRunResult, type RunSettings } from './phased-run.js';

export interface RecreateOptions extends RunSettings {
  master: string;
  backup: string;
  store?: string;
  key?: string;
  passphrase?: string;
  type?: 'data' | 'full';
  /** Recreate under another 389-DS major.minor than the snapshot's (the restore's --force-version). */
  forceVersion?: boolean;
  /** Hosts that may be down: not looked at (the restore quarantines them). */
  allowOffline?: string[];
}

/**
 * Recreates every missing instance, or returns undefined when none is missing. Refuses (exit 2,
 * nothing changed) when a host without its instance has no FULL snapshot to be recreated from.
 */
export async function recreateMissingInstances(
  inventory: Inventory,
  ctx: RunContext,
  opts: RecreateOptions,
): Promise<PhasedRunResult | undefined> {
  const missing = await hostsWithoutInstance(inventory, ctx, opts.allowOffline ?? []);
  if (missing.length === 0) return undefined;
  const store = new SnapshotStore(opts.store ?? defaultStoreDir());
  const snapshots: string[] = [];
  for (const name of missing) snapshots.push(`${name}=${(await snapshotFor(store, inventory, name, opts)).id}`);
  ctx.warn(`instance missing on ${missing.join(', ')}: recreating it from FULL snapshots before the restore`);
  const outcome = await runPlaybook({
    playbook: 'recreate-instance',
    inventory,
    params: {
      targets: missing.join(','),
      snapshots,
      master: opts.master,
      force_version: opts.forceVersion ?? false,
      ...(opts.store ? { store: opts.store } : {}),
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
    },
    limit: undefined,
    ctx,
    ...engineSettings(opts),
  });
  // A failed recreation removed what it made: the restore is run again, not resumed.
  return { ...phasedRunResult(outcome), resumable: false };
}

/** The snapshot a host's instance is recreated from; a UsageError naming what is missing otherwise. */
async function snapshotFor(
  store: SnapshotStore,
  inventory: Inventory,
  name: string,
  opts: RecreateOptions,
): Promise<SnapshotEntry> {
  const instance = inventory.hosts.find((h) => h.name === name)!.ldap.instance;
  const where = dseLdifPath(instance);
  if (name === opts.master) {
    const snapshot = await store.find(opts.backup);
    const cause = opts.type === 'data' ? 'a DATA restore' : `snapshot ${snapshot.id} is a DATA backup and`;
    if (opts.type === 'data' || snapshot.type !== 'full')
      throw new UsageError(
        `${name}: 389-DS instance ${instance} is missing (no ${where}): ${cause} cannot recreate it; ` +
          `restore a FULL snapshot of ${name} (ipa-fleet backups list), nothing was changed`,
      );
    return snapshot;
  }
  const full = (await store.list({ deployment: inventory.deployment, host: name })).filter((s) => s.type === 'full');
  const newest = full[full.length - 1];
  if (!newest)
    throw new UsageError(
      `${name}: 389-DS instance ${instance} is missing (no ${where}) and the store holds no FULL snapshot of ` +
        `${name} to recreate it from (take one with ipa-fleet backup --type full before a host is rebuilt, ` +
        `or leave ${name} out with --allow-offline)`,
    );
  return newest;
}

/** Hosts reachable over SSH whose instance has no dse.ldif (lib389's marker of an instance). */
async function hostsWithoutInstance(inventory: Inventory, ctx: RunContext, skip: string[]): Promise<string[]> {
  const transport = new Transport(inventory, ctx);
  try {
    const found = await Promise.all(
      inventory.hosts
        .filter((h) => !skip.includes(h.name))
        .map(async (h) => {
          try {
            const ssh = await transport.ssh(h);
            // An answer in words: an exit status of 1 could also be a refused sudo.
            const marker = dseLdifPath(h.ldap.instance);
            const out = await ssh.run(`if [ -e ${shellQuote(marker)} ]; then echo present; else echo absent; fi`);
            return out.trim() === 'absent' ? h.name : undefined;
          } catch (err) {
            // A host that cannot be reached is the restore's to report, with its own advice.
            if (err instanceof FleetError && err.kind === 'unreachable') return undefined;
            throw err;
          }
        }),
    );
    return found.filter((n): n is string => n !== undefined);
  } finally {
    await transport.close();
  }
}
