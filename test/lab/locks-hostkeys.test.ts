// Locks and host keys on one real lab (2 hosts, CA on a), through the CLI as a user would.
//
// Concurrency: while a FULL backup runs, a second backup and a second restore of the same deployment
// are refused (exit 11) with one line naming the holder (run, pid, host, since); a lock left by a
// killed run (SIGKILL) or a lock file whose pid is dead is detected as stale, warned about and
// replaced; a dead-pid shared or exclusive store lock is removed with a warning.
//
// Host keys: a lab host whose sshd host key really changes between two runs is refused (exit 12) with
// the new key's fingerprint and the known_hosts file named, also under accept-new, which leaves
// known_hosts byte-identical; a host not yet in known_hosts is recorded (appended) under accept-new
// and refused under strict.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { bringUpLab, type startCli, waitFor, type CliResult, type TestLab } from './fixture.js';
import { makeKeys } from './fixture.js';

const DEPLOYMENT = 'ipa-lab';
const A = 'a.ipa.test';
const B = 'b.ipa.test';
const run = promisify(execFile);

interface LockHolder {
  pid: number;
  host: string;
  runId: string;
  playbook: string;
  since: string;
}
interface ListedSnapshot {
  id: string;
  host: string;
  type: string;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const re = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const oneLine = (s: string): string => s.trim().split('\n').slice(-1)[0] ?? '';

/** Whether something accepts TCP connections at address:port. */
function listening(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The pid of a process that has exited and been reaped: certainly not alive. */
async function deadPid(): Promise<number> {
  const child = execFile('true');
  const pid = child.pid!;
  await new Promise((r) => child.once('exit', r));
  return pid;
}

describe('locks and host keys (lab: a, b; CA on a)', { timeout: 15 * 60_000 }, () => {
  let lab: TestLab;
  let state: string;
  let store: string;
  let keys: { pub: string; sec: string; pass: string };
  let snapshotOfA: string;
  const results: Array<[check: string, exit: string, time: string, message: string]> = [];
  const started = Date.now();

  const lockFile = (): string => join(state, 'ipa-fleet', 'locks', `${DEPLOYMENT}.lock`);
  const storeLocks = (): string => join(store, DEPLOYMENT, '.locks');
  /** The CLI on this lab's inventory. */
  const onLab = (args: string[]): string[] => ['-i', lab.paths.inventory, ...args];
  const backupArgs = (type: 'data' | 'full'): string[] => [
    'backup',
    '--type',
    type,
    '--encrypt-to',
    keys.pub,
    '--store',
    store,
  ];
  const restoreArgs = (): string[] => [
    'restore',
    '--master',
    A,
    '--backup',
    snapshotOfA,
    '--key',
    keys.sec,
    '--passphrase',
    `file:${keys.pass}`,
    '--store',
    store,
    '--yes',
  ];
  const record = (check: string, r: CliResult | number | string | null, message: string, ms?: number): void => {
    const cli = typeof r === 'object' && r !== null ? r : undefined;
    const took = cli?.ms ?? ms;
    results.push([
      check,
      cli ? String(cli.code) : r === null ? 'killed' : String(r),
      took === undefined ? '' : `${(took / 1000).toFixed(1)} s`,
      message,
    ]);
  };

  before(async () => {
    lab = await bringUpLab(['--hosts', '2', '--ca', 'a']);
    // Runs, journals and the deployment lock of these tests live in the lab's temp folder.
    state = lab.stateDir;
    store = join(lab.tmp, 'store');
    keys = await makeKeys(lab.tmp);
    console.log(`lab up in ${(lab.upOutput.ms / 1000).toFixed(1)} s`);
  });

  after(async () => {
    if (results.length) {
      const rows = [['CHECK', 'EXIT', 'TIME', 'MESSAGE (stderr, last line) / RESULT'], ...results];
      const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
      console.log('\nlocks and host keys:');
      for (const r of rows)
        console.log(`${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}`);
      console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s including lab up)`);
    }
    await lab?.down();
  });

  // ------------------------------------------------------------------------------------------------
  // Concurrency

  it('a DATA snapshot to restore from', async () => {
    const r = await lab.fleet(onLab(backupArgs('data')));
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse((await lab.fleet(['--json', 'backups', 'list', '--store', store])).stdout) as {
      snapshots: ListedSnapshot[];
    };
    snapshotOfA = list.snapshots.find((s) => s.host === A)!.id;
    assert.ok(snapshotOfA, 'a snapshot of a.ipa.test');
    assert.ok(!existsSync(lockFile()), 'the lock is released after the run');
    record('DATA backup (setup)', r, `snapshot of ${A}: ${snapshotOfA}`);
  });

  describe('while a FULL backup runs', () => {
    let full: ReturnType<typeof startCli>;
    let holder: LockHolder;
    let fullStarted: number;

    before(async () => {
      fullStarted = Date.now();
      full = lab.startFleet(['-i', lab.paths.inventory, ...backupArgs('full')]);
      holder = await waitFor('the FULL backup to take the deployment lock', 60_000, async () => {
        if (full.child.exitCode !== null)
          throw new Error(`the FULL backup ended early (exit ${full.child.exitCode}): ${full.output.stderr}`);
        try {
          return JSON.parse(await readFile(lockFile(), 'utf8')) as LockHolder;
        } catch {
          return undefined;
        }
      });
      // Into the backup proper: a server is being stopped or backed up.
      await waitFor('the FULL backup to start on a host', 60_000, async () =>
        (await readdir(storeLocks()).catch(() => [])).some((n) => n.startsWith('shared-')) ? true : undefined,
      );
    });

    after(async () => {
      if (full && full.child.exitCode === null) {
        full.child.kill('SIGTERM');
        await full.exited;
      }
    });

    const holderLine = (): RegExp =>
      new RegExp(
        `^ipa-fleet: (?:error: )?deployment '${DEPLOYMENT}' is locked by run ${re(holder.runId)} \\(backup-fleet, pid ${holder.pid} on ${re(holder.host)}, since ${re(holder.since)}\\); lock file ${re(lockFile())}$`,
      );

    it('the lock names the running backup: its run, pid, host and start', () => {
      assert.equal(holder.pid, full.child.pid, 'the pid of the backup process');
      assert.equal(holder.host, hostname());
      assert.equal(holder.playbook, 'backup-fleet');
      assert.match(holder.runId, /-backup-fleet-/);
      assert.ok(Math.abs(Date.parse(holder.since) - Date.now()) < 5 * 60_000, holder.since);
    });

    it('a second backup is refused: exit 11, one line naming the holder', async () => {
      const r = await lab.fleet(onLab(backupArgs('data')));
      record('2nd backup during FULL backup', r, oneLine(r.stderr));
      assert.equal(r.code, 11, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.match(r.stderr.trim(), holderLine());
      assert.equal(full.child.exitCode, null, 'the FULL backup is still running');
    });

    it('a second restore is refused: exit 11, one line naming the holder', async () => {
      // While the FULL backup has one server stopped (its LDAP port closed): the usual state of a FULL backup.
      const stopped = await waitFor('the FULL backup to stop a server', 60_000, async () => {
        if (full.child.exitCode !== null) throw new Error(`the FULL backup ended (exit ${full.child.exitCode})`);
        for (const [host, address] of [
          [A, `${lab.net}.1`],
          [B, `${lab.net}.2`],
        ] as const)
          if (!(await listening(address, 389))) return host;
        return undefined;
      });
      const r = await lab.fleet(onLab(restoreArgs()));
      record(`2nd restore during FULL backup (${stopped} stopped)`, r, oneLine(r.stderr));
      assert.equal(full.child.exitCode, null, 'the FULL backup was still running');
      assert.equal(r.code, 11, r.stdout + r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.match(r.stderr.trim(), holderLine());
    });

    it('the FULL backup itself succeeds and releases the lock', async () => {
      const code = await full.exited;
      record(
        'the FULL backup (a, then b stopped)',
        code,
        `${full.output.stdout.split('\n').filter((l) => /\.ipa\.test\s+\S+\s+full\s/.test(l)).length} FULL snapshot(s) listed; lock released`,
        Date.now() - fullStarted,
      );
      assert.equal(code, 0, full.output.stderr);
      assert.equal(
        full.output.stdout.split('\n').filter((l) => /\.ipa\.test\s+\S+\s+full\s/.test(l)).length,
        2,
        full.output.stdout,
      );
      assert.ok(!existsSync(lockFile()));
      assert.deepEqual(
        (await readdir(storeLocks())).filter((n) => !n.startsWith('.')),
        [],
        'no store lock left',
      );
    });
  });

  it('a restore while the deployment lock is held by a live run (every server up): exit 11, one line naming the holder', async () => {
    // A live process stands in for the holder (the lock file as src/playbook/lock.ts writes it).
    const holderProcess = execFile('sleep', ['600']);
    try {
      const holder: LockHolder = {
        runId: '20260101T000000Z-backup-fleet-live',
        playbook: 'backup-fleet',
        pid: holderProcess.pid!,
        host: hostname(),
        since: new Date().toISOString(),
      };
      await mkdir(join(state, 'ipa-fleet', 'locks'), { recursive: true });
      await writeFile(lockFile(), JSON.stringify(holder), { mode: 0o600 });
      for (const what of ['restore', 'backup'] as const) {
        const r = await lab.fleet(onLab(what === 'restore' ? restoreArgs() : backupArgs('data')));
        record(`${what} while a live run holds the lock`, r, oneLine(r.stderr));
        assert.equal(r.code, 11, r.stdout + r.stderr);
        assert.equal(
          r.stderr
            .trim()
            .split('\n')
            .filter((l) => l.startsWith('ipa-fleet:')).length,
          1,
          `one error line: ${r.stderr}`,
        );
        assert.match(
          oneLine(r.stderr),
          new RegExp(
            `^ipa-fleet: error: deployment '${DEPLOYMENT}' is locked by run ${re(holder.runId)} \\(backup-fleet, pid ${holder.pid} on ${re(holder.host)}, since ${re(holder.since)}\\); lock file ${re(lockFile())}$`,
          ),
        );
        assert.deepEqual(JSON.parse(await readFile(lockFile(), 'utf8')), holder, "the holder's lock is left alone");
      }
    } finally {
      holderProcess.kill('SIGKILL');
      await rm(lockFile(), { force: true });
    }
  });

  it('a backup killed with SIGKILL leaves its locks; the next backup detects them as stale, warns and proceeds (exit 0)', async () => {
    const victim = lab.startFleet(['-i', lab.paths.inventory, ...backupArgs('data')]);
    // Killed once it holds both the deployment lock and a shared store lock.
    const held = await waitFor('the backup to hold its locks', 60_000, async () => {
      if (victim.child.exitCode !== null)
        throw new Error(`the backup ended before it could be killed (exit ${victim.child.exitCode})`);
      const lock = await readFile(lockFile(), 'utf8').then(
        (t) => JSON.parse(t) as LockHolder,
        () => undefined,
      );
      const shared = (await readdir(storeLocks()).catch(() => [] as string[])).filter((n) =>
        n.startsWith(`shared-${victim.child.pid}-`),
      );
      return lock && shared.length ? { lock, shared } : undefined;
    });
    victim.child.kill('SIGKILL');
    assert.equal(await victim.exited, null, 'killed');
    record(
      'DATA backup SIGKILLed holding its locks',
      null,
      `left ${lockFile().split('/').slice(-2).join('/')} (pid ${held.lock.pid}) and .locks/${held.shared[0]}`,
    );
    assert.equal(held.lock.pid, victim.child.pid);
    assert.ok(existsSync(lockFile()), 'the killed run left its deployment lock');

    const logBefore = (await readFile(lab.logFile, 'utf8')).length;
    const next = await lab.fleet(onLab(['-v', ...backupArgs('data')]));
    const log = (await readFile(lab.logFile, 'utf8')).slice(logBefore);
    const staleDeployment = new RegExp(
      `removing stale lock of deployment '${DEPLOYMENT}' \\(run ${re(held.lock.runId)}, pid ${held.lock.pid} is gone\\)`,
    );
    const staleStore = new RegExp(
      `removed the stale shared store lock of deployment '${DEPLOYMENT}' \\(backup [a-z.]+, pid ${held.lock.pid} on ${re(hostname())} is gone, since [^)]+\\)`,
    );
    record(
      'backup after SIGKILLed backup (-v)',
      next,
      `${(next.stderr.match(staleDeployment) ?? [''])[0]} | ${(next.stderr.match(staleStore) ?? [''])[0]}`,
    );
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, staleDeployment, 'stale deployment lock warned about on stderr (-v)');
    assert.match(next.stderr, staleStore, 'stale store lock warned about on stderr (-v)');
    assert.match(log, staleDeployment, 'and in the log file');
    assert.ok(!existsSync(lockFile()));
    assert.deepEqual(
      (await readdir(storeLocks())).filter((n) => !n.startsWith('.')),
      [],
      'the dead store locks were removed',
    );
  });

  it('a lock file written as lock.ts writes it, with a dead pid: warned about (stale) and replaced; the run succeeds', async () => {
    const pid = await deadPid();
    const stale: LockHolder = {
      runId: '20260101T000000Z-backup-fleet-dead',
      playbook: 'backup-fleet',
      pid,
      host: hostname(),
      since: '2026-01-01T00:00:00.000Z',
    };
    await mkdir(join(state, 'ipa-fleet', 'locks'), { recursive: true });
    await writeFile(lockFile(), JSON.stringify(stale), { mode: 0o600 });
    const r = await lab.fleet(onLab(['-v', ...backupArgs('data')]));
    const warning = new RegExp(
      `removing stale lock of deployment '${DEPLOYMENT}' \\(run ${re(stale.runId)}, pid ${pid} is gone\\)`,
    );
    record('backup with dead-pid deployment lock (-v)', r, (r.stderr.match(warning) ?? ['(no warning)'])[0]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, warning);
    assert.ok(!existsSync(lockFile()), 'replaced, then released');
  });

  it('dead-pid store locks (shared and exclusive) are removed with a warning; the backup succeeds', async () => {
    const pid = await deadPid();
    const since = new Date(Date.now() - 3600_000).toISOString();
    await mkdir(storeLocks(), { recursive: true });
    const shared = join(storeLocks(), `shared-${pid}-0badc0de.json`);
    const exclusive = join(storeLocks(), 'exclusive.json');
    await writeFile(
      shared,
      `${JSON.stringify({ kind: 'shared', pid, host: hostname(), command: 'backup a.ipa.test', time: since, token: 'aa' })}\n`,
      { mode: 0o600 },
    );
    await writeFile(
      exclusive,
      `${JSON.stringify({ kind: 'exclusive', pid, host: hostname(), command: 'backups prune', time: since, token: 'bb' })}\n`,
      { mode: 0o600 },
    );
    const r = await lab.fleet(onLab(['-v', ...backupArgs('data')]));
    const sharedWarning = new RegExp(
      `removed the stale shared store lock of deployment '${DEPLOYMENT}' \\(backup a\\.ipa\\.test, pid ${pid} on ${re(hostname())} is gone, since ${re(since)}\\)`,
    );
    const exclusiveWarning = new RegExp(
      `removed the stale exclusive store lock of deployment '${DEPLOYMENT}' \\(backups prune, pid ${pid} on ${re(hostname())} is gone, since ${re(since)}\\)`,
    );
    record(
      'backup with dead-pid store locks (-v)',
      r,
      `${(r.stderr.match(exclusiveWarning) ?? ['(no exclusive warning)'])[0]} | ${(r.stderr.match(sharedWarning) ?? ['(no shared warning)'])[0]}`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, exclusiveWarning);
    assert.match(r.stderr, sharedWarning);
    assert.deepEqual(
      (await readdir(storeLocks())).filter((n) => !n.startsWith('.')),
      [],
    );
  });

  it('without -v the stale-lock warnings reach stderr too', async () => {
    const pid = await deadPid();
    await writeFile(
      lockFile(),
      JSON.stringify({
        runId: 'quiet-dead-run',
        playbook: 'backup-fleet',
        pid,
        host: hostname(),
        since: new Date().toISOString(),
      }),
      { mode: 0o600 },
    );
    await writeFile(
      join(storeLocks(), `shared-${pid}-0ddba11.json`),
      `${JSON.stringify({ kind: 'shared', pid, host: hostname(), command: 'backup b.ipa.test', time: new Date().toISOString(), token: 'cc' })}\n`,
      { mode: 0o600 },
    );
    const logBefore = (await readFile(lab.logFile, 'utf8')).length;
    const r = await lab.fleet(onLab(backupArgs('data')));
    const log = (await readFile(lab.logFile, 'utf8')).slice(logBefore);
    record('backup with dead-pid locks (no -v)', r, oneLine(r.stderr) || '(stderr empty)');
    assert.equal(r.code, 0, r.stderr);
    assert.match(log, /removing stale lock of deployment 'ipa-lab' \(run quiet-dead-run/, 'the log file has it');
    assert.match(log, /removed the stale shared store lock/, 'the log file has it');
    assert.match(r.stderr, /stale lock of deployment 'ipa-lab'/, 'stderr: deployment lock');
    assert.match(r.stderr, /stale shared store lock/, 'stderr: store lock');
  });

  // ------------------------------------------------------------------------------------------------
  // Host keys

  describe('host keys', () => {
    let acceptNewInventory: string;
    let oldFingerprintB: string;
    let newFingerprintB: string;

    const inventoryWith = async (
      name: string,
      knownHosts: string,
      policy: 'strict' | 'accept-new',
    ): Promise<string> => {
      // The lab's own inventory with absolute paths and the policy set.
      const file = join(lab.tmp, `${name}.yaml`);
      const text = (await readFile(lab.paths.inventory, 'utf8'))
        .replace('identity_file: id_ed25519', `identity_file: ${lab.paths.identity}`)
        .replace('known_hosts: known_hosts', `known_hosts: ${knownHosts}\n      host_key_policy: ${policy}`)
        .replace('password: file:dm-password', `password: file:${lab.paths.dmPassword}`);
      assert.match(text, new RegExp(`host_key_policy: ${policy}`));
      await writeFile(file, text);
      return file;
    };
    const ping = (inventory: string, limit?: string): Promise<CliResult> =>
      lab.fleet(['-i', inventory, ...(limit ? ['--limit', limit] : []), 'ping']);
    const keyFingerprint = async (pubFile: string): Promise<string> =>
      (await run('ssh-keygen', ['-l', '-f', pubFile])).stdout.split(/\s+/)[1]!;
    const hostKey = (host: string): string => join(lab.paths.hostDir(host), 'ssh', 'host_ed25519');

    before(async () => {
      acceptNewInventory = await inventoryWith('accept-new', lab.paths.knownHosts, 'accept-new');
    });

    it("ping succeeds with the lab's known_hosts (strict, the default)", async () => {
      const r = await ping(lab.paths.inventory);
      record(
        'ping, keys as recorded',
        r,
        r.stdout
          .split('\n')
          .filter((l) => l.includes('ipa.test'))
          .map((l) => l.replace(/\s+/g, ' '))
          .join(' | '),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        (await readFile(lab.paths.knownHosts, 'utf8'))
          .split('\n')
          .some((l) => l.startsWith(`b.ipa.test,${lab.net}.2 ssh-ed25519 `)),
      );
    });

    it("b's sshd gets a new host key (ssh-keygen, then sshd re-executes itself on SIGHUP)", async () => {
      oldFingerprintB = await keyFingerprint(`${hostKey(B)}.pub`);
      await rm(hostKey(B));
      await rm(`${hostKey(B)}.pub`);
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', B, '-f', hostKey(B)]);
      newFingerprintB = await keyFingerprint(`${hostKey(B)}.pub`);
      assert.notEqual(newFingerprintB, oldFingerprintB);
      // sshd re-reads its configuration and host keys when it gets SIGHUP (it re-executes itself):
      // the host, its namespace and its 389-DS stay up.
      const pid = Number((await readFile(lab.paths.sshdPidFile(B), 'utf8')).trim());
      process.kill(pid, 'SIGHUP');
      // Until the new sshd listens and offers the new key (ssh-keyscan, outside ipa-fleet).
      await waitFor("b's sshd to offer its new key", 20_000, async () => {
        const scan = await run('ssh-keyscan', ['-t', 'ed25519', '-T', '2', `${lab.net}.2`]).catch(() => ({
          stdout: '',
        }));
        const line = scan.stdout.split('\n').find((l) => l.includes('ssh-ed25519'));
        if (!line) return undefined;
        const file = join(lab.tmp, 'scanned.pub');
        await writeFile(file, `${line.split(/\s+/).slice(1).join(' ')}\n`);
        return (await keyFingerprint(file)) === newFingerprintB ? true : undefined;
      });
      record('b: host key replaced (ssh-keygen + SIGHUP)', '-', `${oldFingerprintB} -> ${newFingerprintB}`);
    });

    it('strict: ping b is refused, exit 12, one line with the new fingerprint and the known_hosts file', async () => {
      const before = await readFile(lab.paths.knownHosts);
      const r = await ping(lab.paths.inventory, B);
      record('strict: ping b after key change', r, oneLine(r.stderr));
      assert.equal(r.code, 12, r.stdout + r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.match(
        r.stderr.trim(),
        new RegExp(
          `^ipa-fleet: (?:error: )?b\\.ipa\\.test: HOST KEY CHANGED: the server offers ${re(newFingerprintB)} but ${re(lab.paths.knownHosts)} has ${re(oldFingerprintB)} for b\\.ipa\\.test; refusing to connect`,
        ),
      );
      assert.equal(sha256(await readFile(lab.paths.knownHosts)), sha256(before), 'known_hosts unchanged');
      // The whole deployment: a is fine, b is refused; the run exits 12 (authentication / host key).
      const all = await ping(lab.paths.inventory);
      record('strict: ping all after key change', all, oneLine(all.stderr));
      assert.equal(all.code, 12, all.stderr);
      assert.match(all.stdout, /^a\.ipa\.test\s+ok\s+a\.ipa\.test\s+ok/m);
      assert.match(all.stderr, new RegExp(re(newFingerprintB)));
    });

    it('accept-new: the same refusal, and known_hosts stays byte-identical', async () => {
      const before = await readFile(lab.paths.knownHosts);
      for (const limit of [B, undefined]) {
        const r = await ping(acceptNewInventory, limit);
        record(`accept-new: ping ${limit ? 'b' : 'all'} after key change`, r, oneLine(r.stderr));
        assert.equal(r.code, 12, r.stdout + r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
        assert.match(
          r.stderr.trim(),
          new RegExp(
            `b\\.ipa\\.test: HOST KEY CHANGED: the server offers ${re(newFingerprintB)} but ${re(lab.paths.knownHosts)} has ${re(oldFingerprintB)}`,
          ),
        );
      }
      const after = await readFile(lab.paths.knownHosts);
      assert.equal(sha256(after), sha256(before), 'accept-new never replaced the known key');
      assert.equal(
        after
          .toString()
          .split('\n')
          .filter((l) => l.startsWith('b.ipa.test,')).length,
        1,
        'one line for b, the old one',
      );
      record(
        'accept-new: known_hosts sha256 before/after',
        '-',
        `${sha256(before).slice(0, 16)}… = ${sha256(after).slice(0, 16)}…`,
      );
    });

    it('a host not yet in known_hosts: strict refuses it (exit 12, file untouched); accept-new records it (appended) and connects', async () => {
      const lines = (await readFile(lab.paths.knownHosts, 'utf8'))
        .split('\n')
        .filter((l) => l && !l.startsWith('a.ipa.test,'));
      const withoutA = `${lines.join('\n')}\n`;
      const strictFile = join(lab.tmp, 'known_hosts-strict');
      const acceptFile = join(lab.tmp, 'known_hosts-accept');
      await writeFile(strictFile, withoutA, { mode: 0o600 });
      await writeFile(acceptFile, withoutA, { mode: 0o600 });
      const fingerprintA = await keyFingerprint(`${hostKey(A)}.pub`);

      const strict = await ping(await inventoryWith('unknown-strict', strictFile, 'strict'), A);
      record('strict: ping a, not in known_hosts', strict, oneLine(strict.stderr));
      assert.equal(strict.code, 12, strict.stderr);
      assert.equal(strict.stderr.trim().split('\n').length, 1, `one line: ${strict.stderr}`);
      assert.match(
        strict.stderr,
        new RegExp(`a\\.ipa\\.test: unknown host key ${re(fingerprintA)}: not in ${re(strictFile)}`),
      );
      assert.equal(await readFile(strictFile, 'utf8'), withoutA, 'strict never writes known_hosts');

      const accepted = await ping(await inventoryWith('unknown-accept', acceptFile, 'accept-new'), A);
      const text = await readFile(acceptFile, 'utf8');
      const appended = text.slice(withoutA.length);
      record(
        'accept-new: ping a, not in known_hosts',
        accepted,
        `appended: ${appended.trim().replace(/ (\S{12})\S+$/, ' $1…')}`,
      );
      assert.equal(accepted.code, 0, accepted.stderr);
      assert.ok(text.startsWith(withoutA), 'the existing lines are kept as they were');
      const pubA = (await readFile(`${hostKey(A)}.pub`, 'utf8')).trim().split(/\s+/);
      assert.equal(
        appended,
        `a.ipa.test,${lab.net}.1 ${pubA[0]} ${pubA[1]}\n`,
        'one line for a with its real key, appended',
      );
      // From now on a strict run with that file connects to a.
      const again = await ping(await inventoryWith('recorded-strict', acceptFile, 'strict'), A);
      record('strict: ping a with the recorded key', again, again.code === 0 ? 'ok' : oneLine(again.stderr));
      assert.equal(again.code, 0, again.stderr);
    });
  });
});
