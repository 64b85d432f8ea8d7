// Hosts without root login (issue 16): the lab's sshd refuses root, the inventory logs in as a plain user
// with `ssh.become: sudo`. Every operation works through sudo, first with sudo's password read from a
// file, then with a NOPASSWD rule; a user without the sudo right is refused before any change (exit 12);
// Ctrl-C still ends the remote root command; and the sudo password is found nowhere.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { sudoersFile } from '../../src/lab/host-files.js';
import {
  addUsers,
  assertConverged,
  bringUpLab,
  cmdlineOf,
  descendantsOf,
  labDirectory,
  makeKeys,
  ROOT,
  uids,
  waitFor,
  waitForUsers,
  type CliResult,
  type LabDirectory,
  type TestLab,
} from './fixture.js';
import { filesUnder, needlesFor, occurrences, ProcessSampler } from './secret-scan.js';

const run = promisify(execFile);
const A = 'a.ipa.test';
const B = 'b.ipa.test';
const SUDO_USER = 'fleetsudo';
const NO_SUDO_USER = 'fleetnosudo';
const MARKERS = join(ROOT, 'test', 'fixtures', 'playbooks', 'markers.yaml');
/** A nap no other test uses: its `sleep` is this test's remote root command. */
const NAP = 4713;

describe('sudo instead of root login (a↔b, CA on a)', { timeout: 15 * 60_000 }, () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let keys: { pub: string; sec: string; pass: string };
  let secretDir: string;
  let passwordFile: string;
  let password: string;
  let baseline: string[];
  /** Every CLI result of the run, searched for the password at the end. */
  const outputs: CliResult[] = [];
  const sampler = new ProcessSampler();
  const shown = (r: CliResult): string => `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`;
  const fleet = async (args: string[]): Promise<CliResult> => {
    const r = await lab.fleet(['-vvv', ...args]);
    outputs.push(r);
    return r;
  };
  const store = (): string => join(lab.tmp, 'store');

  /** ping, facts, backup DATA and FULL, a deployment restore, a rejoin: all exit 0, content right. */
  const everyOperation = async (tag: string): Promise<void> => {
    const inv = lab.paths.inventory;
    for (const args of [
      ['ping', '-i', inv],
      ['facts', '-i', inv],
      ['backup', '-i', inv, '--encrypt-to', keys.pub, '--store', store()],
      ['backup', '-i', inv, '--limit', A, '--type', 'full', '--encrypt-to', keys.pub, '--store', store()],
    ]) {
      const r = await fleet(args);
      assert.equal(r.code, 0, `${args[0]}: ${shown(r)}`);
    }
    const list = JSON.parse((await fleet(['--json', 'backups', 'list', '--store', store()])).stdout) as {
      snapshots: Array<{ id: string; host: string; type: string; createdAt: string }>;
    };
    const data = list.snapshots.filter((s) => s.host === A && s.type === 'data').pop()!;
    await addUsers(dir, A, [`${tag}-added`]);
    await waitForUsers(dir, [...baseline, `${tag}-added`].sort());
    const restored = await fleet([
      'restore',
      '-i',
      inv,
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--store',
      store(),
      '--yes',
      '--master',
      A,
      '--backup',
      data.id,
    ]);
    assert.equal(restored.code, 0, shown(restored));
    await assertConverged(dir, baseline, [A]);
    const rejoin = await fleet(['rejoin', '-i', inv, B, '--master', A, '--yes']);
    assert.equal(rejoin.code, 0, shown(rejoin));
    assert.deepEqual(await uids(dir, B), baseline);
  };

  before(async () => {
    secretDir = await mkdtemp(join(tmpdir(), 'ipa-fleet-sudo-secret-'));
    password = `Sudo-${randomBytes(12).toString('base64url')}`;
    passwordFile = join(secretDir, 'sudo-password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    sampler.start();
    lab = await bringUpLab([
      '--hosts',
      '2',
      '--ca',
      'a',
      '--entries',
      '40',
      '--sudo-user',
      SUDO_USER,
      '--sudo-password-file',
      passwordFile,
    ]);
    outputs.push(lab.upOutput);
    dir = await labDirectory(lab, 2);
    keys = await makeKeys(lab.tmp);
    baseline = await uids(dir, A);
    assert.equal(baseline.length, 40);
  });

  after(async () => {
    await sampler.stop();
    await lab?.down();
    if (secretDir) await rm(secretDir, { recursive: true, force: true });
  });

  it('sshd refuses root; the sudo user logs in with the lab key and the inventory says become: sudo', async () => {
    const ssh = (user: string, command: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn('ssh', [
          '-i',
          lab.paths.identity,
          '-o',
          `UserKnownHostsFile=${lab.paths.knownHosts}`,
          '-o',
          'BatchMode=yes',
          `${user}@${lab.net}.1`,
          command,
        ]);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', (code) => resolve({ code, out }));
      });
    const root = await ssh('root', 'true');
    assert.equal(root.code, 255, root.out);
    assert.match(root.out, /root@[\d.]+: Permission denied \(publickey\)/);
    const user = await ssh(SUDO_USER, 'id -un');
    assert.equal(user.code, 0, user.out);
    assert.equal(user.out.trim(), SUDO_USER);
    const inventory = await readFile(lab.paths.inventory, 'utf8');
    assert.match(inventory, new RegExp(`user: ${SUDO_USER}\\n\\s+become: sudo\\n\\s+become_password: "file:`));
  });

  it('with the sudo password from a file: ping, facts, backup DATA and FULL, restore and rejoin exit 0', async () => {
    await everyOperation('pw');
  });

  it('Ctrl-C during a long command ends the remote root command', async () => {
    const handle = lab.startFleet([
      'run',
      MARKERS,
      '-i',
      lab.paths.inventory,
      '--yes',
      '--set',
      `dir=/tmp/ipa-fleet-sudo-${randomBytes(4).toString('hex')}`,
      '--set',
      `nap=${NAP}`,
    ]);
    const sshd = await lab.sshdPid(A);
    const sleeping = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const pid of await descendantsOf(sshd)) if ((await cmdlineOf(pid)) === `sleep ${NAP}`) out.push(pid);
      return out;
    };
    const [pid] = await waitFor('the remote sleep to start', 60_000, async () => {
      const found = await sleeping();
      return found.length ? found : undefined;
    });
    const owner = (await readFile(`/proc/${pid}/status`, 'utf8')).match(/^Uid:\s+(\d+)/m)?.[1];
    assert.equal(owner, '0', 'the remote command runs as root');
    handle.child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => handle.child.once('exit', r));
    assert.equal(code, 1, handle.output.stderr);
    await waitFor('the remote sleep to end', 15_000, async () => ((await sleeping()).length ? undefined : true));
  });

  it('a user without the sudo right: exit 12, one line naming host and command, nothing changed', async () => {
    const exists = await run('id', ['-u', NO_SUDO_USER]).then(
      () => true,
      () => false,
    );
    if (!exists) await run('useradd', ['-m', '-s', '/bin/bash', NO_SUDO_USER]);
    await new Promise<void>((resolve, reject) => {
      const child = execFile('chpasswd', [], (err) => (err ? reject(err) : resolve()));
      child.stdin!.end(`${NO_SUDO_USER}:${password}\n`);
    });
    const inventory = join(lab.tmp, 'no-sudo.yaml');
    await writeFile(
      inventory,
      (await readFile(lab.paths.inventory, 'utf8'))
        .replace(`user: ${SUDO_USER}`, `user: ${NO_SUDO_USER}`)
        .replace('identity_file: id_ed25519', `identity_file: ${lab.paths.identity}`)
        .replace('known_hosts: known_hosts', `known_hosts: ${lab.paths.knownHosts}`)
        .replace('password: file:dm-password', `password: file:${lab.paths.dmPassword}`),
    );
    const runsDir = join(lab.stateDir, 'ipa-fleet', 'runs');
    const runsBefore = await readdir(runsDir).catch(() => [] as string[]);
    const refusedStore = join(lab.tmp, 'refused-store');
    const r = await lab.fleet(['backup', '-i', inventory, '--encrypt-to', keys.pub, '--store', refusedStore]);
    outputs.push(r);
    assert.equal(r.code, 12, shown(r));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      new RegExp(`[ab]\\.ipa\\.test: ${NO_SUDO_USER} may not run 'sudo -u root /bin/sh -c …' .*not in the sudoers`),
    );
    const listed = await lab.fleet(['--json', 'backups', 'list', '--store', refusedStore]);
    assert.deepEqual((JSON.parse(listed.stdout) as { snapshots: unknown[] }).snapshots, [], 'no snapshot was written');
    // The run's journal records the refusal and no task that finished (nothing was done on a host).
    const runs = (await readdir(runsDir)).filter((id) => !runsBefore.includes(id));
    assert.equal(runs.length, 1, runs.join(', '));
    const journal = await readFile(join(runsDir, runs[0]!, 'journal.jsonl'), 'utf8');
    const finished = journal
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; status?: string })
      .filter((e) => e.type === 'task.finished' && e.status !== 'failed');
    assert.deepEqual(finished, []);
    for (const h of dir.hosts) assert.deepEqual(await uids(dir, h), baseline);
  });

  it('a wrong sudo password: exit 12 naming the host and the refused password', async () => {
    const wrongFile = join(secretDir, 'wrong-password');
    await writeFile(wrongFile, 'not-the-password\n', { mode: 0o600 });
    const inventory = join(lab.tmp, 'wrong-password.yaml');
    await writeFile(
      inventory,
      (await readFile(lab.paths.inventory, 'utf8'))
        .replace(/become_password: .*/, `become_password: "file:${wrongFile}"`)
        .replace('identity_file: id_ed25519', `identity_file: ${lab.paths.identity}`)
        .replace('known_hosts: known_hosts', `known_hosts: ${lab.paths.knownHosts}`)
        .replace('password: file:dm-password', `password: file:${lab.paths.dmPassword}`),
    );
    const r = await lab.fleet(['ping', '-i', inventory, '--limit', A]);
    outputs.push(r);
    assert.equal(r.code, 12, shown(r));
    assert.match(r.stderr, new RegExp(`${A}: ${SUDO_USER} may not run .*sudo refused the password`));
  });

  it('with a NOPASSWD rule (no become_password): the same operations exit 0', async () => {
    // The hosts' /etc/sudoers is this file, bind-mounted: rewritten in place, it changes for them all.
    await writeFile(lab.paths.sudoers, sudoersFile({ user: SUDO_USER, passwordFile: undefined }));
    const text = await readFile(lab.paths.inventory, 'utf8');
    await writeFile(lab.paths.inventory, text.replace(/^\s+become_password: .*\n/m, ''));
    await everyOperation('nopw');
  });

  it('the sudo password is nowhere: outputs, log, state folder, store, argv and environment of every process', async () => {
    await sampler.stop();
    const needles = needlesFor('sudo password', password);
    const found: string[] = [];
    const search = (place: string, data: Buffer): void => {
      const { count } = occurrences(data, needles);
      if (count > 0) found.push(`${place}: ${count}`);
    };
    for (const [i, r] of outputs.entries()) search(`output ${i}`, Buffer.from(r.stdout + r.stderr));
    for (const file of [
      lab.logFile,
      ...(await filesUnder(lab.stateDir)),
      ...(await filesUnder(store())),
      ...(await filesUnder(lab.paths.root)),
    ])
      search(file, await readFile(file).catch(() => Buffer.alloc(0)));
    for (const c of sampler.contents.values()) search(`${c.kind} of ${c.comm} (pids ${[...c.pids].join(',')})`, c.data);
    assert.ok(sampler.samples > 1000, `processes were sampled (${sampler.samples})`);
    assert.deepEqual(found, []);
  });
});
