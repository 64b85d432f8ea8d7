// Fleet backup: wall time of one `backup` over N lab hosts against single-host backups of the same
// hosts (each alone: the slowest of them is the target's baseline, fleet ≤ 1.3× it; the sum is the
// sequential figure), and what the hosts stage beyond their export files (sampled every 50 ms while the
// fleet backup runs).
// The server side, since every lab host's ns-slapd shares this machine's cores: the CPU the hosts'
// ns-slapd spent (/proc/PID/stat, before and after) in the single-host runs and in the fleet run, and
// each host's backup task time from the run's journal (alone vs in the fleet), so the note can tell the
// orchestration's own cost from the 2-core limit.
// Run: npm run bench:backup (needs root: it builds labs). BENCH_HOSTS=3,5 (lab sizes), BENCH_ENTRIES=5000.
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { loadInventory } from '../../src/inventory/index.js';
import { bringUpLab, readJournal, type TestLab } from '../lab/fixture.js';
import { cpuSeconds, slapdPids } from './server-cpu.js';

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
  const lab = await bringUpLab(['--hosts', String(n), '--topology', 'ring', '--ca', 'a,b', '--entries', entries]);
  try {
    const { publicKey } = await generateKey({ type: 'curve25519', userIDs: [{ name: 'bench' }], format: 'armored' });
    const key = join(lab.tmp, 'pub.asc');
    await writeFile(key, publicKey);
    const inventory = await loadInventory(lab.paths.inventory);
    const pids = await slapdPids(lab, inventory.hosts);
    const base = ['backup', '-i', lab.paths.inventory, '--encrypt-to', key, '--store', join(lab.tmp, 'store')];
    const hosts = inventory.hosts.map((h) => h.name);
    const single = new Map<string, { wallS: number; taskS: number }>();
    let singleCpu = 0;
    for (const h of hosts) {
      const cpu0 = await cpuSeconds(pids);
      const r = await lab.fleet(['--limit', h, ...base]);
      if (r.code !== 0) throw new Error(r.stderr);
      singleCpu += (await cpuSeconds(pids)) - cpu0;
      single.set(h, { wallS: r.ms / 1000, taskS: (await backupTaskSeconds(lab)).get(h)! });
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
    const cpu0 = await cpuSeconds(pids);
    const fleet = await lab.fleet(base);
    clearInterval(sampler);
    const fleetCpu = (await cpuSeconds(pids)) - cpu0;
    if (fleet.code !== 0) throw new Error(fleet.stderr);
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
    const fleetS = fleet.ms / 1000;
    console.log(
      `${n} hosts × ${entries} entries: fleet backup ${fleetS.toFixed(1)} s; single-host backups: slowest ` +
        `${slowest.toFixed(1)} s, sum ${sum.toFixed(1)} s; fleet / slowest single ${(fleetS / slowest).toFixed(2)} ` +
        `(target ≤ 1.3), fleet / sum ${(fleetS / sum).toFixed(2)}`,
    );
    console.log(
      `  ns-slapd CPU: ${singleCpu.toFixed(1)} s over the ${n} single-host runs, ${fleetCpu.toFixed(1)} s in the ` +
        `fleet run (${(fleetCpu / n).toFixed(2)} s per host)`,
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
