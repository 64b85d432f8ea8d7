// Issue 2 against the real lab: real sshd, real 389-DS, real replication.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listAgreements } from '../../src/directory/agreements.js';
import { loadInventory, type Inventory } from '../../src/inventory/index.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, cli, testContext, waitFor, type TestLab } from './fixture.js';

const DOMAIN = 'dc=ipa,dc=test';
const CA = 'o=ipaca';

describe('lab foundation (3 hosts, chain a-b-c, CA a-b)', () => {
  let lab: TestLab;
  let inventory: Inventory;
  let transport: Transport;
  let dmPassword: string;

  before(async () => {
    lab = await bringUpLab(['--entries', '300']);
    inventory = await loadInventory(lab.paths.inventory);
    transport = new Transport(inventory, testContext(join(lab.tmp, 'library.log')));
    dmPassword = (await readFile(lab.paths.dmPassword, 'utf8')).trim();
  });

  after(async () => {
    await transport?.close();
    await lab?.down();
  });

  /** An inventory for the lab's hosts with some settings changed, written next to the lab. */
  async function variantInventory(
    name: string,
    opts: {
      knownHosts?: string;
      passwordFile?: string;
      policy?: string;
      connectTimeout?: number;
      hostVars?: Record<string, string>;
    },
  ): Promise<string> {
    const file = join(lab.tmp, `${name}.yaml`);
    const hosts = inventory.hosts
      .map(
        (h) =>
          `    ${h.name}:\n      address: ${h.address}\n      roles: [${h.roles.join(', ')}]\n${opts.hostVars?.[h.name] ?? ''}`,
      )
      .join('\n');
    await writeFile(
      file,
      `all:
  vars:
    deployment: ${name}
    ssh:
      identity_file: ${lab.paths.identity}
      known_hosts: ${opts.knownHosts ?? lab.paths.knownHosts}
      host_key_policy: ${opts.policy ?? 'strict'}
      connect_timeout: ${opts.connectTimeout ?? 5}
    ldap:
      instance: IPA-TEST
      password: file:${opts.passwordFile ?? lab.paths.dmPassword}
    suffixes:
      domain: ${DOMAIN}
  hosts:
${hosts}
`,
    );
    return file;
  }

  it('lab up writes an inventory, the controller key, known_hosts and a 0600 DM password file', async () => {
    assert.equal(inventory.hosts.map((h) => h.name).join(' '), 'a.ipa.test b.ipa.test c.ipa.test');
    assert.deepEqual(
      inventory.hosts.map((h) => h.address),
      [`${lab.net}.1`, `${lab.net}.2`, `${lab.net}.3`],
    );
    assert.deepEqual(
      inventory.hosts.map((h) => h.roles),
      [['ca'], ['ca'], []],
    );
    assert.equal((await stat(lab.paths.dmPassword)).mode & 0o777, 0o600);
    const known = await readFile(lab.paths.knownHosts, 'utf8');
    for (const h of inventory.hosts)
      assert.match(
        known,
        new RegExp(`^${h.name.replace(/\./g, '\\.')},${h.address.replace(/\./g, '\\.')} ssh-ed25519 `, 'm'),
      );
    assert.match(lab.upOutput.stdout, /lab: up in [\d.]+ s/);
  });

  it("exec on every host returns that host's own hostname", async () => {
    for (const host of inventory.hosts) {
      const ssh = await transport.ssh(host);
      const result = await ssh.exec('hostname');
      assert.equal(result.ok, true);
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout.trim(), host.name);
      assert.equal(result.host, host.name);
    }
  });

  it('a failing command gives a result object with its exit code and stderr, and stdin reaches the host', async () => {
    const ssh = await transport.ssh(inventory.hosts[0]!);
    const failed = await ssh.exec('echo oops >&2; exit 7');
    assert.equal(failed.ok, false);
    assert.equal(failed.exitCode, 7);
    assert.match(failed.stderrTail, /oops/);
    assert.equal(await ssh.run('cat', { stdin: 'through stdin' }), 'through stdin');
  });

  it('streams stdin and stdout of a command (what tar and LDIF transfers use)', async () => {
    const ssh = await transport.ssh(inventory.hosts[2]!);
    const stream = await ssh.execStream('sha256sum');
    const hash = createHash('sha256');
    const chunk = randomBytes(1024 * 1024);
    let out = '';
    stream.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    for (let i = 0; i < 24; i++) {
      hash.update(chunk);
      if (!stream.stdin.write(chunk)) await new Promise((r) => stream.stdin.once('drain', r));
    }
    stream.stdin.end();
    const result = await stream.result;
    assert.equal(result.ok, true, result.stderrTail);
    assert.equal(out.split(' ')[0], hash.digest('hex'));
  });

  it('authenticates through ssh-agent when the inventory names no identity file', async () => {
    const agentDir = await mkdtemp(join(lab.tmp, 'agent-'));
    const sock = join(agentDir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      await waitFor('ssh-agent socket', 10_000, async () =>
        (await stat(sock).catch(() => undefined)) ? true : undefined,
      );
      await new Promise<void>((resolve, reject) =>
        execFile('ssh-add', [lab.paths.identity], { env: { ...process.env, SSH_AUTH_SOCK: sock } }, (e) =>
          e ? reject(e) : resolve(),
        ),
      );
      const file = join(lab.tmp, 'agent.yaml');
      await writeFile(
        file,
        `all:
  vars:
    ssh: {known_hosts: ${lab.paths.knownHosts}}
    ldap: {instance: IPA-TEST, password: file:${lab.paths.dmPassword}}
    suffixes: {domain: "${DOMAIN}"}
  hosts:
    a.ipa.test: {address: ${lab.net}.1}
`,
      );
      const withAgent = await cli(['--log-file', lab.logFile, '--json', 'ping', '-i', file], {
        env: { SSH_AUTH_SOCK: sock },
      });
      assert.equal(withAgent.code, 0, withAgent.stderr);
      assert.equal(JSON.parse(withAgent.stdout)[0].hostname, 'a.ipa.test');
      const noAgent = await cli(['--log-file', lab.logFile, 'ping', '-i', file], { env: { SSH_AUTH_SOCK: '' } });
      assert.equal(noAgent.code, 2, 'no key and no agent is a usage error');
      assert.match(noAgent.stderr, /no ssh\.identity_file and no ssh-agent/);
    } finally {
      agent.kill();
    }
  });

  it('runs at most 4 channels per host at once and queues the rest', async () => {
    const ssh = await transport.ssh(inventory.hosts[1]!);
    // Each command records how many of its siblings run at the same moment.
    const marker = `/tmp/ipa-fleet-chan-${process.pid}`;
    await ssh.run(`rm -rf ${marker} && mkdir ${marker}`);
    // Each waits (up to 5 s) for a sibling to start before counting: on a loaded machine opening a
    // channel can take longer than a fixed sleep, and a CI run once saw no overlap at all.
    const wait = `n=0; while [ "$(ls ${marker} | wc -l)" -lt 2 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done`;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        ssh.run(`touch ${marker}/${i}; ${wait}; sleep 0.3; ls ${marker} | wc -l; rm ${marker}/${i}`),
      ),
    );
    const peak = Math.max(...results.map((r) => Number(r.trim())));
    assert.ok(peak <= 4, `at most 4 concurrent channels, saw ${peak}`);
    assert.ok(peak >= 2, `channels do run in parallel, saw ${peak}`);
    await ssh.run(`rm -rf ${marker}`);
  });

  it('LDAP over SSH reads the agreements of both suffixes', async () => {
    const expected: Record<string, { domain: string[]; ca: string[] }> = {
      'a.ipa.test': { domain: ['b.ipa.test'], ca: ['b.ipa.test'] },
      'b.ipa.test': { domain: ['a.ipa.test', 'c.ipa.test'], ca: ['a.ipa.test'] },
      'c.ipa.test': { domain: ['b.ipa.test'], ca: [] },
    };
    for (const host of inventory.hosts) {
      const ldap = await transport.ldap(host);
      const domain = await listAgreements(ldap, DOMAIN);
      const ca = await listAgreements(ldap, CA);
      assert.deepEqual(
        domain.map((a) => a.targetHost).sort(),
        expected[host.name]!.domain,
        `${host.name} domain agreements`,
      );
      assert.deepEqual(ca.map((a) => a.targetHost).sort(), expected[host.name]!.ca, `${host.name} CA agreements`);
      for (const a of [...domain, ...ca]) {
        assert.equal(a.enabled, true);
        assert.match(a.name, a.suffix === CA ? /^caTo/ : /^meTo/);
        assert.match(a.lastInitStatus ?? a.lastUpdateStatus ?? '', /succeeded|Error \(0\)|^$/);
      }
    }
  });

  it('every host holds the same entries after the initial total updates', async () => {
    const counts = await Promise.all(
      inventory.hosts.map(async (h) => {
        const ldap = await transport.ldap(h);
        return (await ldap.search(DOMAIN, { attributes: ['1.1'], paged: true })).length;
      }),
    );
    assert.equal(counts[0], 300 + 30 + 3);
    assert.deepEqual(counts, [counts[0], counts[0], counts[0]]);
    const caCounts = await Promise.all(
      inventory.hosts
        .slice(0, 2)
        .map(async (h) => (await (await transport.ldap(h)).search(CA, { attributes: ['1.1'] })).length),
    );
    assert.equal(caCounts[0], 30 + 3);
    assert.equal(caCounts[1], caCounts[0]);
  });

  it('a write on a replicates to c (two hops)', async () => {
    const [a, , c] = inventory.hosts;
    const dn = `uid=replicated-${Date.now()},ou=people,${DOMAIN}`;
    await (await transport.ldap(a!)).add(dn, {
      objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
      uid: dn.slice(4, dn.indexOf(',')),
      cn: 'Replicated',
      sn: 'Test',
    });
    const ldapC = await transport.ldap(c!);
    const entry = await waitFor(`${dn} on c`, 60_000, () => ldapC.read(dn, ['cn']));
    assert.equal(entry.get('cn'), 'Replicated');
  });

  it('ping through the CLI: every host answers SSH and LDAP', async () => {
    const res = await cli(['--log-file', lab.logFile, '--json', 'ping', '-i', lab.paths.inventory]);
    assert.equal(res.code, 0, res.stderr);
    const rows = JSON.parse(res.stdout) as Array<{ host: string; hostname: string; version: string; ok: boolean }>;
    assert.deepEqual(
      rows.map((r) => [r.host, r.hostname, r.ok]),
      inventory.hosts.map((h) => [h.name, h.name, true]),
    );
    assert.match(rows[0]!.version, /^389-Directory\/2\./);
  });

  it('reaches a host through a jump host (proxy_jump)', async () => {
    const file = await variantInventory('jump', {
      hostVars: { 'c.ipa.test': '      ssh:\n        proxy_jump: b.ipa.test\n' },
    });
    const res = await cli(['--log-file', lab.logFile, '-vv', '--json', 'ping', '-i', file, '--limit', 'c.ipa.test']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(JSON.parse(res.stdout)[0].hostname, 'c.ipa.test');
    assert.match(res.stderr, /c\.ipa\.test: ssh connected to [\d.]+:22 via b\.ipa\.test/);
  });

  it('refuses an unknown host key (exit 12); accept-new records it and then connects', async () => {
    const empty = join(lab.tmp, 'known_hosts-empty');
    await writeFile(empty, '');
    const strict = await variantInventory('unknown-key', { knownHosts: empty });
    const refused = await cli(['--log-file', lab.logFile, 'ping', '-i', strict, '--limit', 'a.ipa.test']);
    assert.equal(refused.code, 12);
    assert.match(refused.stderr, /a\.ipa\.test: unknown host key SHA256:[A-Za-z0-9+/]+/);
    assert.equal(await readFile(empty, 'utf8'), '', 'strict never writes known_hosts');

    const acceptNew = await variantInventory('accept-new', { knownHosts: empty, policy: 'accept-new' });
    const accepted = await cli(['--log-file', lab.logFile, 'ping', '-i', acceptNew, '--limit', 'a.ipa.test']);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(await readFile(empty, 'utf8'), /a\.ipa\.test.*ssh-ed25519 /);
    const again = await cli(['--log-file', lab.logFile, 'ping', '-i', strict, '--limit', 'a.ipa.test']);
    assert.equal(again.code, 0, 'the recorded key is used by later strict runs');
  });

  it('refuses a changed host key with both fingerprints, and accept-new never replaces it', async () => {
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const name = Buffer.from('ssh-ed25519');
    const blob = Buffer.concat([u32(name.length), name, u32(other.length), other]);
    const known = join(lab.tmp, 'known_hosts-changed');
    const original = (await readFile(lab.paths.knownHosts, 'utf8'))
      .split('\n')
      .map((l) => (l.startsWith('a.ipa.test,') ? `a.ipa.test,${lab.net}.1 ssh-ed25519 ${blob.toString('base64')}` : l))
      .join('\n');
    await writeFile(known, original);
    for (const policy of ['strict', 'accept-new']) {
      const file = await variantInventory(`changed-${policy}`, { knownHosts: known, policy });
      const res = await cli(['--log-file', lab.logFile, 'ping', '-i', file, '--limit', 'a.ipa.test']);
      assert.equal(res.code, 12, `${policy}: ${res.stderr}`);
      assert.match(res.stderr, /HOST KEY CHANGED: the server offers SHA256:\S+ but .* has SHA256:\S+/);
      assert.equal(res.stderr.trim().split('\n').length, 1, 'one line');
      assert.equal(await readFile(known, 'utf8'), original, `${policy}: known_hosts left as it was`);
    }
  });

  it('a wrong DM password gives a clear error and exit 12, without the password', async () => {
    const wrong = join(lab.tmp, 'wrong-password');
    await writeFile(wrong, 'not-the-password\n', { mode: 0o600 });
    const file = await variantInventory('wrong-password', { passwordFile: wrong });
    const res = await cli(['--log-file', lab.logFile, 'ping', '-i', file, '--limit', 'b.ipa.test']);
    assert.equal(res.code, 12);
    assert.match(res.stderr, /b\.ipa\.test: LDAP bind as 'cn=Directory Manager' failed: invalid credentials \(49\)/);
    assert.doesNotMatch(res.stderr + res.stdout, /not-the-password/);
    assert.doesNotMatch(res.stderr, /^\s+at /m, 'no stack trace');
  });

  it('a host that does not answer gives exit 4 within the connect timeout', async () => {
    // A listener that accepts and never speaks: the SSH handshake can only time out.
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(22, `${lab.net}.9`, r));
    try {
      const file = join(lab.tmp, 'silent.yaml');
      await writeFile(
        file,
        `all:\n  vars:\n    ssh: {identity_file: ${lab.paths.identity}, known_hosts: ${lab.paths.knownHosts}, connect_timeout: 2}\n    ldap: {instance: IPA-TEST, password: file:${lab.paths.dmPassword}}\n    suffixes: {domain: "${DOMAIN}"}\n  hosts:\n    silent.ipa.test: {address: ${lab.net}.9}\n`,
      );
      const res = await cli(['--log-file', lab.logFile, 'ping', '-i', file]);
      assert.equal(res.code, 4, res.stderr);
      assert.match(res.stderr, /silent\.ipa\.test: ssh connection to [\d.]+:22 timed out after \d+ ms/);
      assert.ok(res.ms < 2000 + 3000, `reported within the 2 s connect timeout (+ process start), took ${res.ms} ms`);
    } finally {
      silent.close();
    }
  });

  it('the DM password never appears in the log file, stdout or stderr, even with -vvv', async () => {
    const runs = [
      await cli(['--log-file', lab.logFile, '-vvv', 'ping', '-i', lab.paths.inventory]),
      await cli(['--log-file', lab.logFile, '-vvv', 'lab', 'status', '--dir', lab.paths.root]),
      await cli(['--log-file', lab.logFile, '-vvv', '--json', 'inventory', 'check', '-i', lab.paths.inventory]),
    ];
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const log = await readFile(lab.logFile, 'utf8');
    assert.ok(log.includes('LDAP bound as'), 'the log did record the LDAP work');
    for (const text of [log, ...runs.flatMap((r) => [r.stdout, r.stderr])]) {
      assert.equal(text.includes(dmPassword), false, 'DM password leaked');
      assert.equal(text.includes(Buffer.from(dmPassword).toString('base64')), false, 'DM password leaked (base64)');
    }
  });

  it('lab stop/start power a host off and on with its data; kill-ds crashes the directory', async () => {
    const stopped = await cli(['--log-file', lab.logFile, 'lab', 'stop', 'c', '--dir', lab.paths.root]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const status = JSON.parse(
      (await cli(['--json', '--log-file', lab.logFile, 'lab', 'status', '--dir', lab.paths.root])).stdout,
    ) as Array<{ host: string; ssh: boolean; ds: boolean; entries: Record<string, number> }>;
    assert.deepEqual(
      status.map((s) => [s.host, s.ssh, s.ds]),
      [
        ['a.ipa.test', true, true],
        ['b.ipa.test', true, true],
        ['c.ipa.test', false, false],
      ],
    );
    const down = await cli(['--log-file', lab.logFile, 'ping', '-i', lab.paths.inventory, '--limit', 'c*']);
    assert.equal(down.code, 4);
    assert.match(down.stderr, /c\.ipa\.test: cannot reach ssh at [\d.]+:22/);

    const started = await cli(['--log-file', lab.logFile, 'lab', 'start', 'c', '--dir', lab.paths.root]);
    assert.equal(started.code, 0, started.stderr);
    const after = JSON.parse(
      (await cli(['--json', '--log-file', lab.logFile, 'lab', 'status', '--dir', lab.paths.root])).stdout,
    ) as typeof status;
    assert.deepEqual(
      after.map((s) => [s.ssh, s.ds]),
      [
        [true, true],
        [true, true],
        [true, true],
      ],
    );
    assert.equal(after[2]!.entries[DOMAIN], after[0]!.entries[DOMAIN], 'c kept its data');

    const killed = await cli(['--log-file', lab.logFile, 'lab', 'kill-ds', 'b', '--dir', lab.paths.root]);
    assert.equal(killed.code, 0);
    const crashed = JSON.parse(
      (await cli(['--json', '--log-file', lab.logFile, 'lab', 'status', '--dir', lab.paths.root])).stdout,
    ) as typeof status;
    assert.deepEqual(
      crashed.map((s) => [s.ssh, s.ds]),
      [
        [true, true],
        [true, false],
        [true, true],
      ],
    );
    assert.equal((await cli(['--log-file', lab.logFile, 'lab', 'start', 'b', '--dir', lab.paths.root])).code, 0);
  });
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
