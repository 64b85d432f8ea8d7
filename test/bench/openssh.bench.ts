// The openssh transport's overhead against ssh2, both measured in the same run on the same lab: exec
// round trip (`true`, median), a 1 GB stream to the controller (MB/s), an LDAP base search of the root
// DSE through the tunnel (median), and a fleet backup (median wall time; target openssh ≤ 1.2× ssh2).
// Prints figures and ratios; asserts nothing. Run: npm run bench:openssh (needs root: it builds a lab).
// BENCH_EXECS (200), BENCH_STREAM_MB (1024), BENCH_SEARCHES (500), BENCH_BACKUPS (3), BENCH_HOSTS (3).
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { loadInventory } from '../../src/inventory/index.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, setInventoryTransport, testContext } from '../lab/fixture.js';

const MB = 1024 * 1024;
const EXECS = Number(process.env.BENCH_EXECS ?? 200);
const STREAM_MB = Number(process.env.BENCH_STREAM_MB ?? 1024);
const SEARCHES = Number(process.env.BENCH_SEARCHES ?? 500);
const BACKUPS = Number(process.env.BENCH_BACKUPS ?? 3);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 3);
const KINDS = ['ssh2', 'openssh'] as const;
type Kind = (typeof KINDS)[number];

const lab = await bringUpLab(['--hosts', String(HOSTS), '--ca', 'a', '--entries', '5000']);
try {
  // The openssh inventory next to the lab's, so that its relative paths (key, known_hosts) still resolve.
  const inventories: Record<Kind, string> = {
    ssh2: lab.paths.inventory,
    openssh: join(lab.paths.root, 'inventory-openssh.yaml'),
  };
  await copyFile(inventories.ssh2, inventories.openssh);
  await setInventoryTransport(inventories.openssh, 'openssh');

  const figures: Record<Kind, { execMs: number; mbPerS: number; searchMs: number; backupS: number }> = {
    ssh2: { execMs: 0, mbPerS: 0, searchMs: 0, backupS: 0 },
    openssh: { execMs: 0, mbPerS: 0, searchMs: 0, backupS: 0 },
  };
  for (const kind of KINDS) {
    const inventory = await loadInventory(inventories[kind]);
    const host = inventory.hosts[0]!;
    const transport = new Transport(inventory, testContext(lab.logFile));
    try {
      const ssh = await transport.ssh(host);
      await ssh.run('true');
      const execs: number[] = [];
      for (let i = 0; i < EXECS; i++) execs.push(await timedMs(() => ssh.run('true')));
      figures[kind].execMs = median(execs);

      const streamS =
        (await timedMs(async () => {
          const stream = await ssh.execStream(`head -c ${STREAM_MB * MB} /dev/zero`);
          stream.stdout.resume();
          const result = await stream.result;
          if (!result.ok) throw new Error(result.stderrTail);
        })) / 1000;
      figures[kind].mbPerS = STREAM_MB / streamS;

      const ldap = await transport.ldap(host);
      await ldap.read('', ['namingContexts']);
      const searches: number[] = [];
      for (let i = 0; i < SEARCHES; i++) searches.push(await timedMs(() => ldap.read('', ['namingContexts'])));
      figures[kind].searchMs = median(searches);
    } finally {
      await transport.close();
    }
  }

  // Fleet backups, the two transports taking turns so that neither meets a quieter machine alone.
  const { publicKey } = await generateKey({ type: 'curve25519', userIDs: [{ name: 'bench' }], format: 'armored' });
  const key = join(lab.tmp, 'pub.asc');
  await writeFile(key, publicKey);
  const backups: Record<Kind, number[]> = { ssh2: [], openssh: [] };
  for (let round = 0; round < BACKUPS; round++) {
    for (const kind of KINDS) {
      const r = await lab.fleet([
        'backup',
        '-i',
        inventories[kind],
        '--encrypt-to',
        key,
        '--store',
        join(lab.tmp, kind),
      ]);
      if (r.code !== 0) throw new Error(`${kind} backup failed: ${r.stderr}`);
      backups[kind].push(r.ms / 1000);
    }
  }
  for (const kind of KINDS) figures[kind].backupS = median(backups[kind]);

  const { ssh2, openssh } = figures;
  console.log(`openssh vs ssh2 on a ${HOSTS}-host lab (5000 entries), one run:`);
  console.log(
    `  exec round trip (\`true\`, median of ${EXECS}): ssh2 ${ssh2.execMs.toFixed(1)} ms, openssh ` +
      `${openssh.execMs.toFixed(1)} ms, ratio ${(openssh.execMs / ssh2.execMs).toFixed(2)}×`,
  );
  console.log(
    `  stream ${STREAM_MB} MB to the controller: ssh2 ${ssh2.mbPerS.toFixed(0)} MB/s, openssh ` +
      `${openssh.mbPerS.toFixed(0)} MB/s, time ratio ${(ssh2.mbPerS / openssh.mbPerS).toFixed(2)}×`,
  );
  console.log(
    `  LDAP base search of the root DSE through the tunnel (median of ${SEARCHES}): ssh2 ` +
      `${ssh2.searchMs.toFixed(2)} ms, openssh ${openssh.searchMs.toFixed(2)} ms, ratio ` +
      `${(openssh.searchMs / ssh2.searchMs).toFixed(2)}×`,
  );
  console.log(
    `  fleet backup (median of ${BACKUPS}; ssh2 ${backups.ssh2.map((s) => s.toFixed(1)).join(', ')} s; openssh ` +
      `${backups.openssh.map((s) => s.toFixed(1)).join(', ')} s): ratio ${(openssh.backupS / ssh2.backupS).toFixed(2)}× ` +
      '(target ≤ 1.2×)',
  );
} finally {
  await lab.down();
}

async function timedMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
