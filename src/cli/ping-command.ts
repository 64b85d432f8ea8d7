import type { Command } from 'commander';
import { pingHosts, type PingResult } from '../operations/ping.js';
import type { Wrap } from './command-env.js';
import { mostSpecific } from './exit-codes.js';
import { targetHosts } from './inventory-command.js';
import { table, type Output } from './output.js';

export function registerPingCommand(program: Command, wrap: Wrap): void {
  program
    .command('ping')
    .description(
      'check every host (after --limit): SSH login, remote hostname, LDAP bind as the bind DN, 389-DS version',
    )
    .addHelpText(
      'after',
      '\nExit code: 0 all good; 4 if a host is unreachable, else 12 if authentication failed, else 3/1.',
    )
    .action(
      wrap(async ({ globals, out, ctx }) => {
        const { inventory } = await targetHosts(globals);
        const results = await pingHosts(inventory, ctx, { limit: globals.limit });
        if (globals.json) out.json(results.map(pingJson));
        else out.line(pingTable(out, results));
        const errors = results.flatMap((r) => (r.error ? [r.error] : []));
        if (errors.length === 0) return;
        // The most specific cause wins (unreachable, then authentication, then partial); the rest are shown too.
        const first = mostSpecific(errors, results.length);
        for (const e of errors) if (e !== first && !first.message.endsWith(e.message)) out.error(e.message);
        throw first;
      }),
    );
}

/** `ping --json`: one object per host (docs/json-output.md). */
function pingJson(r: PingResult): Record<string, unknown> {
  const { error, ...rest } = r;
  return { ...rest, ...(error ? { error: error.message, kind: error.kind } : {}) };
}

function pingTable(out: Output, results: PingResult[]): string {
  return table([
    ['HOST', 'SSH', 'HOSTNAME', 'LDAP', 'VERSION'],
    ...results.map((r) => [
      r.host,
      r.ssh ? out.ok('ok') : out.bad('FAIL'),
      r.hostname ?? '-',
      r.ldap ? out.ok('ok') : r.ssh ? out.bad('FAIL') : '-',
      r.version ?? '-',
    ]),
  ]);
}
