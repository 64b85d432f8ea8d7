// The CPU the lab hosts' directory servers spend during a benchmark: ns-slapd's utime + stime (all its
// threads, export and import tasks included) read from /proc before and after. On this machine every
// host's server shares the same cores, so this is what tells the servers' work from the controller's.
import { readFile } from 'node:fs/promises';
import type { Host } from '../../src/inventory/model.js';
import type { TestLab } from '../lab/fixture.js';

/** The hosts' ns-slapd pids, from the pid files the lab's hosts write (a restarted server has a new one). */
export async function slapdPids(lab: TestLab, hosts: Host[]): Promise<number[]> {
  return Promise.all(
    hosts.map(async (h) => Number((await readFile(lab.paths.slapdPidFile(h.name, h.ldap.instance), 'utf8')).trim())),
  );
}

/** utime + stime of the processes, in seconds (USER_HZ is 100); a process gone counts 0. */
export async function cpuSeconds(pids: number[]): Promise<number> {
  const each = await Promise.all(
    pids.map(async (pid) => statCpuSeconds(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''))),
  );
  return each.reduce((a, b) => a + b, 0);
}

/** utime + stime from the text of /proc/PID/stat, in seconds; 0 for an empty text. */
export function statCpuSeconds(stat: string): number {
  // Fields 14 and 15, counted after the ")" that ends the command name; USER_HZ is 100.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.length > 12 ? (Number(fields[11]) + Number(fields[12])) / 100 : 0;
}
