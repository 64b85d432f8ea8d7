import { join } from 'node:path';
import { replaceJson } from '../atomic-file.js';
import { FleetError } from '../errors.js';
import type { Check } from '../topology/checks.js';
import { readTextIfExists } from '../text-file.js';

export interface QuarantineRecord {
  host: string;
  since: string;
  /** The restored master, whose generation the host must take when it rejoins. */
  master: string;
  snapshot: string;
  /** Suffix kinds the restore rebuilt. */
  suffixes: string[];
  reason: string;
}

function quarantineFile(stateDir: string, deployment: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(deployment))
    throw new FleetError('usage', `deployment name '${deployment}' cannot name a folder`);
  return join(stateDir, 'deployments', deployment, 'quarantine.json');
}

export async function readQuarantine(stateDir: string, deployment: string): Promise<Record<string, QuarantineRecord>> {
  const file = quarantineFile(stateDir, deployment);
  const text = await readTextIfExists(file, file);
  if (text === undefined) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, QuarantineRecord>;
  } catch (err) {
    throw new FleetError('failure', `${file}: not a quarantine record (${(err as Error).message}); fix or remove it`);
  }
}

/** Adds (or replaces) records; written to a temporary file and renamed, so a crash leaves the old file. */
export async function quarantineHosts(
  stateDir: string,
  deployment: string,
  records: QuarantineRecord[],
): Promise<void> {
  const current = await readQuarantine(stateDir, deployment);
  for (const r of records) current[r.host] = r;
  await save(stateDir, deployment, current);
}

export async function releaseHost(stateDir: string, deployment: string, host: string): Promise<boolean> {
  const current = await readQuarantine(stateDir, deployment);
  if (!(host in current)) return false;
  delete current[host];
  await save(stateDir, deployment, current);
  return true;
}

async function save(stateDir: string, deployment: string, records: Record<string, QuarantineRecord>): Promise<void> {
  await replaceJson(quarantineFile(stateDir, deployment), records);
}

/** The audit's view of quarantine: every quarantined inventory host is an error until it rejoins. */
export function quarantineCheck(records: Record<string, QuarantineRecord>): Check {
  return ({ inventory }) =>
    inventory.hosts
      .filter((h) => h.name in records)
      .map((h) => {
        const r = records[h.name]!;
        return {
          id: 'host-quarantined' as const,
          severity: 'error' as const,
          hosts: [h.name],
          suffix: undefined,
          message:
            `${h.name} is quarantined since ${r.since}: ` +
            `it was offline when ${r.master} was restored${r.snapshot ? ` from ${r.snapshot}` : ''} ` +
            'and still holds the old data',
          fix:
            `when it is back: ipa-fleet rejoin -i <inventory> ${h.name} (its agreements are turned off first; ` +
            'nothing it holds reaches the others)',
        };
      });
}
