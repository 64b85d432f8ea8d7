// facts: what every selected host reports of itself (read-only), as the planner sees it.
import type { RunContext } from '../context.js';
import type { FleetError } from '../errors.js';
import { selectHosts } from '../inventory/limit.js';
import type { Inventory } from '../inventory/model.js';
import { gatherAllFacts, type HostFacts } from '../topology/facts.js';
import { Transport } from '../transport/transport.js';

export interface FactsResult {
  /** Host name → its facts, or why they could not be gathered; in inventory order. */
  hosts: Map<string, HostFacts | FleetError>;
  hostCount: number;
}

export async function gatherHostFacts(
  inventory: Inventory,
  ctx: RunContext,
  opts: { limit?: string | undefined; countEntries?: boolean } = {},
): Promise<FactsResult> {
  const hosts = selectHosts(inventory, opts.limit);
  const transport = new Transport(inventory, ctx);
  try {
    const facts = await gatherAllFacts(transport, hosts, undefined, { countEntries: opts.countEntries === true });
    return { hosts: facts, hostCount: hosts.length };
  } finally {
    await transport.close();
  }
}
