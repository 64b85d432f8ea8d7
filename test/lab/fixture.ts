// The lab tests' one fixture: the real CLI (run, or started to be signalled), a loopback net of its own
// for each lab, a real lab up and down, the processes of a lab host (its SSH connections, its ns-slapd),
// and what the lab's directories hold, read over plain LDAP from the controller.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import * as openpgp from 'openpgp';
import { createRunContext, type RunContext } from '../../src/context.js';
import { LabPaths } from '../../src/lab/paths.js';
import { BIN, ROOT, runCli } from '../cli/run-cli.js';

export { BIN, ROOT };

export interface CliResult {
  /** A command killed by a signal counts as exit 1. */
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The CLI (test/cli/run-cli.ts's runner), 10 minutes unless said. */
export async function cli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const r = await runCli(args, { ...(opts.env ? { env: opts.env } : {}), timeoutMs: opts.timeoutMs ?? 600_000 });
  return { ...r, code: r.code ?? 1 };
}

export type CliChild = {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
};

/** The CLI as a child process that the test can signal while it runs; output collected as it comes. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliChild {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => {
    output.stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output.stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

/** The child's exit code (null: killed by a signal); SIGKILLs it and throws after `ms`. */
export async function exitOf(handle: CliChild, ms = 900_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), ms);
  });
  const code = await Promise.race([handle.exited, timeout]);
  clearTimeout(timer);
  if (code === 'timeout') {
    handle.child.kill('SIGKILL');
    throw new Error(
      `the command did not end within ${ms / 1000} s:\n${handle.output.stdout.slice(-3000)}\n${handle.output.stderr.slice(-3000)}`,
    );
  }
  return code;
}

/** stderr ends with exactly one error line and holds no stack trace. */
export function cleanError(stderr: string): string | undefined {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('ipa-fleet: error:'));
  if (lines.length !== 1 || /\n\s+at .+:\d+:\d+\)?/.test(stderr) || /internal error/.test(stderr)) return undefined;
  return lines[0];
}

// Loopback nets: each lab (and each demo) gets a 127.0.N of its own. Test files run as separate
// processes, three at a time, so the claim must hold across processes and die with its holder: it is a
// socket listening on 127.0.N.254, which the kernel frees when the process ends, however it ends.
const FIRST_NET = 21;
const LAST_NET = 99;
const CLAIM_HOST = 254;
const CLAIM_PORT = 47_254;

export interface NetClaim {
  /** The first three octets, as `lab up --net` and `demo --net` take them: 127.0.N. */
  net: string;
  release(): Promise<void>;
}

function listen(address: string): Promise<Server | undefined> {
  return new Promise((resolveListen) => {
    const server = createServer();
    server.once('error', () => resolveListen(undefined));
    server.listen(CLAIM_PORT, address, () => {
      server.unref();
      resolveListen(server);
    });
  });
}

/** A loopback net that no other test process holds, until `release()` or the end of this process. */
export async function claimNet(): Promise<NetClaim> {
  for (let n = FIRST_NET; n <= LAST_NET; n++) {
    const net = `127.0.${n}`;
    const server = await listen(`${net}.${CLAIM_HOST}`);
    if (!server) continue;
    return { net, release: () => new Promise<void>((r) => server.close(() => r())) };
  }
  throw new Error(`every loopback net 127.0.${FIRST_NET}–${LAST_NET} is held by another test process`);
}

export interface TestLab {
  /** The lab's loopback net: host i (a = 1) answers on `${net}.${i}`. */
  net: string;
  paths: LabPaths;
  tmp: string;
  logFile: string;
  /** The CLI's environment for this lab: its runs, journals, locks and facts live in `${tmp}/state`. */
  env: NodeJS.ProcessEnv;
  stateDir: string;
  upOutput: CliResult;
  /** The CLI with this lab's log file and state folder. */
  fleet(args: string[], opts?: FleetOptions): Promise<CliResult>;
  /** The CLI started with this lab's log file and state folder, to be signalled while it runs. */
  startFleet(args: string[]): CliChild;
  /** The pid of the host's sshd listener. */
  sshdPid(host: string): Promise<number>;
  down(): Promise<void>;
}

export interface FleetOptions {
  /** 15 minutes unless said: a restore on a slow CI machine takes several. */
  timeoutMs?: number;
  /** Added to the lab's environment (a variable set to undefined is removed, e.g. SSH_AUTH_SOCK). */
  env?: NodeJS.ProcessEnv;
}

/**
 * The SSH client a lab test's inventory names: ssh2 (the default), or the system ssh when the test says
 * so or `IPA_FLEET_LAB_TRANSPORT=openssh` is set, which runs any lab test file over the system client.
 */
export type LabTransport = 'ssh2' | 'openssh';

function labTransport(asked: LabTransport | undefined): LabTransport {
  const env = process.env.IPA_FLEET_LAB_TRANSPORT;
  if (asked) return asked;
  if (env === undefined || env === '' || env === 'ssh2') return 'ssh2';
  if (env === 'openssh') return 'openssh';
  throw new Error(`IPA_FLEET_LAB_TRANSPORT=${env}: use ssh2 or openssh`);
}

/** Names the SSH client in a lab inventory's `ssh:` settings (`lab up` writes none: ssh2). */
export async function setInventoryTransport(inventory: string, transport: LabTransport): Promise<void> {
  const text = await readFile(inventory, 'utf8');
  const changed = text.replace(/^( {4}ssh:\n)(?: {6}transport: \S+\n)?/m, `$1      transport: ${transport}\n`);
  assert.notEqual(changed.indexOf(`transport: ${transport}`), -1, `no ssh: section in ${inventory}`);
  await writeFile(inventory, changed);
}

/** `ipa-fleet lab up` through the CLI, as a user would, in a fresh folder on a loopback net of its own. */
export async function bringUpLab(args: string[] = [], opts: { transport?: LabTransport } = {}): Promise<TestLab> {
  const claim = await claimNet();
  const tmp = await mkdtemp(join(tmpdir(), 'ipa-fleet-test-'));
  const paths = new LabPaths(join(tmp, 'lab'));
  const logFile = join(tmp, 'ipa-fleet.log');
  const stateDir = join(tmp, 'state');
  const env = { XDG_STATE_HOME: stateDir };
  const fleet = (fleetArgs: string[], opts: FleetOptions = {}): Promise<CliResult> =>
    cli(['--log-file', logFile, ...fleetArgs], { env: { ...env, ...opts.env }, timeoutMs: opts.timeoutMs ?? 900_000 });
  const upOutput = await cli(['--log-file', logFile, 'lab', 'up', '--dir', paths.root, '--net', claim.net, ...args]);
  const down = async (): Promise<void> => {
    await cli(['--log-file', logFile, 'lab', 'down', '--dir', paths.root]);
    await rm(tmp, { recursive: true, force: true });
    await claim.release();
  };
  if (upOutput.code !== 0) {
    await down();
    throw new Error(`lab up failed (exit ${upOutput.code}):\n${upOutput.stdout}\n${upOutput.stderr}`);
  }
  const transport = labTransport(opts.transport);
  if (transport !== 'ssh2') await setInventoryTransport(paths.inventory, transport);
  return {
    net: claim.net,
    paths,
    tmp,
    logFile,
    env,
    stateDir,
    upOutput,
    fleet,
    startFleet: (fleetArgs) => startCli(['--log-file', logFile, ...fleetArgs], env),
    sshdPid: async (host) => Number((await readFile(paths.sshdPidFile(host), 'utf8')).trim()),
    down,
  };
}

export function testContext(logFile: string): RunContext {
  return createRunContext({ logFile, verbosity: 3 });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

const running = (handle: CliChild): boolean => handle.child.exitCode === null && handle.child.signalCode === null;

/** Polls `condition` every few ms while `handle` runs; once it holds, runs `act`. False if the child ended first. */
export async function when(
  handle: CliChild,
  condition: () => Promise<boolean>,
  act: () => Promise<void> | void,
  timeoutMs = 300_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (running(handle) && Date.now() < deadline) {
    if (await condition().catch(() => false)) {
      await act();
      return true;
    }
    await sleep(5);
  }
  return false;
}

// The processes of a lab host (they share this machine's process table).

/** Child pids of `pid` (Linux /proc/<pid>/task/<pid>/children). */
export async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

export async function descendantsOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const c of await childrenOf(pid)) out.push(c, ...(await descendantsOf(c)));
  return out;
}

export async function cmdlineOf(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0+$/, '').replace(/\0/g, ' ');
}

/** A process on this machine whose command line matches. */
export async function processMatching(re: RegExp): Promise<number | undefined> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (re.test(await cmdlineOf(Number(name)))) return Number(name);
  }
  return undefined;
}

/**
 * One SSH connection's processes below the listener: "sshd: root [priv]" and "sshd: root@notty", or,
 * since OpenSSH 9.8 forks a separate binary per connection, "sshd-session: root [priv]" and
 * "sshd-session: root@notty". Which of them exist depends on the OpenSSH build and on timing.
 */
export const SSH_CONNECTION_PROCESS = /^sshd(-session)?: root(@notty| \[priv\])/;

export interface KilledProcess {
  pid: number;
  cmd: string;
}

/** SIGKILLs every per-connection process below a host's sshd listener: each open SSH connection drops. */
export async function dropSshConnections(sshdPid: number): Promise<KilledProcess[]> {
  const killed: KilledProcess[] = [];
  for (const pid of await descendantsOf(sshdPid)) {
    const cmd = await cmdlineOf(pid);
    if (!SSH_CONNECTION_PROCESS.test(cmd)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push({ pid, cmd });
    } catch {
      // gone already
    }
  }
  return killed;
}

/**
 * Once `condition` holds (polled every few ms while `handle` runs), drops the host's SSH connections,
 * as soon as there is one: a run opens a connection when its first task on the host needs it.
 * Empty if the child ended (or `timeoutMs` passed) before any was dropped.
 */
export async function dropSshConnectionsWhen(
  sshdPid: number,
  handle: CliChild,
  condition: () => Promise<boolean>,
  timeoutMs = 300_000,
): Promise<KilledProcess[]> {
  const deadline = Date.now() + timeoutMs;
  while (running(handle) && Date.now() < deadline) {
    if (await condition().catch(() => false)) {
      const killed = await dropSshConnections(sshdPid);
      if (killed.length > 0) return killed;
    }
    await sleep(5);
  }
  return [];
}

/**
 * SIGKILLs the host's ns-slapd, as a crash would (what `lab kill-ds` does), from this process: through the
 * CLI the kill came seconds late on a loaded machine, after the step it was meant to hit had finished.
 */
export async function killDirectoryServer(lab: TestLab, host: string): Promise<CliResult> {
  const started = Date.now();
  const pid = Number((await readFile(lab.paths.slapdPidFile(host, 'IPA-TEST'), 'utf8').catch(() => '')).trim());
  const running = pid > 0 && (await cmdlineOf(pid).catch(() => '')).includes('ns-slapd');
  if (running) process.kill(pid, 'SIGKILL');
  const stdout = running ? `lab: ${host}: ns-slapd killed` : `lab: ${host}: ns-slapd was not running`;
  return { code: 0, stdout, stderr: '', ms: Date.now() - started };
}

// A run's journal, read the way a person would after the fact.

export interface JournalLine {
  type: string;
  taskId?: string;
  host?: string;
  status?: string;
  message?: string;
  error?: string;
}

export async function readJournal(runsDir: string, runId: string): Promise<JournalLine[]> {
  const text = await readFile(join(runsDir, runId, 'journal.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as JournalLine];
      } catch {
        return [];
      }
    });
}

/** Where the journal says the run stopped: the first task that failed, was interrupted, or started and never finished. */
export function stoppedAt(lines: JournalLine[]): string | undefined {
  const failed = lines.find(
    (l) => (l.type === 'task.finished' && l.status === 'failed') || l.type === 'task.interrupted',
  );
  if (failed) return failed.taskId;
  const finished = new Set(lines.filter((l) => l.type === 'task.finished').map((l) => l.taskId));
  return lines.find((l) => l.type === 'task.started' && !finished.has(l.taskId))?.taskId;
}

// What the lab's directories hold, read over plain LDAP from the controller (the hosts' addresses are
// local), how to damage them, and the OpenPGP keys a backup is encrypted to.

export const DOMAIN = 'dc=ipa,dc=test';
export const CA = 'o=ipaca';
const PEOPLE = `ou=people,${DOMAIN}`;
const RUV = '(&(nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff)(objectclass=nstombstone))';

export interface LabDirectory {
  hosts: string[];
  address(host: string): string;
  withLdap<T>(host: string, fn: (c: Client) => Promise<T>): Promise<T>;
}

/** The lab's `count` hosts (a.ipa.test, b.ipa.test, …); LDAP operations time out after `timeoutMs`. */
export async function labDirectory(lab: TestLab, count: number, timeoutMs = 30_000): Promise<LabDirectory> {
  const password = (await readFile(lab.paths.dmPassword, 'utf8')).trim();
  const hosts = Array.from({ length: count }, (_, i) => `${String.fromCharCode(97 + i)}.ipa.test`);
  const address = (host: string): string => `${lab.net}.${host.charCodeAt(0) - 96}`;
  return {
    hosts,
    address,
    async withLdap(host, fn) {
      const client = new Client({ url: `ldap://${address(host)}:389`, timeout: timeoutMs, connectTimeout: 10_000 });
      try {
        await client.bind('cn=Directory Manager', password);
        return await fn(client);
      } finally {
        await client.unbind().catch(() => undefined);
      }
    },
  };
}

export async function uids(dir: LabDirectory, host: string): Promise<string[]> {
  return dir.withLdap(host, async (c) => {
    const { searchEntries } = await c.search(PEOPLE, {
      scope: 'one',
      filter: '(uid=*)',
      attributes: ['uid'],
      paged: true,
    });
    return searchEntries.map((e) => String(e.uid)).sort();
  });
}

export async function countUnder(dir: LabDirectory, host: string, base: string): Promise<number> {
  return dir.withLdap(
    host,
    async (c) =>
      (await c.search(base, { scope: 'sub', filter: '(objectClass=*)', attributes: ['1.1'], paged: true }))
        .searchEntries.length,
  );
}

export async function addUsers(dir: LabDirectory, host: string, names: string[]): Promise<void> {
  await dir.withLdap(host, async (c) => {
    for (const uid of names) await c.add(`uid=${uid},${PEOPLE}`, { objectClass: ['top', 'account'], uid });
  });
}

export async function deleteUsers(dir: LabDirectory, host: string, names: string[]): Promise<void> {
  await dir.withLdap(host, async (c) => {
    for (const uid of names) await c.del(`uid=${uid},${PEOPLE}`);
  });
}

export async function generation(dir: LabDirectory, host: string, suffix: string): Promise<string | undefined> {
  return dir.withLdap(host, async (c) => {
    const { searchEntries } = await c.search(suffix, { scope: 'sub', filter: RUV, attributes: ['nsds50ruv'] });
    const values = searchEntries.flatMap((e) => [e.nsds50ruv ?? []].flat().map(String));
    return /\{replicageneration\}\s*(\S+)/i.exec(values.find((v) => /replicageneration/i.test(v)) ?? '')?.[1];
  });
}

export interface AgreementState {
  host: string;
  name: string;
  suffix: string;
  enabled: string;
  status: string;
}

export async function agreements(dir: LabDirectory, host: string): Promise<AgreementState[]> {
  return dir.withLdap(host, async (c) => {
    const { searchEntries } = await c.search('cn=mapping tree,cn=config', {
      scope: 'sub',
      filter: '(objectClass=nsds5replicationagreement)',
      attributes: ['cn', 'nsDS5ReplicaRoot', 'nsds5ReplicaEnabled', 'nsds5replicaLastUpdateStatusJSON'],
    });
    return searchEntries.map((e) => ({
      host,
      name: String(e.cn),
      suffix: String(e.nsDS5ReplicaRoot),
      enabled: String(e.nsds5ReplicaEnabled ?? 'on').toLowerCase(),
      status: String(e.nsds5replicaLastUpdateStatusJSON ?? ''),
    }));
  });
}

/** Waits until every host lists exactly `want` users (replication settled). */
export async function waitForUsers(
  dir: LabDirectory,
  want: string[],
  timeoutMs = 60_000,
  hosts = dir.hosts,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(hosts.map((h) => uids(dir, h)));
    if (all.every((u) => u.length === want.length && u.every((x, i) => x === want[i]))) return;
    if (Date.now() > deadline)
      assert.fail(
        `users did not settle on every host: ${all.map((u, i) => `${hosts[i]} ${u.length}`).join(', ')} (want ${want.length})`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A converged deployment: the expected users everywhere, one generation per suffix, every agreement on. */
export async function assertConverged(dir: LabDirectory, want: string[], caHosts: string[]): Promise<void> {
  for (const h of dir.hosts) assert.deepEqual(await uids(dir, h), want, `${h}: users differ from the snapshot's`);
  for (const [suffix, hosts] of [
    [DOMAIN, dir.hosts],
    [CA, caHosts],
  ] as const) {
    const gens = await Promise.all(hosts.map((h) => generation(dir, h, suffix)));
    assert.ok(gens[0], `${suffix}: no generation on ${hosts[0]}`);
    assert.deepEqual(new Set(gens).size, 1, `${suffix}: generations differ: ${gens.join(', ')}`);
  }
  // Every agreement on; green once any transient "replica busy" (amber) has passed.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const all = (await Promise.all(dir.hosts.map((h) => agreements(dir, h)))).flat();
    for (const a of all) assert.equal(a.enabled, 'on', `${a.host} ${a.name} is not enabled`);
    const notGreen = all.filter((a) => !/"state": ?"green"/.test(a.status));
    if (notGreen.length === 0) return;
    if (Date.now() > deadline || notGreen.some((a) => /"state": ?"red"/.test(a.status))) {
      assert.fail(`agreements not green: ${notGreen.map((a) => `${a.host} ${a.name}: ${a.status}`).join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function makeKeys(dir: string): Promise<{ pub: string; sec: string; pass: string }> {
  const k = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'Restore test' }],
    passphrase: 'restore pass',
    format: 'armored',
  });
  const pub = join(dir, 'pub.asc');
  const sec = join(dir, 'sec.asc');
  const pass = join(dir, 'pass');
  await writeFile(pub, k.publicKey);
  await writeFile(sec, k.privateKey, { mode: 0o600 });
  await writeFile(pass, 'restore pass\n', { mode: 0o600 });
  return { pub, sec, pass };
}

/** Every live DN of a suffix on a host (lower-cased, sorted): what "the same entries" means. */
export async function dnsOf(dir: LabDirectory, host: string, base: string): Promise<string[]> {
  return dir.withLdap(host, async (c) =>
    (await c.search(base, { scope: 'sub', filter: '(objectClass=*)', attributes: ['1.1'], paged: true })).searchEntries
      .map((e) => e.dn.toLowerCase())
      .filter((dn) => !dn.startsWith('cn=repl keep alive'))
      .sort(),
  );
}

/** An entry's attribute values, the name matched without regard to case (servers answer in their own case). */
export function attribute(entry: Record<string, unknown>, name: string): string[] {
  const v = Object.entries(entry).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  return v === undefined
    ? []
    : (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
}
