// drill: a restore of the deployment's snapshots into an isolated sandbox on the controller, shaped
// like the deployment, through the same restore operation as production, then a content proof.
// (Interface pinned for parallel work; the body is being built on the drill branch.)
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Inventory } from '../inventory/model.js';
import type { DrillRecord } from '../restore/drill-records.js';

export interface DrillOptions {
  /** A snapshot id of the master, or 'latest' (default). */
  backup?: string;
  /** The host whose snapshot is restored (default: the snapshot's host, else the inventory's first). */
  master?: string;
  store?: string;
  key?: string;
  passphrase?: string;
  /** Leave the sandbox running after the drill. */
  keep?: boolean;
  /** The controller's state folder (drill records, sandboxes). */
  stateDir: string;
}

export interface DrillPhase {
  name: string;
  seconds: number;
  ok: boolean;
}

export interface DrillReport extends DrillRecord {
  phases: DrillPhase[];
  /** Where the drill's topology came from: the snapshots' manifests, or (older snapshots) the inventory. */
  topologySource: 'snapshot' | 'inventory';
  /** The sandbox left running (--keep): its folder and inventory. */
  sandbox?: { dir: string; inventory: string };
}

export async function drill(inventory: Inventory, _ctx: RunContext, _opts: DrillOptions): Promise<DrillReport> {
  throw new FleetError('failure', `drill of ${inventory.deployment}: not built yet`);
}
