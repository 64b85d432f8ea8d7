// `ipa-fleet demo` end to end: lab, backup, damage, whole-deployment restore, checks. The demo's own
// report is not trusted: with --keep, every host is searched here for the users the demo deleted
// and the junk it added.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadInventory } from '../../src/inventory/index.js';
import { LabPaths } from '../../src/lab/paths.js';
import { Transport } from '../../src/transport/transport.js';
import { claimNet, cli, testContext, type CliResult, type NetClaim } from './fixture.js';

const HOSTS = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];
const PEOPLE = 'ou=people,dc=ipa,dc=test';
// What the demo damages (src/lab/demo.ts): every tenth of its 200 users, and ten junk entries.
const DELETED = Array.from({ length: 20 }, (_, i) => `user${String(i * 10 + 1).padStart(6, '0')}`);
const JUNK = Array.from({ length: 10 }, (_, i) => `demo-junk-${String(i + 1).padStart(2, '0')}`);

describe('ipa-fleet demo', { timeout: 40 * 60_000 }, () => {
  let tmp: string;
  let lab: LabPaths;
  let logFile: string;
  let env: NodeJS.ProcessEnv;
  let demo: CliResult;
  let net: NetClaim;

  before(async () => {
    net = await claimNet();
    tmp = await mkdtemp(join(tmpdir(), 'ipa-fleet-demo-test-'));
    lab = new LabPaths(join(tmp, 'demo', 'lab'));
    logFile = join(tmp, 'ipa-fleet.log');
    // Runs, journals and locks of this test live in its temp folder.
    env = { XDG_STATE_HOME: join(tmp, 'state') };
  });

  after(async () => {
    // Also after a failure: a kept (or half-built) lab holds its addresses.
    if (lab) await cli(['--log-file', logFile, 'lab', 'down', '--dir', lab.root], { env });
    if (tmp) await rm(tmp, { recursive: true, force: true });
    await net?.release();
  });

  it('restores the deleted users and removes the junk on every host, and says so', async () => {
    demo = await cli(['--log-file', logFile, 'demo', '--net', net.net, '--dir', join(tmp, 'demo'), '--keep'], {
      env,
      timeoutMs: 30 * 60_000,
    });
    const output = `${demo.stdout}\n${demo.stderr}`;
    assert.equal(demo.code, 0, output);
    assert.match(demo.stdout, /every host converged: 3 of 3 hosts/);
    for (const host of HOSTS)
      assert.match(
        demo.stdout,
        new RegExp(`^${host.replace(/\./g, '\\.')}\\s+200\\s+20/20\\s+0\\s+\\S+\\s+converged$`, 'm'),
        output,
      );
    assert.match(demo.stdout, /^\(wall\)/m, 'the restore phase table');
    assert.match(
      demo.stdout,
      new RegExp(`lab down --dir ${lab.root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
      'how to take the kept lab down',
    );

    const inventory = await loadInventory(lab.inventory);
    const transport = new Transport(inventory, testContext(join(tmp, 'library.log')));
    try {
      const generations = new Set<string>();
      for (const host of inventory.hosts) {
        // Bound as Directory Manager with the lab's password file (the lab inventory's ldap.password).
        const ldap = await transport.ldap(host);
        const users = await ldap.search(PEOPLE, {
          scope: 'one',
          filter: '(objectClass=inetOrgPerson)',
          attributes: ['uid'],
          paged: true,
        });
        const uids = new Set(users.map((u) => u.get('uid')));
        assert.equal(users.length, 200, `${host.name}: users`);
        assert.deepEqual(
          DELETED.filter((u) => !uids.has(u)),
          [],
          `${host.name}: deleted users not back`,
        );
        assert.deepEqual(
          JUNK.filter((u) => uids.has(u)),
          [],
          `${host.name}: junk left`,
        );
        const ruv = await ldap.search('dc=ipa,dc=test', {
          filter: '(&(nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff)(objectClass=nsTombstone))',
          attributes: ['nsds50ruv'],
        });
        generations.add(
          ruv[0]?.getAll('nsds50ruv').find((v) => v.startsWith('{replicageneration}')) ?? `none on ${host.name}`,
        );
      }
      assert.equal(generations.size, 1, `one replica generation everywhere: ${[...generations].join(', ')}`);
    } finally {
      await transport.close();
    }
  });
});
