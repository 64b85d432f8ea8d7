// The system OpenSSH transport (ssh.transport: openssh) on the lab, through the CLI as an administrator
// would use it: ping, facts, a fleet backup and a restore over one ControlMaster per host; a host named
// by a ~/.ssh/config alias; the inventory's host-key policy (unknown and changed keys refused, accept-new
// recording the key, judged by ssh-keygen); an unreachable host; and Ctrl-C leaving no ssh master and no
// control-socket folder behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  addUsers,
  BIN,
  bringUpLab,
  cleanError,
  type CliResult,
  cmdlineOf,
  exitOf,
  labDirectory,
  type LabDirectory,
  makeKeys,
  processMatching,
  startCli,
  type TestLab,
  uids,
  waitForUsers,
  when,
} from './fixture.js';

const run = promisify(execFile);
const A = 'a.ipa.test';
const B = 'b.ipa.test';

describe('the system ssh client as transport (ssh.transport: openssh)', { timeout: 300_000 }, () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  const shown = (r: CliResult): string => `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`;

  /** The lab inventory with its text changed, written next to it (relative paths still resolve). */
  const variant = async (name: string, edit: (text: string) => string): Promise<string> => {
    const file = join(lab.paths.root, `${name}.yaml`);
    await writeFile(file, edit(await readFile(lab.paths.inventory, 'utf8')));
    return file;
  };

  before(async () => {
    lab = await bringUpLab(['--hosts', '2', '--ca', 'a'], { transport: 'openssh' });
    dir = await labDirectory(lab, 2);
    keys = await makeKeys(lab.tmp);
    store = join(lab.tmp, 'store');
  });

  after(async () => {
    await lab?.down();
  });

  it('ping and facts go through one ssh master per host, and the LDAP tunnel through it', async () => {
    const inventory = await readFile(lab.paths.inventory, 'utf8');
    assert.match(inventory, /^ {6}transport: openssh$/m);
    const ping = await lab.fleet(['-v', 'ping', '-i', lab.paths.inventory]);
    assert.equal(ping.code, 0, shown(ping));
    for (const h of [A, B]) {
      assert.match(ping.stderr, new RegExp(`${h}: ssh \\(openssh\\) connected to ${lab.net}\\.\\d`));
      assert.match(
        ping.stdout,
        new RegExp(`^${h.replace(/\./g, '\\.')}\\s+ok\\s+${h.replace(/\./g, '\\.')}\\s+ok`, 'm'),
      );
    }
    const facts = await lab.fleet(['--json', 'facts', '-i', lab.paths.inventory]);
    assert.equal(facts.code, 0, shown(facts));
    assert.match(facts.stdout, /"rid": 1\b/);
  });

  it('a fleet backup, verify and a restore of the deployment from it', async () => {
    const baseline = await uids(dir, A);
    const backup = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', keys.pub, '--store', store]);
    assert.equal(backup.code, 0, shown(backup));
    const verify = await lab.fleet([
      'backups',
      'verify',
      '--all',
      '--store',
      store,
      '--read-data',
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
    ]);
    assert.equal(verify.code, 0, shown(verify));
    const snapshots = (
      JSON.parse((await lab.fleet(['--json', 'backups', 'list', '--store', store])).stdout) as {
        snapshots: Array<{ id: string; host: string }>;
      }
    ).snapshots;
    assert.deepEqual(snapshots.map((s) => s.host).sort(), [A, B]);
    await addUsers(dir, A, ['after-backup']);
    await waitForUsers(dir, [...baseline, 'after-backup'].sort());
    const restore = await lab.fleet([
      'restore',
      '-i',
      lab.paths.inventory,
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--store',
      store,
      '--yes',
      '--master',
      A,
      '--backup',
      snapshots.find((s) => s.host === A)!.id,
    ]);
    assert.equal(restore.code, 0, shown(restore));
    for (const h of [A, B]) assert.deepEqual(await uids(dir, h), baseline, `${h} differs from the snapshot`);
  });

  it('a host named by a ~/.ssh/config alias, its user and key from there, no ssh-agent', async () => {
    // ssh reads ~/.ssh/config from the password database's home, not $HOME: the CLI runs in a mount
    // namespace where that home is a folder of ours.
    const home = await mkdtemp(join(lab.tmp, 'home-'));
    await mkdir(join(home, '.ssh'), { mode: 0o700 });
    const config = [A, B]
      .map(
        (h, i) =>
          `Host lab-${h[0]}\n  HostName ${lab.net}.${i + 1}\n  User root\n  IdentityFile ${lab.paths.identity}\n`,
      )
      .join('');
    await writeFile(join(home, '.ssh', 'config'), config, { mode: 0o600 });
    const file = await variant('alias', (t) =>
      t
        .replace(
          new RegExp(`address: ${lab.net}\\.(\\d)`, 'g'),
          (_m, n: string) => `address: lab-${'ab'[Number(n) - 1]}`,
        )
        .replace(/^ {6}(user|identity_file): .*\n/gm, ''),
    );
    assert.doesNotMatch(await readFile(file, 'utf8'), /identity_file|user:|address: 127/);
    const env: NodeJS.ProcessEnv = { ...process.env, ...lab.env, HOME: home, NO_COLOR: '1' };
    delete env.SSH_AUTH_SOCK;
    const script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"';
    const inNamespace = (args: string[]): Promise<{ stdout: string; stderr: string }> =>
      run(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          script,
          'sh',
          home,
          userInfo().homedir,
          process.execPath,
          BIN,
          '--log-file',
          lab.logFile,
          ...args,
        ],
        { env, timeout: 120_000 },
      );
    const ping = await inNamespace(['-v', 'ping', '-i', file]);
    assert.match(ping.stderr, new RegExp(`${A}: ssh \\(openssh\\) connected to lab-a \\(${lab.net}\\.1\\)`));
    assert.match(ping.stdout, /^a\.ipa\.test\s+ok\s+a\.ipa\.test\s+ok/m);
    assert.match(ping.stdout, /^b\.ipa\.test\s+ok\s+b\.ipa\.test\s+ok/m);
    const facts = await inNamespace(['--json', 'facts', '-i', file]);
    assert.match(facts.stdout, /"rid": 2\b/);
  });

  it("ssh.proxy_jump: b is reached through a's master; with a unreachable, so is b", async () => {
    const jump = (t: string): string =>
      t.replace(`address: ${lab.net}.2\n`, `address: ${lab.net}.2\n      ssh: {proxy_jump: ${A}}\n`);
    const through = await lab.fleet(['-v', 'ping', '-i', await variant('jump', jump), '--limit', B]);
    assert.equal(through.code, 0, shown(through));
    assert.match(through.stderr, new RegExp(`${B}: ssh \\(openssh\\) connected to ${lab.net}\\.2 \\(\\S+\\) via ${A}`));
    const broken = await variant('jump-broken', (t) =>
      jump(t).replace(`address: ${lab.net}.1\n`, `address: ${lab.net}.9\n`),
    );
    const r = await lab.fleet(['ping', '-i', broken, '--limit', B]);
    assert.equal(r.code, 4, shown(r));
    assert.match(cleanError(r.stderr) ?? '', new RegExp(`cannot reach ssh at ${lab.net}\\.9`));
  });

  it('an unknown host key under strict: exit 12, one line naming the known_hosts file', async () => {
    const empty = join(lab.tmp, 'empty_known_hosts');
    await writeFile(empty, '');
    const file = await variant('strict', (t) => t.replace(/known_hosts: known_hosts/, `known_hosts: ${empty}`));
    const r = await lab.fleet(['ping', '-i', file, '--limit', A]);
    assert.equal(r.code, 12, shown(r));
    const line = cleanError(r.stderr);
    assert.ok(line, r.stderr);
    assert.match(
      line,
      new RegExp(`a\\.ipa\\.test: unknown host key for ${lab.net}\\.1: not in ${empty}; .*accept-new`),
    );
    assert.match(line, /\(ssh: Host key verification failed\.\)$/);
    assert.equal(await readFile(empty, 'utf8'), '', 'strict must not record anything');
  });

  it('accept-new records the key (ssh-keygen finds it), a changed key is then refused with exit 12', async () => {
    const kh = join(lab.tmp, 'accept_known_hosts');
    const file = await variant('accept-new', (t) =>
      t.replace(/known_hosts: known_hosts/, `known_hosts: ${kh}\n      host_key_policy: accept-new`),
    );
    const first = await lab.fleet(['ping', '-i', file]);
    assert.equal(first.code, 0, shown(first));
    const labKey = (await readFile(join(lab.paths.hostDir(A), 'ssh', 'host_ed25519.pub'), 'utf8')).split(/\s+/)[1]!;
    const found = await run('ssh-keygen', ['-F', `${lab.net}.1`, '-f', kh]);
    assert.ok(found.stdout.includes(labKey), found.stdout);
    // b's key recorded for a: what a server swapped by a man in the middle would offer.
    const bKey = (await readFile(join(lab.paths.hostDir(B), 'ssh', 'host_ed25519.pub'), 'utf8')).trim();
    const swapped = join(lab.tmp, 'swapped_known_hosts');
    await writeFile(swapped, `${lab.net}.1 ${bKey}\n`);
    const changed = await lab.fleet([
      'ping',
      '-i',
      await variant('changed', (t) =>
        t.replace(/known_hosts: known_hosts/, `known_hosts: ${swapped}\n      host_key_policy: accept-new`),
      ),
      '--limit',
      A,
    ]);
    assert.equal(changed.code, 12, shown(changed));
    assert.match(cleanError(changed.stderr) ?? '', /a\.ipa\.test: HOST KEY CHANGED for \S+: it differs from /);
  });

  it("an unreachable host: exit 4, one line with ssh's reason", async () => {
    const file = await variant('unreachable', (t) => t.replace(`address: ${lab.net}.2`, `address: ${lab.net}.9`));
    const r = await lab.fleet(['ping', '-i', file, '--limit', B]);
    assert.equal(r.code, 4, shown(r));
    assert.match(
      cleanError(r.stderr) ?? '',
      new RegExp(`b\\.ipa\\.test: cannot reach ssh at ${lab.net}\\.9 \\(ssh: .*Connection refused\\)`),
    );
  });

  it('identity_passphrase is refused with openssh (exit 2): the key belongs in ssh-agent', async () => {
    const file = await variant('passphrase', (t) =>
      t.replace(/identity_file: id_ed25519/, 'identity_file: id_ed25519\n      identity_passphrase: env:KEY_PASS'),
    );
    const r = await lab.fleet(['ping', '-i', file, '--limit', A]);
    assert.equal(r.code, 2, shown(r));
    assert.match(
      cleanError(r.stderr) ?? '',
      /ssh\.identity_passphrase is not supported with ssh\.transport: openssh.*ssh-add/,
    );
  });

  it('Ctrl-C during a backup: the run unwinds, no ssh master is left and the control-socket folder is gone', async () => {
    const tmp = await mkdtemp(join(lab.tmp, 'tmpdir-'));
    const handle = startCli(
      [
        '--log-file',
        lab.logFile,
        'backup',
        '-i',
        lab.paths.inventory,
        '--type',
        'full',
        '--limit',
        A,
        '--no-encrypt',
        '--store',
        join(lab.tmp, 'store-sigint'),
      ],
      { ...lab.env, TMPDIR: tmp },
    );
    const master = new RegExp(`^ssh -M -N -S ${tmp}/ipa-fleet-ssh-\\w+/`);
    let masterPid: number | undefined;
    const signalled = await when(
      handle,
      async () => {
        masterPid = await processMatching(master);
        if (masterPid === undefined) return false;
        // The backup has started a command over the master: the run is under way.
        return (
          (await processMatching(new RegExp(`^ssh -S ${tmp}/ipa-fleet-ssh-\\w+/\\S+ .* -T -e none`))) !== undefined
        );
      },
      () => {
        handle.child.kill('SIGINT');
      },
    );
    assert.ok(signalled, `the backup ended before it could be interrupted:\n${handle.output.stderr}`);
    const code = await exitOf(handle, 120_000);
    assert.notEqual(code, 0, handle.output.stderr);
    assert.match(handle.output.stdout + handle.output.stderr, /interrupted/);
    assert.equal(await cmdlineOf(masterPid!), '', `the ssh master ${masterPid} still runs`);
    assert.equal(await processMatching(new RegExp(tmp)), undefined, 'an ssh process of the run is still there');
    assert.deepEqual(await readdir(tmp), [], 'the control-socket folder was left behind');
  });
});
