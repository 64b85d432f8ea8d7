// entries-restore, entries-undo and entries-prove: a granular restore as ordinary LDAP writes on one
// host (restore/entry-*.ts), its undo, and the proof that every host of the suffix holds the result.

import { FleetError } from '../errors.js';
import { defineAction, paramSchema, planned, type TaskContext } from '../playbook/action.js';
import { type EntryRestoreRequest, prepareEntryRestore } from '../restore/entry-restore.js';
import type { NamedKind, SelectionSpec } from '../restore/entry-selection.js';
import { proveEntries } from '../restore/entry-proof.js';
import { join } from 'node:path';
import { runsDir } from '../playbook/journal.js';
import { applyEntryOps, readEntryRecords, undoOps } from '../restore/entry-writes.js';
import type { EntryOp } from '../restore/entry-ops.js';
import { openRestoreSource } from '../restore/source.js';

const list = (description: string) => ({ type: 'list' as const, default: [], description });

const restoreParams = paramSchema({
  backup: { type: 'string', required: true, description: 'the snapshot id (or unique prefix)' },
  store: { type: 'string', default: '', description: 'snapshot store folder' },
  key: { type: 'string', default: '', description: 'OpenPGP private key file' },
  passphrase: { type: 'string', default: '', description: "the key's passphrase source" },
  suffix: { type: 'string', default: 'domain', description: 'domain or ca' },
  dn: list('entries by DN'),
  subtree: { type: 'string', default: '', description: 'a subtree' },
  filter: { type: 'string', default: '', description: 'an LDAP filter' },
  user: list('FreeIPA users by uid'),
  group: list('FreeIPA groups by cn'),
  host_entry: list('FreeIPA hosts by fqdn'),
  hostgroup: list('FreeIPA host groups by cn'),
  sudo_rule: list('FreeIPA sudo rules by cn'),
  hbac_rule: list('FreeIPA HBAC rules by cn'),
  attrs: list('only these attributes of entries that exist'),
  dependencies: { type: 'boolean', default: true, description: 'memberships, private groups, references' },
  delete_added: { type: 'boolean', default: false, description: 'delete entries added since, in the selection' },
  replace: { type: 'boolean', default: false, description: 'replace entries re-created since (conflicts)' },
});

type RestoreParams = { [K in keyof typeof restoreParams]?: unknown };

const NAMED: [keyof RestoreParams, NamedKind, string][] = [
  ['user', 'user', '--user'],
  ['group', 'group', '--group'],
  ['host_entry', 'host', '--host-entry'],
  ['hostgroup', 'hostgroup', '--hostgroup'],
  ['sudo_rule', 'sudo rule', '--sudo-rule'],
  ['hbac_rule', 'HBAC rule', '--hbac-rule'],
];

/** The request the task's parameters make (shared with `restore-entries --dry-run`). */
export function entryRequest(p: RestoreParams): EntryRestoreRequest {
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const selection: SelectionSpec = {
    dns: strings(p.dn),
    names: NAMED.flatMap(([param, kind, option]) => strings(p[param]).map((name) => ({ kind, name, option }))),
    ...(p.subtree ? { subtree: String(p.subtree) } : {}),
    ...(p.filter ? { filter: String(p.filter) } : {}),
  };
  const attrs = strings(p.attrs);
  const suffix = p.suffix === 'ca' ? 'ca' : 'domain';
  return {
    selection,
    suffix,
    dependencies: p.dependencies !== false,
    replace: p.replace === true,
    deleteAdded: p.delete_added === true,
    ...(attrs.length > 0 ? { attrs } : {}),
  };
}

/** The write-ahead record of a run's granular writes (restore/entry-writes.ts), in the run's folder. */
export function entryRecordFile(stateDir: string, runId: string): string {
  return join(runsDir(stateDir), runId, 'entries.ndjson');
}

function recordFile(ctx: TaskContext): string {
  if (!ctx.stateDir) throw new FleetError('failure', 'a granular restore needs a state folder for its record');
  return entryRecordFile(ctx.stateDir, ctx.runId);
}

function opsSummary(ops: EntryOp[]): string {
  const count = (k: EntryOp['op']) => ops.filter((o) => o.op === k).length;
  const references = count('add-values') + count('delete-values');
  return `${count('put')} entries put, ${references} references, ${count('delete')} deleted`;
}

export const entriesRestoreAction = defineAction({
  name: 'entries-restore',
  description: "put a selection of a snapshot's entries back on the host, as LDAP writes, each recorded with its undo",
  destructive: true,
  needsFacts: false,
  params: restoreParams,
  async run(ctx, params) {
    const source = await openRestoreSource(ctx.run, ctx.inventory.deployment, { ...params });
    const ldap = await ctx.transport.ldap(ctx.host);
    const { suffix, plan } = await prepareEntryRestore(source, ldap, entryRequest(params));
    const total = plan.ops.length;
    const changed = await applyEntryOps(ldap, suffix, plan.ops, recordFile(ctx), (done) =>
      ctx.progress({ done, total, unit: 'items' }),
    );
    const conflicts = plan.conflicts.map((c) => `conflict, skipped: ${c.dn}: ${c.reason}`);
    return {
      status: changed > 0 ? 'changed' : 'ok',
      message: [`${opsSummary(plan.ops)} on ${suffix.suffix}`, ...conflicts, ...plan.notes].join('; '),
      changes: plan.ops.map((o) => `${o.op} ${o.dn}`),
      data: { conflicts: plan.conflicts.map((c) => c.dn) },
    };
  },
});

export const entriesUndoAction = defineAction({
  name: 'entries-undo',
  description: 'put back what a restore-entries run changed on the host, from its record (last write first)',
  destructive: true,
  needsFacts: false,
  params: { of_run: { type: 'string', required: true, description: 'the run to undo' } },
  async run(ctx, params) {
    const records = await readEntryRecords(entryRecordFile(ctx.stateDir ?? '', params.of_run));
    const mine = records.filter((r) => r.host === ctx.host.name);
    if (mine.length === 0) throw new FleetError('usage', `run ${params.of_run} recorded no writes on ${ctx.host.name}`);
    const ops = undoOps(mine);
    const ldap = await ctx.transport.ldap(ctx.host);
    const changed = await applyEntryOps(ldap, mine[0]!, ops, recordFile(ctx), (done) =>
      ctx.progress({ done, total: ops.length, unit: 'items' }),
    );
    return { status: changed > 0 ? 'changed' : 'ok', message: `${opsSummary(ops)} (undo of ${params.of_run})` };
  },
});

const proveParams = paramSchema({
  suffix: { type: 'string', default: 'domain', description: 'domain or ca' },
  timeout: { type: 'duration', default: '2m', description: 'how long replication may take to reach every host' },
});

export const entriesProveAction = defineAction({
  name: 'entries-prove',
  description: "read what this run wrote on every host of the suffix until each holds it (replication's proof)",
  destructive: false,
  needsFacts: true,
  params: proveParams,
  taskParams: { ...proveParams, hosts: planned<{ name: string; port: number }[]>('the hosts of the suffix') },
  plan({ hosts, withFor, facts }) {
    const target = hosts[0]!;
    const params = withFor(target);
    const holding = [...facts.values()].flatMap((f) => {
      const s = params.suffix === 'ca' ? f.suffixes.ca : f.suffixes.domain;
      return s?.backend ? [{ name: f.host, port: s.port }] : [];
    });
    const title = `prove on ${holding.map((h) => h.name).join(', ')}`;
    return [{ key: target.name, host: target.name, title, params: { ...params, hosts: holding } }];
  },
  async run(ctx, params) {
    const records = await readEntryRecords(recordFile(ctx));
    if (records.length === 0) return { status: 'ok', message: 'nothing was written' };
    const sessions = await Promise.all(
      params.hosts.map((h) => {
        const host = ctx.inventory.hosts.find((x) => x.name === h.name);
        if (!host) throw new FleetError('failure', `entries-prove: ${h.name} is not in the inventory`);
        return ctx.transport.ldap(host, h.port);
      }),
    );
    const proofs = await proveEntries(sessions, records, params.timeout * 1000, ctx.signal);
    const slowest = Math.max(...proofs.map((p) => p.ms));
    return {
      status: 'ok',
      message: `${proofs[0]!.checked} checks hold on ${proofs.map((p) => p.host).join(', ')} (within ${slowest} ms)`,
      data: proofs.map((p) => ({ host: p.host, checked: p.checked, ms: p.ms })),
    };
  },
});
