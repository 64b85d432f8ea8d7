import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { LocatedError } from '../../src/located/located-error.js';
import { DEFAULTS, loadInventory, parseInventory, type Host, type Inventory } from '../../src/inventory/index.js';
import { assertLocatedError } from './located-error.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/inventory/', import.meta.url));
const FILE = '/inv/site.yml';

/** One string per line, so that line N of the YAML is argument N. */
function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** Lines 1–7 of most test inventories: the settings every host needs. */
const BASE = [
  'all:',
  '  vars:',
  '    ldap:',
  '      instance: EXAMPLE-COM',
  '      password: env:DM_PASSWORD',
  '    suffixes:',
  '      domain: dc=example,dc=com',
];

function parse(text: string, hasLocalKnownHosts = false): Inventory {
  return parseInventory(text, FILE, { homeDir: '/home/op', hasLocalKnownHosts });
}

function host(inv: Inventory, name: string): Host {
  const found = inv.hosts.find((h) => h.name === name);
  assert.ok(found, `host ${name} not found`);
  return found;
}

/** Asserts the exact location and that the problem matches; returns the message for further checks. */
function rejects(text: string, line: number | undefined, key: string | undefined, problem: RegExp): string {
  return assertLocatedError(() => parse(text), FILE, line, key, problem);
}

describe('inventory: a valid inventory', () => {
  it('loads the example, resolving precedence, defaults and paths', async () => {
    const file = join(FIXTURES, 'site.yml');
    const inv = await loadInventory(file);
    assert.equal(inv.deployment, 'ipa-prod');
    assert.deepEqual(
      inv.hosts.map((h) => h.name),
      ['ipa1.example.com', 'ipa2.example.com', 'ipa3.example.com', 'ipa4.example.com'],
    );
    assert.deepEqual(
      [...inv.groups],
      [
        ['all', ['ipa1.example.com', 'ipa2.example.com', 'ipa3.example.com', 'ipa4.example.com']],
        ['dc1', ['ipa1.example.com', 'ipa2.example.com']],
        ['dc2', ['ipa3.example.com', 'ipa4.example.com']],
        ['legacy', ['ipa3.example.com', 'ipa4.example.com']],
      ],
    );

    const ipa1 = host(inv, 'ipa1.example.com');
    assert.equal(ipa1.address, '192.0.2.11');
    assert.deepEqual(ipa1.groups, ['all', 'dc1']);
    assert.deepEqual(ipa1.roles, ['ca', 'kra', 'dns'], 'the host beats its group');
    assert.equal(ipa1.profile, 'freeipa');
    assert.deepEqual(ipa1.ssh, {
      transport: 'ssh2',
      user: 'admin',
      userGiven: true,
      become: undefined,
      port: 22,
      identityFile: join(FIXTURES, 'keys/fleet_ed25519'),
      identityPassphrase: { kind: 'env', name: 'FLEET_KEY_PASSPHRASE' },
      knownHostsFile: join(FIXTURES, 'known_hosts'), // exists beside the inventory
      hostKeyPolicy: 'strict',
      proxyJump: 'jump@bastion.example.com:2222',
      connectTimeoutMs: 5000,
      connectRetries: DEFAULTS.connectRetries,
      keepaliveIntervalMs: DEFAULTS.keepaliveIntervalMs,
    });
    assert.deepEqual(ipa1.ldap, {
      instance: 'EXAMPLE-COM',
      port: 389,
      bindDn: 'cn=Directory Manager',
      password: { kind: 'file', path: join(FIXTURES, 'secrets/dm-password') },
      direct: undefined,
      caFile: undefined,
      timeoutMs: DEFAULTS.ldapTimeoutMs,
    });
    assert.deepEqual(ipa1.suffixes, {
      domain: 'dc=example,dc=com',
      ca: { suffix: 'o=ipaca', instance: undefined, port: undefined },
    });
    assert.deepEqual(ipa1.source, { file, line: 23 });

    const ipa2 = host(inv, 'ipa2.example.com');
    assert.equal(ipa2.address, 'ipa2.example.com', 'the name is the default address');
    assert.deepEqual(ipa2.roles, ['ca', 'dns'], 'group roles, not merged with anything');

    const ipa3 = host(inv, 'ipa3.example.com');
    assert.deepEqual(ipa3.groups, ['all', 'dc2', 'legacy']);
    assert.equal(ipa3.ssh.port, 2022);
    assert.equal(ipa3.ssh.user, 'admin', 'deep merge keeps all.vars.ssh.user beside the group ssh.port');
    assert.equal(ipa3.ssh.knownHostsFile, join(homedir(), '.ssh/known_hosts_dc2'));
    assert.equal(ipa3.ssh.proxyJump, 'ipa1.example.com');
    assert.equal(ipa3.ldap.direct, 'ldaps');
    assert.equal(ipa3.ldap.port, DEFAULTS.ldapsPort);
    assert.equal(ipa3.ldap.caFile, '/etc/ipa/ca.crt');
    assert.equal(ipa3.ldap.timeoutMs, 120_000, 'from the parent group legacy');
    assert.deepEqual(ipa3.roles, []);

    const ipa4 = host(inv, 'ipa4.example.com');
    assert.equal(ipa4.address, '2001:db8::14', 'IPv6 without brackets');
    assert.deepEqual(ipa4.suffixes.ca, { suffix: 'o=ipaca', instance: 'PKI-IPA', port: 7389 });
  });

  it('applies all.vars < parent group < child group < host', () => {
    const inv = parse(
      yaml(
        ...BASE,
        '    ssh: {port: 1022, user: ops}',
        '  children:',
        '    parent:',
        '      vars: {ssh: {port: 2022}, ldap: {timeout: 7}}',
        '      children:',
        '        child:',
        '          vars: {ssh: {port: 3022}}',
        '          hosts:',
        '            a:',
        '            b: {ssh: {port: 4022}}',
        '      hosts:',
        '        c:',
        '  hosts:',
        '    d:',
      ),
    );
    assert.deepEqual(
      inv.hosts.map((h) => [h.name, h.ssh.port, h.ssh.user, h.ldap.timeoutMs]),
      [
        ['a', 3022, 'ops', 7000],
        ['b', 4022, 'ops', 7000],
        ['c', 2022, 'ops', 7000],
        ['d', 1022, 'ops', 30_000],
      ],
    );
    assert.deepEqual(host(inv, 'a').groups, ['all', 'parent', 'child']);
  });

  it('lets a host sit in several groups when they agree or are nested', () => {
    const inv = parse(
      yaml(
        ...BASE,
        '  children:',
        '    ca_servers:',
        '      vars: {roles: [ca]}',
        '      hosts: {a:}',
        '    dc1:',
        '      vars: {roles: [ca]}',
        '      hosts: {a:, b:}',
      ),
    );
    assert.deepEqual(host(inv, 'a').groups, ['all', 'ca_servers', 'dc1']);
    assert.deepEqual(host(inv, 'a').roles, ['ca']);
    assert.deepEqual(inv.groups.get('dc1'), ['a', 'b']);
  });

  it('uses defaults, the file name as deployment and ~/.ssh/known_hosts', () => {
    const inv = parse(yaml(...BASE, '  hosts:', '    ipa1:'));
    assert.equal(inv.deployment, 'site');
    const ipa1 = host(inv, 'ipa1');
    assert.equal(ipa1.ssh.user, DEFAULTS.sshUser);
    assert.equal(ipa1.ssh.port, DEFAULTS.sshPort);
    assert.equal(ipa1.ssh.knownHostsFile, '/home/op/.ssh/known_hosts');
    assert.equal(ipa1.ssh.identityFile, undefined);
    assert.equal(ipa1.ssh.connectTimeoutMs, DEFAULTS.connectTimeoutMs);
    assert.equal(ipa1.ldap.port, DEFAULTS.ldapPort);
    assert.equal(ipa1.ldap.bindDn, DEFAULTS.bindDn);
    assert.equal(ipa1.profile, DEFAULTS.profile);
    assert.deepEqual(ipa1.ldap.password, { kind: 'env', name: 'DM_PASSWORD' });
  });

  it('prefers known_hosts beside the inventory when it exists', () => {
    const inv = parse(yaml(...BASE, '  hosts:', '    ipa1:'), true);
    assert.equal(host(inv, 'ipa1').ssh.knownHostsFile, '/inv/known_hosts');
  });

  it('resolves relative, ~/ and absolute paths', () => {
    const inv = parse(
      yaml(
        ...BASE,
        '    ssh:',
        '      identity_file: ../keys/id',
        '      known_hosts: ~/kh',
        '  hosts:',
        '    a: {ldap: {password: file:dm.txt, ca_file: /etc/ca.pem}}',
      ),
    );
    const a = host(inv, 'a');
    assert.equal(a.ssh.identityFile, '/keys/id');
    assert.equal(a.ssh.knownHostsFile, '/home/op/kh');
    assert.deepEqual(a.ldap.password, { kind: 'file', path: '/inv/dm.txt' });
    assert.equal(a.ldap.caFile, '/etc/ca.pem');
  });

  it('accepts proxy_jump through an inventory host, an outside host, and none', () => {
    const inv = parse(
      yaml(
        ...BASE,
        '    ssh: {proxy_jump: "ops@[2001:db8::1]:2222"}',
        '  hosts:',
        '    bastion: {ssh: {proxy_jump: none}}',
        '    a: {ssh: {proxy_jump: bastion}}',
        '    b:',
      ),
    );
    assert.deepEqual(
      inv.hosts.map((h) => h.ssh.proxyJump),
      [undefined, 'bastion', 'ops@[2001:db8::1]:2222'],
    );
  });

  it('accepts anchors and aliases', () => {
    const inv = parse(yaml(...BASE, '    ssh: &defaults {port: 2222}', '  hosts:', '    a: {ssh: *defaults}'));
    assert.equal(host(inv, 'a').ssh.port, 2222);
  });
});

describe('inventory: refused input names file, line and key', () => {
  it('refuses a literal password without repeating it', () => {
    const message = rejects(
      yaml(...BASE, '  hosts:', '    a:', '      ldap:', '        password: hunter2-S3cret'),
      11,
      'all.hosts.a.ldap.password',
      /^a literal password is not allowed here; use file:PATH, env:NAME or prompt$/,
    );
    assert.ok(!message.includes('hunter2'));
  });

  it('refuses a numeric literal passphrase without repeating it', () => {
    const message = rejects(
      yaml(...BASE, '    ssh: {identity_file: k, identity_passphrase: 987654}', '  hosts: {a:}'),
      8,
      'all.vars.ssh.identity_passphrase',
      /literal password is not allowed/,
    );
    assert.ok(!message.includes('987654'));
  });

  it('refuses a bad env: name without repeating it', () => {
    const message = rejects(
      yaml(...BASE, '  hosts:', '    a: {ldap: {password: "env:my secret"}}'),
      9,
      'all.hosts.a.ldap.password',
      /^env: needs a variable name/,
    );
    assert.ok(!message.includes('my secret'));
  });

  it('names an unknown key and suggests the near miss', () => {
    rejects(
      yaml(...BASE, '    ssh:', '      identityfile: id', '  hosts: {a:}'),
      9,
      'all.vars.ssh.identityfile',
      /^unknown key; did you mean identity_file\?$/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a:', '      ldap:', '        bind_dm: cn=x'),
      11,
      'all.hosts.a.ldap.bind_dm',
      /did you mean bind_dn\?/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a:', '      port: 22'),
      10,
      'all.hosts.a.port',
      /did you mean ssh\.port or ldap\.port\?/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a:', '      ansible_host: 192.0.2.1'),
      10,
      'all.hosts.a.ansible_host',
      /did you mean address\?/,
    );
    rejects(
      yaml(...BASE, '  children:', '    g:', '      ssh: {port: 1}', '      hosts: {a:}'),
      10,
      'all.children.g.ssh',
      /group settings go under vars: did you mean vars\.ssh\?/,
    );
    rejects(yaml(...BASE, '  child:', '    g:'), 8, 'all.child', /did you mean children\?/);
    rejects(
      yaml(...BASE, '  hosts:', '    a: {ldap: {bind_dn: cn=admin,o=x}}'),
      9,
      'all.hosts.a.ldap.o=x',
      /looks like part of a DN: .*quote DNs/,
    );
    rejects(yaml(...BASE, '    constructor: x', '  hosts: {a:}'), 8, 'all.vars.constructor', /^unknown key/);
    rejects(yaml(...BASE, '  hosts:', '    a: {__proto__: x}'), 9, 'all.hosts.a.__proto__', /^unknown key/);
    rejects(
      yaml(...BASE, '    colour: blue', '  hosts: {a:}'),
      8,
      'all.vars.colour',
      /^unknown key \(expected .*roles.*ssh, ldap, suffixes, deployment\)$/,
    );
  });

  it('refuses duplicate keys', () => {
    rejects(
      yaml(...BASE, '  hosts:', '    a:', '      ssh:', '        port: 22', '        port: 23'),
      12,
      'all.hosts.a.ssh.port',
      /^duplicate key \(first set at line 11\)$/,
    );
    rejects(yaml(...BASE, '  hosts:', '    a:', '    a:'), 10, 'all.hosts.a', /duplicate key/);
  });

  it('turns YAML syntax errors into one line with the line number', () => {
    rejects(yaml(...BASE, '  hosts:', '    a:', '   b:'), 9, 'all.hosts.a', /^YAML syntax error: /);
    // An unclosed brace is noticed on the next line, and that is the line reported.
    rejects(yaml(...BASE, '  hosts:', '    a: {ssh: {port: 22}', '    b:'), 10, 'all.hosts.a', /^YAML syntax error: /);
    rejects(yaml(...BASE, '  hosts: {a:}', '---', 'all: {}'), 9, undefined, /single YAML document/);
  });

  it('refuses YAML tags such as Ansible Vault', () => {
    rejects(
      yaml(
        ...BASE,
        '  hosts:',
        '    a:',
        '      ldap:',
        '        password: !vault |',
        '          $ANSIBLE_VAULT;1.1;AES256',
      ),
      11,
      'all.hosts.a.ldap.password',
      /^YAML tags are not supported/,
    );
  });

  it('refuses merge keys', () => {
    rejects(
      yaml(...BASE, '    ssh: &s {port: 2}', '  hosts:', '    a: {ssh: {<<: *s}}'),
      10,
      'all.hosts.a.ssh.<<',
      /merge keys/,
    );
  });

  it('refuses shell metacharacters in host names and addresses', () => {
    rejects(
      yaml(...BASE, '  hosts:', '    "ipa1;reboot":'),
      9,
      'all.hosts.ipa1;reboot',
      /^'ipa1;reboot' is not a valid host name: ';' is not allowed/,
    );
    rejects(yaml(...BASE, '  hosts:', '    "ipa 1":'), 9, 'all.hosts."ipa 1"', /a space is not allowed/);
    rejects(
      yaml(...BASE, '  children:', '    g:', '      hosts:', '        "it\'s":'),
      11,
      "all.children.g.hosts.it's",
      /a quote \('\) is not allowed/,
    );
    rejects(yaml(...BASE, '  hosts:', '    -oProxyCommand:'), 9, 'all.hosts.-oProxyCommand', /must not start with '-'/);
    rejects(
      yaml(...BASE, '  hosts:', '    a:', '      address: "$(reboot)"'),
      10,
      'all.hosts.a.address',
      /^'\$\(reboot\)' is not a valid address: '\$' is not allowed/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a:', '      address: "a`id`"'),
      10,
      'all.hosts.a.address',
      /'`' is not allowed/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    "a\\nb":'),
      9,
      'all.hosts."a\\nb"',
      /^"a\\nb" is not a valid host name: the character "\\n" is not allowed/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    ipa1:2222:'),
      9,
      'all.hosts.ipa1:2222',
      /looks like host:port; put the port in ssh\.port/,
    );
    rejects(
      yaml(...BASE, '  children:', '    "web*":', '      hosts: {a:}'),
      9,
      'all.children.web*',
      /not a valid group name: '\*' is not allowed/,
    );
  });

  it('refuses bad types and ranges', () => {
    const at = (setting: string, problem: RegExp, key: string) =>
      rejects(yaml(...BASE, '  hosts:', `    a: ${setting}`), 9, key, problem);
    at('{ssh: {port: 0}}', /^must be a port number between 1 and 65535$/, 'all.hosts.a.ssh.port');
    at('{ssh: {port: 70000}}', /between 1 and 65535/, 'all.hosts.a.ssh.port');
    at('{ssh: {port: "22"}}', /\(a number, not a string\)/, 'all.hosts.a.ssh.port');
    at('{ldap: {port: 389.5}}', /between 1 and 65535/, 'all.hosts.a.ldap.port');
    at('{ssh: {connect_timeout: 0}}', /^must be a number of seconds greater than 0/, 'all.hosts.a.ssh.connect_timeout');
    at('{ldap: {timeout: -1}}', /greater than 0/, 'all.hosts.a.ldap.timeout');
    at('{ssh: {keepalive_interval: 100000}}', /at most 86400/, 'all.hosts.a.ssh.keepalive_interval');
    at('{ssh: {connect_retries: 1.5}}', /whole number between 0 and 100/, 'all.hosts.a.ssh.connect_retries');
    at(
      '{ssh: {host_key_policy: accept_new}}',
      /^must be one of strict, accept-new \(did you mean accept-new\?\)$/,
      'all.hosts.a.ssh.host_key_policy',
    );
    at('{ssh: {user: "root; id"}}', /not a valid user name/, 'all.hosts.a.ssh.user');
    at('{ssh: 22}', /^must be a mapping of ssh settings/, 'all.hosts.a.ssh');
    at('{ldap: {bind_dn: Directory Manager}}', /is not a DN/, 'all.hosts.a.ldap.bind_dn');
    at('{suffixes: {domain: example.com}}', /is not a DN/, 'all.hosts.a.suffixes.domain');
    at(
      '{ldap: {instance: slapd-EXAMPLE-COM}}',
      /without the 'slapd-' prefix \('EXAMPLE-COM'\)/,
      'all.hosts.a.ldap.instance',
    );
    at('{ldap: {direct: ldap}}', /must be one of ldaps/, 'all.hosts.a.ldap.direct');
    at('{profile: FreeIPA}', /did you mean freeipa\?/, 'all.hosts.a.profile');
    at('{roles: ca}', /must be a list of roles/, 'all.hosts.a.roles');
    at('{roles: [ca, cs]}', /^unknown role 'cs'; .*did you mean ca\?/, 'all.hosts.a.roles[1]');
    at('{roles: [ca, ca]}', /listed twice/, 'all.hosts.a.roles[1]');
    at('{ssh: {identity_file: ""}}', /must be a non-empty string/, 'all.hosts.a.ssh.identity_file');
    at('{ssh: {known_hosts: ~ops/kh}}', /~user paths are not supported/, 'all.hosts.a.ssh.known_hosts');
  });

  it('refuses a hosts list, a top-level group and an empty file', () => {
    rejects(yaml(...BASE, '  hosts:', '    - a'), 9, 'all.hosts', /not a list/);
    rejects(
      yaml(...BASE, '  hosts: {a:}', 'webservers:', '  hosts: {b:}'),
      9,
      'webservers',
      /only 'all' is allowed at the top level/,
    );
    rejects('', 1, undefined, /the inventory is empty/);
    rejects(yaml('all:', '  vars: {}'), 1, 'all', /no hosts/);
  });

  it('names the host line when a required setting is missing', () => {
    rejects(
      yaml(
        'all:',
        '  children:',
        '    g:',
        '      hosts:',
        '        a:',
        '      vars:',
        '        ldap: {instance: X, password: prompt}',
      ),
      5,
      'all.children.g.hosts.a.suffixes.domain',
      /^is required; set it on the host or in the vars of one of its groups \(all, g\)$/,
    );
  });

  it('keeps deployment in all.vars and address on hosts', () => {
    rejects(
      yaml(...BASE, '  children:', '    g:', '      vars: {deployment: x}', '      hosts: {a:}'),
      10,
      'all.children.g.vars.deployment',
      /only be set in all\.vars/,
    );
    rejects(yaml(...BASE, '    address: 192.0.2.1', '  hosts: {a:}'), 8, 'all.vars.address', /address is per host/);
    rejects(
      yaml(...BASE, '    deployment: "prod east"', '  hosts: {a:}'),
      8,
      'all.vars.deployment',
      /a space is not allowed/,
    );
  });

  it('refuses groups that disagree without being nested', () => {
    rejects(
      yaml(
        ...BASE,
        '  children:',
        '    a:',
        '      vars: {ssh: {port: 2}}',
        '      hosts: {h:}',
        '    b:',
        '      vars: {ssh: {port: 3}}',
        '      hosts: {h:}',
      ),
      13,
      'all.children.b.vars.ssh.port',
      /^host 'h' is in groups 'a' and 'b', which set this differently \(see line 10\)/,
    );
  });

  it('refuses group cycles and names used for both a host and a group', () => {
    rejects(
      yaml(
        ...BASE,
        '  children:',
        '    a:',
        '      children:',
        '        b:',
        '          children:',
        '            a:',
        '  hosts: {h:}',
      ),
      13,
      'all.children.a.children.b.children.a',
      /^group cycle: a → b → a$/,
    );
    rejects(
      yaml(...BASE, '  hosts: {web:}', '  children:', '    web:'),
      10,
      'all.children.web',
      /both a host and a group \(see line 8\)/,
    );
  });

  it('checks proxy_jump', () => {
    rejects(
      yaml(...BASE, '  hosts:', '    a: {ssh: {proxy_jump: "bastion;id"}}'),
      9,
      'all.hosts.a.ssh.proxy_jump',
      /';' is not allowed/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a: {ssh: {proxy_jump: "b,c"}}'),
      9,
      'all.hosts.a.ssh.proxy_jump',
      /only one jump host/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a: {ssh: {proxy_jump: "b:99999"}}'),
      9,
      'all.hosts.a.ssh.proxy_jump',
      /between 1 and 65535/,
    );
    rejects(
      yaml(...BASE, '    ssh: {proxy_jump: bastion}', '  hosts:', '    bastion:', '    a:'),
      8,
      'all.vars.ssh.proxy_jump',
      /'bastion' would jump through itself; give it proxy_jump: none/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a: {ssh: {proxy_jump: b}}', '    b: {ssh: {proxy_jump: a}}'),
      9,
      'all.hosts.a.ssh.proxy_jump',
      /^proxy_jump loops: a → b → a$/,
    );
  });

  it('checks settings that go together', () => {
    rejects(
      yaml(...BASE, '  hosts:', '    a: {suffixes: {ca_instance: PKI-IPA}}'),
      9,
      'all.hosts.a.suffixes.ca_instance',
      /set suffixes\.ca_port too/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a: {suffixes: {ca_port: 7389}}'),
      9,
      'all.hosts.a.suffixes.ca_port',
      /set suffixes\.ca_instance too/,
    );
    rejects(
      yaml(...BASE, '  hosts:', '    a: {ssh: {identity_passphrase: prompt}}'),
      9,
      'all.hosts.a.ssh.identity_passphrase',
      /identity_file is not/,
    );
  });

  it('refuses a setting given twice for the same host', () => {
    rejects(
      yaml(
        ...BASE,
        '  hosts:',
        '    a: {ssh: {port: 2}}',
        '  children:',
        '    g:',
        '      hosts:',
        '        a: {ssh: {port: 3}}',
      ),
      13,
      'all.children.g.hosts.a.ssh.port',
      /already set for host 'a' at line 9/,
    );
  });

  it('reports a missing inventory file as an LocatedError', async () => {
    await assert.rejects(
      loadInventory(join(FIXTURES, 'nope.yml')),
      (err: unknown) =>
        err instanceof LocatedError && /nope\.yml: cannot read the inventory: no such file$/.test(err.message),
    );
  });
});

describe('inventory: ssh.transport and ssh.become', () => {
  const base = (ssh: string): string =>
    `all:\n  vars:\n    ldap: { instance: T, password: "env:DM" }\n    suffixes: { domain: "dc=t" }\n` +
    `  hosts:\n    a.t:\n      ssh:\n${ssh}`;

  it('reads transport, become, become_user and become_password', () => {
    const inv = parseInventory(
      base(
        '        transport: openssh\n        become: sudo\n        become_user: ipaops\n' +
          '        become_password: "file:/etc/sudo-pass"\n',
      ),
      '/x/inv.yml',
    );
    const h = inv.hosts[0]!;
    assert.equal(h.ssh.transport, 'openssh');
    assert.equal(h.ssh.userGiven, false);
    assert.deepEqual(h.ssh.become, {
      method: 'sudo',
      user: 'ipaops',
      password: { kind: 'file', path: '/etc/sudo-pass' },
    });
  });

  it('defaults: ssh2, no become; become alone means root without a password', () => {
    assert.equal(parseInventory(base('        port: 22\n'), '/x/inv.yml').hosts[0]!.ssh.transport, 'ssh2');
    const inv = parseInventory(base('        become: sudo\n'), '/x/inv.yml');
    assert.deepEqual(inv.hosts[0]!.ssh.become, { method: 'sudo', user: 'root', password: undefined });
  });

  it('refuses become_user without become, and an unknown transport, naming the line', () => {
    assert.throws(
      () => parseInventory(base('        become_user: ipaops\n'), '/x/inv.yml'),
      /inv\.yml:8.*become_user is set but ssh\.become is not/,
    );
    assert.throws(() => parseInventory(base('        transport: putty\n'), '/x/inv.yml'), /inv\.yml:8.*transport/);
  });
});
