// restore-entries of one user with all its dependencies (private group, two group memberships, a sudo
// rule reference) on the IPA-shaped 3-host chain a↔b↔c: wall time of the whole CLI run until every host
// has it (the run ends with its proof on every host; target ≤ 5 s). Baseline in the same run: the least
// the servers must do, one LDAP add of the user on a by hand (the managed-entries plugin adds its group)
// and polling c until it has it. Each round: delete the user on b, wait until a and c lost it, restore.
// Prints figures, asserts nothing timed; each restore is checked (exit 0, the user back on c).
// Run: npm run bench:restore-entries (needs root: it builds a lab). BENCH_ROUNDS=5 by default.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from 'ldapts';
import { table } from '../../src/cli/output.js';
import { bringUpLab, type LabDirectory, labDirectory, makeKeys, sleep, type TestLab } from '../lab/fixture.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? '5');
const USER = 'uid=alice,cn=users,cn=accounts,dc=ipa,dc=test';
const [A, B, C] = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];

async function present(dir: LabDirectory, host: string): Promise<boolean> {
  return dir.withLdap(host, async (c) => {
    const r = await c.search(USER, { scope: 'base', attributes: ['1.1'] }).catch(() => undefined);
    return (r?.searchEntries.length ?? 0) === 1;
  });
}

async function until(what: string, probe: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (!(await probe())) {
    if (Date.now() - t0 > 120_000) throw new Error(`${what}: not within 120 s`);
    await sleep(20);
  }
  return Date.now() - t0;
}

/** Deletes the user on b and waits until no host has it. */
async function damage(dir: LabDirectory): Promise<void> {
  await dir.withLdap(B, (c) => c.del(USER));
  for (const h of [A, B, C]) await until(`${h} without alice`, async () => !(await present(dir, h)));
}

/** The baseline: one add on a by hand, then c polled until it has the user. */
async function byHand(dir: LabDirectory, attrs: Record<string, string[]>): Promise<number> {
  const t0 = Date.now();
  await dir.withLdap(A, (c: Client) => c.add(USER, attrs));
  await until('alice on c', () => present(dir, C));
  return Date.now() - t0;
}

async function userAttributes(dir: LabDirectory): Promise<Record<string, string[]>> {
  return dir.withLdap(A, async (c) => {
    const [e] = (await c.search(USER, { scope: 'base', attributes: ['*'] })).searchEntries;
    const out: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(e!)) {
      const name = k.toLowerCase();
      // What the plugins write themselves: memberOf, and the pointer to the private group.
      if (k === 'dn' || name === 'memberof' || name === 'mepmanagedentry' || name === '*') continue;
      out[k] = (Array.isArray(v) ? v : [v]).map(String);
    }
    return out;
  });
}

async function main(): Promise<void> {
  const lab: TestLab = await bringUpLab(['--hosts', '3', '--data', 'ipa', '--entries', '200', '--ca', 'none']);
  try {
    const dir = await labDirectory(lab, 3);
    const keys = await makeKeys(lab.tmp);
    const store = join(lab.tmp, 'store');
    const fleet = (args: string[]) => lab.fleet(['-i', lab.paths.inventory, ...args]);
    const attrs = await userAttributes(dir);
    const backup = await fleet(['backup', '--limit', A, '--encrypt-to', keys.pub, '--store', store]);
    if (backup.code !== 0) throw new Error(`backup failed: ${backup.stderr}`);
    const snapshot = (
      JSON.parse((await lab.fleet(['--json', 'backups', 'list', '--store', store])).stdout) as {
        snapshots: Array<{ id: string }>;
      }
    ).snapshots[0]!.id;
    const rows: string[][] = [['round', 'restore-entries s', 'of it: restore, prove', 'baseline s', 'ratio']];
    for (let i = 1; i <= rounds; i++) {
      await damage(dir);
      const r = await fleet([
        'restore-entries',
        '--backup',
        snapshot,
        '--store',
        store,
        '--key',
        keys.sec,
        '--passphrase',
        `file:${keys.pass}`,
        '--user',
        'alice',
        '--yes',
      ]);
      if (r.code !== 0 || !(await present(dir, C))) throw new Error(`restore-entries failed: ${r.stdout}${r.stderr}`);
      await damage(dir);
      const base = await byHand(dir, attrs);
      // The run's own phases, from its report's (wall) row: the rest is start-up and fact gathering.
      const phases = /^\(wall\)\s+(\S+ s)\s+(\S+ s)/m.exec(r.stdout)?.slice(1).join(', ') ?? '?';
      rows.push([String(i), (r.ms / 1000).toFixed(2), phases, (base / 1000).toFixed(2), (r.ms / base).toFixed(1)]);
    }
    console.log('restore-entries --user alice (private group, 2 memberships, a sudo rule) on a↔b↔c, IPA-shaped');
    console.log(table(rows));
    // A slow proof is replication's: how often a replayed change failed and its session was retried later.
    for (const h of [A, B, C]) {
      const log = join(lab.paths.hostDir(h), 'var-log-dirsrv', 'slapd-IPA-TEST', 'errors');
      const failed = (await readFile(log, 'utf8')).split('\n').filter((l) => l.includes('failed to replay change'));
      console.log(
        `${h}: ${failed.length} replayed change(s) failed and retried later${failed[0] ? `: ${failed[0]}` : ''}`,
      );
    }
  } finally {
    await lab.down();
  }
}

await main();
