// Secrets: during a full `ipa-fleet -vvv demo`, the DM password, the replication manager's password
// and the backup key's passphrase must never show up outside the files that legitimately hold them:
// not in the log file, the journals and run records, the store's manifests, stdout/stderr, nor in the
// argv or environment of any process on this machine (the controller's, and every lab host's: the
// hosts are namespaces on this machine, so their sshd sessions and remote commands are in /proc too),
// sampled every ~100 ms while the demo runs. Simple encodings of the secrets are searched as well.
//
// The secrets are made by the demo itself (lab up writes dm-password and repl-password, the demo writes
// keys/passphrase), so process samples are kept (deduplicated) and searched once the run is over and
// the secrets can be read from the kept demo folder.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DemoPaths } from '../../src/lab/demo.js';
import { REPLICATION_MANAGER_DN } from '../../src/directory/replica.js';
import { claimNet, cli, startCli, type NetClaim } from './fixture.js';
import { filesUnder, needlesFor, occurrences, ProcessSampler, recentTmpFiles, SAMPLE_EVERY_MS } from './secret-scan.js';

const HOSTS = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];
const DM = 'cn=Directory Manager';

interface Row {
  place: string;
  scanned: string;
  occurrences: number;
  detail: string[];
}

function printTable(rows: Row[], title: string): void {
  const header = ['PLACE', 'SCANNED', 'OCCURRENCES'];
  const cells = [header, ...rows.map((r) => [r.place, r.scanned, String(r.occurrences)])];
  const widths = header.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  console.log(`\n${title}`);
  for (const c of cells)
    console.log(
      c
        .map((v, i) => v.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

describe('secrets never leave their files during a full -vvv demo', { timeout: 20 * 60_000 }, () => {
  let tmp: string;
  let demo: DemoPaths;
  let logFile: string;
  let state: string;
  let env: NodeJS.ProcessEnv;
  let net: NetClaim;

  before(async () => {
    net = await claimNet();
    tmp = await mkdtemp(join(tmpdir(), 'ipa-fleet-secrets-test-'));
    demo = new DemoPaths(join(tmp, 'demo'));
    logFile = join(tmp, 'log');
    state = join(tmp, 'state');
    // Runs, journals, locks and facts of this test live in its temp folder.
    env = { XDG_STATE_HOME: state };
  });

  after(async () => {
    if (tmp) {
      await cli(['--log-file', join(tmp, 'down.log'), 'lab', 'down', '--dir', demo.lab.root], { env });
      await rm(tmp, { recursive: true, force: true });
    }
    await net?.release();
  });

  it("zero occurrences in the log, the state folder, the store, stdout/stderr and every process's argv and environment", async () => {
    const sampler = new ProcessSampler();
    const runStarted = Date.now();
    sampler.start();
    const child = startCli(
      ['-vvv', '--log-file', logFile, 'demo', '--net', net.net, '--dir', demo.root, '--keep'],
      env,
    );
    const killer = setTimeout(() => child.child.kill('SIGTERM'), 15 * 60_000);
    const code = await child.exited;
    clearTimeout(killer);
    await sampler.stop();
    const runSeconds = (Date.now() - runStarted) / 1000;
    const { stdout, stderr } = child.output;

    // A real, whole demo: every stage ran and every host came back.
    assert.equal(code, 0, `demo failed:\n${stdout}\n${stderr.split('\n').slice(-40).join('\n')}`);
    assert.match(stdout, /every host converged: 3 of 3 hosts/);
    for (const stage of ['lab up', 'keys', 'backup', 'damage', 'restore', 'check'])
      assert.match(stdout, new RegExp(`^${stage}\\s+\\d`, 'm'), `stage ${stage} in the timing table`);
    assert.match(stderr, /\[silly\]|\[debug\]/, '-vvv echoes the detailed log on stderr');

    // Where the secrets legitimately live: the lab's password files and the demo key's passphrase file.
    const legit = [demo.lab.dmPassword, demo.lab.replPassword, demo.passphrase];
    const dmPassword = (await readFile(demo.lab.dmPassword, 'utf8')).trim();
    const replPassword = (await readFile(demo.lab.replPassword, 'utf8')).trim();
    const passphrase = (await readFile(demo.passphrase, 'utf8')).trim();
    for (const [name, s] of [
      ['DM password', dmPassword],
      ['repl password', replPassword],
      ['passphrase', passphrase],
    ] as const) {
      assert.ok(s.length >= 16, `${name} is a real secret (${s.length} characters)`);
    }
    const needles = [
      ...needlesFor('DM password', dmPassword, DM),
      ...needlesFor('repl password', replPassword, REPLICATION_MANAGER_DN),
      ...needlesFor('key passphrase', passphrase),
    ];

    const rows: Row[] = [];
    let totalFiles = 0;
    const scanFiles = async (place: string, files: string[]): Promise<void> => {
      let count = 0;
      let bytes = 0;
      const detail: string[] = [];
      for (const file of files) {
        const data = await readFile(file).catch(() => undefined);
        if (!data) continue;
        bytes += data.length;
        const found = occurrences(data, needles);
        count += found.count;
        if (found.count) {
          for (const h of found.hits.slice(0, 3)) {
            detail.push(
              `${file}: ${h.secret} (${h.form}) at ${h.at}: …${data
                .subarray(Math.max(0, h.at - 80), h.at + 40)
                .toString('utf8')
                .replace(/\s+/g, ' ')}…`,
            );
          }
        }
      }
      totalFiles += files.length;
      rows.push({
        place,
        scanned: `${files.length} file(s), ${(bytes / 1024).toFixed(0)} KiB`,
        occurrences: count,
        detail,
      });
    };
    const scanText = (place: string, text: string): void => {
      const found = occurrences(Buffer.from(text), needles);
      rows.push({
        place,
        scanned: `${text.split('\n').length} line(s)`,
        occurrences: found.count,
        detail: found.hits
          .slice(0, 3)
          .map((h) => `${h.secret} (${h.form}): …${text.slice(Math.max(0, h.at - 80), h.at + 40)}…`),
      });
    };

    // The log file, stdout and stderr.
    await scanFiles('log file (-vvv)', [logFile]);
    scanText('stdout', stdout);
    scanText('stderr (-vvv echo)', stderr);

    // The isolated state folder: journals, plan.json, summary.json, facts.json, locks, the rest.
    const stateFiles = await filesUnder(state);
    assert.ok(stateFiles.length > 0, 'the demo wrote run records');
    const byName = (re: RegExp): string[] => stateFiles.filter((f) => re.test(f));
    const journals = byName(/\/journal\.jsonl$/);
    const plans = byName(/\/plan\.json$/);
    const summaries = byName(/\/summary\.json$/);
    const facts = byName(/\/facts\.json$/);
    assert.ok(
      journals.length >= 2 && plans.length >= 2 && summaries.length >= 2,
      `the backup and restore runs are journalled: ${stateFiles.map((f) => relative(state, f)).join(', ')}`,
    );
    await scanFiles('state: journals (journal.jsonl)', journals);
    await scanFiles('state: plan.json', plans);
    await scanFiles('state: summary.json', summaries);
    await scanFiles('state: facts.json', facts);
    const stateListed = new Set([...journals, ...plans, ...summaries, ...facts]);
    await scanFiles(
      'state: other files',
      stateFiles.filter((f) => !stateListed.has(f) && f !== logFile),
    );

    // The snapshot store (in the demo folder): manifests, and the encrypted archives themselves.
    const storeFiles = await filesUnder(demo.store);
    const manifests = storeFiles.filter((f) => f.endsWith(`${sep}manifest.json`));
    assert.ok(
      manifests.length >= 3,
      `a manifest per host: ${storeFiles.map((f) => relative(demo.store, f)).join(', ')}`,
    );
    await scanFiles('store: manifests', manifests);
    await scanFiles(
      'store: other files (encrypted archives, locks)',
      storeFiles.filter((f) => !manifests.includes(f)),
    );

    // The rest of the demo folder: keys (public, encrypted private), lab inventory, known_hosts, lab.json…
    // excluding exactly the files that hold the secrets, and the hosts' own server files (next row).
    const demoFiles = (await filesUnder(demo.root)).filter(
      (f) => !f.startsWith(`${demo.store}${sep}`) && !f.startsWith(`${demo.lab.hostsRoot}${sep}`),
    );
    await scanFiles(
      'demo folder: keys, inventory, known_hosts, lab.json (secret files excluded)',
      demoFiles.filter((f) => !legit.includes(f)),
    );
    // The lab hosts' own files: 389-DS configuration, databases, changelogs, access/error logs, sshd.
    await scanFiles("lab hosts' files (dirsrv config, db, logs)", await filesUnder(demo.lab.hostsRoot));
    // Transient files anywhere in /tmp written while the demo ran (other tests' included: harmless).
    await scanFiles('/tmp: files changed during the run (depth ≤ 2)', await recentTmpFiles(runStarted, tmp));

    // Process samples, by UTS namespace: the controller's, each lab host's, any other (other labs).
    const myUts = await readlink('/proc/self/ns/uts');
    const hostOfUts = new Map<string, string>([[myUts, 'controller']]);
    for (const host of HOSTS) {
      const pid = Number((await readFile(demo.lab.sshdPidFile(host), 'utf8')).trim());
      hostOfUts.set(await readlink(`/proc/${pid}/ns/uts`), host);
    }
    const placeOf = (uts: string): string => hostOfUts.get(uts) ?? "other namespaces (other tests' labs)";
    const procPlaces = ['controller', ...HOSTS, "other namespaces (other tests' labs)"];
    let processSamples = 0;
    for (const place of procPlaces) {
      const namespaces = [...sampler.perNamespace.entries()].filter(([uts]) => placeOf(uts) === place);
      const samples = namespaces.reduce((a, [, n]) => a + n.samples, 0);
      const pids = namespaces.reduce((a, [, n]) => a + n.pids.size, 0);
      processSamples += samples;
      for (const kind of ['argv', 'environ'] as const) {
        let count = 0;
        const detail: string[] = [];
        let distinct = 0;
        for (const c of sampler.contents.values()) {
          if (c.kind !== kind || placeOf(c.uts) !== place) continue;
          distinct++;
          const found = occurrences(c.data, needles);
          count += found.count * c.samples;
          if (found.count)
            detail.push(
              `pid ${[...c.pids].join(',')} (${c.comm}) ${kind}: ${c.data.toString('utf8').replace(/\0/g, ' ').slice(0, 300)} [${found.hits.map((h) => `${h.secret} ${h.form}`).join('; ')}]`,
            );
        }
        rows.push({
          place: `processes: ${place}: ${kind}`,
          scanned: `${samples} sample(s) of ${pids} pid(s), ${distinct} distinct`,
          occurrences: count,
          detail,
        });
      }
    }

    // The secret files themselves: the scanner does find them there (not counted in the totals).
    const control: Row[] = [];
    for (const file of legit) {
      const found = occurrences(await readFile(file), needles);
      control.push({
        place: `legitimate: ${relative(tmp, file)}`,
        scanned: '1 file',
        occurrences: found.count,
        detail: [],
      });
    }
    // …and the sampler sees a secret put in a process's argv and environment on purpose.
    const probe = spawn('sh', ['-c', 'sleep 3', 'ipa-fleet-secrets-probe', dmPassword], {
      env: { PATH: process.env.PATH, PROBE: passphrase },
      stdio: 'ignore',
    });
    try {
      const probeSampler = new ProcessSampler();
      await new Promise((r) => setTimeout(r, 200));
      await probeSampler.tick();
      let argvHits = 0;
      let envHits = 0;
      for (const c of probeSampler.contents.values()) {
        if (!c.pids.has(probe.pid!)) continue;
        if (c.kind === 'argv') argvHits += occurrences(c.data, needles).count;
        else envHits += occurrences(c.data, needles).count;
      }
      control.push({
        place: 'control: a probe process with the DM password in argv',
        scanned: '1 sample',
        occurrences: argvHits,
        detail: [],
      });
      control.push({
        place: 'control: the same probe with the passphrase in its environment',
        scanned: '1 sample',
        occurrences: envHits,
        detail: [],
      });
    } finally {
      probe.kill('SIGKILL');
    }

    printTable(
      rows,
      `secrets during \`ipa-fleet -vvv demo --net ${net.net} --keep\` (${runSeconds.toFixed(0)} s; samples every ${SAMPLE_EVERY_MS} ms, ${sampler.ticks} rounds, slowest round ${sampler.slowestTickMs} ms)`,
    );
    printTable(control, 'controls (where the secrets are expected; not part of the totals):');
    const total = rows.reduce((a, r) => a + r.occurrences, 0);
    const masks = (text: string): number => text.split('********').length - 1;
    console.log(
      `\nmasked by the redactor (********): ${masks(await readFile(logFile, 'utf8'))} in the log file, ${masks(stderr)} on stderr, ${masks(stdout)} on stdout; mean sampling interval ${((runSeconds * 1000) / sampler.ticks).toFixed(0)} ms`,
    );
    console.log(
      `\nsecrets: ${total} occurrences in ${totalFiles} files, ${stdout.length + stderr.length} bytes of stdout/stderr, ${processSamples} process samples (${sampler.ticks} rounds of /proc/*/cmdline and /proc/*/environ)`,
    );
    console.log(
      `searched: ${needles.length} forms of 3 secrets (raw, base64, base64url, hex, UTF-16, base64 inside longer values, base64 of "dn:pw" and SASL PLAIN); excluded by path: ${legit.map((f) => relative(tmp, f)).join(', ')}`,
    );

    for (const r of control) assert.ok(r.occurrences > 0, `the scanner must find the secret in ${r.place}`);
    assert.ok(sampler.ticks >= 100, `sampled ${sampler.ticks} rounds only`);
    for (const host of HOSTS)
      assert.ok(
        rows.some((r) => r.place === `processes: ${host}: argv` && !r.scanned.startsWith('0 ')),
        `${host}'s processes were sampled`,
      );
    const leaks = rows.filter((r) => r.occurrences > 0);
    assert.deepEqual(
      leaks.map((r) => r.place),
      [],
      `secrets found:\n${leaks.flatMap((r) => [r.place, ...r.detail.map((d) => `  ${d}`)]).join('\n')}`,
    );
    assert.ok((await stat(logFile)).size > 0);
  });
});
