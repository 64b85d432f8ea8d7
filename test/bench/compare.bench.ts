// compare of 3 hosts × 100 000 entries (BENCH_ENTRIES) against two baselines measured in the same run:
// one host's plain export of the suffix (the server's own export task, to its ldif folder; target:
// compare ≤ 1.5× of it) and ds-replcheck online on two of the hosts (target: compare faster). Each is
// run twice, interleaved, the better of two kept; each compare is checked (exit 0, no difference, every
// host's count) and each ds-replcheck must find the two hosts in sync, so a broken run is never measured.
// No timing is asserted. Run: npm run bench:compare (needs root: it builds a lab).
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { table } from '../../src/cli/output.js';
import { bringUpLab, BIN, DOMAIN, labDirectory, sleep, type LabDirectory, type TestLab } from '../lab/fixture.js';
import { measured, type Run } from './measured-child.js';

const entries = Number(process.env.BENCH_ENTRIES ?? 100_000);
if (!Number.isInteger(entries) || entries < 100) throw new Error('BENCH_ENTRIES: an entry count ≥ 100');
/** The lab's domain suffix holds its users, one group per ten of them, and 3 containers. */
const users = Math.round((entries - 3) / 1.1);
const MB = 1024 * 1024;

interface Compared {
  run: Run;
  hostEntries: number[];
  /** CPU seconds the three ns-slapd spent serving the compare's searches. */
  serversCpuS: number;
}

const HOSTS = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];

/** utime + stime of a process in seconds (USER_HZ 100), fields 14 and 15 after the command name. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function slapdCpu(lab: TestLab, hosts: string[]): Promise<number> {
  const pids = await Promise.all(
    hosts.map(async (h) => Number((await readFile(lab.paths.slapdPidFile(h, 'IPA-TEST'), 'utf8')).trim())),
  );
  return (await Promise.all(pids.map(cpuSeconds))).reduce((a, b) => a + b, 0);
}

async function compareOnce(lab: TestLab): Promise<Compared> {
  const before = await slapdCpu(lab, HOSTS);
  const run = await measured([BIN, '--log-file', lab.logFile, '--json', 'compare', '-i', lab.paths.inventory], lab.env);
  const serversCpuS = (await slapdCpu(lab, HOSTS)) - before;
  if (run.code !== 0) throw new Error(`compare failed (exit ${run.code}):\n${run.stdout.slice(-3000)}\n${run.stderr}`);
  const json = JSON.parse(run.stdout) as { differences: number; suffixes: Array<{ entries: Record<string, number> }> };
  const hostEntries = Object.values(json.suffixes[0]!.entries);
  if (json.differences !== 0 || hostEntries.length !== 3 || hostEntries.some((n) => n < entries))
    throw new Error(`compare did not see 3 equal hosts of ${entries} entries: ${run.stdout.slice(0, 2000)}`);
  return { run, hostEntries, serversCpuS };
}

/** The server's export task of the domain backend on a (no replication data), until it reports its exit code. */
async function exportOnce(dir: LabDirectory, n: number): Promise<number> {
  const cn = `bench-export-${Date.now()}-${n}`;
  const dn = `cn=${cn},cn=export,cn=tasks,cn=config`;
  const started = process.hrtime.bigint();
  await dir.withLdap('a.ipa.test', async (c) => {
    const file = `/var/lib/dirsrv/slapd-IPA-TEST/ldif/${cn}.ldif`;
    await c.add(dn, { objectClass: ['top', 'extensibleObject'], cn, nsInstance: 'userRoot', nsFilename: file });
    for (;;) {
      const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['nsTaskExitCode'] });
      const code = [searchEntries[0]?.nsTaskExitCode ?? []].flat();
      if (code.length > 0) {
        if (String(code[0]) !== '0') throw new Error(`export task exit ${String(code[0])}`);
        return;
      }
      await sleep(20);
    }
  });
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function replcheckOnce(dir: LabDirectory, pwFile: string): Promise<number> {
  const url = (h: string): string => `ldap://${dir.address(h)}:389`;
  const args = ['online', '-D', 'cn=Directory Manager', '-y', pwFile, '-m', url('a.ipa.test')];
  args.push('-r', url('b.ipa.test'), '-b', DOMAIN, '-l', '0');
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile('ds-replcheck', args, { maxBuffer: 256 * MB }, (err, stdout) => {
      if (err || !/No replication differences/.test(stdout)) reject(new Error(`ds-replcheck: ${stdout.slice(-2000)}`));
      else resolve(Number(process.hrtime.bigint() - started) / 1e9);
    });
  });
}

const lab = await bringUpLab(['--hosts', '3', '--entries', String(users)]);
try {
  console.log(`${entries} entries (${users} users) on 3 hosts: lab up ${(lab.upOutput.ms / 1000).toFixed(1)} s`);
  const dir = await labDirectory(lab, 3, 600_000);
  const pwFile = join(lab.tmp, 'dm-password-no-newline');
  await writeFile(pwFile, (await readFile(lab.paths.dmPassword, 'utf8')).trim(), { mode: 0o600 });
  const compares: Compared[] = [];
  const exports: number[] = [];
  const replchecks: number[] = [];
  for (let round = 0; round < 2; round++) {
    exports.push(await exportOnce(dir, round));
    compares.push(await compareOnce(lab));
    replchecks.push(await replcheckOnce(dir, pwFile));
    console.log(
      `  round ${round + 1}: export ${exports.at(-1)!.toFixed(2)} s, compare ${compares.at(-1)!.run.wallS.toFixed(2)} s ` +
        `(controller cpu ${compares.at(-1)!.run.cpuS.toFixed(2)} s, the 3 servers' cpu ` +
        `${compares.at(-1)!.serversCpuS.toFixed(2)} s), ds-replcheck ${replchecks.at(-1)!.toFixed(2)} s`,
    );
  }
  const best = compares.reduce((a, b) => (b.run.wallS < a.run.wallS ? b : a));
  const exportS = Math.min(...exports);
  const replcheckS = Math.min(...replchecks);
  console.log(
    table([
      ['WHAT', 'SECONDS', 'RATIO', 'TARGET'],
      ['compare, 3 hosts', best.run.wallS.toFixed(2), '', ''],
      ['export task, 1 host', exportS.toFixed(2), (best.run.wallS / exportS).toFixed(2), '≤ 1.5'],
      ['ds-replcheck online, 2 hosts', replcheckS.toFixed(2), (best.run.wallS / replcheckS).toFixed(2), '< 1'],
    ]),
  );
  console.log(
    `compare: ${best.hostEntries.join(' / ')} entries per host, peak RSS ${(best.run.peakBytes / MB).toFixed(0)} MB, ` +
      `controller CPU ${best.run.cpuS.toFixed(2)} s (${((best.run.cpuS / (3 * entries)) * 1e6).toFixed(0)} µs per ` +
      `entry and host), the servers' CPU ${best.serversCpuS.toFixed(2)} s; ${cpus().length} cores`,
  );
} finally {
  await lab.down();
}
