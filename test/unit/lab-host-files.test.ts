import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bootScript,
  defaultsInf,
  dsInf,
  etcHosts,
  rewriteListen,
  sshdConfig,
  sudoersFile,
  temporaryPorts,
} from '../../src/lab/host-files.js';
import { LabPaths } from '../../src/lab/paths.js';
import { LAB_DEFAULTS, labSpec, type LabHost } from '../../src/lab/spec.js';

const STOCK_DEFAULTS = '/usr/share/dirsrv/inf/defaults.inf';
const FIXTURE_DEFAULTS = `; defaults.inf (fixture)
[general]
full_machine_name = localhost.localdomain
strict_host_checking = True
selinux = True
systemd = True
with_systemd = 1

[slapd]
prefix =
ldapi = /run/slapd-{instance_name}.socket
ldapi_listen = on
ldapi_autobind = on
`;

const HOST_A: LabHost = labSpec(LAB_DEFAULTS).hosts[0]!;

/** [section] → key → value, from an INI text. */
function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      assert.ok(!sections.has(header[1]!), `section ${header[1]} twice`);
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const kv = /^([a-z_]+) = (.*)$/.exec(line);
    if (kv) {
      assert.ok(current, `key ${kv[1]} before any section`);
      assert.ok(!current.has(kv[1]!), `key ${kv[1]} twice`);
      current.set(kv[1]!, kv[2]!);
    }
  }
  return sections;
}

describe('rewriteListen', () => {
  const dse = [
    'dn: cn=config',
    'cn: config',
    'objectClass: top',
    'nsslapd-localhost: a.ipa.test',
    'nsslapd-port: 20001',
    'nsslapd-secureport: 21001',
    'nsslapd-rootdn: cn=Directory Manager',
    '',
    'dn: cn=monitor',
    'objectClass: top',
    '',
  ].join('\n');

  it('puts nsslapd-listenhost right after nsslapd-port: 389, secure port 636', () => {
    const out = rewriteListen(dse, '127.0.10.2').split('\n');
    const port = out.indexOf('nsslapd-port: 389');
    assert.ok(port > 0, out.join('\n'));
    assert.equal(out[port + 1], 'nsslapd-listenhost: 127.0.10.2');
    assert.ok(out.includes('nsslapd-secureport: 636'));
    assert.ok(!out.some((l) => /20001|21001/.test(l)), 'temporary ports gone');
    assert.equal(out.filter((l) => l.startsWith('nsslapd-listenhost:')).length, 1);
  });

  it('changes nothing else', () => {
    const out = rewriteListen(dse, '127.0.10.2').split('\n');
    const rest = out.filter((l) => !/^nsslapd-(port|secureport|listenhost):/.test(l));
    const orig = dse.split('\n').filter((l) => !/^nsslapd-(port|secureport):/.test(l));
    assert.deepEqual(rest, orig);
  });
});

describe('defaultsInf', () => {
  const stock = existsSync(STOCK_DEFAULTS) ? readFileSync(STOCK_DEFAULTS, 'utf8') : FIXTURE_DEFAULTS;

  for (const [name, text] of [
    ['stock or fixture defaults.inf', stock],
    ['fixture defaults.inf', FIXTURE_DEFAULTS],
  ] as const) {
    it(`${name}: systemd off, ldapi under /run/dirsrv, nothing else changed`, () => {
      assert.match(text, /^with_systemd = 1$/m, 'the input has systemd on');
      const out = defaultsInf(text);
      assert.match(out, /^with_systemd = 0$/m);
      assert.doesNotMatch(out, /^with_systemd = 1$/m);
      assert.match(out, /^ldapi = \/run\/dirsrv\/slapd-\{instance_name\}\.socket$/m);
      assert.doesNotMatch(out, /^ldapi = \/run\/slapd-/m);
      const a = text.split('\n');
      const b = out.split('\n');
      assert.equal(b.length, a.length);
      const changed = a.map((line, i) => (line === b[i] ? undefined : `${line} → ${b[i]}`)).filter(Boolean);
      assert.equal(changed.length, 2, changed.join('\n'));
      assert.ok(b.includes('ldapi_listen = on'), 'ldapi_listen untouched');
    });
  }
});

describe('dsInf', () => {
  it('has both backends, the instance, the host name and the password', () => {
    const ini = parseIni(dsInf(HOST_A, 'IPA-TEST', 'Secret-123'));
    assert.deepEqual([...ini.keys()], ['general', 'slapd', 'backend-userroot', 'backend-ipaca']);
    assert.equal(ini.get('general')!.get('full_machine_name'), 'a.ipa.test');
    assert.equal(ini.get('general')!.get('start'), 'False');
    assert.equal(ini.get('general')!.get('systemd'), 'False');
    assert.equal(ini.get('slapd')!.get('instance_name'), 'IPA-TEST');
    assert.equal(ini.get('slapd')!.get('root_password'), 'Secret-123');
    assert.equal(ini.get('backend-userroot')!.get('suffix'), 'dc=ipa,dc=test');
    assert.equal(ini.get('backend-userroot')!.get('create_suffix_entry'), 'True');
    assert.equal(ini.get('backend-ipaca')!.get('suffix'), 'o=ipaca');
    assert.equal(ini.get('backend-ipaca')!.get('create_suffix_entry'), 'True');
  });

  it('makes the backends and the instance a drill sandbox asks for', () => {
    const host: LabHost = {
      ...HOST_A,
      fqdn: 'ipa1.example.com',
      backends: [{ name: 'userRoot', suffix: 'dc=example,dc=com' }],
    };
    const ini = parseIni(dsInf(host, 'EXAMPLE-COM', 'x'));
    assert.deepEqual([...ini.keys()], ['general', 'slapd', 'backend-userRoot']);
    assert.equal(ini.get('slapd')!.get('instance_name'), 'EXAMPLE-COM');
    assert.equal(ini.get('backend-userRoot')!.get('suffix'), 'dc=example,dc=com');
  });

  it('temporary ports are unique across all hosts and port kinds, and never 389/636', () => {
    const spec = labSpec({ ...LAB_DEFAULTS, hosts: 26, ca: 'none' });
    const ports: number[] = [];
    for (const host of spec.hosts) {
      const slapd = parseIni(dsInf(host, 'IPA-TEST', 'x')).get('slapd')!;
      ports.push(Number(slapd.get('port')), Number(slapd.get('secure_port')));
      assert.equal(
        parseIni(dsInf(host, 'IPA-TEST', 'x'))
          .get('general')!
          .get('full_machine_name'),
        host.fqdn,
      );
    }
    assert.equal(new Set(ports).size, 52);
    assert.ok(ports.every((p) => Number.isInteger(p) && p > 1024 && p < 65536 && p !== 389 && p !== 636));
  });

  it('two labs on different networks never share a temporary port (lab tests build two at once)', () => {
    const ports = (net: string): number[] =>
      labSpec({ ...LAB_DEFAULTS, hosts: 26, ca: 'none', net }).hosts.flatMap((h) => {
        const p = temporaryPorts(h);
        return [p.port, p.securePort];
      });
    const nets = [
      '127.0.10',
      '127.0.21',
      '127.0.28',
      '127.0.33',
      '127.0.34',
      '127.0.35',
      '127.0.36',
      '127.0.47',
      '127.0.60',
      '127.1.10',
    ];
    const all = nets.flatMap(ports);
    assert.equal(new Set(all).size, all.length);
    assert.ok(all.every((p) => p > 1024 && p < 65536));
  });
});

describe('etcHosts', () => {
  it('maps every lab address to its fqdn and short name', () => {
    const text = etcHosts(labSpec(LAB_DEFAULTS));
    assert.deepEqual(text.split('\n'), [
      '127.0.0.1 localhost',
      '127.0.10.1 a.ipa.test a',
      '127.0.10.2 b.ipa.test b',
      '127.0.10.3 c.ipa.test c',
      '',
    ]);
  });
});

describe('bootScript', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ipa-fleet-boot-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const nasty = (): string => join(dir, `it's a "lab" $(touch canary) \`touch canary2\` ; x`);

  it('is valid bash for a lab folder with spaces and quotes (bash -n)', () => {
    for (const root of ['/var/lib/ipa-fleet/lab', nasty(), join(dir, "'"), join(dir, "a''b\\")]) {
      const script = bootScript(new LabPaths(root), HOST_A);
      const file = join(dir, 'boot.sh');
      writeFileSync(file, script);
      execFileSync('bash', ['-n', file]);
      assert.ok(script.startsWith('#!/bin/bash\n'));
      assert.match(script, /set -euo pipefail/);
    }
  });

  it('every mount gets exactly the intended paths and nothing runs (commands stubbed)', () => {
    const paths = new LabPaths(nasty());
    const hostDir = paths.hostDir(HOST_A.fqdn);
    const stubs = [
      'hostname() { printf "hostname"; printf " <%s>" "$@"; printf "\\n"; }',
      'mount() { printf "mount"; printf " <%s>" "$@"; printf "\\n"; }',
      'mkdir() { :; }',
      'exec() { printf "exec"; printf " <%s>" "$@"; printf "\\n"; }',
    ].join('\n');
    const script = bootScript(paths, HOST_A).replace('#!/bin/bash\n', `#!/bin/bash\n${stubs}\n`);
    const file = join(dir, 'boot-stubbed.sh');
    writeFileSync(file, script);
    const out = execFileSync('bash', [file], { cwd: dir }).toString('utf8').split('\n').filter(Boolean);
    assert.deepEqual(out, [
      'hostname <a.ipa.test>',
      `mount <--bind> <${hostDir}/etc-dirsrv> </etc/dirsrv>`,
      `mount <--bind> <${hostDir}/var-lib-dirsrv> </var/lib/dirsrv>`,
      `mount <--bind> <${hostDir}/var-log-dirsrv> </var/log/dirsrv>`,
      `mount <--bind> <${hostDir}/run-dirsrv> </run/dirsrv>`,
      `mount <--bind> <${hostDir}/lock-dirsrv> </run/lock/dirsrv>`,
      `mount <--bind> <${hostDir}/defaults.inf> </usr/share/dirsrv/inf/defaults.inf>`,
      `mount <--bind> <${paths.etcHosts}> </etc/hosts>`,
      'mount <-t> <tmpfs> <-o> <mode=1777,size=256m> <tmpfs> </dev/shm>',
      `exec </usr/sbin/sshd> <-D> <-e> <-f> <${hostDir}/sshd_config>`,
    ]);
    assert.equal(existsSync(join(dir, 'canary')), false, '$(…) in the path ran');
    assert.equal(existsSync(join(dir, 'canary2')), false, 'backticks in the path ran');
  });
});

describe('a lab with --sudo-user', () => {
  const paths = new LabPaths('/tmp/lab x');
  const withPassword = { user: 'fleetadmin', passwordFile: '/tmp/pw' };

  it('sudoers: the user may run anything, asked for its password or not; visudo accepts both', () => {
    for (const [sudo, rule] of [
      [withPassword, 'fleetadmin ALL=(ALL:ALL) ALL'],
      [{ user: 'fleetadmin', passwordFile: undefined }, 'fleetadmin ALL=(ALL:ALL) NOPASSWD: ALL'],
    ] as const) {
      const text = sudoersFile(sudo);
      assert.ok(text.split('\n').includes(rule), text);
      assert.match(text, /^Defaults !requiretty$/m);
      assert.match(text, /^Defaults !lecture$/m);
      if (existsSync('/usr/sbin/visudo')) {
        const dir = mkdtempSync(join(tmpdir(), 'ipa-fleet-sudoers-'));
        try {
          writeFileSync(join(dir, 'sudoers'), text, { mode: 0o440 });
          execFileSync('/usr/sbin/visudo', ['-c', '-q', '-f', join(dir, 'sudoers')]);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  });

  it('sshd refuses root and hands every user the lab key; the boot script mounts the sudoers file', () => {
    const config = sshdConfig(paths, HOST_A, { sudo: withPassword });
    assert.match(config, /^PermitRootLogin no$/m);
    assert.match(config, /^AuthorizedKeysCommand \/bin\/cat "\/tmp\/lab x\/authorized_keys"$/m);
    assert.match(config, /^AuthorizedKeysCommandUser root$/m);
    assert.match(sshdConfig(paths, HOST_A), /^PermitRootLogin prohibit-password$/m);
    assert.match(
      bootScript(paths, HOST_A, { sudo: withPassword }),
      /^mount --bind '\/tmp\/lab x\/sudoers' \/etc\/sudoers$/m,
    );
    assert.doesNotMatch(bootScript(paths, HOST_A), /sudoers/);
  });
});
