// Audit wall time for 3 and 10 lab hosts (target ≤ 3 s for 10, growing no worse than linearly).
// The baseline is the first size of the same run; prints ratios, asserts nothing.
// Where the time goes: one cold run split into its phases as the audit runs them — SSH connections
// (all hosts at once), LDAP sessions through them (bind included), facts, the conflict/glue scans;
// beside them the facts with entry counts (a paged search of every entry, which the audit made until
// issue 17) — and the CPU the hosts' ns-slapd
// spent during the whole audit (/proc/PID/stat), which shares this machine's cores with the controller.
// Run: npm run bench:audit (needs root: it builds the labs).
// BENCH_HOSTS=3,10 (lab sizes), BENCH_ENTRIES=500 (users per lab).
import { readFile } from 'node:fs/promises';
import type { Host } from '../../src/inventory/model.js';
import { loadInventory } from '../../src/inventory/index.js';
import { scanConflicts } from '../../src/directory/conflicts.js';
import { auditDeployment } from '../../src/topology/audit.js';
import { gatherAllFacts, type HostFacts } from '../../src/topology/facts.js';
import { suffixFactsOf } from '../../src/topology/graph.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, testContext, type TestLab } from '../lab/fixture.js';
import { cpuSeconds, slapdPids } from './server-cpu.js';

const sizes = (process.env.BENCH_HOSTS ?? '3,10').split(',').map(Number);
const entries = process.env.BENCH_ENTRIES ?? '500';

interface Measured {
  hosts: number;
  coldS: number;
  warmS: number;
  findings: number;
  phases: Array<[string, number]>;
  slapdCpuS: number;
}

async function measure(hosts: number): Promise<Measured> {
  // --init ldif: the replicas seeded from a's export, which builds a 10-host lab of 20 000 entries in
  // a fraction of the time total updates take; the audit reads the same replicated state.
  const lab = await bringUpLab([
    ...['--hosts', String(hosts), '--topology', 'ring', '--ca', 'a,b,c', '--entries', entries],
    ...['--init', 'ldif'],
  ]);
  try {
    const inventory = await loadInventory(lab.paths.inventory);
    const pids = await slapdPids(lab, inventory.hosts);
    // Cold: a new transport (SSH handshakes included), as one `ipa-fleet audit` pays.
    let coldS = Infinity;
    let findings = 0;
    let slapdCpuS = 0;
    for (let i = 0; i < 3; i++) {
      const transport = new Transport(inventory, testContext(lab.logFile));
      const cpu0 = await cpuSeconds(pids);
      const t0 = process.hrtime.bigint();
      try {
        findings = (await auditDeployment(transport, inventory, inventory.hosts, { suffixes: ['domain', 'ca'] }))
          .findings.length;
      } finally {
        await transport.close();
      }
      const s = seconds(t0);
      if (s < coldS) {
        coldS = s;
        slapdCpuS = (await cpuSeconds(pids)) - cpu0;
      }
    }
    // Warm: connections reused (a scheduler auditing repeatedly).
    const transport = new Transport(inventory, testContext(lab.logFile));
    let warmS = Infinity;
    try {
      for (let i = 0; i < 4; i++) {
        const t0 = process.hrtime.bigint();
        await auditDeployment(transport, inventory, inventory.hosts, { suffixes: ['domain', 'ca'] });
        if (i > 0) warmS = Math.min(warmS, seconds(t0));
      }
    } finally {
      await transport.close();
    }
    return { hosts, coldS, warmS, findings, phases: await phases(lab, inventory.hosts), slapdCpuS };
  } finally {
    await lab.down();
  }
}

/** One cold audit done phase by phase, each phase on every host at once, as auditDeployment does it. */
async function phases(lab: TestLab, hosts: Host[]): Promise<Array<[string, number]>> {
  const inventory = await loadInventory(lab.paths.inventory);
  const transport = new Transport(inventory, testContext(lab.logFile));
  const out: Array<[string, number]> = [];
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = process.hrtime.bigint();
    const value = await fn();
    out.push([name, seconds(t0)]);
    return value;
  };
  try {
    await phase('SSH connections', () => Promise.all(hosts.map((h) => transport.ssh(h))));
    await phase('LDAP sessions (tunnel + bind)', () => Promise.all(hosts.map((h) => transport.ldap(h))));
    const facts = await phase('facts', () => gatherAllFacts(transport, hosts));
    // For comparison, the facts as the audit gathered them before it stopped counting (`facts
    // --count-entries`): a paged search of every entry of each suffix on every host.
    await phase('facts with the entry counts', () =>
      gatherAllFacts(transport, hosts, undefined, { countEntries: true }),
    );
    await phase('conflict and glue scans', () =>
      Promise.all(
        hosts.map(async (h) => {
          const f = facts.get(h.name) as HostFacts;
          for (const kind of ['domain', 'ca'] as const) {
            const sf = suffixFactsOf(f, kind);
            if (sf?.backend) await scanConflicts(await transport.ldap(h, sf.port), sf.suffix);
          }
        }),
      ),
    );
  } finally {
    await transport.close();
  }
  return out;
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const results: Measured[] = [];
for (const n of sizes) results.push(await measure(n));
const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
console.log(`audit benchmark, ${entries} entries per lab (load average at the end: ${load})`);
for (const r of results) {
  console.log(
    `audit, ${r.hosts} hosts: ${r.coldS.toFixed(2)} s (new connections), ${r.warmS.toFixed(2)} s (connections reused), ` +
      `${r.findings} finding(s); the hosts' ns-slapd used ${r.slapdCpuS.toFixed(2)} s of CPU in the best cold run`,
  );
  console.log(`  one cold audit phase by phase: ${r.phases.map(([n, s]) => `${n} ${s.toFixed(2)} s`).join(', ')}`);
}
if (results.length > 1) {
  const [first, last] = [results[0]!, results.at(-1)!];
  console.log(
    `ratio ${last.hosts} hosts / ${first.hosts} hosts: ${(last.coldS / first.coldS).toFixed(2)} ` +
      `(linear growth would be ${(last.hosts / first.hosts).toFixed(2)})`,
  );
}
