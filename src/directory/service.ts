// Starting and stopping a host's directory service: `ipactl` on a FreeIPA server (the whole
// stack, as ipa-backup/ipa-restore do), `dsctl <instance>` on a plain 389-DS host.
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import { shellQuote } from '../transport/shell.js';
import type { Transport } from '../transport/transport.js';

const SERVICE_TIMEOUT_MS = 600_000;

export function stopCommand(host: Host): string {
  return host.profile === 'freeipa' ? 'ipactl stop' : `dsctl ${shellQuote(host.ldap.instance)} stop`;
}

export function startCommand(host: Host): string {
  return host.profile === 'freeipa' ? 'ipactl start' : `dsctl ${shellQuote(host.ldap.instance)} start`;
}

export async function stopServices(transport: Transport, host: Host, ctx: RunContext, why: string): Promise<void> {
  const command = stopCommand(host);
  ctx.log.info(`${host.name}: stopping services ${why} (${command})`);
  // The LDAP session dies with the server; drop it so nothing reuses it.
  await transport.forgetLdap(host);
  await (await transport.ssh(host)).run(command, { timeoutMs: SERVICE_TIMEOUT_MS });
}

/** Meant for a `finally`: what stopped the services must never leave them stopped silently. */
export async function startServices(transport: Transport, host: Host, ctx: RunContext, what: string): Promise<void> {
  const command = startCommand(host);
  try {
    await (await transport.ssh(host)).run(command, { timeoutMs: SERVICE_TIMEOUT_MS });
    ctx.log.info(`${host.name}: services started again (${command})`);
  } catch (err) {
    ctx.log.error(`${host.name}: could not start the services again (${command}): ${(err as Error).message}`);
    throw new FleetError('failure', `${host.name}: ${what} stopped the services and '${command}' failed: ${(err as Error).message}; start them by hand`, { host: host.name });
  }
}

/**
 * Starts the instance when it is not running (a server that died mid-import, say): the callers
 * are about to replace the data it holds anyway. Returns whether it had to start it.
 */
export async function ensureInstanceRunning(transport: Transport, host: Host, ctx: RunContext): Promise<boolean> {
  const ssh = await transport.ssh(host);
  const status = await ssh.exec(`dsctl ${shellQuote(host.ldap.instance)} status`);
  if (status.ok && /is running/i.test(status.stdout)) return false;
  ctx.log.warn(`${host.name}: instance ${host.ldap.instance} is not running; starting it`);
  await transport.forgetLdap(host);
  await ssh.run(`dsctl ${shellQuote(host.ldap.instance)} start`, { timeoutMs: SERVICE_TIMEOUT_MS });
  return true;
}
