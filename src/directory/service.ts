// Starting and stopping a host's directory service: `ipactl` on a FreeIPA server (the whole
// stack, as ipa-backup/ipa-restore do), `dsctl <instance>` on a plain 389-DS host.
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import { shellQuote } from '../transport/shell.js';
import type { Transport } from '../transport/transport.js';

const SERVICE_TIMEOUT_MS = 600_000;

function stopCommand(host: Host): string {
  return host.profile === 'freeipa' ? 'ipactl stop' : `dsctl ${shellQuote(host.ldap.instance)} stop`;
}

function startCommand(host: Host): string {
  return host.profile === 'freeipa' ? 'ipactl start' : `dsctl ${shellQuote(host.ldap.instance)} start`;
}

export async function stopServices(transport: Transport, host: Host, ctx: RunContext, why: string): Promise<void> {
  const command = stopCommand(host);
  ctx.log.info(`${host.name}: stopping services ${why} (${command})`);
  // The LDAP session dies with the server; drop it so nothing reuses it.
  await transport.forgetLdap(host);
  // Not cancelled half-way by Ctrl-C / SIGTERM: a server left shutting down would still look
  // "running" to the start in the caller's finally, and then be down (seen in the lab).
  await (await transport.ssh(host)).run(command, { timeoutMs: SERVICE_TIMEOUT_MS, abortable: false });
}

/** Meant for a `finally`: what stopped the services must never leave them stopped silently. */
export async function startServices(transport: Transport, host: Host, ctx: RunContext, what: string): Promise<void> {
  const command = startCommand(host);
  try {
    // Not cancelled by Ctrl-C / SIGTERM: that is usually what brought us to this finally.
    await (await transport.ssh(host)).run(command, { timeoutMs: SERVICE_TIMEOUT_MS, abortable: false });
    ctx.log.info(`${host.name}: services started again (${command})`);
  } catch (err) {
    ctx.log.error(`${host.name}: could not start the services again (${command}): ${(err as Error).message}`);
    throw new FleetError(
      'failure',
      `${host.name}: ${what} stopped the services and '${command}' failed: ` +
        `${(err as Error).message}; start them by hand`,
      { host: host.name },
    );
  }
}

/**
 * Starts the instance when its LDAP port does not answer (a server that died mid-import, say): the
 * callers are about to replace the data it holds anyway. `dsctl status` is not asked: after a
 * SIGKILL it can still report "running" from the stale pid file. Returns whether it had to start it.
 */
export async function ensureInstanceRunning(transport: Transport, host: Host, ctx: RunContext): Promise<boolean> {
  // SSH must work: a host that cannot be reached is not a stopped instance.
  const ssh = await transport.ssh(host);
  const answers = async (): Promise<boolean> => {
    try {
      await transport.ldap(host);
      return true;
    } catch (err) {
      if (err instanceof FleetError && (err.kind === 'auth' || err.kind === 'usage')) throw err;
      return false;
    }
  };
  if (await answers()) return false;
  ctx.warn(`${host.name}: instance ${host.ldap.instance} does not answer on LDAP; starting it (${startCommand(host)})`);
  for (let attempt = 1; attempt <= 3; attempt++) {
    // The profile's own start: on FreeIPA, ipactl brings the rest of the stack up with the directory.
    await ssh.run(startCommand(host), { timeoutMs: SERVICE_TIMEOUT_MS });
    await new Promise((r) => setTimeout(r, 1000 * attempt));
    if (await answers()) return true;
  }
  throw new FleetError(
    'failure',
    `${host.name}: the directory server does not answer on LDAP and '${startCommand(host)}' did not bring it back`,
    { host: host.name },
  );
}
