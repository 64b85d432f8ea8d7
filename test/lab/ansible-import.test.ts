// import-ansible as an administrator coming from ansible-freeipa would use it, on a real 2-host lab:
// an INI and a YAML inventory in ansible-freeipa's shape point at the lab hosts (ansible_host = lab
// address, the key file = the lab's identity); the converted inventory, once its DM password
// placeholder names the lab's password file, passes `inventory check` and `ping` reaches both hosts.
// The DM password written literally in the Ansible inventory appears in no output, file or log.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bringUpLab, cleanError, type CliResult, type TestLab } from './fixture.js';

interface PingRow {
  host: string;
  ok: boolean;
  hostname?: string;
  ssh?: boolean;
  ldap?: boolean;
}

describe('import-ansible on a 2-host lab (a: ipaserver, b: ipareplicas)', () => {
  let lab: TestLab;
  let dmPassword: string;
  const address = (n: number): string => `${lab.net}.${n}`;

  before(async () => {
    lab = await bringUpLab(['--hosts', '2', '--entries', '10']);
    dmPassword = (await readFile(lab.paths.dmPassword, 'utf8')).trim();
  });

  after(async () => {
    await lab?.down();
  });

  /** Nothing the CLI printed, wrote or logged holds the DM password. */
  async function assertNoSecret(outputs: CliResult[], files: string[]): Promise<void> {
    const texts = [
      ...outputs.flatMap((r) => [r.stdout, r.stderr]),
      ...(await Promise.all([...files, lab.logFile].map((f) => readFile(f, 'utf8')))),
    ];
    for (const text of texts) assert.ok(!text.includes(dmPassword), 'the DM password leaked');
  }

  /** The placeholder the import wrote, pointed at the lab's password file, as the admin would edit it. */
  async function fillPlaceholder(file: string): Promise<void> {
    const text = await readFile(file, 'utf8');
    const placeholders = text.match(/password: prompt\b.*$/gm) ?? [];
    assert.equal(placeholders.length, 1, `one placeholder, in all.vars.ldap:\n${text}`);
    await writeFile(file, text.replace(/password: prompt\b.*$/m, `password: file:${lab.paths.dmPassword}`));
  }

  /** inventory check and ping on the converted inventory: exit 0, both hosts reached over SSH and LDAP. */
  async function checkAndPing(file: string): Promise<CliResult[]> {
    const check = await lab.fleet(['-i', file, 'inventory', 'check', '--json']);
    assert.equal(check.code, 0, check.stderr);
    const checked = JSON.parse(check.stdout) as {
      hosts: Array<{ name: string; address: string; roles: string[]; ldap: { instance: string } }>;
      warnings: string[];
    };
    assert.deepEqual(
      checked.hosts.map((h) => [h.name, h.address, h.roles, h.ldap.instance]),
      [
        ['a.ipa.test', address(1), ['ca'], 'IPA-TEST'],
        ['b.ipa.test', address(2), ['ca'], 'IPA-TEST'],
      ],
    );
    assert.deepEqual(checked.warnings, [], 'the key, known_hosts and password files exist');
    const ping = await lab.fleet(['-i', file, 'ping', '--json']);
    assert.equal(ping.code, 0, ping.stderr);
    const rows = JSON.parse(ping.stdout) as PingRow[];
    assert.deepEqual(
      rows.map((r) => [r.host, r.ok, r.ssh, r.ldap, r.hostname]),
      [
        ['a.ipa.test', true, true, true, 'a.ipa.test'],
        ['b.ipa.test', true, true, true, 'b.ipa.test'],
      ],
    );
    return [check, ping];
  }

  it('an INI inventory (hosts.cluster shape), printed on stdout: check and ping exit 0', async () => {
    const hosts = join(lab.tmp, 'hosts');
    await writeFile(
      hosts,
      [
        '[ipaserver]',
        `a.ipa.test ansible_host=${address(1)}`,
        '',
        '[ipareplicas]',
        `b.ipa.test ansible_host=${address(2)} ipareplica_setup_ca=true`,
        '',
        '[ipaclients]',
        `client1.ipa.test ansible_host=${address(9)}`,
        '',
        '[ipa:children]',
        'ipaserver',
        'ipareplicas',
        'ipaclients',
        '',
        '[ipa:vars]',
        'ansible_user=root',
        `ansible_ssh_private_key_file=${lab.paths.identity}`,
        `ansible_ssh_common_args='-o UserKnownHostsFile=${lab.paths.knownHosts}'`,
        `ipadm_password=${dmPassword}`,
        'ipaserver_domain=ipa.test',
        'ipaserver_realm=IPA.TEST',
        '',
      ].join('\n'),
    );
    const imported = await lab.fleet(['inventory', 'import-ansible', hosts]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stderr, /hosts:19: ipadm_password \(group ipa\): a literal password: not copied/);
    assert.match(imported.stderr, /left out 1 IPA client\(s\) \(client1\.ipa\.test\)/);
    const file = join(lab.tmp, 'from-ini.yaml');
    await writeFile(file, imported.stdout);
    await assertNoSecret([imported], [file]);
    await fillPlaceholder(file);
    const runs = await checkAndPing(file);
    await assertNoSecret(runs, [file]);
  });

  it('a YAML inventory with a vaulted DM password, written with --out: check and ping exit 0', async () => {
    const source = join(lab.tmp, 'inventory.yml');
    await writeFile(
      source,
      [
        'all:',
        '  vars:',
        '    ipaserver_domain: ipa.test',
        '    ansible_port: 22',
        `    ansible_ssh_private_key_file: ${lab.paths.identity}`,
        `    ansible_ssh_common_args: -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${lab.paths.knownHosts}`,
        '    ipadm_password: !vault |',
        '      $ANSIBLE_VAULT;1.1;AES256',
        '      62313365396662343061393464336163383764373764613633653634306231386433626436623361',
        '  children:',
        '    ipaserver:',
        '      hosts:',
        `        a.ipa.test: {ansible_host: ${address(1)}}`,
        '    ipareplicas:',
        '      hosts:',
        `        b.ipa.test: {ansible_host: ${address(2)}, ipareplica_setup_ca: true}`,
        '',
      ].join('\n'),
    );
    const file = join(lab.tmp, 'from-yaml.yaml');
    const imported = await lab.fleet(['inventory', 'import-ansible', source, '--out', file]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /from-yaml\.yaml: deployment ipa-test, 2 host\(s\)/);
    assert.match(imported.stderr, /inventory\.yml:7: ipadm_password \(group all\): vault-encrypted, not decrypted/);
    // Never over an existing file: the second import refuses, and the file is as it was.
    const before = await readFile(file, 'utf8');
    const again = await lab.fleet(['inventory', 'import-ansible', source, '--out', file]);
    assert.equal(again.code, 2);
    assert.match(cleanError(again.stderr) ?? again.stderr, /from-yaml\.yaml exists; pass --force to replace it$/);
    assert.equal(await readFile(file, 'utf8'), before);
    await fillPlaceholder(file);
    await checkAndPing(file);
  });

  it('bad input: missing file, no ipaserver group → one line, exit 2', async () => {
    const missing = await lab.fleet(['inventory', 'import-ansible', join(lab.tmp, 'nope')]);
    assert.equal(missing.code, 2);
    assert.match(
      cleanError(missing.stderr) ?? missing.stderr,
      /nope: cannot read the Ansible inventory: no such file$/,
    );
    const clients = join(lab.tmp, 'clients');
    await writeFile(clients, '[ipaclients]\nclient1.ipa.test\n');
    const none = await lab.fleet(['inventory', 'import-ansible', clients]);
    assert.equal(none.code, 2);
    assert.match(cleanError(none.stderr) ?? none.stderr, /clients: no ipaserver group/);
    assert.equal(none.stdout, '');
  });
});
