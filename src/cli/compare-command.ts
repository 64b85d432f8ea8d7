// compare: options → compareContent → the report as text or JSON; exit 3 when hosts differ.
import type { Command } from 'commander';
import { compareContent, type CompareOptions } from '../operations/compare.js';
import { parseDuration } from '../playbook/params.js';
import type { CommandEnv, Wrap } from './command-env.js';
import { compareDifferences, compareJson, compareText } from './compare-render.js';
import { suffixChoice } from './diff-command.js';
import { diffExitCode } from './exit-codes.js';
import { requireInventory } from './inventory-command.js';

interface CompareFlags {
  suffix: string;
  base?: string;
  filter?: string;
  quietWindow: string;
  maxWait: string;
}

export function registerCompareCommand(program: Command, wrap: Wrap): void {
  program
    .command('compare')
    .description(
      'do all hosts hold the same data? every entry of each suffix compared across every host at once; ' +
        'replication still in flight is reported as lag, not as a difference; nothing is written',
    )
    .option('--suffix <which>', 'domain, ca (o=ipaca) or all', 'domain')
    .option('--base <dn>', 'only entries at or under this DN')
    .option('--filter <filter>', 'only entries matching this LDAP filter (on any host)')
    .option('--quiet-window <duration>', 'how long differing entries must stay unchanged before they count', '5s')
    .option('--max-wait <duration>', 'the longest to wait for replication in flight', '2m')
    .addHelpText(
      'after',
      [
        '',
        "Compared: every entry's data, normalized (attribute names and DN case, value order). Not compared:",
        'operational and plugin-computed attributes (memberOf, modifyTimestamp, entryUSN, nsUniqueId …),',
        'replication state, tombstones, RUV entries and ipa-fleet probes.',
        'Exit code: 0 every host holds the same content (lag allowed); 3 differences found; 2 bad options;',
        '4 a host is unreachable; 12 LDAP bind refused.',
      ].join('\n'),
    )
    .action(wrap(runCompare));
}

async function runCompare(env: CommandEnv, flags: CompareFlags): Promise<number> {
  const suffix = suffixChoice(flags.suffix);
  const inventory = await requireInventory(env.globals);
  const opts: CompareOptions = {
    suffix,
    quietWindowSeconds: parseDuration(flags.quietWindow, '--quiet-window'),
    maxWaitSeconds: parseDuration(flags.maxWait, '--max-wait'),
    ...(flags.base ? { base: flags.base } : {}),
    ...(flags.filter ? { filter: flags.filter } : {}),
    ...(env.globals.limit ? { limit: env.globals.limit } : {}),
  };
  const report = await compareContent(inventory, env.ctx, opts);
  if (env.globals.json) env.out.json(compareJson(report));
  else env.out.line(compareText(report));
  return diffExitCode(compareDifferences(report));
}
