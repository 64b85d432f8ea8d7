// Transport benchmark: ipa-fleet's paths against baselines measured in the same run on the same
// lab host. Prints ratios; asserts nothing. Run: npm run bench (needs root: it builds a 1-host lab).
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Client } from 'ldapts';
import { loadInventory } from '../../src/inventory/index.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, testContext } from '../lab/fixture.js';

const MB = 1024 * 1024;
const STREAM_MB = Number(process.env.BENCH_STREAM_MB ?? 512);
const SEARCHES = Number(process.env.BENCH_SEARCHES ?? 2000);

const lab = await bringUpLab(['--hosts', '1', '--ca', 'none', '--entries', '1000']);
try {
  const inventory = await loadInventory(lab.paths.inventory);
  const host = inventory.hosts[0]!;
  const transport = new Transport(inventory, testContext(lab.logFile));
  const password = (await readFile(lab.paths.dmPassword, 'utf8')).trim();
  try {
    const ssh = await transport.ssh(host);
    const cmd = `head -c ${STREAM_MB * MB} /dev/zero`;

    // 1. Streaming: OpenSSH client (baseline) vs ipa-fleet execStream, data discarded.
    const openssh = await timed(
      () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(
            'ssh',
            [
              '-i',
              lab.paths.identity,
              '-o',
              `UserKnownHostsFile=${lab.paths.knownHosts}`,
              '-o',
              'BatchMode=yes',
              `root@${host.address}`,
              cmd,
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          child.stdout.resume();
          child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ssh exit ${code}`))));
        }),
    );
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const ours = await timed(async () => {
      const stream = await ssh.execStream(cmd);
      stream.stdout.on('data', () => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      });
      const result = await stream.result;
      if (!result.ok) throw new Error(result.stderrTail);
    });
    report(`stream ${STREAM_MB} MB`, 'OpenSSH ssh | discard', openssh, 'ipa-fleet execStream', ours, STREAM_MB, 'MB/s');
    console.log(`  controller RSS growth while streaming: ${((peakRss - rssBefore) / MB).toFixed(0)} MB`);

    // 2. LDAP: direct TCP ldapts (baseline) vs ldapts through the SSH channel, same base searches.
    const direct = new Client({ url: `ldap://${host.address}:389`, timeout: 10_000 });
    await direct.bind('cn=Directory Manager', password);
    const tunnelled = await transport.ldap(host);
    const base = 'uid=user000500,ou=people,dc=ipa,dc=test';
    const directT = await timed(async () => {
      for (let i = 0; i < SEARCHES; i++) await direct.search(base, { scope: 'base' });
    });
    const tunnelT = await timed(async () => {
      for (let i = 0; i < SEARCHES; i++) await tunnelled.read(base);
    });
    await direct.unbind();
    report(
      `${SEARCHES} sequential base searches`,
      'ldapts over TCP',
      directT,
      'ldapts through SSH',
      tunnelT,
      SEARCHES,
      'ops/s',
    );

    // 3. Connection set-up: OpenSSH `ssh host true` (baseline) vs a new ipa-fleet session + exec.
    const sshTrue = await timed(() =>
      run('ssh', [
        '-i',
        lab.paths.identity,
        '-o',
        `UserKnownHostsFile=${lab.paths.knownHosts}`,
        '-o',
        'BatchMode=yes',
        `root@${host.address}`,
        'true',
      ]),
    );
    const fresh = await timed(async () => {
      const t = new Transport(inventory, testContext(lab.logFile));
      try {
        await (await t.ssh(host)).run('true');
      } finally {
        await t.close();
      }
    });
    report('connect + run `true`', 'OpenSSH', sshTrue, 'ipa-fleet', fresh, 1, 'runs/s');
  } finally {
    await transport.close();
  }
} finally {
  await lab.down();
}

/** Best of three runs, so neither side pays alone for warm-up. */
async function timed(fn: () => Promise<void>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(cmd, args, (err) => (err ? reject(err) : resolve())));
}

function report(
  what: string,
  baseName: string,
  baseS: number,
  oursName: string,
  oursS: number,
  units: number,
  unit: string,
): void {
  console.log(`${what}:`);
  console.log(`  baseline ${baseName}: ${(units / baseS).toFixed(1)} ${unit} (${baseS.toFixed(2)} s)`);
  console.log(`  ${oursName}: ${(units / oursS).toFixed(1)} ${unit} (${oursS.toFixed(2)} s)`);
  console.log(`  ratio ipa-fleet / baseline throughput: ${(baseS / oursS).toFixed(2)}`);
}
