// diff: options → diffSnapshot → the report as text, JSON or the LDIF that would revert it.

import type { Command } from 'commander';
import { revertLdif } from '../content/ldif-write.js';
import { UsageError } from '../errors.js';
import { diffSnapshot, type DiffOptions, type SuffixChoice } from '../operations/diff.js';
import type { CommandEnv, Wrap } from './command-env.js';
import { diffJson, diffText, differenceCount } from './diff-render.js';
import { diffExitCode } from './exit-codes.js';
import { requireInventory } from './inventory-command.js';

interface DiffFlags {
  backup?: string;
  store?: string;
  key?: string;
  passphrase?: string;
  host?: string;
  against?: string;
  suffix: string;
  base?: string;
  filter?: string;
  ldif: boolean;
}

export function registerDiffCommand(program: Command, wrap: Wrap): void {
  program
    .command('diff')
    .description(
      'compare a snapshot with a live host (or with a later snapshot): entries added, deleted and modified, ' +
        'attribute by attribute; nothing is written',
    )
    .option('--backup <snapshot-id>', 'the snapshot, an id or unique prefix from ipa-fleet backups list (required)')
    .option('--store <dir>', "snapshot store folder (default: the state dir's store, ~/.local/state/ipa-fleet/store)")
    .option('--key <file>', 'OpenPGP private key that decrypts the snapshot (required for an encrypted snapshot)')
    .option('--passphrase <source>', "the key's passphrase: file:PATH, env:NAME or prompt")
    .option('--host <host>', "the live host to compare with (inventory name; default: the snapshot's own host)")
    .option('--against <snapshot-id>', 'compare with this later snapshot instead of a live host')
    .option('--suffix <which>', 'domain, ca (o=ipaca) or all', 'domain')
    .option('--base <dn>', 'only entries at or under this DN')
    .option('--filter <filter>', 'only entries matching this LDAP filter (on either side)')
    .option('--ldif', 'print the LDIF that would bring the live side back to the snapshot (applies nothing)', false)
    .addHelpText(
      'after',
      [
        '',
        'Not compared: operational and plugin-computed attributes (memberOf, modifyTimestamp, entryUSN, nsUniqueId …),',
        'replication state, tombstones, RUV entries and ipa-fleet probes. Secrets (userPassword, krbPrincipalKey …)',
        'are reported as changed, never printed.',
        'Exit code: 0 no differences; 3 differences found; 2 bad options; 4 the host is unreachable;',
        '12 wrong key or passphrase.',
      ].join('\n'),
    )
    .action(wrap(runDiff));
}

async function runDiff(env: CommandEnv, flags: DiffFlags): Promise<number> {
  if (!flags.backup) throw new UsageError('diff: name the snapshot with --backup SNAPSHOT_ID (ipa-fleet backups list)');
  if (flags.against && flags.host) throw new UsageError('diff: --against compares two snapshots: drop --host');
  if (flags.ldif && env.globals.json) throw new UsageError('diff: --ldif and --json are two outputs: choose one');
  const inventory = await requireInventory(env.globals);
  const report = await diffSnapshot(inventory, env.ctx, diffOptions(flags));
  if (flags.ldif) process.stdout.write(report.suffixes.map((s) => revertLdif(s.entries)).join('\n'));
  else if (env.globals.json) env.out.json(diffJson(report));
  else env.out.line(diffText(report));
  return diffExitCode(differenceCount(report));
}

/** `--suffix` of diff and compare: domain, ca or all. */
export function suffixChoice(value: string): SuffixChoice {
  if (value === 'domain' || value === 'ca' || value === 'all') return value;
  throw new UsageError(`--suffix: domain, ca or all, not '${value}'`);
}

function diffOptions(flags: DiffFlags): DiffOptions {
  const opts: DiffOptions = { backup: flags.backup!, suffix: suffixChoice(flags.suffix) };
  for (const k of ['store', 'key', 'passphrase', 'host', 'against', 'base', 'filter'] as const)
    if (flags[k]) opts[k] = flags[k];
  return opts;
}
