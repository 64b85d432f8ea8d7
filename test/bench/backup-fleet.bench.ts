// Fleet backup: wall time of one `backup` over N lab hosts vs the sum of single-host backups, and
// what the hosts stage beyond their export files (sampled every 50 ms while the fleet backup runs).
// Run: npm run bench:backup (needs root: it builds labs). BENCH_HOSTS=3,5 by default.
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { bringUpLab, cli } from '../lab/fixture.js';

const sizes = (process.env.BENCH_HOSTS ?? '3,5').split(',').map(Number);

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[]))
    total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  return total;
}

for (const n of sizes) {
  const lab = await bringUpLab(['--hosts', String(n), '--topology', 'ring', '--ca', 'a,b', '--entries', '5000']);
  try {
    const { publicKey } = await generateKey({ type: 'curve25519', userIDs: [{ name: 'bench' }], format: 'armored' });
    const key = join(lab.tmp, 'pub.asc');
    await writeFile(key, publicKey);
    const env = { XDG_STATE_HOME: join(lab.tmp, 'state') };
    const base = [
      '--log-file',
      lab.logFile,
      'backup',
      '-i',
      lab.paths.inventory,
      '--encrypt-to',
      key,
      '--store',
      join(lab.tmp, 'store'),
    ];
    const hosts = Array.from({ length: n }, (_, k) => `${String.fromCharCode(97 + k)}.ipa.test`);
    let single = 0;
    for (const h of hosts) {
      const r = await cli(['--limit', h, ...base], { env });
      if (r.code !== 0) throw new Error(r.stderr);
      single += r.ms;
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
    const fleet = await cli(base, { env });
    clearInterval(sampler);
    if (fleet.code !== 0) throw new Error(fleet.stderr);
    const list = JSON.parse(
      (await cli(['--json', 'backups', 'list', '--store', join(lab.tmp, 'store')], { env })).stdout,
    ) as { snapshots: Array<{ size: number }> };
    const exportBytes = list.snapshots.slice(-n).reduce((x, s) => x + s.size, 0);
    console.log(
      `${n} hosts: fleet backup ${(fleet.ms / 1000).toFixed(1)} s, sum of single-host backups ${(single / 1000).toFixed(1)} s, ratio fleet/sum ${(fleet.ms / single).toFixed(2)}`,
    );
    console.log(
      `  peak bytes in the hosts' ldif/ and bak/ folders during the run: ${(peakStaged / 1048576).toFixed(1)} MiB (export files only; the encrypted archives of these hosts total ${(exportBytes / 1048576).toFixed(1)} MiB)`,
    );
  } finally {
    await lab.down();
  }
}
