// Whole-deployment restore: wall time of `ipa-fleet restore` of host a with --init ldif and with
// --init online (both from the same fleet snapshot, one after the other on the same lab), on a
// 3-host and a 5-host chain. Baselines are measured in the same run: online/ldif (target ≥ 6×),
// 5-host ldif / 3-host ldif (target ≈ 1). Orchestration overhead = wall time minus the servers' own
// durations on the critical path of the plan (target ≤ 10 % of wall). Prints figures, asserts nothing.
// Run: npm run bench:restore (needs root: it builds labs). BENCH_HOSTS=3,5 BENCH_ENTRIES=20000 by default.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { table } from '../../src/cli/output.js';
import { phaseRows } from '../../src/operations/phase-report.js';
import { bringUpLab, makeKeys } from '../lab/fixture.js';
import { fleetBackup, measureRestore, type RestoreMeasure } from './restore-measure.js';

const sizes = (process.env.BENCH_HOSTS ?? '3,5').split(',').map(Number);
const entries = Number(process.env.BENCH_ENTRIES ?? '20000');
if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new Error('BENCH_HOSTS: host counts ≥ 2');

type Measured = RestoreMeasure & { hosts: number };

const benchStarted = Date.now();
const keys = await mkdtemp(join(tmpdir(), 'ipa-fleet-bench-keys-'));
const results: Measured[] = [];
const labUps: Array<{ hosts: number; s: number }> = [];
try {
  const { pub, sec, pass } = await makeKeys(keys);
  for (const n of sizes) {
    const lab = await bringUpLab([
      '--hosts',
      String(n),
      '--topology',
      'chain',
      '--ca',
      'a,b',
      '--entries',
      String(entries),
    ]);
    labUps.push({ hosts: n, s: lab.upOutput.ms / 1000 });
    console.log(`${n} hosts, ${entries} entries: lab up ${(lab.upOutput.ms / 1000).toFixed(1)} s`);
    try {
      const store = join(lab.tmp, 'store');
      const b = await fleetBackup(lab, pub, store);
      console.log(`  fleet backup ${b.wallS.toFixed(1)} s; snapshot ${b.snapshot}`);
      const args = ['--backup', b.snapshot, '--key', sec, '--passphrase', `file:${pass}`, '--store', store];
      for (const init of ['ldif', 'online'] as const) {
        const m = { ...(await measureRestore(lab, init, args)), hosts: n };
        results.push(m);
        console.log(`  restore --init ${init}: ${m.wallS.toFixed(1)} s`);
      }
    } finally {
      await lab.down();
    }
  }
} finally {
  await rm(keys, { recursive: true, force: true });
}

const s = (x: number): string => `${x.toFixed(1)} s`;
console.log('');
console.log(`restore of a.ipa.test, chain topology, CA on a,b, ${entries} entries`);
console.log(
  table([
    [
      'HOSTS',
      'INIT',
      'WALL',
      'MASTER IMPORT',
      'REINIT (critical path)',
      'REPLICATION WAITS',
      'SERVER (critical path)',
      'OVERHEAD',
      'OVERHEAD %',
      'OVERHEAD % IF WAITS COUNTED',
    ],
    ...results.map((m) => [
      String(m.hosts),
      m.init,
      s(m.wallS),
      s(m.masterS),
      s(m.reinitS),
      s(m.replicationS),
      s(m.criticalS),
      s(m.wallS - m.criticalS),
      `${((100 * (m.wallS - m.criticalS)) / m.wallS).toFixed(1)} %`,
      // The same, counting the replication waits as ours (the strict reading).
      `${((100 * (m.wallS - m.criticalS + m.replicationS)) / m.wallS).toFixed(1)} %`,
    ]),
  ]),
);
console.log('');
const get = (n: number, init: string): Measured | undefined => results.find((m) => m.hosts === n && m.init === init);
for (const n of sizes) {
  const l = get(n, 'ldif');
  const o = get(n, 'online');
  if (l && o) console.log(`${n} hosts: ratio online/ldif ${(o.wallS / l.wallS).toFixed(2)}× (target ≥ 6×)`);
}
if (sizes.length > 1) {
  const first = get(sizes[0]!, 'ldif');
  const last = get(sizes.at(-1)!, 'ldif');
  if (first && last)
    console.log(
      `ratio ${last.hosts}-host ldif / ${first.hosts}-host ldif: ${(last.wallS / first.wallS).toFixed(2)} (target ≈ 1)`,
    );
}
console.log(
  `orchestration overhead: max ${Math.max(...results.map((m) => (100 * (m.wallS - m.criticalS)) / m.wallS)).toFixed(1)} % of wall (target ≤ 10 %); replication waits (unfence until green, canary travel) count as server time`,
);
console.log(`lab up: ${labUps.map((u) => `${u.hosts} hosts ${s(u.s)}`).join(', ')}`);
for (const m of results) {
  console.log('');
  console.log(`phases, ${m.hosts} hosts, --init ${m.init}:`);
  console.log(
    table(
      phaseRows(
        m.phases,
        m.plan.tasks.map((t) => t.host),
      ),
    ),
  );
}
console.log('');
console.log(`bench wall time: ${s((Date.now() - benchStarted) / 1000)}`);
