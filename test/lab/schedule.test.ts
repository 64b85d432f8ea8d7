// The backup scheduler against the real lab: `ipa-fleet schedule run` as a child process with
// second-level cron expressions, as an administrator would run it under systemd, and what it leaves
// in the store, the state file, the metrics file and the hooks' files.
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bringUpLab, type startCli, waitFor, type TestLab } from './fixture.js';
import { makeKeys } from './fixture.js';

const HOSTS = ['a.ipa.test', 'b.ipa.test'];

interface StateFile {
  jobs: Record<
    string,
    {
      runs: number;
      failedRuns: number;
      skippedOverlaps: number;
      lastRun?: Report;
      lastVerify?: { ok: boolean; readData: boolean; snapshots: Array<{ host: string; id: string; ok: boolean }> };
    }
  >;
  hosts: Record<string, Record<string, { consecutiveFailures: number; lastError?: string }>>;
}
interface Report {
  job: string;
  deployment: string;
  type: string;
  runId?: string;
  result: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  hosts: { ok: string[]; failed: string[] };
  perHost: Record<string, { ok: boolean; durationSeconds: number; snapshot?: string; size?: number; error?: string }>;
  errors: Array<{ host?: string; message: string }>;
  pruned?: { removed: number; kept: number };
}
interface Listed {
  id: string;
  host: string;
  time: string;
  size: number;
}

/** Prometheus text format → name{labels} → value; throws on a line that is not HELP, TYPE or a sample. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-z_]+) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') typed.add(meta[2]!);
      continue;
    }
    const m = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    assert.ok(typed.has(m[1]!), `${m[1]} has no TYPE before its samples`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

/** TCP connect to port 389: is the host's directory server up? */
function ldapUp(address: string): Promise<boolean> {
  return new Promise((resolveUp) => {
    const socket = connect({ host: address, port: 389, timeout: 500 });
    socket.once('connect', () => {
      socket.destroy();
      resolveUp(true);
    });
    socket.once('error', () => resolveUp(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolveUp(false);
    });
  });
}

describe('schedule run against the lab', { timeout: 900_000 }, () => {
  let lab: TestLab;
  let keys: { pub: string; sec: string; pass: string };
  let inventory: string;
  const store = (): string => join(lab.tmp, 'store');

  before(async () => {
    lab = await bringUpLab(['--hosts', '2', '--ca', 'a']);
    keys = await makeKeys(lab.tmp);
    inventory = lab.paths.inventory;
  });
  after(async () => {
    await lab?.down();
  });

  async function schedule(name: string, jobs: string): Promise<{ file: string; state: string; metrics: string }> {
    const file = join(lab.tmp, `${name}.yaml`);
    await writeFile(file, `metrics: ${name}.prom\nstate: ${name}.state.json\njobs:\n${jobs}`);
    return { file, state: join(lab.tmp, `${name}.state.json`), metrics: join(lab.tmp, `${name}.prom`) };
  }

  const daemon = (file: string): ReturnType<typeof startCli> => lab.startFleet(['schedule', 'run', '-c', file]);

  async function stop(d: ReturnType<typeof startCli>): Promise<number | null> {
    d.child.kill('SIGTERM');
    return d.exited;
  }

  const readState = async (file: string): Promise<StateFile | undefined> =>
    JSON.parse(await readFile(file, 'utf8').catch(() => 'null')) as StateFile | undefined;

  async function listed(): Promise<Listed[]> {
    const r = await lab.fleet(['--json', '-i', inventory, 'backups', 'list', '--store', store()]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { snapshots: Listed[] }).snapshots;
  }

  /** Every path below the store whose name says it is unfinished. */
  async function partialFiles(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const path = join(dir, e.name);
        if (/\.partial$|\.part$|\.tmp$|\.removing/.test(e.name)) found.push(path);
        if (e.isDirectory()) await walk(path);
      }
    };
    await walk(store());
    return found;
  }

  it('runs on its schedule: snapshots appear, prune keeps the policy, verify and the hook run, metrics match the store', async () => {
    const s = await schedule(
      'every4s',
      `  - name: lab-data
    inventory: ${inventory}
    cron: "*/4 * * * * *"
    store: ${store()}
    encrypt_to: ${keys.pub}
    retention: {keep_last: 2}
    verify: {every: 1h, read_data: true, key: ${keys.sec}, passphrase: "file:${keys.pass}"}
    hooks:
      on_success: "cat > ${lab.tmp}/success.json"
      on_failure: "cat > ${lab.tmp}/failure.json"
`,
    );
    const d = daemon(s.file);
    try {
      // Three runs: the third leaves three snapshots per host before prune keeps two.
      await waitFor('three finished runs', 90_000, async () => {
        const st = await readState(s.state);
        const job = st?.jobs['lab-data'];
        return job &&
          job.runs >= 3 &&
          job.lastRun &&
          job.lastRun.result === 'succeeded' &&
          job.lastRun.runId &&
          (job.lastRun.pruned?.removed ?? 0) > 0
          ? true
          : undefined;
      });
      // One schedule, one daemon.
      const second = await lab.fleet(['schedule', 'run', '-c', s.file], { timeoutMs: 30_000 });
      assert.equal(second.code, 11, second.stderr);
      assert.match(second.stderr, /already running \(pid \d+/);
    } finally {
      assert.equal(await stop(d), 0, d.output.stderr);
    }
    const state = (await readState(s.state))!;
    const job = state.jobs['lab-data']!;
    assert.equal(job.failedRuns, 0, d.output.stdout);
    const snapshots = await listed();
    for (const host of HOSTS)
      assert.equal(
        snapshots.filter((x) => x.host === host).length,
        2,
        `keep_last 2 for ${host}: ${JSON.stringify(snapshots)}`,
      );
    assert.match(d.output.stdout, /pruned [1-9]/);
    assert.deepEqual(await partialFiles(), []);

    // The first run re-verified the newest snapshots, decrypting them (every: 1h: only once).
    assert.equal(job.lastVerify?.ok, true);
    assert.equal(job.lastVerify?.readData, true);
    assert.deepEqual(job.lastVerify?.snapshots.map((x) => x.host).sort(), HOSTS);
    assert.equal((d.output.stdout.match(/verify \(data\) ok/g) ?? []).length, 1, d.output.stdout);

    // on_success got the summary of a run that really happened.
    const hook = JSON.parse(await readFile(join(lab.tmp, 'success.json'), 'utf8')) as Report;
    assert.equal(hook.job, 'lab-data');
    assert.equal(hook.deployment, 'ipa-lab');
    assert.equal(hook.result, 'succeeded');
    assert.deepEqual(hook.hosts, { ok: HOSTS, failed: [] });
    for (const host of HOSTS) {
      assert.ok(hook.perHost[host]!.durationSeconds > 0);
      assert.ok(hook.perHost[host]!.snapshot);
    }

    // The metrics file parses, and its values are the store's.
    const metrics = parseMetrics(await readFile(s.metrics, 'utf8'));
    assert.equal((await stat(s.metrics)).mode & 0o777, 0o644);
    for (const host of HOSTS) {
      const newest = snapshots.filter((x) => x.host === host).at(-1)!;
      const l = `{deployment="ipa-lab",host="${host}"}`;
      assert.equal(
        metrics.get(`ipa_fleet_backup_last_success_timestamp_seconds${l}`),
        Math.floor(Date.parse(newest.time) / 1000),
      );
      assert.equal(metrics.get(`ipa_fleet_backup_last_size_bytes${l}`), newest.size);
      assert.equal(metrics.get(`ipa_fleet_backup_snapshots_kept${l}`), 2);
      assert.equal(metrics.get(`ipa_fleet_backup_consecutive_failures${l}`), 0);
      assert.ok(
        metrics.get(`ipa_fleet_backup_last_attempt_timestamp_seconds${l}`)! >=
          Math.floor(Date.parse(newest.time) / 1000) - 60,
      );
    }
    assert.equal(metrics.get('ipa_fleet_schedule_runs_total{schedule_job="lab-data",deployment="ipa-lab"}'), job.runs);
    assert.equal(metrics.get('ipa_fleet_backup_verify_ok{schedule_job="lab-data",deployment="ipa-lab"}'), 1);

    // schedule status says the same.
    const status = await lab.fleet(['--json', 'schedule', 'status', '-c', s.file]);
    assert.equal(status.code, 0, status.stderr);
    const view = JSON.parse(status.stdout) as {
      daemon: unknown;
      jobs: Array<{ job: string; runs: number; nextRun: string }>;
      hosts: Array<{ host: string; snapshotsKept: number; newestSnapshot: string }>;
    };
    assert.equal(view.daemon, null);
    assert.equal(view.jobs[0]!.runs, job.runs);
    assert.ok(Date.parse(view.jobs[0]!.nextRun) > Date.now() - 5000);
    for (const host of HOSTS) {
      const h = view.hosts.find((x) => x.host === host)!;
      assert.equal(h.snapshotsKept, 2);
      assert.equal(h.newestSnapshot, snapshots.filter((x) => x.host === host).at(-1)!.id);
    }

    // The audit's backup-freshness check reads the same store.
    const fresh = await lab.fleet(['-i', inventory, 'audit', '--backup-max-age', '1h', '--store', store()]);
    assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
    await new Promise((r) => setTimeout(r, 2500));
    const stale = await lab.fleet(['--json', '-i', inventory, 'audit', '--backup-max-age', '2s', '--store', store()]);
    assert.equal(stale.code, 3, stale.stdout + stale.stderr);
    const findings = (JSON.parse(stale.stdout) as { findings: Array<{ id: string; hosts: string[] }> }).findings.filter(
      (f) => f.id === 'backup-stale',
    );
    assert.deepEqual(findings.map((f) => f.hosts[0]).sort(), HOSTS);
  });

  it('a host that is down: on_failure gets the JSON summary, the others are backed up, metrics count the failure', async () => {
    const before = await listed();
    const s = await schedule(
      'failing',
      `  - name: lab-failing
    inventory: ${inventory}
    cron: "*/3 * * * * *"
    store: ${store()}
    encrypt_to: [${keys.pub}]
    retention: {keep_last: 5}
    hooks:
      on_failure: "cat > ${lab.tmp}/failure.json; exit 7"
      on_success: "cat > ${lab.tmp}/not-expected.json"
`,
    );
    const down = await lab.fleet(['lab', 'stop', 'b', '--dir', lab.paths.root]);
    assert.equal(down.code, 0, down.stderr);
    const d = daemon(s.file);
    try {
      await waitFor('two failed runs', 120_000, async () => {
        const job = (await readState(s.state))?.jobs['lab-failing'];
        return job && job.failedRuns >= 2 ? true : undefined;
      });
    } finally {
      assert.equal(await stop(d), 0, d.output.stderr);
      const up = await lab.fleet(['lab', 'start', 'b', '--dir', lab.paths.root]);
      assert.equal(up.code, 0, up.stderr);
    }
    const hook = JSON.parse(await readFile(join(lab.tmp, 'failure.json'), 'utf8')) as Report;
    assert.equal(hook.job, 'lab-failing');
    assert.equal(hook.result, 'partial');
    assert.deepEqual(hook.hosts, { ok: ['a.ipa.test'], failed: ['b.ipa.test'] });
    assert.equal(hook.perHost['b.ipa.test']!.ok, false);
    assert.match(
      hook.perHost['b.ipa.test']!.error!,
      new RegExp(`b\\.ipa\\.test|${lab.net.replaceAll('.', '\\.')}\\.2|connect|unreachable`, 'i'),
    );
    assert.ok(
      hook.errors.some((e) => e.host === 'b.ipa.test'),
      JSON.stringify(hook.errors),
    );
    assert.ok(hook.perHost['a.ipa.test']!.snapshot);
    assert.ok(hook.durationSeconds > 0);
    // A partial run prunes nothing, and on_success never ran.
    assert.equal(hook.pruned, undefined);
    await assert.rejects(readFile(join(lab.tmp, 'not-expected.json')));
    // The hook's exit 7 was logged; the daemon went on.
    assert.match(d.output.stdout, /hook on_failure failed \(exit 7\)/);

    const state = (await readState(s.state))!;
    assert.ok(state.hosts['ipa-lab']!['b.ipa.test']!.consecutiveFailures >= 2);
    assert.equal(state.hosts['ipa-lab']!['a.ipa.test']!.consecutiveFailures, 0);
    const metrics = parseMetrics(await readFile(s.metrics, 'utf8'));
    assert.equal(
      metrics.get('ipa_fleet_backup_consecutive_failures{deployment="ipa-lab",host="b.ipa.test"}'),
      state.hosts['ipa-lab']!['b.ipa.test']!.consecutiveFailures,
    );
    // b's last success is still its newest snapshot from before it went down: what alerting keys on.
    const bNewest = before.filter((x) => x.host === 'b.ipa.test').at(-1)!;
    assert.equal(
      metrics.get('ipa_fleet_backup_last_success_timestamp_seconds{deployment="ipa-lab",host="b.ipa.test"}'),
      Math.floor(Date.parse(bNewest.time) / 1000),
    );
    assert.ok(
      metrics.get('ipa_fleet_backup_last_success_timestamp_seconds{deployment="ipa-lab",host="a.ipa.test"}')! >
        Math.floor(Date.parse(bNewest.time) / 1000),
    );
  });

  it('FULL runs slower than the schedule: ticks are skipped, never doubled, and never two servers down at once', async () => {
    const s = await schedule(
      'full',
      `  - name: lab-full
    inventory: ${inventory}
    cron: "* * * * * *"
    type: full
    store: ${store()}
    encrypt_to: ${keys.pub}
`,
    );
    const addresses = HOSTS.map((_h, i) => `${lab.net}.${i + 1}`);
    let bothDown = 0;
    let oneDown = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const up = await Promise.all(addresses.map(ldapUp));
        if (up.every((u) => !u)) bothDown += 1;
        else if (up.some((u) => !u)) oneDown += 1;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const d = daemon(s.file);
    let job: StateFile['jobs'][string];
    try {
      job = await waitFor('one finished FULL run', 180_000, async () => {
        const j = (await readState(s.state))?.jobs['lab-full'];
        return j?.lastRun ? j : undefined;
      });
    } finally {
      assert.equal(await stop(d), 0, d.output.stderr);
      sampling = false;
      await sampler;
    }
    job = (await readState(s.state))!.jobs['lab-full']!;
    assert.equal(
      job.lastRun!.result === 'succeeded' || job.lastRun!.result === 'cancelled',
      true,
      JSON.stringify(job.lastRun),
    );
    const first = job.lastRun!.result === 'succeeded' ? job.lastRun! : undefined;
    // A FULL run of two hosts takes far longer than a second: the ticks in between were skipped.
    assert.ok(job.skippedOverlaps >= 5, `skipped ${job.skippedOverlaps}`);
    assert.match(d.output.stdout, /previous run is still going; this tick is skipped/);
    assert.doesNotMatch(d.output.stdout + d.output.stderr, /locked by run/);
    // The servers were stopped (one at a time) and never both at once.
    assert.ok(oneDown > 0, 'a server was seen stopped during its FULL backup');
    assert.equal(bothDown, 0, 'both servers were down at the same time');
    if (first) {
      // The two hosts' backup tasks, from the run's journal: one after the other.
      const journal = (
        await readFile(join(lab.tmp, 'state', 'ipa-fleet', 'runs', first.runId!, 'journal.jsonl'), 'utf8')
      )
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; host?: string; at: string });
      const spans = HOSTS.map((h) => ({
        start: Date.parse(journal.find((e) => e.type === 'task.started' && e.host === h)!.at),
        end: Date.parse(journal.find((e) => e.type === 'task.finished' && e.host === h)!.at),
      }));
      assert.ok(spans[0]!.end <= spans[1]!.start || spans[1]!.end <= spans[0]!.start, JSON.stringify(spans));
    }
    for (const address of addresses) assert.equal(await ldapUp(address), true);
  });

  it('SIGTERM in the middle of a FULL backup: no partial file, services back, and the next start continues', async () => {
    const s = await schedule(
      'cancel',
      `  - name: lab-cancel
    inventory: ${inventory}
    cron: "*/2 * * * * *"
    type: full
    store: ${store()}
    encrypt_to: ${keys.pub}
`,
    );
    const addresses = HOSTS.map((_h, i) => `${lab.net}.${i + 1}`);
    const snapshotsBefore = (await listed()).length;
    const d = daemon(s.file);
    let code: number | null;
    try {
      // A server stopped for its FULL backup: the run is in the middle.
      await waitFor('a server stopped by the FULL backup', 60_000, async () =>
        (await Promise.all(addresses.map(ldapUp))).some((u) => !u) ? true : undefined,
      );
    } finally {
      code = await stop(d);
    }
    assert.equal(code, 0, d.output.stderr);
    assert.match(d.output.stdout, /stopping: cancelling lab-cancel/);
    assert.match(d.output.stdout, /cancelled in/);
    assert.deepEqual(await partialFiles(), []);
    assert.equal((await listed()).length, snapshotsBefore, 'a cancelled run commits no snapshot');
    // The FULL backup's finally started the stopped server again.
    for (const address of addresses)
      assert.equal(await ldapUp(address), true, `${address} is up after the cancelled FULL backup`);
    // No export file was left on the hosts.
    for (const host of HOSTS) {
      const files = await readdir(join(lab.paths.hostDir(host), 'var-lib-dirsrv', 'slapd-IPA-TEST', 'ldif'));
      assert.deepEqual(
        files.filter((f) => f.startsWith('ipa-fleet-')),
        [],
        `${host}: ${files.join(', ')}`,
      );
    }
    const stateAfterStop = (await readState(s.state))!.jobs['lab-cancel']!;
    assert.equal(stateAfterStop.lastRun?.result, 'cancelled');
    assert.equal(stateAfterStop.failedRuns, 0, 'a cancelled run is not a failure');

    // Started again, the daemon continues from its saved state and the next run succeeds.
    const again = daemon(s.file);
    try {
      await waitFor('the next run', 120_000, async () => {
        const j = (await readState(s.state))?.jobs['lab-cancel'];
        return j && j.runs > stateAfterStop.runs && j.lastRun?.result === 'succeeded' ? true : undefined;
      });
    } finally {
      assert.equal(await stop(again), 0, again.output.stderr);
    }
    assert.equal((await listed()).length, snapshotsBefore + 2);
    assert.deepEqual(await partialFiles(), []);
  });
  // A drill of the lab's snapshots passes: the success hook with the summary, ok 1, a last success,
  // and the audit's drill freshness agreeing.
  it('a scheduled drill job: the three drill metrics of the deployment and the hook with its summary', async () => {
    const s = await schedule(
      'drill',
      `  - name: lab-drill
    kind: drill
    inventory: ${inventory}
    cron: "*/3 * * * * *"
    store: ${store()}
    key: ${keys.sec}
    passphrase: "file:${keys.pass}"
    hooks:
      on_success: "cat > ${lab.tmp}/drill-success.json"
      on_failure: "cat > ${lab.tmp}/drill-failure.json"
`,
    );
    const d = daemon(s.file);
    try {
      await waitFor('a finished drill', 600_000, async () => {
        const st = (await readState(s.state)) as { jobs: Record<string, { lastDrill?: unknown }> } | undefined;
        return st?.jobs['lab-drill']?.lastDrill ? true : undefined;
      });
      // The hook runs after the state is saved.
      await waitFor('the drill hook', 60_000, async () => {
        const files = await readdir(lab.tmp);
        return files.includes('drill-success.json') || files.includes('drill-failure.json') ? true : undefined;
      });
    } finally {
      assert.equal(await stop(d), 0, d.output.stderr);
    }
    const files = await readdir(lab.tmp);
    const passed = files.includes('drill-success.json');
    assert.ok(
      passed,
      `the drill failed: ${await readFile(join(lab.tmp, 'drill-failure.json'), 'utf8').catch(() => '')}`,
    );
    const summary = JSON.parse(
      await readFile(join(lab.tmp, passed ? 'drill-success.json' : 'drill-failure.json'), 'utf8'),
    ) as { kind: string; job: string; deployment: string; result: string; restorable?: boolean; error?: string };
    assert.equal(summary.kind, 'drill');
    assert.equal(summary.job, 'lab-drill');
    assert.equal(summary.deployment, 'ipa-lab');
    assert.equal(summary.result, passed ? 'succeeded' : 'failed', JSON.stringify(summary));
    if (!passed) assert.ok(summary.error, JSON.stringify(summary));
    const secret = (await readFile(keys.pass, 'utf8')).trim();
    assert.ok(!JSON.stringify(summary).includes(secret), 'no passphrase in the hook summary');

    const metrics = parseMetrics(await readFile(s.metrics, 'utf8'));
    const l = '{deployment="ipa-lab"}';
    const lastSuccess = metrics.get(`ipa_fleet_drill_last_success_timestamp${l}`);
    assert.notEqual(lastSuccess, undefined, 'ipa_fleet_drill_last_success_timestamp');
    assert.ok(metrics.get(`ipa_fleet_drill_duration_seconds${l}`)! >= 0, 'ipa_fleet_drill_duration_seconds');
    assert.equal(metrics.get(`ipa_fleet_drill_ok${l}`), passed ? 1 : 0, d.output.stdout);
    if (passed) assert.ok(lastSuccess! > 0);
    assert.ok(metrics.get('ipa_fleet_schedule_runs_total{schedule_job="lab-drill",deployment="ipa-lab"}')! >= 1);

    const status = await lab.fleet(['--json', 'schedule', 'status', '-c', s.file]);
    assert.equal(status.code, 0, status.stderr);
    const view = JSON.parse(status.stdout) as { drills: Array<{ job: string; lastRun?: { result: string } }> };
    assert.equal(view.drills[0]!.job, 'lab-drill');
    assert.ok(view.drills[0]!.lastRun, status.stdout);

    // The audit's drill freshness agrees: a passed drill is fresh, a failed one leaves drill-stale.
    const audit = await lab.fleet(['--json', '-i', inventory, 'audit', '--drill-max-age', '1h']);
    const stale = (JSON.parse(audit.stdout) as { findings: Array<{ id: string }> }).findings.filter(
      (f) => f.id === 'drill-stale',
    );
    assert.equal(stale.length, passed ? 0 : 1, audit.stdout);
  });
});
