// The openssh transport's ssh command line, judged by the system ssh itself: `ssh -G` prints the
// configuration ssh would use for those arguments, without connecting anywhere (`-F` stands in for the
// administrator's ~/.ssh/config: ssh takes that from the password database, not $HOME). And ssh's
// failures as our typed errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInventory } from '../../src/inventory/index.js';
import { classifySshFailure, masterArgs } from '../../src/transport/openssh.js';
import type { SshTarget } from '../../src/transport/session.js';

let home: string;
let config: string;

before(() => {
  home = mkdtempSync(join(tmpdir(), 'ipa-fleet-openssh-'));
  mkdirSync(join(home, '.ssh'), { mode: 0o700 });
  config = join(home, '.ssh', 'config');
  writeFileSync(config, 'Host ldap-a\n  HostName 192.0.2.10\n  User admin\n  Port 2222\n  GSSAPIAuthentication yes\n', {
    mode: 0o600,
  });
});
after(() => rmSync(home, { recursive: true, force: true }));

function target(ssh: string[], address = 'ldap-a'): SshTarget {
  const inv = parseInventory(
    [
      'all:',
      '  vars:',
      '    ssh:',
      '      transport: openssh',
      ...ssh.map((l) => `      ${l}`),
      '    ldap: { instance: EXAMPLE, password: env:DM }',
      '    suffixes: { domain: "dc=example,dc=com" }',
      '  hosts:',
      `    a.example.com: { address: ${address} }`,
      '',
    ].join('\n'),
    '/inv/site.yml',
    { homeDir: '/home/op' },
  );
  const host = inv.hosts[0]!;
  return { name: host.name, address: host.address, ssh: host.ssh };
}

/** What ssh makes of the master's arguments: `ssh -G` (lower-case keys, as it prints them). */
function resolved(args: string[]): Map<string, string> {
  const out = execFileSync('ssh', ['-G', '-F', config, ...args], { encoding: 'utf8' });
  const map = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0 && !map.has(line.slice(0, i))) map.set(line.slice(0, i), line.slice(i + 1));
  }
  return map;
}

describe('openssh master command line', () => {
  it('leaves user, port and GSSAPI to ~/.ssh/config when the inventory does not set them', () => {
    const g = resolved(masterArgs(target([]), '/tmp/x/sock', 10_000));
    assert.equal(g.get('hostname'), '192.0.2.10');
    assert.equal(g.get('user'), 'admin');
    assert.equal(g.get('port'), '2222');
    assert.equal(g.get('gssapiauthentication'), 'yes');
    assert.equal(g.get('batchmode'), 'yes');
    assert.equal(g.get('stricthostkeychecking'), 'true');
    assert.equal(g.get('userknownhostsfile'), '/home/op/.ssh/known_hosts');
    assert.equal(g.get('controlpath'), '/tmp/x/sock');
    assert.equal(g.get('controlpersist'), 'no');
    assert.equal(g.get('connecttimeout'), '10');
    assert.equal(g.get('serveraliveinterval'), '15');
    assert.equal(g.get('identitiesonly'), 'no');
  });

  it('passes what the inventory sets: user, port, key (and only it), accept-new, known_hosts with a space', () => {
    const t = target([
      'user: backup',
      'port: 2200',
      'identity_file: /keys/fleet key',
      'known_hosts: /kh/100%/known hosts',
      'host_key_policy: accept-new',
      'keepalive_interval: 30',
    ]);
    const g = resolved(masterArgs(t, '/tmp/x/sock', 2500));
    assert.equal(g.get('user'), 'backup');
    assert.equal(g.get('port'), '2200');
    assert.equal(g.get('identityfile'), '/keys/fleet key');
    assert.equal(g.get('identitiesonly'), 'yes');
    assert.equal(g.get('stricthostkeychecking'), 'accept-new');
    assert.equal(g.get('userknownhostsfile'), '/kh/100%/known hosts');
    assert.equal(g.get('connecttimeout'), '3');
    assert.equal(g.get('serveraliveinterval'), '30');
    // The admin's GSSAPI setting is never overridden.
    assert.equal(g.get('gssapiauthentication'), 'yes');
  });

  it('goes through a jump host by its master, with the target as ssh names it', () => {
    const g = resolved(masterArgs(target([]), '/tmp/x/sock', 10_000, '/tmp/x/jump'));
    assert.equal(g.get('proxycommand'), 'ssh -S /tmp/x/jump -o ControlMaster=no -o ProxyCommand=false -W [%h]:%p jump');
  });
});

describe('ssh failures as typed errors', () => {
  const t = target(['user: root'], '192.0.2.7');
  const cases: [string, string, RegExp][] = [
    [
      'No ED25519 host key is known for 192.0.2.7 and you have requested strict checking.\nHost key verification failed.\n',
      'auth',
      /^a\.example\.com: unknown host key for 192\.0\.2\.7: not in \S+; .*accept-new \(ssh: Host key verification failed\.\)$/,
    ],
    [
      '@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@\n' +
        'Host key for 192.0.2.7 has changed and you have requested strict checking.\nHost key verification failed.\n',
      'auth',
      /^a\.example\.com: HOST KEY CHANGED for 192\.0\.2\.7: .*ssh-keygen -R\) \(ssh: Host key verification failed\.\)$/,
    ],
    [
      'root@192.0.2.7: Permission denied (publickey,gssapi-with-mic).\n',
      'auth',
      /^a\.example\.com: ssh authentication to 192\.0\.2\.7 failed \(ssh: root@192\.0\.2\.7: Permission denied/,
    ],
    [
      'ssh: Could not resolve hostname nowhere: Name or service not known\n',
      'unreachable',
      /cannot reach ssh at 192\.0\.2\.7 \(ssh: Could not resolve hostname nowhere/,
    ],
    ['ssh: connect to host 192.0.2.7 port 22: Connection refused\n', 'unreachable', /Connection refused\)$/],
    ['/home/op/.ssh/config: line 3: Bad configuration option: foo\n', 'usage', /refused its configuration/],
  ];
  for (const [stderr, kind, message] of cases) {
    it(`${kind}: ${stderr.trim().split('\n').at(-1)}`, () => {
      const err = classifySshFailure(t, stderr);
      assert.equal(err.kind, kind);
      assert.match(err.message, message);
      assert.equal(err.message.split('\n').length, 1);
    });
  }
});
