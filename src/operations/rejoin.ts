// rejoin: a quarantined (or drifted) host back into its deployment (the rejoin playbook): fenced
// first, re-initialized from its breadth-first parent, unfenced, convergence proved.
import type { RunContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { Inventory } from '../inventory/model.js';
import { runPlaybook } from '../playbook/run.js';
import { readQuarantine } from '../restore/quarantine.js';
import { engineSettings, phasedRunResult, type PhasedRunResult, type RunSettings } from './phased-run.js';
import { initMode, type InitMode } from './restore-deployment.js';

export interface RejoinOptions extends RunSettings {
  /** The host to bring back (an inventory name). */
  host: string;
  /** The host whose data wins (default: the master recorded when the host was quarantined). */
  master?: string;
  /** online: a total update from the BFS parent (default); ldif: export and import. */
  init?: InitMode;
}

export type RejoinResult = PhasedRunResult;

export async function rejoin(inventory: Inventory, ctx: RunContext, opts: RejoinOptions): Promise<RejoinResult> {
  const target = opts.host;
  const init = initMode(opts.init ?? 'online');
  if (!inventory.hosts.some((h) => h.name === target))
    throw new UsageError(`rejoin: '${target}' is not a host of ${inventory.file}`);
  const records = await readQuarantine(opts.stateDir, inventory.deployment);
  const master = opts.master ?? records[target]?.master;
  if (!master)
    throw new UsageError(`rejoin: ${target} is not quarantined; name the host whose data wins with --master HOST`);
  if (master === target) throw new UsageError(`rejoin: ${target} cannot rejoin from itself`);
  // Other quarantined hosts are still away: the plan goes on without them.
  const stillAway = Object.keys(records).filter((h) => h !== target);
  const outcome = await runPlaybook({
    playbook: 'rejoin',
    inventory,
    params: { target, master, init, allow_offline: stillAway },
    limit: undefined,
    ctx,
    ...engineSettings(opts),
  });
  return phasedRunResult(outcome);
}
