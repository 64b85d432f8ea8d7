// restore-entries: a selection of a snapshot's entries back on one live host (the restore-entries
// playbook), its dry run (the exact writes, nothing changed), and its undo (the undo-entries
// playbook, from the run's record).

import { resolve } from 'node:path';
import type { RunContext } from '../context.js';
import { entryRecordFile, entryRequest } from '../actions/restore-entries.js';
import { UsageError } from '../errors.js';
import type { Inventory } from '../inventory/model.js';
import type { JsonObject } from '../json.js';
import { runPlaybook } from '../playbook/run.js';
import { prepareEntryRestore, type PreparedRestore } from '../restore/entry-restore.js';
import { readEntryRecords } from '../restore/entry-writes.js';
import { openRestoreSource } from '../restore/source.js';
import { Transport } from '../transport/transport.js';
import { engineSettings, phasedRunResult, type PhasedRunResult, type RunSettings } from './phased-run.js';
import { askPassphrase } from './restore-deployment.js';

interface EntrySelectionOptions {
  dn?: string[];
  subtree?: string;
  filter?: string;
  user?: string[];
  group?: string[];
  hostEntry?: string[];
  hostgroup?: string[];
  sudoRule?: string[];
  hbacRule?: string[];
}

export interface RestoreEntriesOptions extends RunSettings, EntrySelectionOptions {
  backup: string;
  store?: string;
  key?: string;
  passphrase?: string;
  /** The host written to (inventory name); default the snapshot's own host. */
  host?: string;
  suffix?: 'domain' | 'ca';
  attrs?: string[];
  dependencies?: boolean;
  deleteAdded?: boolean;
  replace?: boolean;
  replicationTimeout?: string | number;
}

export async function restoreEntries(
  inventory: Inventory,
  ctx: RunContext,
  opts: RestoreEntriesOptions,
): Promise<EntryRestoreResult> {
  await askPassphrase(ctx, opts.passphrase ?? '');
  const params = await playbookParams(inventory, ctx, opts);
  const outcome = await runPlaybook({
    playbook: 'restore-entries',
    inventory,
    params,
    limit: undefined,
    ctx,
    ...engineSettings(opts),
  });
  const conflicts = outcome.tasks
    .filter((t) => t.action === 'entries-restore')
    .flatMap((t) => {
      const data = t.data && typeof t.data === 'object' && !Array.isArray(t.data) ? t.data.conflicts : undefined;
      return Array.isArray(data) ? data.map(String) : [];
    });
  return { ...phasedRunResult(outcome), conflicts };
}

/** A run's outcome, and the entries it skipped as conflicts (re-created since; `--replace` replaces them). */
export interface EntryRestoreResult extends PhasedRunResult {
  conflicts: string[];
}

/** The writes a run would make now, read from the snapshot and the host; nothing is changed. */
export async function previewEntryRestore(
  inventory: Inventory,
  ctx: RunContext,
  opts: RestoreEntriesOptions,
): Promise<PreparedRestore & { host: string }> {
  await askPassphrase(ctx, opts.passphrase ?? '');
  const params = await playbookParams(inventory, ctx, opts);
  const host = inventory.hosts.find((h) => h.name === params.target)!;
  const source = await openRestoreSource(ctx, inventory.deployment, params);
  const transport = new Transport(inventory, ctx);
  try {
    const ldap = await transport.ldap(host);
    return { host: host.name, ...(await prepareEntryRestore(source, ldap, entryRequest(params))) };
  } finally {
    await transport.close();
  }
}

/** Puts back what run `runId` changed, from its record. */
export async function undoEntryRestore(
  inventory: Inventory,
  ctx: RunContext,
  opts: RunSettings & { run: string },
): Promise<PhasedRunResult> {
  const records = await readEntryRecords(entryRecordFile(opts.stateDir, opts.run));
  if (!/^[A-Za-z0-9TZ._-]+$/.test(opts.run) || records.length === 0)
    throw new UsageError(`--undo ${opts.run}: no restore-entries run of that id recorded writes (ipa-fleet runs list)`);
  const target = records[0]!.host;
  if (!inventory.hosts.some((h) => h.name === target))
    throw new UsageError(`--undo ${opts.run}: it wrote to ${target}, which is not a host of ${inventory.file}`);
  const outcome = await runPlaybook({
    playbook: 'undo-entries',
    inventory,
    params: { target, of_run: opts.run, suffix: records[0]!.kind },
    limit: undefined,
    ctx,
    ...engineSettings(opts),
  });
  return phasedRunResult(outcome);
}

async function playbookParams(inventory: Inventory, ctx: RunContext, opts: RestoreEntriesOptions): Promise<JsonObject> {
  let target = opts.host;
  if (!target) {
    // The snapshot's own host, found without the key: only the manifest is read.
    const { snapshot } = await openRestoreSource(
      ctx,
      inventory.deployment,
      { ...sourceParams(opts) },
      { needKey: false },
    );
    target = snapshot.host;
  }
  if (!inventory.hosts.some((h) => h.name === target))
    throw new UsageError(
      `--host ${target}: not a host of the inventory (${inventory.hosts.map((h) => h.name).join(', ')})`,
    );
  return {
    target,
    ...sourceParams(opts),
    suffix: opts.suffix ?? 'domain',
    dn: opts.dn ?? [],
    subtree: opts.subtree ?? '',
    filter: opts.filter ?? '',
    user: opts.user ?? [],
    group: opts.group ?? [],
    host_entry: opts.hostEntry ?? [],
    hostgroup: opts.hostgroup ?? [],
    sudo_rule: opts.sudoRule ?? [],
    hbac_rule: opts.hbacRule ?? [],
    attrs: opts.attrs ?? [],
    dependencies: opts.dependencies ?? true,
    delete_added: opts.deleteAdded ?? false,
    replace: opts.replace ?? false,
    ...(opts.replicationTimeout !== undefined ? { replication_timeout: opts.replicationTimeout } : {}),
  };
}

function sourceParams(opts: RestoreEntriesOptions): JsonObject {
  return {
    backup: opts.backup,
    ...(opts.store ? { store: resolve(opts.store) } : {}),
    ...(opts.key ? { key: resolve(opts.key) } : {}),
    ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
  };
}
