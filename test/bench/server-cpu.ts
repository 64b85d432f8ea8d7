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

/**
 * What the hosts' sshd listeners' children (a connection's sshd, and what it ran: tar, the shells) used,
 * in seconds: the listeners' cutime + cstime, which count a child once it has ended and been waited for.
 */
export async function sshdChildrenCpuSeconds(lab: TestLab, hosts: Host[]): Promise<number> {
  const each = await Promise.all(
    hosts.map(async (h) => {
      const stat = await readFile(`/proc/${await lab.sshdPid(h.name)}/stat`, 'utf8').catch(() => '');
      return statCpuSeconds(stat, { children: true });
    }),
  );
  return each.reduce((a, b) => a + b, 0);
}

/**
 * utime + stime from the text of /proc/PID/stat, in seconds (or, with `children`, cutime + cstime: the
 * ended children's); 0 for an empty text.
 */
export function statCpuSeconds(stat: string, opts: { children?: boolean } = {}): number {
  // Fields 14–17 (utime, stime, cutime, cstime), counted after the ")" that ends the command name; USER_HZ is 100.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const at = opts.children ? 13 : 11;
  return fields.length > at + 1 ? (Number(fields[at]) + Number(fields[at + 1])) / 100 : 0;
}
