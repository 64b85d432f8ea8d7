// Whole-deployment restore on a second topology: 5 hosts, a star around a with one mesh edge b–c,
// CA on a, b and c (CA chain a–b–c, so the CA tree has two levels). Every init mode × type.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bringUpLab, type CliResult, type TestLab } from './fixture.js';
import {
  addUsers,
  agreements,
  assertConverged,
  deleteUsers,
  labDirectory,
  makeKeys,
  uids,
  waitForUsers,
  type LabDirectory,
} from './fixture.js';

const A = 'a.ipa.test';

describe('restore a 5-host star with a mesh edge, CA on three hosts', () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  let snapshot: { data: string; full: string };
  let baseline: string[];
  const caHosts = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];
  const t0 = Date.now();
  const shown = (r: CliResult): string => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr}`;

  before(async () => {
    lab = await bringUpLab([
      '--hosts',
      '5',
      '--topology',
      'a-b,a-c,a-d,a-e,b-c',
      '--ca',
      'a,b,c',
      '--ca-topology',
      'chain',
      '--entries',
      '300',
    ]);
    dir = await labDirectory(lab, 5);
    keys = await makeKeys(lab.tmp);
    store = join(lab.tmp, 'store');
    for (const extra of [[], ['--limit', A, '--type', 'full']]) {
      const r = await lab.fleet([
        'backup',
        '-i',
        lab.paths.inventory,
        '--encrypt-to',
        keys.pub,
        '--store',
        store,
        ...extra,
      ]);
      assert.equal(r.code, 0, shown(r));
    }
    const list = (
      JSON.parse((await lab.fleet(['--json', 'backups', 'list', '--store', store])).stdout) as {
        snapshots: Array<{ id: string; host: string; type: string }>;
      }
    ).snapshots;
    snapshot = {
      data: list.find((s) => s.host === A && s.type === 'data')!.id,
      full: list.find((s) => s.host === A && s.type === 'full')!.id,
    };
    baseline = await uids(dir, A);
    console.log(`# lab up and backups: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  after(async () => {
    await lab?.down();
  });

  it('plans the trees: domain all at level 1 from a; CA a → b, then b → c', async () => {
    const r = await lab.fleet([
      '--json',
      'plan',
      'restore-deployment',
      '-i',
      lab.paths.inventory,
      '--set',
      `master=${A}`,
      '--set',
      `backup=${snapshot.data}`,
      '--set',
      'init=online',
    ]);
    assert.equal(r.code, 0, shown(r));
    const titles = (JSON.parse(r.stdout) as { tasks: Array<{ action: string; title: string }> }).tasks
      .filter((t) => t.action === 'reinitialize')
      .map((t) => t.title.replace(/ \(total update.*$/, ''));
    assert.deepEqual(titles, [
      'domain L1: a.ipa.test → b.ipa.test',
      'domain L1: a.ipa.test → c.ipa.test',
      'domain L1: a.ipa.test → d.ipa.test',
      'domain L1: a.ipa.test → e.ipa.test',
      'ca L1: a.ipa.test → b.ipa.test',
      'ca L2: b.ipa.test → c.ipa.test',
    ]);
  });

  // Both inits and both types, in two runs: the other two pairings are covered on the seed lab
  // (restore.test.ts), and CI's 30 minutes are shared with the fault matrices.
  for (const [init, type] of [
    ['ldif', 'data'],
    ['online', 'full'],
  ] as const) {
    it(`--init ${init}, ${type.toUpperCase()}: all five hosts hold the snapshot's users; the mesh edge b–c is on and green`, async () => {
      const tag = `${init}-${type}`;
      await addUsers(dir, 'd.ipa.test', [`${tag}-d1`]);
      await addUsers(dir, 'c.ipa.test', [`${tag}-c1`]);
      await deleteUsers(dir, 'e.ipa.test', baseline.slice(10, 12));
      await waitForUsers(
        dir,
        [...baseline.filter((u) => !baseline.slice(10, 12).includes(u)), `${tag}-c1`, `${tag}-d1`].sort(),
      );
      const r = await lab.fleet([
        'restore',
        '-i',
        lab.paths.inventory,
        '--master',
        A,
        '--backup',
        snapshot[type],
        '--init',
        init,
        '--key',
        keys.sec,
        '--passphrase',
        `file:${keys.pass}`,
        '--store',
        store,
        '--yes',
      ]);
      assert.equal(r.code, 0, shown(r));
      await assertConverged(dir, baseline, caHosts);
      const mesh = (await agreements(dir, 'b.ipa.test')).find((a) => a.name === 'meToc.ipa.test');
      assert.equal(mesh?.enabled, 'on');
      console.log(`# ${tag}: restore ${(r.ms / 1000).toFixed(1)} s`);
    });
  }
});
