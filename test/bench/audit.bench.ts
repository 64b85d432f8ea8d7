// Audit wall time for 3 and 10 lab hosts (target ≤ 3 s for 10, growing no worse than linearly).
// The baseline is the 3-host audit of the same run; prints ratios, asserts nothing.
// Run: npm run bench:audit (needs root: it builds two labs).
import { loadInventory } from '../../src/inventory/index.js';
import { auditDeployment } from '../../src/topology/audit.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, testContext } from '../lab/fixture.js';

async function measure(hosts: number): Promise<{ coldS: number; warmS: number; findings: number }> {
  const lab = await bringUpLab(['--hosts', String(hosts), '--topology', 'ring', '--ca', 'a,b,c', '--entries', '500']);
  try {
    const inventory = await loadInventory(lab.paths.inventory);
    // Cold: a new transport (SSH handshakes included), as one `ipa-fleet audit` pays.
    let coldS = Infinity;
    let findings = 0;
    for (let i = 0; i < 3; i++) {
      const transport = new Transport(inventory, testContext(lab.logFile));
      const t0 = process.hrtime.bigint();
      try {
        findings = (await auditDeployment(transport, inventory, inventory.hosts, { suffixes: ['domain', 'ca'] }))
          .findings.length;
      } finally {
        await transport.close();
      }
      coldS = Math.min(coldS, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    // Warm: connections reused (a scheduler auditing repeatedly).
    const transport = new Transport(inventory, testContext(lab.logFile));
    let warmS = Infinity;
    try {
      for (let i = 0; i < 4; i++) {
        const t0 = process.hrtime.bigint();
        await auditDeployment(transport, inventory, inventory.hosts, { suffixes: ['domain', 'ca'] });
        if (i > 0) warmS = Math.min(warmS, Number(process.hrtime.bigint() - t0) / 1e9);
      }
    } finally {
      await transport.close();
    }
    return { coldS, warmS, findings };
  } finally {
    await lab.down();
  }
}

const three = await measure(3);
const ten = await measure(10);
console.log(
  `audit, 3 hosts:  ${three.coldS.toFixed(2)} s (new connections), ${three.warmS.toFixed(2)} s (connections reused), ${three.findings} finding(s)`,
);
console.log(
  `audit, 10 hosts: ${ten.coldS.toFixed(2)} s (new connections), ${ten.warmS.toFixed(2)} s (connections reused), ${ten.findings} finding(s)`,
);
console.log(
  `ratio 10 hosts / 3 hosts: ${(ten.coldS / three.coldS).toFixed(2)} (linear growth would be ${(10 / 3).toFixed(2)})`,
);
