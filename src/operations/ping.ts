// ping: can every selected host be reached the way every other operation reaches it — SSH login,
// the remote hostname, an LDAP bind as the inventory's bind DN, and the 389-DS version?
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import { selectHosts } from '../inventory/limit.js';
import type { Host, Inventory } from '../inventory/model.js';
import { Transport } from '../transport/transport.js';

export interface PingResult {
  host: string;
  ok: boolean;
  hostname?: string;
  ssh?: boolean;
  ldap?: boolean;
  version?: string;
  /** Why the host failed (secrets masked by the transport's errors). */
  error?: FleetError;
}

export async function pingHosts(
  inventory: Inventory,
  ctx: RunContext,
  opts: { limit?: string | undefined } = {},
): Promise<PingResult[]> {
  const transport = new Transport(inventory, ctx);
  try {
    return await Promise.all(selectHosts(inventory, opts.limit).map((h) => pingHost(transport, h)));
  } finally {
    await transport.close();
  }
}

async function pingHost(transport: Transport, host: Host): Promise<PingResult> {
  const result: PingResult = { host: host.name, ok: false };
  try {
    const ssh = await transport.ssh(host);
    result.ssh = true;
    result.hostname = (await ssh.run('hostname')).trim();
    const ldap = await transport.ldap(host);
    const root = await ldap.read('', ['vendorVersion']);
    result.ldap = true;
    const version = root?.get('vendorVersion');
    if (version !== undefined) result.version = version;
    result.ok = true;
  } catch (err) {
    result.error =
      err instanceof FleetError ? err : new FleetError('failure', (err as Error).message, { host: host.name });
  }
  return result;
}
