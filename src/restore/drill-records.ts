// What restore drills found, kept per deployment in the controller's state folder: the audit warns
// when no drill passed recently (--drill-max-age) and the scheduler's metrics read the newest.
import { join } from 'node:path';
import { replaceJson } from '../atomic-file.js';
import { FleetError } from '../errors.js';
import { readTextIfExists } from '../text-file.js';

/** One drill's outcome, as the drill operation reports it and the state folder keeps it. */
export interface DrillRecord {
  deployment: string;
  /** Every phase passed and the sandbox holds the snapshot's content on every host. */
  restorable: boolean;
  /** The phase that failed and its error (one line), when not restorable. */
  failedPhase?: string;
  error?: string;
  startedAt: string;
  finishedAt: string;
  /** Wall time from the first restore phase to the content proof: the measured recovery time. */
  recoverySeconds: number;
  hosts: number;
  entries: number;
  /** The snapshots the drill restored, by host. */
  snapshots: Array<{ host: string; id: string }>;
}

/** The newest records kept per deployment. */
const KEEP = 20;

function recordsFile(stateDir: string, deployment: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(deployment))
    throw new FleetError('usage', `deployment name '${deployment}' cannot name a folder`);
  return join(stateDir, 'deployments', deployment, 'drills.json');
}

/** The deployment's drill records, oldest first. */
export async function readDrills(stateDir: string, deployment: string): Promise<DrillRecord[]> {
  const file = recordsFile(stateDir, deployment);
  const text = await readTextIfExists(file, file);
  if (text === undefined) return [];
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed)) throw new Error('not a list');
    return parsed as DrillRecord[];
  } catch (err) {
    throw new FleetError('failure', `${file}: not a drill record list (${(err as Error).message}); fix or remove it`);
  }
}

/** Adds a record, keeping the newest KEEP; replaced whole, so a crash leaves the old file. */
export async function recordDrill(stateDir: string, record: DrillRecord): Promise<void> {
  const records = [...(await readDrills(stateDir, record.deployment)), record].slice(-KEEP);
  await replaceJson(recordsFile(stateDir, record.deployment), records);
}

/** The newest drill that passed, if any. */
export function lastPassed(records: readonly DrillRecord[]): DrillRecord | undefined {
  return records.filter((r) => r.restorable).at(-1);
}
