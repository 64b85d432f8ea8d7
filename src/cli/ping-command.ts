import type { Command } from 'commander';
import { FleetError, PartialFailureError, type ErrorKind } from '../errors.js';
import type { Host } from '../inventory/index.js';
import { Transport } from '../transport/transport.js';
import type { Wrap } from './command-env.js';
import { targetHosts } from './inventory-command.js';
import { table } from './output.js';

interface PingResult {
  host: string;
  ok: boolean;
  hostname?: string;
  ssh?: boolean;
  ldap?: boolean;
  version?: string;
  error?: string;
  kind?: ErrorKind;
}

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
        const { inventory, hosts } = await targetHosts(globals);
        const transport = new Transport(inventory, ctx);
        let results: PingResult[];
        try {
          results = await Promise.all(hosts.map((h) => ping(transport, h)));
        } finally {
          await transport.close();
        }
        if (globals.json) out.json(results);
        else {
          out.line(
            table([
              ['HOST', 'SSH', 'HOSTNAME', 'LDAP', 'VERSION'],
              ...results.map((r) => [
                r.host,
                r.ssh ? out.ok('ok') : out.bad('FAIL'),
                r.hostname ?? '-',
                r.ldap ? out.ok('ok') : r.ssh ? out.bad('FAIL') : '-',
                r.version ?? '-',
              ]),
            ]),
          );
        }
        const failed = results.filter((r) => !r.ok);
        if (failed.length === 0) return;
        const errors = failed.map(
          (r) => new FleetError(r.kind ?? 'failure', r.error ?? `${r.host}: failed`, { host: r.host }),
        );
        // The most specific cause wins: unreachable, then authentication, then partial.
        const first =
          errors.find((e) => e.kind === 'unreachable') ?? errors.find((e) => e.kind === 'auth') ?? errors[0]!;
        for (const e of errors) if (e !== first) out.error(e.message);
        if (first.kind === 'unreachable' || first.kind === 'auth' || failed.length === results.length) throw first;
        throw new PartialFailureError(`${failed.length} of ${results.length} host(s) failed: ${first.message}`, errors);
      }),
    );
}

async function ping(transport: Transport, host: Host): Promise<PingResult> {
  const result: PingResult = { host: host.name, ok: false };
  try {
    const ssh = await transport.ssh(host);
    result.ssh = true;
    result.hostname = (await ssh.run('hostname')).trim();
    const ldap = await transport.ldap(host);
    const root = await ldap.read('', ['vendorVersion']);
    result.ldap = true;
    result.version = root?.get('vendorVersion');
    result.ok = true;
  } catch (err) {
    result.error = (err as Error).message;
    result.kind = err instanceof FleetError ? err.kind : 'failure';
  }
  return result;
}
