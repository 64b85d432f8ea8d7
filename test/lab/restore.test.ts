// Whole-deployment restore on the seed topology (a↔b↔c, CA on a and b), driven through the CLI as an
// administrator would: after each restore every host must hold exactly the snapshot's users, one
// generation per suffix, and every agreement on and green.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, open, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Attribute, Change } from 'ldapts';
import { bringUpLab, type CliResult, type TestLab } from './fixture.js';
import {
  addUsers,
  agreements,
  assertConverged,
  CA,
  countUnder,
  deleteUsers,
  dnsOf,
  DOMAIN,
  generation,
  labDirectory,
  makeKeys,
  uids,
  waitFor,
  waitForUsers,
  type LabDirectory,
} from './fixture.js';

const A = 'a.ipa.test';
const B = 'b.ipa.test';
const C = 'c.ipa.test';

describe('restore the seed topology (a↔b↔c, CA on a and b)', () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  let snapshot: { data: string; full: string };
  /** The same DATA snapshot with a manifest as older versions wrote it: a live entryCount, no exportedEntries. */
  let olderStore: string;
  /** What the restore master must report per snapshot kind: the import's count, or (older manifest) the live one. */
  const reported: Record<'data' | 'full' | 'older', Record<string, number>> = { data: {}, full: {}, older: {} };
  let baseline: string[];
  let caCount: number;
  const t0 = Date.now();
  const stamp = (what: string): void =>
    console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s since start`);

  const restore = (args: string[], storeDir = store): Promise<CliResult> =>
    lab.fleet([
      'restore',
      '-i',
      lab.paths.inventory,
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--store',
      storeDir,
      '--yes',
      ...args,
    ]);
  const shown = (r: CliResult): string => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr}`;
  /** Users added on a and c and deleted on b after the backup, replicated everywhere before the restore. */
  const damage = async (tag: string): Promise<void> => {
    await addUsers(dir, A, [`${tag}-a1`, `${tag}-a2`]);
    await addUsers(dir, C, [`${tag}-c1`]);
    await deleteUsers(dir, B, baseline.slice(0, 3));
    await waitForUsers(dir, [...baseline.slice(3), `${tag}-a1`, `${tag}-a2`, `${tag}-c1`].sort());
  };
  const state = async () => ({
    users: await Promise.all(dir.hosts.map((h) => uids(dir, h))),
    generations: await Promise.all(dir.hosts.map((h) => generation(dir, h, DOMAIN))),
    agreements: (await Promise.all(dir.hosts.map((h) => agreements(dir, h))))
      .flat()
      .map((a) => `${a.host} ${a.name} ${a.enabled}`),
  });

  before(async () => {
    lab = await bringUpLab([]);
    dir = await labDirectory(lab, 3);
    keys = await makeKeys(lab.tmp);
    store = join(lab.tmp, 'store');
    stamp('lab up');
    const data = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', keys.pub, '--store', store]);
    assert.equal(data.code, 0, shown(data));
    const full = await lab.fleet([
      'backup',
      '-i',
      lab.paths.inventory,
      '--limit',
      A,
      '--type',
      'full',
      '--encrypt-to',
      keys.pub,
      '--store',
      store,
    ]);
    assert.equal(full.code, 0, shown(full));
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
    caCount = await countUnder(dir, A, CA);
    assert.equal(baseline.length, 200);

    // Each manifest has the server's export count; the import must take it less the RUV tombstone.
    const manifest = async (root: string, id: string) => {
      const file = join(root, 'ipa-lab', A, id, 'manifest.json');
      return { file, json: JSON.parse(await readFile(file, 'utf8')) as { suffixes: Array<Record<string, unknown>> } };
    };
    for (const type of ['data', 'full'] as const) {
      for (const s of (await manifest(store, snapshot[type])).json.suffixes) {
        assert.equal(typeof s.exportedEntries, 'number', `${type} ${s.backend}: exportedEntries`);
        assert.equal(s.entryCount, undefined, `${type} ${s.backend}: no live count`);
        reported[type][s.backend as string] = (s.exportedEntries as number) - 1;
      }
    }
    // The server's offline export (FULL) counts the same records as its export task (DATA): nothing changed between.
    assert.deepEqual(reported.full, reported.data);
    olderStore = join(lab.tmp, 'older-store');
    await cp(store, olderStore, { recursive: true });
    const older = await manifest(olderStore, snapshot.data);
    for (const s of older.json.suffixes) {
      delete s.exportedEntries;
      // As older versions counted: entries and LDAP subentries, no tombstones, paged.
      s.entryCount = await dir.withLdap(A, async (c) => {
        const filter = '(|(objectClass=*)(objectClass=ldapSubEntry))';
        return (await c.search(s.suffix as string, { filter, attributes: ['1.1'], paged: true })).searchEntries.length;
      });
      reported.older[s.backend as string] = s.entryCount as number;
    }
    await writeFile(older.file, `${JSON.stringify(older.json, null, 2)}\n`, { mode: 0o600 });
    stamp('backups taken');
  });

  after(async () => {
    await lab?.down();
  });

  it('plan restore-deployment prints exactly the tasks the restore then runs', async () => {
    const planned = await lab.fleet([
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
      `store=${store}`,
      '--set',
      `key=${keys.sec}`,
      '--set',
      `passphrase=file:${keys.pass}`,
    ]);
    assert.equal(planned.code, 0, shown(planned));
    const plan = JSON.parse(planned.stdout) as { tasks: Array<{ id: string; host: string; title: string }> };
    await damage('p');
    const r = await restore(['--master', A, '--backup', snapshot.data]);
    assert.equal(r.code, 0, shown(r));
    const runId = /restore (\S+-restore-deployment-\S+): succeeded/.exec(r.stdout)?.[1];
    assert.ok(runId, r.stdout);
    const ran = JSON.parse(
      await readFile(join(lab.tmp, 'state', 'ipa-fleet', 'runs', runId!, 'plan.json'), 'utf8'),
    ) as { tasks: Array<{ id: string; host: string; title: string }> };
    assert.deepEqual(
      ran.tasks.map((t) => [t.id, t.host, t.title]),
      plan.tasks.map((t) => [t.id, t.host, t.title]),
    );
    const journal = (await readFile(join(lab.tmp, 'state', 'ipa-fleet', 'runs', runId!, 'journal.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; taskId?: string });
    assert.deepEqual(
      journal
        .filter((e) => e.type === 'task.finished')
        .map((e) => e.taskId)
        .sort(),
      plan.tasks.map((t) => t.id).sort(),
    );
    // The report: one row per host with the phases.
    for (const h of dir.hosts) assert.match(r.stdout, new RegExp(`^${h.replace(/\./g, '\\.')}\\s+`, 'm'));
    await assertConverged(dir, baseline, [A, B]);
    stamp('plan = run');
  });

  /** Entries of every host after each DATA restore, by init mode: ldif must give what online gives. */
  const entriesAfter: Record<string, string[][]> = {};

  for (const [init, type] of [
    ['ldif', 'data'],
    ['online', 'data'],
    ['ldif', 'full'],
    ['online', 'full'],
  ] as const) {
    // The online DATA restore reads the manifest as older versions wrote it: such snapshots still restore.
    const older = init === 'online' && type === 'data';
    it(`--init ${init}, ${type.toUpperCase()}${older ? ' (an older manifest)' : ''}: every host back to the snapshot (added users gone, deleted ones back), agreements on and green`, async () => {
      await damage(`${init}-${type}`);
      const before = await Promise.all(dir.hosts.map((h) => generation(dir, h, DOMAIN)));
      const r = await restore(['--master', A, '--backup', snapshot[type], '--init', init], older ? olderStore : store);
      assert.equal(r.code, 0, shown(r));
      const counts = reported[older ? 'older' : type];
      assert.match(
        r.stdout,
        new RegExp(`restore master: userroot: ${counts.userroot} entries, .*; ipaca: ${counts.ipaca} entries, `),
      );
      await assertConverged(dir, baseline, [A, B]);
      // A new generation: peers holding the old data cannot replicate into the restored one.
      assert.notEqual(await generation(dir, A, DOMAIN), before[0]);
      assert.equal(await countUnder(dir, B, CA), caCount);
      assert.match(
        r.stdout,
        /converge: domain: 3 host\(s\) on generation \S+, \d+ entries each, the same content as the snapshot, canary everywhere/,
      );
      if (type === 'data') {
        entriesAfter[init] = await Promise.all([
          ...dir.hosts.map((h) => dnsOf(dir, h, DOMAIN)),
          dnsOf(dir, A, CA),
          dnsOf(dir, B, CA),
        ]);
        if (entriesAfter.ldif && entriesAfter.online) {
          // The same snapshot through either init: the same entries on every host.
          assert.deepEqual(entriesAfter.ldif, entriesAfter.online);
        }
      }
      stamp(`${init} ${type}`);
    });
  }

  it('a corrupted snapshot is refused in preflight: exit 1, and no host changed', async () => {
    const bad = join(lab.tmp, 'bad-store');
    await cp(store, bad, { recursive: true });
    const snapDir = join(bad, 'ipa-lab', A, snapshot.data);
    const archive = join(snapDir, (await readdir(snapDir)).find((f) => f.startsWith('archive'))!);
    const handle = await open(archive, 'r+');
    try {
      const size = (await handle.stat()).size;
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, Math.floor(size / 2));
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, Math.floor(size / 2));
    } finally {
      await handle.close();
    }
    const beforeState = await state();
    const r = await restore(['--master', A, '--backup', snapshot.data], bad);
    assert.equal(r.code, 1, shown(r));
    assert.match(
      r.stderr,
      /preflight refused the restore \(nothing was changed\): snapshot \S+: the archive's size or SHA-256 differs/,
    );
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(await state(), beforeState);
    for (const a of beforeState.agreements) assert.match(a, / on$/);
  });

  it('a FULL snapshot of a onto b is refused (exit 2), nothing changed', async () => {
    const beforeState = await state();
    const r = await restore(['--master', B, '--backup', snapshot.full]);
    assert.equal(r.code, 2, shown(r));
    assert.match(r.stderr, /FULL backup of a\.ipa\.test: it can only be restored onto that host, not b\.ipa\.test/);
    assert.deepEqual(await state(), beforeState);
  });

  it('a host down during the restore is refused without --allow-offline; with it, it is quarantined, its stale changes never reach the others, and rejoin brings it back', async () => {
    // c writes a change that stays in its changelog: its agreement's schedule is closed today.
    // (Day 0 is Sunday: a day that is not today.)
    const closedDay = String((new Date().getUTCDay() + 3) % 7);
    const toB = `cn=meTob.ipa.test,cn=replica,cn=dc\\3Dipa\\2Cdc\\3Dtest,cn=mapping tree,cn=config`;
    await dir.withLdap(C, (c) =>
      c.modify(toB, [
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'nsDS5ReplicaUpdateSchedule', values: [`0000-0001 ${closedDay}`] }),
        }),
      ]),
    );
    // A session already open (the previous restore's canary, a keep-alive) ends before the schedule
    // holds: write the stale change only once c's agreement to b sends nothing.
    await waitFor('c → b idle under its closed schedule', 60_000, () =>
      dir.withLdap(C, async (c) => {
        const { searchEntries } = await c.search(toB, { scope: 'base', attributes: ['nsds5replicaUpdateInProgress'] });
        return String(searchEntries[0]?.nsds5replicaUpdateInProgress ?? '').toUpperCase() === 'FALSE' || undefined;
      }),
    );
    await addUsers(dir, C, ['stale-c']);
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(!(await uids(dir, B)).includes('stale-c'), 'the stale change must still be pending on c');
    assert.equal((await lab.fleet(['lab', 'stop', C, '--dir', lab.paths.root])).code, 0);
    // While c is off, its agreement's schedule goes back to always: when it comes back it sends at once.
    const dse = join(lab.paths.hostDir(C), 'etc-dirsrv', 'slapd-IPA-TEST', 'dse.ldif');
    await writeFile(dse, (await readFile(dse, 'utf8')).replace(/^nsDS5ReplicaUpdateSchedule: 0000-0001 \d\n/im, ''));

    const refused = await restore(['--master', A, '--backup', snapshot.data]);
    assert.equal(refused.code, 4, shown(refused));
    assert.match(
      refused.stderr,
      /c\.ipa\.test: .*nothing was changed \(to restore without it .*--allow-offline c\.ipa\.test\)/,
    );

    // Damage on the hosts that are up.
    await addUsers(dir, A, ['q-a1']);
    await deleteUsers(dir, B, baseline.slice(0, 3));
    await waitForUsers(dir, [...baseline.slice(3), 'q-a1'].sort(), 60_000, [A, B]);
    const r = await restore(['--master', A, '--backup', snapshot.data, '--allow-offline', C]);
    assert.equal(r.code, 0, shown(r));
    assert.match(r.stdout, /kept off \(to quarantined c\.ipa\.test\)/);
    for (const h of [A, B]) assert.deepEqual(await uids(dir, h), baseline);
    const audit = await lab.fleet(['audit', '-i', lab.paths.inventory, '--limit', `${A},${B}`]);
    assert.match(audit.stdout, /host-quarantined/);

    assert.equal((await lab.fleet(['lab', 'start', C, '--dir', lab.paths.root])).code, 0);
    // c tries to send its stale change; the others hold a new generation and refuse it.
    await new Promise((r) => setTimeout(r, 8000));
    for (const h of [A, B]) assert.ok(!(await uids(dir, h)).includes('stale-c'), `${h} received c's stale change`);
    assert.ok((await uids(dir, C)).includes('stale-c'));

    const rejoin = await lab.fleet(['rejoin', '-i', lab.paths.inventory, C, '--yes']);
    assert.equal(rejoin.code, 0, shown(rejoin));
    await assertConverged(dir, baseline, [A, B]);
    const after = await lab.fleet(['audit', '-i', lab.paths.inventory]);
    assert.doesNotMatch(after.stdout, /host-quarantined/);
  });
});
