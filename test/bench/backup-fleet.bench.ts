// Fleet backup: wall time of one `backup` over N lab hosts against single-host backups of the same
// hosts (each alone: the slowest of them is the target's baseline, fleet ≤ 1.3× it; the sum is the
// sequential figure), and what the hosts stage beyond their export files (sampled every 50 ms while the
// fleet backup runs).
// Where the CPU goes, since every lab host's ns-slapd and sshd share this machine's cores with the
// controller: the CPU of the hosts' ns-slapd (export tasks) and of their sshd children (tar, the SSH
// channel's encryption), both from /proc before and after, and of the controller (the CLI process), in
// the single-host runs and in the fleet run; and each host's backup task time from the run's journal
// (alone vs in the fleet), so the note can tell the orchestration's own cost from the 2-core limit.
// Run: npm run bench:backup (needs root: it builds labs). BENCH_HOSTS=3,5 (lab sizes), BENCH_ENTRIES=5000.
import { readdir, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { loadInventory } from '../../src/inventory/index.js';
import { BIN, bringUpLab, readJournal, type TestLab } from '../lab/fixture.js';
import { measured } from './measured-child.js';
import { cpuSeconds, slapdPids, sshdChildrenCpuSeconds } from './server-cpu.js';

/** CPU seconds spent by the hosts' ns-slapd, the hosts' sshd children (tar included) and the controller. */
interface Cpu {
  slapd: number;
  sshd: number;
  controller: number;
}

const sizes = (process.env.BENCH_HOSTS ?? '3,5').split(',').map(Number);
const entries = process.env.BENCH_ENTRIES ?? '5000';

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[]))
    total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  return total;
}

/** The backup task's duration per host in the newest run's journal. */
async function backupTaskSeconds(lab: TestLab): Promise<Map<string, number>> {
  const runsDir = join(lab.stateDir, 'ipa-fleet', 'runs');
  const runId = (await readdir(runsDir)).sort().at(-1)!;
  const started = new Map<string, { host: string; at: number }>();
  const out = new Map<string, number>();
  for (const line of await readJournal(runsDir, runId)) {
    const at = Date.parse((line as { at?: string }).at ?? '');
    if (line.type === 'task.started' && line.host) started.set(line.taskId!, { host: line.host, at });
    const start = line.type === 'task.finished' ? started.get(line.taskId!) : undefined;
    if (start) out.set(start.host, (at - start.at) / 1000);
  }
  return out;
}

for (const n of sizes) {
  // --init ldif: the replicas seeded from a's export (much faster to build at 10 hosts × 20 000 entries).
  const lab = await bringUpLab([
    ...['--hosts', String(n), '--topology', 'ring', '--ca', 'a,b', '--entries', entries],
    ...['--init', 'ldif'],
  ]);
  try {
    const { publicKey } = await generateKey({ type: 'curve25519', userIDs: [{ name: 'bench' }], format: 'armored' });
    const key = join(lab.tmp, 'pub.asc');
    await writeFile(key, publicKey);
    const inventory = await loadInventory(lab.paths.inventory);
    const pids = await slapdPids(lab, inventory.hosts);
    const base = ['backup', '-i', lab.paths.inventory, '--encrypt-to', key, '--store', join(lab.tmp, 'store')];
    const hosts = inventory.hosts.map((h) => h.name);
    // The CLI as `lab.fleet` runs it, measured: wall time, and the controller's own CPU.
    const run = async (args: string[]): Promise<{ wallS: number; cpu: Cpu }> => {
      const before = { slapd: await cpuSeconds(pids), sshd: await sshdChildrenCpuSeconds(lab, inventory.hosts) };
      const r = await measured([BIN, '--log-file', lab.logFile, ...args], lab.env);
      if (r.code !== 0) throw new Error(r.stderr);
      const slapd = (await cpuSeconds(pids)) - before.slapd;
      const sshd = (await sshdChildrenCpuSeconds(lab, inventory.hosts)) - before.sshd;
      return { wallS: r.wallS, cpu: { slapd, sshd, controller: r.cpuS } };
    };
    const single = new Map<string, { wallS: number; taskS: number }>();
    const singleCpu: Cpu = { slapd: 0, sshd: 0, controller: 0 };
    for (const h of hosts) {
      const r = await run(['--limit', h, ...base]);
      for (const k of ['slapd', 'sshd', 'controller'] as const) singleCpu[k] += r.cpu[k];
      single.set(h, { wallS: r.wallS, taskS: (await backupTaskSeconds(lab)).get(h)! });
    }
    // Staging: bytes in the hosts' ldif/ and bak/ folders while the fleet backup runs.
    const folders = hosts.flatMap((h) =>
      ['ldif', 'bak'].map((f) => join(lab.paths.hostDir(h), 'var-lib-dirsrv', 'slapd-IPA-TEST', f)),
    );
    let peakStaged = 0;
    const sampler = setInterval(() => {
      void Promise.all(folders.map(dirBytes)).then((b) => {
        peakStaged = Math.max(
          peakStaged,
          b.reduce((x, y) => x + y, 0),
        );
      });
    }, 50);
    const fleet = await run(base).finally(() => clearInterval(sampler));
    const fleetTasks = await backupTaskSeconds(lab);
    const list = JSON.parse(
      (await lab.fleet(['--json', 'backups', 'list', '--store', join(lab.tmp, 'store')])).stdout,
    ) as {
      snapshots: Array<{ size: number }>;
    };
    const exportBytes = list.snapshots.slice(-n).reduce((x, s) => x + s.size, 0);
    const walls = [...single.values()].map((s) => s.wallS);
    const slowest = Math.max(...walls);
    const sum = walls.reduce((a, b) => a + b, 0);
    const fleetS = fleet.wallS;
    console.log(
      `${n} hosts × ${entries} entries: fleet backup ${fleetS.toFixed(1)} s; single-host backups: slowest ` +
        `${slowest.toFixed(1)} s, sum ${sum.toFixed(1)} s; fleet / slowest single ${(fleetS / slowest).toFixed(2)} ` +
        `(target ≤ 1.3), fleet / sum ${(fleetS / sum).toFixed(2)}`,
    );
    const cpuLine = (c: Cpu): string =>
      `ns-slapd ${c.slapd.toFixed(1)} s, sshd and tar ${c.sshd.toFixed(1)} s, controller ${c.controller.toFixed(1)} s ` +
      `(together ${(c.slapd + c.sshd + c.controller).toFixed(1)} s)`;
    console.log(`  CPU over the ${n} single-host runs: ${cpuLine(singleCpu)}`);
    const fleetTotal = fleet.cpu.slapd + fleet.cpu.sshd + fleet.cpu.controller;
    console.log(
      `  CPU in the fleet run: ${cpuLine(fleet.cpu)}; on ${availableParallelism()} cores that is at least ` +
        `${(fleetTotal / availableParallelism()).toFixed(1)} s of wall time`,
    );
    console.log(
      `  backup task per host, alone → in the fleet: ${hosts
        .map((h) => `${h.split('.')[0]} ${single.get(h)!.taskS.toFixed(1)} → ${fleetTasks.get(h)?.toFixed(1)} s`)
        .join(', ')}`,
    );
    console.log(
      `  peak bytes in the hosts' ldif/ and bak/ folders during the run: ${(peakStaged / 1048576).toFixed(1)} MiB (export files only; the encrypted archives of these hosts total ${(exportBytes / 1048576).toFixed(1)} MiB)`,
    );
  } finally {
    await lab.down();
  }
}
