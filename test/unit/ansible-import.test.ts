// import-ansible on inventories shaped like ansible-freeipa's README and inventory/ examples: what
// each host becomes (address, login, sudo, roles, instance, suffix), Ansible's precedence, the groups
// kept for --limit, and secrets: never in the output or a warning, each replaced by `prompt`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importAnsibleInventory, type AnsibleImport } from '../../src/inventory/ansible-import.js';
import { parseInventory, type Host, type Inventory } from '../../src/inventory/index.js';
import { importAnsible } from '../../src/operations/import-ansible.js';
import { assertLocatedError, lineOf, textOfLines } from './located-error.js';

const ENV = { cwd: '/work/ansible', homeDir: '/home/op' };

/** Every password the test inventories hold: none may appear in any output. */
const SECRETS = ['ADMPassw0rd-1', 'DMPassw0rd-1', 'Sud0-pw-9', 'SshPw-7', 'PinPin-5', 'VaultCipherText1234'];

function convert(text: string, file = 'hosts'): AnsibleImport {
  return importAnsibleInventory(text, file, ENV);
}

function load(result: AnsibleImport): Inventory {
  return parseInventory(result.yaml, '/etc/ipa-fleet/imported.yaml', { homeDir: '/home/op' });
}

function host(inv: Inventory, name: string): Host {
  const found = inv.hosts.find((h) => h.name === name);
  assert.ok(found, `no host ${name} in ${inv.hosts.map((h) => h.name).join(', ')}`);
  return found;
}

function assertNoSecret(result: AnsibleImport): void {
  const everything = `${result.yaml}\n${result.warnings.join('\n')}`;
  for (const secret of SECRETS) assert.ok(!everything.includes(secret), `${secret} leaked`);
}

function warningAbout(result: AnsibleImport, pattern: RegExp): string {
  const found = result.warnings.find((w) => pattern.test(w));
  assert.ok(found, `no warning matching ${pattern}:\n${result.warnings.join('\n')}`);
  return found;
}

/** ansible-freeipa's inventory/hosts.cluster, with the passwords changed to the test's markers. */
const CLUSTER = textOfLines(
  '[ipaserver]',
  'ipaserver.test.local',
  '',
  '[ipaserver:vars]',
  '#ipaserver_setup_dns=yes',
  'ipaserver_setup_kra=yes',
  '',
  '[ipareplicas]',
  'ipareplica1.test.local',
  'ipareplica2.test.local ipareplica_setup_ca=true ipareplica_servers=ipareplica1.test.local',
  '',
  '[ipareplicas:vars]',
  'ipaclient_force_join=yes',
  '',
  '[ipaclients]',
  'ipaclient1.test.local',
  'ipaclient2.test.local',
  '',
  '[ipa:children]',
  'ipaserver',
  'ipareplicas',
  'ipaclients',
  '',
  '[ipa:vars]',
  'ipaadmin_password=ADMPassw0rd-1',
  'ipadm_password="DMPassw0rd-1"',
  'ipaserver_domain=test.local',
  'ipaserver_realm=TEST.LOCAL',
);

describe('import-ansible: ansible-freeipa INI inventories', () => {
  it('converts the cluster example: servers, roles, instance, suffix, groups; clients left out', () => {
    const result = convert(CLUSTER, 'hosts.cluster');
    const inv = load(result);
    assert.deepEqual(result.hosts, ['ipaserver.test.local', 'ipareplica1.test.local', 'ipareplica2.test.local']);
    assert.deepEqual(
      inv.hosts.map((h) => h.name),
      result.hosts,
      'the first server is the first host',
    );
    assert.equal(inv.deployment, 'test-local');
    assert.deepEqual(host(inv, 'ipaserver.test.local').roles, ['ca', 'kra']);
    assert.deepEqual(host(inv, 'ipareplica1.test.local').roles, []);
    assert.deepEqual(host(inv, 'ipareplica2.test.local').roles, ['ca']);
    for (const h of inv.hosts) {
      assert.equal(h.profile, 'freeipa');
      assert.equal(h.address, h.name);
      assert.equal(h.ldap.instance, 'TEST-LOCAL');
      assert.equal(h.ldap.bindDn, 'cn=Directory Manager');
      assert.deepEqual(h.ldap.password, { kind: 'prompt' });
      assert.equal(h.suffixes.domain, 'dc=test,dc=local');
      assert.equal(h.ssh.knownHostsFile, '/home/op/.ssh/known_hosts');
      assert.equal(h.ssh.become, undefined);
    }
    assert.deepEqual(inv.groups.get('ipa'), result.hosts);
    assert.deepEqual(inv.groups.get('ipareplicas'), ['ipareplica1.test.local', 'ipareplica2.test.local']);
    assert.equal(inv.groups.has('ipaclients'), false);
    assert.match(result.yaml, /^# Left out: 2 IPA client\(s\) \(ipaclient1\.test\.local, ipaclient2\.test\.local\)/m);
    assert.match(result.yaml, /password: prompt # asked on the terminal/);
    assertNoSecret(result);
    const dm = warningAbout(result, /ipadm_password/);
    assert.equal(
      dm,
      `hosts.cluster:${lineOf(CLUSTER, 'ipadm_password')}: ipadm_password (group ipa): a literal password: ` +
        'not copied; ldap.password is prompt',
    );
    assert.match(warningAbout(result, /ipaadmin_password/), /^hosts\.cluster:25: .*\(group ipa\): .*not copied/);
    assert.equal(
      warningAbout(result, /^hosts\.cluster: ignored/),
      'hosts.cluster: ignored 2 variable(s) ipa-fleet does not use: ipaclient_force_join, ipareplica_servers',
    );
  });

  it('resolves variables as Ansible does: host > child group > parent group > all, siblings by name', () => {
    const result = convert(
      textOfLines(
        '[all:vars]',
        'ansible_user=fromall',
        'ansible_port=2200',
        'ipaserver_domain=example.test',
        '[ipa:children]',
        'ipaserver',
        'ipareplicas',
        '[ipa:vars]',
        'ansible_user=fromparent',
        'ansible_port=2201',
        '[ipaserver]',
        'ipa1.example.test ansible_port=2299 ansible_host=192.0.2.1',
        '[ipaserver:vars]',
        'ansible_port=2202',
        '[ipareplicas]',
        'ipa2.example.test ansible_host=192.0.2.2',
        'ipa3.example.test ansible_host=192.0.2.3',
        '[zz_site]',
        'ipa3.example.test',
        '[aa_site]',
        'ipa3.example.test',
        '[zz_site:vars]',
        'ansible_port=2203',
        '[aa_site:vars]',
        'ansible_port=2204',
      ),
    );
    const inv = load(result);
    const ports = inv.hosts.map((h) => [h.name, h.ssh.port, h.ssh.user, h.address]);
    assert.deepEqual(ports, [
      ['ipa1.example.test', 2299, 'fromparent', '192.0.2.1'], // the host line beats every group
      ['ipa2.example.test', 2201, 'fromparent', '192.0.2.2'], // the child group ipareplicas sets none: ipa's
      ['ipa3.example.test', 2203, 'fromparent', '192.0.2.3'], // aa_site and zz_site are both at depth 1: zz_ wins
    ]);
    assert.deepEqual(inv.groups.get('zz_site'), ['ipa3.example.test']);
    // A login other than root: ansible-freeipa's playbooks become root with sudo.
    for (const h of inv.hosts) {
      assert.deepEqual(h.ssh.become, { method: 'sudo', user: 'root', password: undefined });
    }
  });

  it('writes sudo from ansible_become, with the become password as a placeholder', () => {
    const text = textOfLines(
      '[ipaserver]',
      "ipa1.example.test ansible_user=admin ansible_become=true ansible_become_password='Sud0-pw-9'",
      'ipa2.example.test ansible_user=admin ansible_become=no',
      '[ipareplicas]',
      'ipa3.example.test ansible_user=deploy ansible_become=yes ansible_become_user=root',
      'ipa4.example.test ansible_become=True ansible_become_user=svc ansible_ssh_pass=SshPw-7',
      '[all:vars]',
      'ansible_become_method=su',
    );
    const result = convert(text);
    const inv = load(result);
    const become = (name: string) => {
      const { ssh } = host(inv, name);
      return [ssh.user, ssh.become];
    };
    const sudo = (user: string, password?: { kind: 'prompt' }) => ({ method: 'sudo', user, password });
    assert.deepEqual(become('ipa1.example.test'), ['admin', sudo('root', { kind: 'prompt' })]);
    assert.deepEqual(become('ipa2.example.test'), ['admin', undefined]);
    assert.deepEqual(become('ipa3.example.test'), ['deploy', sudo('root')]);
    assert.deepEqual(become('ipa4.example.test'), ['root', sudo('svc')]);
    assertNoSecret(result);
    assert.equal(
      warningAbout(result, /ansible_become_password/),
      'hosts:2: ansible_become_password (host ipa1.example.test): a literal password: not copied; ' +
        'ssh.become_password is prompt',
    );
    assert.match(warningAbout(result, /ansible_ssh_pass/), /^hosts:6: .*not copied; not needed: .*not an SSH password/);
    assert.match(warningAbout(result, /ansible_become_method/), /'su': ipa-fleet only uses sudo/);
  });

  it('reads ranges, host:port, quotes and comments, and the ipaservers group of hosts.replica', () => {
    const text = textOfLines(
      '; a comment',
      '[ipaservers]',
      'ipa1.example.test:2222 ansible_user=root#the first server',
      '[ipareplicas]',
      'ipa[2:3].example.test ansible_user="o"ps ansible_ssh_private_key_file=keys/id_ed25519',
      "rep-[a:b]-[01:02].example.test ansible_user=ops ansible_ssh_private_key_file='~/.ssh/id ipa'",
      '[ipareplicas:vars]',
      'ipareplica_setup_dns=yes  # not a comment in a vars section',
      'ipareplica_setup_kra="yes"',
    );
    const inv = load(convert(`\uFEFF${text}`, 'hosts.replica'));
    assert.deepEqual(
      inv.hosts.map((h) => [h.name, h.ssh.port, h.ssh.user, h.ssh.identityFile, h.roles]),
      [
        ['ipa1.example.test', 2222, 'root', undefined, ['ca']],
        ['ipa2.example.test', 22, 'ops', '/work/ansible/keys/id_ed25519', ['kra']],
        ['ipa3.example.test', 22, 'ops', '/work/ansible/keys/id_ed25519', ['kra']],
        ['rep-a-01.example.test', 22, 'ops', '/home/op/.ssh/id ipa', ['kra']],
        ['rep-a-02.example.test', 22, 'ops', '/home/op/.ssh/id ipa', ['kra']],
        ['rep-b-01.example.test', 22, 'ops', '/home/op/.ssh/id ipa', ['kra']],
        ['rep-b-02.example.test', 22, 'ops', '/home/op/.ssh/id ipa', ['kra']],
      ],
    );
    assertLocatedError(
      () => convert(textOfLines('[ipaserver]', 'ipa1.example.test ansible_user="ops user"')),
      'hosts',
      2,
      'ansible_user',
      /'ops user' is not a valid user name: a space is not allowed/,
    );
  });
});

describe('import-ansible: YAML inventories', () => {
  const yaml = textOfLines(
    'all:',
    '  vars:',
    '    ipaserver_domain: example.test',
    '    ipaserver_realm: EXAMPLE.TEST',
    '    ansible_user: root',
    '    ansible_ssh_private_key_file: keys/fleet_ed25519',
    '    ansible_ssh_common_args: >-',
    '      -o ProxyJump=jump@bastion.example.test:2222 -o UserKnownHostsFile=/srv/ansible/known_hosts',
    '      -o ServerAliveInterval=30 -C',
    '  children:',
    '    ipaserver:',
    '      hosts:',
    '        ipa1.example.test:',
    '          ansible_host: 192.0.2.11',
    '          ipaserver_setup_dns: true',
    '      vars:',
    '        ipadm_password: !vault |',
    '          $ANSIBLE_VAULT;1.1;AES256',
    '          VaultCipherText1234',
    '        ipaserver_dirsrv_pin: PinPin-5',
    '    ipareplicas:',
    '      hosts:',
    '        ipa2.example.test:',
    '          ansible_host: 192.0.2.12',
    '          ipareplica_setup_ca: yes',
    '          ipareplica_setup_kra: yes',
    '          ansible_ssh_common_args: "-o ProxyCommand=\'ssh -W %h:%p -q -p 2200 ops@gw.example.test\'"',
    '        ipa3.example.test:',
    '          ansible_host: 192.0.2.13',
    '          ansible_ssh_common_args: -o StrictHostKeyChecking=no',
    '    ipaclients:',
    '      hosts:',
    '        client1.example.test:',
  );

  it('converts hosts, keys, jump hosts and known_hosts; vault values become placeholders', () => {
    const result = convert(yaml, 'inventory.yml');
    const inv = load(result);
    assert.deepEqual(
      inv.hosts.map((h) => [h.name, h.address, h.roles]),
      [
        ['ipa1.example.test', '192.0.2.11', ['ca', 'dns']],
        ['ipa2.example.test', '192.0.2.12', ['ca', 'kra']],
        ['ipa3.example.test', '192.0.2.13', []],
      ],
    );
    const [ipa1, ipa2, ipa3] = inv.hosts as [Host, Host, Host];
    // Ansible reads a relative key path from the folder it runs in.
    for (const h of inv.hosts) assert.equal(h.ssh.identityFile, '/work/ansible/keys/fleet_ed25519');
    assert.equal(ipa1.ssh.proxyJump, 'jump@bastion.example.test:2222');
    assert.equal(ipa1.ssh.knownHostsFile, '/srv/ansible/known_hosts');
    assert.equal(ipa2.ssh.proxyJump, 'ops@gw.example.test:2200', 'the ProxyCommand form of a jump host');
    assert.equal(ipa2.ssh.knownHostsFile, '/home/op/.ssh/known_hosts', 'the host sets its own ssh args');
    assert.equal(ipa3.ssh.hostKeyPolicy, 'accept-new');
    assert.equal(ipa1.ldap.instance, 'EXAMPLE-TEST');
    assert.deepEqual(ipa1.ldap.password, { kind: 'prompt' });
    assertNoSecret(result);
    assert.equal(
      warningAbout(result, /ipadm_password/),
      'inventory.yml:17: ipadm_password (group ipaserver): vault-encrypted, not decrypted: not copied; ' +
        'ldap.password is prompt',
    );
    assert.match(warningAbout(result, /ipaserver_dirsrv_pin/), /^inventory\.yml:20: .*a literal password: not copied/);
    assert.match(warningAbout(result, /group all\): not carried over/), /ServerAliveInterval, -C$/);
    assert.match(warningAbout(result, /StrictHostKeyChecking=no/), /accept-new written instead/);
    assert.match(result.yaml, /^# Left out: 1 IPA client\(s\) \(client1\.example\.test\)/m);
  });

  it('takes the domain from the first server name, the realm from the domain, top-level groups', () => {
    const result = convert(
      textOfLines(
        'ipaserver:',
        '  hosts:',
        '    ipa.corp.example.org:',
        '      ipaserver_setup_ca: false',
        '    ipa3.corp.example.org:',
        '      ipaserver_dirsrv_cert_files: [/root/ds.p12]',
        'ipareplicas:',
        '  hosts:',
        '    ipa2.corp.example.org:',
        'ipaservers:',
        '  hosts:',
        '    ipa4.corp.example.org: {ipaserver_http_cert_files: /root/http.p12}',
      ),
      'site.yaml',
    );
    const inv = load(result);
    assert.equal(inv.deployment, 'corp-example-org');
    for (const h of inv.hosts) {
      assert.equal(h.suffixes.domain, 'dc=corp,dc=example,dc=org');
      assert.equal(h.ldap.instance, 'CORP-EXAMPLE-ORG');
    }
    assert.deepEqual(
      inv.hosts.map((h) => [h.name, h.roles]),
      [
        ['ipa.corp.example.org', []], // ipaserver_setup_ca: false
        ['ipa3.corp.example.org', []], // CA-less: installed with its own certificates
        ['ipa4.corp.example.org', []],
        ['ipa2.corp.example.org', []],
      ],
    );
    assert.deepEqual(result.warnings, []);
    assert.match(result.yaml, /No ansible_user: ipa-fleet logs in as root/);
  });
});

describe('import-ansible: refused input, one line naming the file and the line', () => {
  const refuses = (text: string, file: string, line: number | undefined, problem: RegExp): string =>
    assertLocatedError(() => convert(text, file), file, line, undefined, problem);

  it('refuses an inventory without an ipaserver group, or with an empty one', () => {
    refuses(textOfLines('[ipaclients]', 'c1.example.test'), 'hosts', undefined, /^no ipaserver group/);
    refuses(textOfLines('[ipareplicas]', 'r1.example.test', '[ipaserver]'), 'hosts', 3, /ipaserver group has no hosts/);
  });

  it('refuses unparsable INI without quoting the line (it may hold a password)', () => {
    const message = refuses(
      textOfLines('[ipaserver]', "ipa1.example.test ipadm_password='DMPassw0rd-1"),
      'hosts',
      2,
      /^unterminated quote/,
    );
    assert.ok(!message.includes('DMPassw0rd-1'));
    refuses(textOfLines('[ipaserver', 'x'), 'hosts', 1, /invalid section header/);
    refuses(textOfLines('[ipaserver:hosts]'), 'hosts', 1, /unknown section type :hosts/);
    refuses(textOfLines('[ipaserver:vars]', 'ipadm_password DMPassw0rd-1'), 'hosts', 2, /expected key=value/);
    refuses(textOfLines('[ipaserver]', 'ipa1 Sud0-pw-9'), 'hosts', 2, /expected key=value after the host name/);
    const misplaced = refuses(
      textOfLines('[ipaserver]', 'ipa1.example.test', 'ipadm_password=DMPassw0rd-1'),
      'hosts',
      3,
      /^expected a host name first; key=value lines belong in \[ipaserver:vars\]$/,
    );
    assert.ok(!misplaced.includes('DMPassw0rd-1'));
    refuses(textOfLines('[a:children]', 'b', '[b:children]', 'a', '[ipaserver]', 'x.y.z'), 'hosts', 1, /cycle/);
  });

  it('refuses unparsable YAML, a vault-encrypted file and values ipa-fleet cannot take', () => {
    assertLocatedError(
      () => convert(textOfLines('all:', '  children: [a'), 'inv.yml'),
      'inv.yml',
      3,
      'all.children[0]',
      /^YAML syntax error/,
    );
    refuses(textOfLines('- ipaserver'), 'inv.yaml', 1, /top level must be a mapping/);
    refuses('$ANSIBLE_VAULT;1.1;AES256\n6162\n', 'hosts', 1, /encrypted with Ansible Vault/);
    const plugin = assertLocatedError(
      () =>
        convert(textOfLines('---', 'plugin: freeipa', 'server: ipa.example.test', 'ipaadmin_password: ADMPassw0rd-1')),
      'hosts',
      2,
      'plugin',
      /^an inventory plugin's configuration, not an inventory: .*ansible-inventory -i FILE --list --yaml/,
    );
    assert.ok(!plugin.includes('ADMPassw0rd-1'));
    assertLocatedError(
      () => convert(textOfLines('[ipaserver]', 'ipa1.example.test ansible_port=99999')),
      'hosts',
      2,
      'ansible_port',
      /between 1 and 65535 \(host ipa1\.example\.test\)$/,
    );
    refuses(textOfLines('[ipaserver]', 'ipa1'), 'hosts', 2, /ipaserver_domain is not set and 'ipa1'/);
    refuses(textOfLines('[ipaserver]', '192.0.2.1'), 'hosts', 2, /ipaserver_domain is not set and '192\.0\.2\.1'/);
    assertLocatedError(
      () => convert(textOfLines('[ipaserver]', 'ipa1.example.test', '[all:vars]', 'ipaserver_domain=example_test')),
      'hosts',
      4,
      'ipaserver_domain',
      /^'example_test' is not a DNS domain such as example\.com \(group all\)$/,
    );
  });
});

describe('import-ansible: the operation writes a new file, atomically, never over one', () => {
  it('writes --out, refuses an existing file, replaces it with --force', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ipa-fleet-ansible-'));
    try {
      const source = join(dir, 'hosts');
      const out = join(dir, 'fleet.yaml');
      await writeFile(source, CLUSTER);
      const first = await importAnsible({ source, out });
      assert.equal(first.written, out);
      assert.equal(await readFile(out, 'utf8'), first.yaml);
      await writeFile(out, 'kept\n');
      await assert.rejects(importAnsible({ source, out }), /fleet\.yaml exists; pass --force to replace it$/);
      assert.equal(await readFile(out, 'utf8'), 'kept\n');
      await importAnsible({ source, out, force: true });
      assert.equal(await readFile(out, 'utf8'), first.yaml);
      await assert.rejects(
        importAnsible({ source: join(dir, 'missing'), out: join(dir, 'never.yaml') }),
        /missing: cannot read the Ansible inventory: no such file$/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
