// `lab up --init ldif`: the replicas seeded from the first host's export instead of total updates. The
// lab must be as real as the online-initialized one: the same entries everywhere (ds-replcheck judges
// a against c), one replica generation, and a change made on a reaches the end of the chain.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bringUpLab, dnsOf, labDirectory, type LabDirectory, type TestLab, waitFor } from './fixture.js';

const DOMAIN = 'dc=ipa,dc=test';
const ENTRIES = 500;

describe('lab up --init ldif (3-host chain, CA on a and b)', { timeout: 600_000 }, () => {
  let lab: TestLab;
  let dir: LabDirectory;

  before(async () => {
    lab = await bringUpLab(['--hosts', '3', '--entries', String(ENTRIES), '--init', 'ldif']);
    dir = await labDirectory(lab, 3);
  });
  after(async () => {
    await lab?.down();
  });

  it('says how each replica got its data', () => {
    assert.match(lab.upOutput.stderr + lab.upOutput.stdout, /b\.ipa\.test imported a\.ipa\.test's export/);
    assert.match(lab.upOutput.stderr + lab.upOutput.stdout, /o=ipaca: b\.ipa\.test imported/);
    assert.doesNotMatch(lab.upOutput.stderr + lab.upOutput.stdout, /initialized from/);
  });

  it('every host holds the same entries, and ds-replcheck finds a and c in sync', async () => {
    const a = await dnsOf(dir, 'a.ipa.test', DOMAIN);
    assert.ok(a.length > ENTRIES, `a holds ${a.length} entries`);
    assert.deepEqual(await dnsOf(dir, 'b.ipa.test', DOMAIN), a);
    assert.deepEqual(await dnsOf(dir, 'c.ipa.test', DOMAIN), a);
    // ldapsearch-style tools read the whole file as the password: no newline.
    const pwFile = join(lab.tmp, 'dm-password');
    await writeFile(pwFile, (await readFile(lab.paths.dmPassword, 'utf8')).trim(), { mode: 0o600 });
    const check = await promisify(execFile)('ds-replcheck', [
      ...['online', '-D', 'cn=Directory Manager', '-y', pwFile],
      ...['-m', `ldap://${dir.address('a.ipa.test')}:389`, '-r', `ldap://${dir.address('c.ipa.test')}:389`],
      ...['-b', DOMAIN, '-l', '0'],
    ]);
    assert.match(check.stdout, /No replication differences between Supplier and Replica/, check.stdout);
  });

  it('replication runs: an entry added on a reaches c, and the audit finds no error', async () => {
    const dn = `cn=seeded-check,${DOMAIN}`;
    await dir.withLdap('a.ipa.test', (c) => c.add(dn, { objectClass: ['top', 'nsContainer'], cn: 'seeded-check' }));
    await waitFor('the entry on c', 60_000, async () =>
      (await dnsOf(dir, 'c.ipa.test', DOMAIN)).includes(dn) ? true : undefined,
    );
    await dir.withLdap('a.ipa.test', (c) => c.del(dn));
    // The change just sent can leave a "replica busy" warning for a moment (two suppliers of b): errors only.
    const audit = await lab.fleet(['--json', '-i', lab.paths.inventory, 'audit']);
    const summary = (JSON.parse(audit.stdout) as { summary: { errors: number } }).summary;
    assert.equal(summary.errors, 0, audit.stdout + audit.stderr);
  });
});
