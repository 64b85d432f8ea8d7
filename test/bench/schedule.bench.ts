// The backup scheduler (`ipa-fleet schedule run`) on a 3-host lab, three figures:
//  1. Overhead per run: the same DATA backup of the 3 hosts by N sequential `ipa-fleet backup`
//     invocations (the baseline: wall time, node start-up included) and by the daemon (cron every
//     5 s, N runs, keep_last 3, no verify). Per daemon run, from the state file's lastRun: its
//     durationSeconds, the tick latency (startedAt − scheduledAt), the part outside the host backup
//     tasks (durationSeconds − slowest perHost) and how late cron fired (scheduledAt past the 5 s
//     boundary); per CLI invocation the same split from its run journal. Ratio daemon run / CLI.
//  2. Memory: the daemon's VmRSS (/proc/<pid>/status) after runs 10, 20, …, 60 with cron every 2 s
//     (keep_last 3, so the store stays small); RSS60/RSS10 and the slope over runs 10..60. Beside it
//     the live JS heap after a full GC, asked of the daemon by SIGUSR2 through a small --import
//     preload (RSS is sampled before that GC).
//  3. `schedule status --json` against a store of 2 snapshots per host and one of 100 per host
//     (snapshot folders cloned under new ids, archives hard-linked, manifests rewritten), the two
//     invocations alternating so that load on the machine hits both alike.
// Figures and ratios against baselines measured in the same run; asserts no timing.
// Run: npm run bench:schedule (needs root: it builds a lab on 127.0.48). BENCH_ENTRIES=200 by default.
import { cp, link, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { table } from '../../src/cli/output.js';
import { bringUpLab, cli, makeKeys, startCli, type TestLab } from '../lab/fixture.js';

const HOSTS = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];
const entries = Number(process.env.BENCH_ENTRIES ?? '200');
if (!Number.isInteger(entries) || entries < 0)
  throw new Error(`BENCH_ENTRIES: a whole number, not ${process.env.BENCH_ENTRIES}`);
const N = 10;
const MEM_RUNS = 60;
const MEM_EVERY = 10;
/** Snapshots per host in the small and in the grown store of part 3. */
const SMALL_PER_HOST = 2;
const GROWN_PER_HOST = 100;
const STATUS_REPEATS = 7;
const SNAPSHOT_ID = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

interface RunReport {
  runId?: string;
  deployment: string;
  result: string;
  scheduledAt: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  perHost: Record<string, { ok: boolean; durationSeconds: number; snapshot?: string; error?: string }>;
  errors: Array<{ host?: string; message: string }>;
  pruned?: { removed: number; kept: number };
}
interface JobRecord {
  runs: number;
  failedRuns: number;
  skippedOverlaps: number;
  lastRun?: RunReport;
}
interface StateFile {
  jobs: Record<string, JobRecord>;
}
interface HeapSample {
  at: number;
  heapUsed: number;
  external: number;
  rss: number;
}

const benchStarted = Date.now();
const loadStart = loadavg();
const progress = (m: string): void => {
  console.error(`[${((Date.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s] ${m}`);
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const slowest = (r: RunReport): number => Math.max(...Object.values(r.perHost).map((h) => h.durationSeconds));

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** Loaded into the daemon with --import: on SIGUSR2 a full GC, then process.memoryUsage() to a file. */
const HEAP_PROBE = `import { writeFileSync } from 'node:fs';
process.on('SIGUSR2', () => {
  globalThis.gc();
  const m = process.memoryUsage();
  writeFileSync(process.env.BENCH_HEAP_OUT, JSON.stringify({ at: Date.now(), heapUsed: m.heapUsed, external: m.external, rss: m.rss }));
});
`;

async function heapAfterGc(pid: number, file: string): Promise<HeapSample> {
  const asked = Date.now();
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100; i++) {
    await sleep(50);
    const sample = JSON.parse(await readFile(file, 'utf8').catch(() => 'null')) as HeapSample | null;
    if (sample && sample.at >= asked) return sample;
  }
  throw new Error(`the daemon did not answer SIGUSR2 with ${file}`);
}

interface DaemonResult {
  reports: RunReport[];
  record: JobRecord;
  stdout: string;
  stderr: string;
  wallS: number;
}

/**
 * Runs a schedule with one job until `runs` runs have finished, capturing each run's lastRun from
 * the state file (polled every 100 ms; a run is new when its finishedAt is). `afterRun(k, pid)` is
 * awaited right after run k (1-based) is seen. The daemon is stopped with SIGTERM.
 */
async function runDaemon(
  lab: TestLab,
  env: NodeJS.ProcessEnv,
  name: string,
  job: string,
  runs: number,
  periodS: number,
  afterRun: (k: number, pid: number) => Promise<void> = async () => undefined,
): Promise<DaemonResult> {
  const file = join(lab.tmp, `${name}.yaml`);
  const stateFile = join(lab.tmp, `${name}.state.json`);
  await writeFile(file, `metrics: ${name}.prom\nstate: ${name}.state.json\njobs:\n${job}`);
  const d = startCli(['--log-file', lab.logFile, 'schedule', 'run', '-c', file], env);
  const pid = d.child.pid!;
  const started = Date.now();
  const reports: RunReport[] = [];
  let exitCode: number | null | undefined;
  void d.exited.then((c) => {
    exitCode = c;
  });
  // A run longer than the period skips ticks: allow for every other tick, plus start-up.
  const deadline = started + runs * periodS * 2500 + 60_000;
  try {
    let lastSeen = '';
    while (reports.length < runs) {
      if (exitCode !== undefined)
        throw new Error(
          `the daemon exited (${exitCode}) after ${reports.length} runs:\n${d.output.stdout.slice(-3000)}\n${d.output.stderr.slice(-3000)}`,
        );
      if (Date.now() > deadline)
        throw new Error(
          `${name}: only ${reports.length} of ${runs} runs within ${((deadline - started) / 1000).toFixed(0)} s:\n${d.output.stdout.slice(-3000)}`,
        );
      const record = (JSON.parse(await readFile(stateFile, 'utf8').catch(() => 'null')) as StateFile | null)?.jobs[
        name
      ];
      const last = record?.lastRun;
      if (record && last && last.finishedAt !== lastSeen) {
        lastSeen = last.finishedAt;
        if (last.result !== 'succeeded')
          throw new Error(`${name}: run ${reports.length + 1} ${last.result}: ${JSON.stringify(last.errors)}`);
        reports.push(last);
        // runs counts started runs: the next one may have started already.
        if (record.runs !== reports.length && record.runs !== reports.length + 1) {
          throw new Error(
            `${name}: the state counts ${record.runs} started runs but ${reports.length} lastRun reports were seen (a run was missed)`,
          );
        }
        await afterRun(reports.length, pid);
        if (reports.length % 10 === 0) progress(`${name}: ${reports.length}/${runs} runs`);
      }
      await sleep(100);
    }
  } finally {
    d.child.kill('SIGTERM');
    const code = await d.exited;
    if (code !== 0) progress(`${name}: the daemon exited ${code}: ${d.output.stderr.slice(-2000)}`);
  }
  const st = JSON.parse(await readFile(stateFile, 'utf8')) as StateFile;
  return {
    reports,
    record: st.jobs[name]!,
    stdout: d.output.stdout,
    stderr: d.output.stderr,
    wallS: (Date.now() - started) / 1000,
  };
}

/** The run journal of a CLI backup: the span of its slowest host task (s). */
async function cliSlowestHost(runDir: string): Promise<number> {
  const lines = (await readFile(join(runDir, 'journal.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; host?: string; at: string });
  const started = new Map<string, number>();
  let max = 0;
  for (const e of lines) {
    if (e.type === 'task.started' && e.host) started.set(e.host, Date.parse(e.at));
    if (e.type === 'task.finished' && e.host && started.has(e.host))
      max = Math.max(max, (Date.parse(e.at) - started.get(e.host)!) / 1000);
  }
  if (started.size !== HOSTS.length) throw new Error(`${runDir}: ${started.size} host tasks, not ${HOSTS.length}`);
  return max;
}

/** Copies the newest `perHost` snapshots of each host of `from` into `to`. */
async function copyNewest(from: string, to: string, deployment: string, perHost: number): Promise<void> {
  for (const host of HOSTS) {
    const src = join(from, deployment, host);
    const ids = (await readdir(src))
      .filter((n) => SNAPSHOT_ID.test(n))
      .sort()
      .slice(-perHost);
    if (ids.length !== perHost) throw new Error(`${src}: ${ids.length} snapshots, not ${perHost}`);
    for (const id of ids)
      await cp(join(src, id), join(to, deployment, host, id), { recursive: true, preserveTimestamps: true });
  }
}

/** Clones each host's newest snapshot in `store` until every host has `perHost` (older ids, same archive). */
async function growStore(store: string, deployment: string, perHost: number): Promise<number> {
  let made = 0;
  for (const host of HOSTS) {
    const hostDir = join(store, deployment, host);
    const ids = (await readdir(hostDir)).filter((n) => SNAPSHOT_ID.test(n)).sort();
    const newest = ids.at(-1)!;
    const manifest = JSON.parse(await readFile(join(hostDir, newest, 'manifest.json'), 'utf8')) as {
      id: string;
      time: string;
      archive: { name: string };
    };
    const base = Date.parse(ids[0]!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z.*$/, '$1-$2-$3T$4:$5:$6Z'));
    for (let k = ids.length; k < perHost; k++) {
      // One hour apart, older than every real one: the store's order and its newest snapshot stay true.
      const time = new Date(base - (k + 1) * 3_600_000);
      const id = `${time
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z')}-${(0xb00000 + k).toString(16)}`;
      const dir = join(hostDir, id);
      await mkdir(dir, { mode: 0o700 });
      await link(join(hostDir, newest, manifest.archive.name), join(dir, manifest.archive.name));
      // readSnapshot (src/backup/store.ts) wants manifest.id = the folder name, deployment and hostName
      // of the folder, archive.size = the file's; time is rewritten so that it matches the id.
      await writeFile(
        join(dir, 'manifest.json'),
        `${JSON.stringify({ ...manifest, id, time: time.toISOString() }, null, 2)}\n`,
        { mode: 0o600 },
      );
      made++;
    }
  }
  return made;
}

interface StatusView {
  hosts: Array<{ host: string; snapshotsKept: number; newestSnapshot: string }>;
}

async function statusOnce(lab: TestLab, env: NodeJS.ProcessEnv, file: string, wantPerHost: number): Promise<number> {
  const r = await cli(['--log-file', lab.logFile, '--json', 'schedule', 'status', '-c', file], {
    env,
    timeoutMs: 120_000,
  });
  if (r.code !== 0) throw new Error(`schedule status -c ${file}: exit ${r.code}: ${r.stderr}`);
  const view = JSON.parse(r.stdout) as StatusView;
  for (const h of HOSTS) {
    const kept = view.hosts.find((x) => x.host === h)?.snapshotsKept;
    if (kept !== wantPerHost)
      throw new Error(`schedule status -c ${file}: ${h} has ${kept} snapshots, expected ${wantPerHost}`);
  }
  return r.ms;
}

const lab = await bringUpLab(['--hosts', '3', '--entries', String(entries)]);
progress(`lab up (3 hosts, ${entries} entries) in ${(lab.upOutput.ms / 1000).toFixed(1)} s`);
const out: string[] = [];
try {
  const env = { XDG_STATE_HOME: join(lab.tmp, 'state') };
  const runsDir = join(lab.tmp, 'state', 'ipa-fleet', 'runs');
  const keys = await makeKeys(lab.tmp);
  const inventory = lab.paths.inventory;
  const cliStore = join(lab.tmp, 'store-cli');
  const schedStore = join(lab.tmp, 'store-sched');

  // Baseline of the baseline: node start-up and loading the CLI.
  const startup: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await cli(['--help'], { env });
    if (r.code !== 0) throw new Error(`--help: exit ${r.code}`);
    startup.push(r.ms);
  }

  // 1a. N sequential CLI backups.
  const cliMs: number[] = [];
  const cliHostS: number[] = [];
  for (let i = 0; i < N; i++) {
    const before = new Set(await readdir(runsDir).catch(() => [] as string[]));
    const r = await cli(
      ['--log-file', lab.logFile, '-i', inventory, 'backup', '--encrypt-to', keys.pub, '--store', cliStore],
      { env },
    );
    if (r.code !== 0)
      throw new Error(`backup ${i + 1}: exit ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    const fresh = (await readdir(runsDir)).filter((n) => !before.has(n));
    if (fresh.length !== 1) throw new Error(`backup ${i + 1}: ${fresh.length} new run folders in ${runsDir}`);
    cliMs.push(r.ms);
    cliHostS.push(await cliSlowestHost(join(runsDir, fresh[0]!)));
  }
  progress(`${N} CLI backups: median ${(median(cliMs) / 1000).toFixed(2)} s`);

  // 1b. The daemon, every 5 s, N runs.
  const job = (name: string, cron: string, store = schedStore): string => `  - name: ${name}
    inventory: ${inventory}
    cron: "${cron}"
    store: ${store}
    encrypt_to: ${keys.pub}
    retention: {keep_last: 3}
`;
  const every5 = await runDaemon(lab, env, 'every5', job('every5', '*/5 * * * * *'), N, 5);
  const deployment = every5.reports[0]!.deployment;
  const runS = every5.reports.map((r) => r.durationSeconds);
  const hostS = every5.reports.map(slowest);
  const outsideS = every5.reports.map((r) => r.durationSeconds - slowest(r));
  const tickMs = every5.reports.map((r) => Date.parse(r.startedAt) - Date.parse(r.scheduledAt));
  const lateMs = every5.reports.map((r) => {
    const m = Date.parse(r.scheduledAt) % 5000;
    return m > 2500 ? m - 5000 : m;
  });
  progress(`daemon every 5 s: median run ${median(runS).toFixed(2)} s`);

  // 2. Memory over 60 runs, every 2 s.
  const probe = join(lab.tmp, 'heap-probe.mjs');
  const heapOut = join(lab.tmp, 'heap.json');
  await writeFile(probe, HEAP_PROBE);
  const rss = new Map<number, number>();
  const heap = new Map<number, HeapSample>();
  const memEnv = {
    ...env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --import=${probe}`.trim(),
    BENCH_HEAP_OUT: heapOut,
  };
  const every2 = await runDaemon(lab, memEnv, 'every2', job('every2', '*/2 * * * * *'), MEM_RUNS, 2, async (k, pid) => {
    rss.set(k, await rssKiB(pid));
    if (k % MEM_EVERY === 0) heap.set(k, await heapAfterGc(pid, heapOut));
  });
  const memPoints = [...rss.entries()].filter(([k]) => k >= MEM_EVERY);
  const heapPoints: Array<[number, number]> = [...heap.entries()].map(([k, h]) => [k, h.heapUsed / 1024]);

  // 3. schedule status: 2 snapshots per host against 100, alternating.
  const smallStore = join(lab.tmp, 'store-status-small');
  const grownStore = join(lab.tmp, 'store-status-grown');
  await copyNewest(schedStore, smallStore, deployment, SMALL_PER_HOST);
  await copyNewest(schedStore, grownStore, deployment, SMALL_PER_HOST);
  const cloned = await growStore(grownStore, deployment, GROWN_PER_HOST);
  // Both read the state of the 60-run daemon, as status reads a real one.
  const smallFile = join(lab.tmp, 'status-small.yaml');
  const grownFile = join(lab.tmp, 'status-grown.yaml');
  await writeFile(smallFile, `state: every2.state.json\njobs:\n${job('every2', '*/2 * * * * *', smallStore)}`);
  await writeFile(grownFile, `state: every2.state.json\njobs:\n${job('every2', '*/2 * * * * *', grownStore)}`);
  await statusOnce(lab, env, smallFile, SMALL_PER_HOST); // warm-up, not counted
  await statusOnce(lab, env, grownFile, GROWN_PER_HOST);
  const smallMs: number[] = [];
  const grownMs: number[] = [];
  for (let i = 0; i < STATUS_REPEATS; i++) {
    smallMs.push(await statusOnce(lab, env, smallFile, SMALL_PER_HOST));
    grownMs.push(await statusOnce(lab, env, grownFile, GROWN_PER_HOST));
  }
  progress(
    `status: ${median(smallMs)} ms with ${SMALL_PER_HOST * HOSTS.length} snapshots, ${median(grownMs)} ms with ${GROWN_PER_HOST * HOSTS.length} (${cloned} cloned)`,
  );

  // The table.
  const s2 = (x: number): string => `${x.toFixed(2)} s`;
  const ms = (x: number): string => `${x.toFixed(0)} ms`;
  const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
  const range = (xs: number[], f: (x: number) => string): string => `${f(Math.min(...xs))} … ${f(Math.max(...xs))}`;
  const cliS = cliMs.map((x) => x / 1000);
  const cliOutsideS = cliS.map((w, i) => w - cliHostS[i]!);
  out.push(
    `ipa-fleet schedule bench: 3 hosts (chain, CA on a,b), ${entries} entries, DATA backups, encrypted, gzip; node ${process.version}`,
  );
  out.push('');
  out.push(`1. overhead per run (N = ${N} each; daemon: cron */5 s, keep_last 3, no verify)`);
  out.push(
    table([
      ['', 'MEDIAN', 'MIN … MAX'],
      ['node start-up (ipa-fleet --help)', ms(median(startup)), range(startup, ms)],
      ['CLI backup invocation, wall (baseline)', s2(median(cliS)), range(cliS, s2)],
      ['  slowest host backup task (run journal)', s2(median(cliHostS)), range(cliHostS, s2)],
      ['  outside host tasks (wall − slowest host)', s2(median(cliOutsideS)), range(cliOutsideS, s2)],
      ['daemon run, durationSeconds (backup + prune)', s2(median(runS)), range(runS, s2)],
      ['  slowest host backup task (perHost)', s2(median(hostS)), range(hostS, s2)],
      ['  outside host tasks (duration − slowest host)', s2(median(outsideS)), range(outsideS, s2)],
      ['  tick latency (startedAt − scheduledAt)', ms(median(tickMs)), range(tickMs, ms)],
      ['  cron lateness (scheduledAt − 5 s boundary)', ms(median(lateMs)), range(lateMs, ms)],
    ]),
  );
  out.push(
    `ratio daemon run / CLI invocation: ${(median(runS) / median(cliS)).toFixed(2)} (medians of wall and durationSeconds); outside host tasks, daemon / CLI: ${(median(outsideS) / median(cliOutsideS)).toFixed(2)}`,
  );
  out.push(
    `daemon: ${((100 * median(outsideS)) / median(runS)).toFixed(0)} % of a run outside host tasks; skipped ticks ${every5.record.skippedOverlaps}, failed runs ${every5.record.failedRuns}, ${every5.wallS.toFixed(0)} s wall`,
  );
  out.push('');
  out.push(`2. daemon memory, cron */2 s, ${MEM_RUNS} runs, keep_last 3`);
  const cols = Array.from({ length: MEM_RUNS / MEM_EVERY }, (_, i) => (i + 1) * MEM_EVERY);
  out.push(
    table([
      ['AFTER RUN', ...cols.map(String)],
      ['VmRSS', ...cols.map((k) => mib(rss.get(k)!))],
      ['JS heap after full GC', ...cols.map((k) => mib(heap.get(k)!.heapUsed / 1024))],
      ['external after full GC', ...cols.map((k) => mib(heap.get(k)!.external / 1024))],
    ]),
  );
  out.push(
    `RSS${MEM_RUNS}/RSS${MEM_EVERY}: ${(rss.get(MEM_RUNS)! / rss.get(MEM_EVERY)!).toFixed(2)}; RSS slope over runs ${MEM_EVERY}..${MEM_RUNS} (every run sampled): ${slope(memPoints).toFixed(0)} KiB/run; RSS after run 1: ${mib(rss.get(1)!)}`,
  );
  out.push(
    `heap${MEM_RUNS}/heap${MEM_EVERY}: ${(heap.get(MEM_RUNS)!.heapUsed / heap.get(MEM_EVERY)!.heapUsed).toFixed(2)}; heap slope: ${slope(heapPoints).toFixed(1)} KiB/run`,
  );
  out.push(
    `runs: median ${s2(median(every2.reports.map((r) => r.durationSeconds)))} (longer than 2 s: every other tick skipped), skipped ticks ${every2.record.skippedOverlaps}, failed runs ${every2.record.failedRuns}, ${every2.wallS.toFixed(0)} s wall`,
  );
  out.push('');
  out.push(`3. schedule status --json (${STATUS_REPEATS} invocations each, alternating, after one warm-up each)`);
  const smallMed = median(smallMs);
  const grownMed = median(grownMs);
  out.push(
    table([
      ['SNAPSHOTS IN STORE', 'MEDIAN', 'MIN … MAX'],
      [String(SMALL_PER_HOST * HOSTS.length), ms(smallMed), range(smallMs, ms)],
      [String(GROWN_PER_HOST * HOSTS.length), ms(grownMed), range(grownMs, ms)],
    ]),
  );
  const extra = (GROWN_PER_HOST - SMALL_PER_HOST) * HOSTS.length;
  out.push(
    `ratio ${GROWN_PER_HOST * HOSTS.length}/${SMALL_PER_HOST * HOSTS.length}: ${(grownMed / smallMed).toFixed(2)} (medians), ${(Math.min(...grownMs) / Math.min(...smallMs)).toFixed(2)} (minima); ${((grownMed - smallMed) / extra).toFixed(2)} ms per added snapshot (medians), ${((Math.min(...grownMs) - Math.min(...smallMs)) / extra).toFixed(2)} (minima); node start-up is ${ms(median(startup))} of it`,
  );
  const warnings = [every5.stderr, every2.stderr]
    .join('\n')
    .split('\n')
    .filter((l) => /warning|leak/i.test(l));
  if (warnings.length) out.push(`daemon stderr warnings: ${warnings.slice(0, 5).join(' | ')}`);
} finally {
  await lab.down();
}
const loadEnd = loadavg();
console.log(out.join('\n'));
console.log('');
console.log(
  `load average (1 min) at start ${loadStart[0]!.toFixed(1)}, at end ${loadEnd[0]!.toFixed(1)}; bench wall time: ${((Date.now() - benchStarted) / 1000).toFixed(0)} s`,
);
