// `inventory import-ansible` as a script runs it, no lab needed: YAML on stdout that `inventory check`
// accepts, warnings on stderr, the --json shape (docs/json-output.md), and one error line with exit 2
// for bad input; the inventory's literal passwords are in none of it, nor in the log.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOneErrorLine, cliIn, type CliRun } from './run-cli.js';

const DM_PASSWORD = 'Dm-S3cret-71';
const ADMIN_PASSWORD = 'Adm-S3cret-72';

let tmp: string;
let cli: (...args: string[]) => Promise<CliRun>;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-import-ansible-'));
  cli = cliIn(tmp);
  // ipaserver README's "fixed domain, realm, admin and dirman passwords", with a replica.
  writeFileSync(
    join(tmp, 'hosts'),
    [
      '[ipaserver]',
      'ipaserver.example.com',
      '[ipaserver:vars]',
      'ipaserver_domain=example.com',
      'ipaserver_realm=EXAMPLE.COM',
      `ipaadmin_password=${ADMIN_PASSWORD}`,
      `ipadm_password=${DM_PASSWORD}`,
      '[ipareplicas]',
      'ipareplica1.example.com',
      '',
    ].join('\n'),
  );
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function assertNoSecret(...runs: CliRun[]): void {
  const log = readFileSync(join(tmp, 'ipa-fleet.log'), 'utf8');
  for (const text of [...runs.flatMap((r) => [r.stdout, r.stderr]), log]) {
    assert.ok(!text.includes(DM_PASSWORD) && !text.includes(ADMIN_PASSWORD), 'a password leaked');
  }
}

describe('cli: inventory import-ansible', () => {
  it('prints YAML that inventory check accepts, with the warnings on stderr', async () => {
    const r = await cli('inventory', 'import-ansible', 'hosts');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^ipa-fleet: warning: hosts:7: ipadm_password \(group ipaserver\): a literal password/m);
    writeFileSync(join(tmp, 'fleet.yaml'), r.stdout);
    const check = await cli('-i', 'fleet.yaml', 'inventory', 'check');
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^ipaserver\.example\.com .* EXAMPLE-COM:389 +ca +dc=example,dc=com o=ipaca +freeipa/m);
    assertNoSecret(r, check);
  });

  it('--json: deployment, hosts, warnings, written, inventory', async () => {
    const r = await cli('--json', 'inventory', 'import-ansible', 'hosts', '--out', 'json.yaml');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const value = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(value).sort(), ['deployment', 'hosts', 'inventory', 'warnings', 'written']);
    assert.equal(value.deployment, 'example-com');
    assert.deepEqual(value.hosts, ['ipaserver.example.com', 'ipareplica1.example.com']);
    assert.equal(value.written, 'json.yaml');
    assert.equal(value.inventory, readFileSync(join(tmp, 'json.yaml'), 'utf8'));
    assert.equal((value.warnings as string[]).length, 2);
    assertNoSecret(r);
  });

  it('bad input is one error line and exit 2, with nothing on stdout', async () => {
    writeFileSync(
      join(tmp, 'clients.yml'),
      'all:\n  children:\n    ipaclients:\n      hosts:\n        c1.example.com:\n',
    );
    writeFileSync(join(tmp, 'broken'), `[ipaserver]\nipa1.example.com ipadm_password="${DM_PASSWORD}\n`);
    writeFileSync(join(tmp, 'exists.yaml'), 'kept\n');
    const cases: Array<[string[], RegExp]> = [
      [['missing'], /missing: cannot read the Ansible inventory: no such file$/],
      [['clients.yml'], /clients\.yml: no ipaserver group/],
      [['broken'], /broken:2: unterminated quote \("\) on the host line$/],
      [['hosts', '--out', 'exists.yaml'], /exists\.yaml exists; pass --force to replace it$/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli('inventory', 'import-ansible', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assertOneErrorLine(r, pattern);
      assert.equal(r.stdout, '');
      assertNoSecret(r);
    }
    assert.equal(readFileSync(join(tmp, 'exists.yaml'), 'utf8'), 'kept\n');
  });
});
