// restore-entries: options → restoreEntries / previewEntryRestore (--dry-run) / undoEntryRestore
// (--undo) → the phase table, or the exact writes per entry (secrets masked).

import type { Command } from 'commander';
import { shownValues, valueText } from '../content/display.js';
import { FleetError, UsageError } from '../errors.js';
import {
  previewEntryRestore,
  restoreEntries,
  undoEntryRestore,
  type RestoreEntriesOptions,
} from '../operations/restore-entries.js';
import type { PreparedRestore } from '../restore/entry-restore.js';
import { type EntryOp, fromValues } from '../restore/entry-ops.js';
import { collect, type CommandEnv, type Wrap } from './command-env.js';
import { requireInventory } from './inventory-command.js';
import { forks } from './playbook-commands.js';
import { report, runSettings } from './restore-commands.js';

interface Flags {
  backup?: string;
  store?: string;
  key?: string;
  passphrase?: string;
  host?: string;
  suffix: string;
  dn: string[];
  subtree?: string;
  filter?: string;
  user: string[];
  group: string[];
  hostEntry: string[];
  hostgroup: string[];
  sudoRule: string[];
  hbacRule: string[];
  attrs?: string;
  dependencies: boolean;
  deleteAdded: boolean;
  replace: boolean;
  dryRun: boolean;
  undo?: string;
  yes: boolean;
  forks: number;
  replicationTimeout?: string;
}

export function registerRestoreEntriesCommand(program: Command, wrap: Wrap): void {
  program
    .command('restore-entries')
    .description(
      "put a selection of a snapshot's entries back on one live host as LDAP writes that replicate " +
        '(no fence, no downtime), with their memberships and references; every write is recorded with its undo',
    )
    .option('--backup <snapshot-id>', 'the snapshot, an id or unique prefix from ipa-fleet backups list')
    .option('--store <dir>', "snapshot store folder (default: the state dir's store, ~/.local/state/ipa-fleet/store)")
    .option('--key <file>', 'OpenPGP private key that decrypts the snapshot (required for an encrypted snapshot)')
    .option('--passphrase <source>', "the key's passphrase: file:PATH, env:NAME or prompt")
    .option('--host <host>', "the host to write to (inventory name; default: the snapshot's own host)")
    .option('--suffix <which>', 'domain or ca (o=ipaca)', 'domain')
    .option('--dn <dn>', 'an entry by DN (repeatable)', collect, [])
    .option('--subtree <dn>', 'a subtree: the entry and everything under it')
    .option('--filter <filter>', 'entries matching this LDAP filter in the snapshot (under --subtree if given)')
    .option('--user <uid>', 'a FreeIPA user by name (repeatable)', collect, [])
    .option('--group <cn>', 'a FreeIPA group by name (repeatable)', collect, [])
    .option('--host-entry <fqdn>', 'a FreeIPA host entry by name (repeatable)', collect, [])
    .option('--hostgroup <cn>', 'a FreeIPA host group by name (repeatable)', collect, [])
    .option('--sudo-rule <cn>', 'a FreeIPA sudo rule by name (repeatable)', collect, [])
    .option('--hbac-rule <cn>', 'a FreeIPA HBAC rule by name (repeatable)', collect, [])
    .option('--attrs <a,b>', 'only these attributes of entries that exist (absent entries come back whole)')
    .option('--no-dependencies', 'only the selected entries: no memberships, private groups or references')
    .option('--delete-added', 'delete entries added since the snapshot inside --subtree/--filter', false)
    .option('--replace', 'replace an entry re-created since under the same DN (else a skipped conflict)', false)
    .option('--dry-run', 'print the exact writes per entry and change nothing', false)
    .option('--undo <run>', 'put the directory back as it was before that restore-entries run')
    .option('--replication-timeout <duration>', 'how long the writes may take to reach every host (default 2m)')
    .option('--yes', 'do not ask for confirmation (required without a terminal)', false)
    .option('--forks <n>', 'tasks running at once', forks, 10)
    .addHelpText(
      'after',
      [
        '',
        'memberOf is never written (each host computes it). Secrets (password hashes, Kerberos keys) are written',
        'as the bind DN and never printed. Finish an interrupted run with ipa-fleet run --resume RUN.',
        'Exit code: 0 restored and proved on every host; 3 restored and proved, but conflicts were skipped',
        '(listed); 2 bad options, a selection that matches nothing in the snapshot, or a snapshot of another',
        'deployment (nothing changed); 4 a host unreachable (nothing changed); 12 wrong key or passphrase;',
        '11 another run holds the deployment lock; 1 failed.',
      ].join('\n'),
    )
    .action(wrap(runRestoreEntries));
}

async function runRestoreEntries(env: CommandEnv, flags: Flags): Promise<void> {
  const inventory = await requireInventory(env.globals);
  if (flags.undo) {
    if (flags.backup) throw new UsageError('restore-entries: --undo plays back a run: drop --backup');
    const result = await undoEntryRestore(inventory, env.ctx, { ...runSettings(env, flags), run: flags.undo });
    return report(env, result, 'restore-entries');
  }
  if (!flags.backup)
    throw new UsageError('restore-entries: name the snapshot with --backup SNAPSHOT_ID (ipa-fleet backups list)');
  const opts = entryOptions(flags);
  if (flags.dryRun) {
    const preview = await previewEntryRestore(inventory, env.ctx, { ...opts, stateDir: '' });
    if (env.globals.json) env.out.json(previewJson(preview));
    else env.out.line(previewText(preview));
    return;
  }
  const result = await restoreEntries(inventory, env.ctx, { ...runSettings(env, flags), ...opts });
  report(env, result, 'restore-entries');
  // The rest is restored and proved; what was skipped is not, and a script must be able to tell.
  if (result.conflicts.length > 0) {
    throw new FleetError(
      'partial',
      `restore-entries ${result.runId}: ${result.conflicts.length} conflict(s) skipped ` +
        `(${result.conflicts.join('; ')}): re-created since the snapshot; --replace puts the snapshot's back`,
    );
  }
}

function entryOptions(f: Flags): Omit<RestoreEntriesOptions, 'stateDir'> {
  if (f.suffix !== 'domain' && f.suffix !== 'ca') throw new UsageError(`--suffix: domain or ca, not '${f.suffix}'`);
  const attrs = f.attrs
    ? f.attrs
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean)
    : undefined;
  if (attrs?.some((a) => a.toLowerCase() === 'memberof'))
    throw new UsageError('--attrs: memberOf is computed by each host, never written');
  const opts: Omit<RestoreEntriesOptions, 'stateDir'> = {
    backup: f.backup!,
    suffix: f.suffix,
    ...{ dn: f.dn, user: f.user, group: f.group, hostEntry: f.hostEntry, hostgroup: f.hostgroup },
    ...{ sudoRule: f.sudoRule, hbacRule: f.hbacRule },
    dependencies: f.dependencies,
    deleteAdded: f.deleteAdded,
    replace: f.replace,
    ...(attrs ? { attrs } : {}),
  };
  for (const k of ['store', 'key', 'passphrase', 'host', 'subtree', 'filter', 'replicationTimeout'] as const)
    if (f[k]) opts[k] = f[k];
  return opts;
}

function previewText(p: PreparedRestore & { host: string }): string {
  const out = [
    `restore-entries dry run on ${p.host}, ${p.suffix.kind} ${p.suffix.suffix}: ${p.plan.ops.length} write(s)`,
  ];
  for (const op of p.plan.ops) out.push(...opText(op));
  for (const c of p.plan.conflicts) out.push(`conflict, skipped: ${c.dn}: ${c.reason}`);
  for (const dn of p.plan.unchanged) out.push(`already as in the snapshot: ${dn}`);
  for (const n of p.plan.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

function opText(op: EntryOp): string[] {
  const head = `${op.op.padEnd(13)} ${op.dn}  (${op.why})`;
  if (op.op === 'delete') return [head];
  const attrs = op.op === 'put' ? fromValues(op.attrs) : fromValues({ [op.attr]: op.values });
  const lines = [...attrs].flatMap(([attr, values]) => {
    const shown = shownValues(attr, values);
    return shown ? shown.map((v) => `    ${attr}: ${valueText(v)}`) : [`    ${attr}: (secret, not shown)`];
  });
  return [head, ...lines];
}

/** `restore-entries --dry-run --json`: docs/json-output.md. */
function previewJson(p: PreparedRestore & { host: string }): Record<string, unknown> {
  return {
    host: p.host,
    suffix: { kind: p.suffix.kind, suffix: p.suffix.suffix },
    ops: p.plan.ops.map((op) => {
      const { op: kind, dn, why } = op;
      if (kind === 'delete') return { op: kind, dn, why };
      const attrs = op.op === 'put' ? fromValues(op.attrs) : fromValues({ [op.attr]: op.values });
      const values = Object.fromEntries([...attrs].map(([a, v]) => [a, shownValues(a, v) ?? 'secret']));
      return { op: kind, dn, why, attributes: values, ...(op.op === 'put' && op.only ? { only: op.only } : {}) };
    }),
    conflicts: p.plan.conflicts,
    unchanged: p.plan.unchanged,
    notes: p.plan.notes,
  };
}
