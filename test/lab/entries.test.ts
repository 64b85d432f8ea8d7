// diff and restore-entries on the default lab (plain 389-DS, flat inetOrgPerson users under ou=people,
// groupOfNames under ou=groups, no FreeIPA plugins: no referential integrity, no memberOf), driven
// through the CLI as an administrator would, against one encrypted backup of a taken in `before`.
// What the directory holds is read with ldapsearch (ldap-utils, not ipa-fleet's LDAP code) on both a
// and b; the last test has ds-replcheck judge that a and b hold the same entries.
//
// Each test damages entries of its own (users 1–3, 11–12, 21, 31, 41–42, 45, the ou=groups subtree)
// and repairs them before it ends, so no test depends on another's damage; after each test a diff of
// the whole suffix against the snapshot is empty (the last test checks that on both hosts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Attribute, Change } from 'ldapts';
import {
  bringUpLab,
  CA,
  cleanError,
  deleteUsers,
  addUsers,
  dnsOf,
  DOMAIN,
  labDirectory,
  makeKeys,
  waitFor,
  type CliResult,
  type LabDirectory,
  type TestLab,
} from './fixture.js';

const A = 'a.ipa.test';
const B = 'b.ipa.test';
const PEOPLE = `ou=people,${DOMAIN}`;
const GROUPS = `ou=groups,${DOMAIN}`;
const uid = (i: number): string => `user${String(i).padStart(6, '0')}`;
const userDn = (i: number): string => `uid=${uid(i)},${PEOPLE}`;
const groupDn = (g: number): string => `cn=group${String(g).padStart(5, '0')},${GROUPS}`;

/** An entry as ldapsearch prints it: attribute names lower-cased, values sorted (DN values normalized). */
type Entry = Record<string, string[]>;

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** LDIF (as ldapsearch -LLL -o ldif-wrap=no prints it) → entries by lower-cased DN. */
function parseLdif(text: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    if (lines.length === 0) continue;
    const entry: Entry = {};
    for (const line of lines) {
      const m = /^([^:]+)(::?) ?(.*)$/.exec(line);
      assert.ok(m, `not an LDIF line: ${line}`);
      const value = m[2] === '::' ? Buffer.from(m[3]!, 'base64').toString('utf8') : m[3]!;
      (entry[m[1]!.toLowerCase()] ??= []).push(value);
    }
    const dn = entry.dn![0]!.toLowerCase();
    delete entry.dn;
    for (const [k, v] of Object.entries(entry))
      entry[k] = (
        k === 'member' || k === 'objectclass' ? v.map((x) => x.toLowerCase().replace(/,\s+/g, ',')) : v
      ).sort();
    out.set(dn, entry);
  }
  return out;
}

/** ds-replcheck's report → its sections ("Entry Counts", "Missing Entries", "Result" …) by title. */
function replcheckReport(text: string): Record<string, string> {
  const sections: Record<string, string> = {};
  const parts = text.split(/^(.+)\n=+\n/m);
  for (let i = 1; i + 1 < parts.length; i += 2) sections[parts[i]!.trim()] = parts[i + 1]!;
  return sections;
}

describe('diff and restore-entries on the default lab (a↔b, plain 389-DS)', () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  let snapshot: string;
  let pwFile: string;
  /** Every entry of the domain suffix on a when the backup was taken. */
  let baseline: Map<string, Entry>;
  const t0 = Date.now();
  const stamp = (what: string): void =>
    console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s since start`);
  const shown = (r: CliResult | Exec): string => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr}`;
  const url = (host: string): string => `ldap://${dir.address(host)}:389`;
  const keyArgs = (): string[] => ['--key', keys.sec, '--passphrase', `file:${keys.pass}`, '--store', store];

  /** A command on the lab's inventory and the snapshot, with the key; `--json` when asked. */
  const onSnapshot =
    (command: string) =>
    (args: string[], json = false): Promise<CliResult> =>
      lab.fleet([
        ...(json ? ['--json'] : []),
        command,
        ...['-i', lab.paths.inventory, '--backup', snapshot],
        ...keyArgs(),
        ...args,
      ]);
  const diff = onSnapshot('diff');
  const restoreEntries = onSnapshot('restore-entries');

  /** What `host` holds under `base` (scope sub), read with ldapsearch; user attributes only unless asked. */
  const search = async (host: string, base: string, attrs: string[] = []): Promise<Map<string, Entry>> => {
    const r = await run('ldapsearch', [
      ...['-x', '-LLL', '-o', 'ldif-wrap=no', '-H', url(host), '-D', 'cn=Directory Manager', '-y', pwFile],
      ...['-b', base, '(objectClass=*)', ...attrs],
    ]);
    if (r.code === 32) return new Map();
    assert.equal(r.code, 0, shown(r));
    return parseLdif(r.stdout);
  };
  /** One entry on `host`, undefined when it is not there. */
  const read = async (host: string, dn: string, attrs: string[] = []): Promise<Entry | undefined> =>
    (await search(host, dn, attrs)).get(dn.toLowerCase());
  /** Waits until both hosts hold `want` for `dn` (undefined: absent): damage made on a replicated to b. */
  const settled = async (dn: string, want: (e: Entry | undefined) => boolean): Promise<void> => {
    await waitFor(`${dn} to settle on a and b`, 60_000, async () =>
      (await Promise.all([A, B].map((h) => read(h, dn)))).every(want) ? true : undefined,
    );
  };
  /** Both hosts hold exactly the snapshot's values for `dn` (read right away: no waiting). */
  const asInSnapshot = async (dn: string): Promise<void> => {
    for (const h of [A, B]) assert.deepEqual(await read(h, dn), baseline.get(dn.toLowerCase()), `${h}: ${dn}`);
  };
  const modify = (host: string, dn: string, values: Record<string, string | string[]>): Promise<void> =>
    dir.withLdap(host, (c) =>
      c.modify(
        dn,
        Object.entries(values).map(
          ([type, v]) =>
            new Change({ operation: 'replace', modification: new Attribute({ type, values: [v].flat() }) }),
        ),
      ),
    );

  before(async () => {
    lab = await bringUpLab(['--hosts', '2', '--entries', '50']);
    dir = await labDirectory(lab, 2);
    keys = await makeKeys(lab.tmp);
    store = join(lab.tmp, 'store');
    pwFile = join(lab.tmp, 'dm-password');
    await writeFile(pwFile, (await readFile(lab.paths.dmPassword, 'utf8')).trim(), { mode: 0o600 });
    stamp('lab up');
    const backup = await lab.fleet([
      '--json',
      'backup',
      '-i',
      lab.paths.inventory,
      '--limit',
      A,
      '--encrypt-to',
      keys.pub,
      '--store',
      store,
    ]);
    assert.equal(backup.code, 0, shown(backup));
    const list = JSON.parse((await lab.fleet(['--json', 'backups', 'list', '--store', store])).stdout) as {
      snapshots: Array<{ id: string; host: string; encrypted: boolean }>;
    };
    assert.equal(list.snapshots.length, 1);
    assert.ok(list.snapshots[0]!.encrypted);
    snapshot = list.snapshots[0]!.id;
    baseline = await search(A, DOMAIN);
    assert.equal([...baseline.keys()].filter((dn) => dn.endsWith(`,${PEOPLE}`)).length, 50);
    assert.deepEqual(await search(B, DOMAIN), baseline, 'b differs from a before any damage');
    stamp('backup taken');
  });

  after(async () => {
    stamp('tests done');
    await lab?.down();
  });

  // Damage: users 1 and 2 deleted, 2 attributes of user 3 changed, one user added. Repaired by applying
  // diff --ldif with ldapmodify (users 1 and 2 come back as new objects: other tests leave them alone).
  const damageForDiff = async (): Promise<void> => {
    await deleteUsers(dir, A, [uid(1), uid(2)]);
    await modify(A, userDn(3), { description: 'damaged by the diff test', mail: 'moved@elsewhere.test' });
    await addUsers(dir, A, ['extra-0001']);
    await settled(`uid=extra-0001,${PEOPLE}`, (e) => e !== undefined);
    await settled(userDn(3), (e) => e?.mail?.[0] === 'moved@elsewhere.test');
    for (const i of [1, 2]) await settled(userDn(i), (e) => e === undefined);
  };

  interface DiffJson {
    snapshot: { id: string; host: string };
    against: { host?: string };
    differences: number;
    suffixes: Array<{
      kind: string;
      suffix: string;
      summary: Record<string, number>;
      byKind?: unknown;
      entries: Array<{
        dn: string;
        kind: string;
        change: string;
        attributes: Array<{ name: string; change: string; removed?: unknown[]; added?: unknown[] }>;
      }>;
    }>;
  }

  /** The diff --json the damage must give, against either host. */
  const assertDamageJson = (r: CliResult, host: string): void => {
    assert.equal(r.code, 3, shown(r));
    const report = JSON.parse(r.stdout) as DiffJson;
    assert.equal(report.snapshot.id, snapshot);
    assert.deepEqual(report.against, { host });
    assert.equal(report.differences, 4);
    assert.equal(report.suffixes.length, 1);
    const [s] = report.suffixes;
    assert.equal(s!.suffix, DOMAIN);
    assert.deepEqual(s!.summary, { added: 1, deleted: 2, modified: 1 });
    assert.equal(s!.byKind, undefined, 'not a FreeIPA tree: no summary by kind');
    const names = (dn: string): string[] => Object.keys(baseline.get(dn.toLowerCase())!).sort();
    const entries = s!.entries.map((e) => ({
      dn: e.dn.toLowerCase(),
      change: e.change,
      attributes: e.attributes.map((a) => a.name).sort(),
    }));
    assert.deepEqual(
      entries.sort((x, y) => x.dn.localeCompare(y.dn)),
      [
        { dn: `uid=extra-0001,${PEOPLE}`, change: 'added', attributes: ['objectclass', 'uid'] },
        { dn: userDn(1), change: 'deleted', attributes: names(userDn(1)) },
        { dn: userDn(2), change: 'deleted', attributes: names(userDn(2)) },
        { dn: userDn(3), change: 'modified', attributes: ['description', 'mail'] },
      ],
    );
    const modified = s!.entries.find((e) => e.dn.toLowerCase() === userDn(3))!;
    assert.deepEqual(
      modified.attributes.map(({ name, change, removed, added }) => ({ name, change, removed, added })),
      [
        {
          name: 'description',
          change: 'changed',
          removed: ['generated by ipa-fleet lab'],
          added: ['damaged by the diff test'],
        },
        { name: 'mail', change: 'changed', removed: [`${uid(3)}@ipa.test`], added: ['moved@elsewhere.test'] },
      ],
    );
  };

  /** diff --ldif: valid LDIF (ldapmodify applies it on a) holding adds of the deleted users; then no differences. */
  const applyRevertLdif = async (): Promise<void> => {
    const ldif = await diff(['--ldif']);
    assert.equal(ldif.code, 3, shown(ldif));
    const records = ldif.stdout.split(/\n\s*\n/).filter((b) => /^dn:/m.test(b));
    const changeOf = (dn: string): string | undefined =>
      records.find((b) => new RegExp(`^dn: ${dn}$`, 'im').test(b))?.match(/^changetype: (\S+)$/m)?.[1];
    assert.equal(changeOf(userDn(1)), 'add', ldif.stdout);
    assert.equal(changeOf(userDn(2)), 'add', ldif.stdout);
    assert.equal(changeOf(`uid=extra-0001,${PEOPLE}`), 'delete', ldif.stdout);
    assert.equal(changeOf(userDn(3)), 'modify', ldif.stdout);
    assert.equal(records.length, 4, ldif.stdout);
    const file = join(lab.tmp, 'revert.ldif');
    await writeFile(file, ldif.stdout);
    const applied = await run('ldapmodify', [
      '-x',
      '-H',
      url(A),
      '-D',
      'cn=Directory Manager',
      '-y',
      pwFile,
      '-f',
      file,
    ]);
    assert.equal(applied.code, 0, shown(applied));
    for (const i of [1, 2, 3]) await settled(userDn(i), (e) => isDeepStrictEqual(e, baseline.get(userDn(i))));
    await settled(`uid=extra-0001,${PEOPLE}`, (e) => e === undefined);
    for (const args of [[], ['--host', B], ['--against', snapshot]]) {
      const r = await diff(args);
      assert.equal(r.code, 0, `diff ${args.join(' ')}: ${shown(r)}`);
      assert.match(r.stdout, /domain dc=ipa,dc=test: no differences/);
    }
  };

  it('diff --json, text and --ldif list exactly the damage; the LDIF applied by ldapmodify repairs it', async () => {
    const clean = await diff([], true);
    assert.equal(clean.code, 0, shown(clean));
    assert.equal((JSON.parse(clean.stdout) as DiffJson).differences, 0);
    await damageForDiff();
    assertDamageJson(await diff([], true), A);
    assertDamageJson(await diff(['--host', B], true), B);
    const text = await diff([]);
    assert.equal(text.code, 3, shown(text));
    assert.match(text.stdout, /domain dc=ipa,dc=test: 1 added, 2 deleted, 1 modified/);
    for (const [change, dn] of [
      ['added', `uid=extra-0001,${PEOPLE}`],
      ['deleted', userDn(1)],
      ['deleted', userDn(2)],
      ['modified', userDn(3)],
    ])
      assert.match(text.stdout, new RegExp(`^${change}\\s+${dn}$`, 'im'), text.stdout);
    assert.match(text.stdout, /^ {4}- description: generated by ipa-fleet lab$/m);
    assert.match(text.stdout, /^ {4}\+ mail: moved@elsewhere\.test$/m);
    assert.doesNotMatch(text.stdout, /memberof|modifytimestamp|entryusn|nsuniqueid|probe/i);
    await applyRevertLdif();
    stamp('diff');
  });

  interface DryRun {
    host: string;
    ops: Array<{ op: string; dn: string; why: string; attributes?: Record<string, unknown>; only?: string[] }>;
    conflicts: Array<{ dn: string; reason: string }>;
    unchanged: string[];
    notes: string[];
  }
  /** restore-entries --dry-run --json: exit 0, the writes it would make. */
  const dryRun = async (args: string[]): Promise<DryRun> => {
    const r = await restoreEntries([...args, '--dry-run'], true);
    assert.equal(r.code, 0, shown(r));
    return JSON.parse(r.stdout) as DryRun;
  };
  const opsOf = (p: DryRun): string[] => p.ops.map((o) => `${o.op} ${o.dn.toLowerCase()}`);
  /** restore-entries … --yes: exit 0; its run id. */
  const restored = async (args: string[]): Promise<string> => {
    const r = await restoreEntries([...args, '--yes']);
    assert.equal(r.code, 0, shown(r));
    const id = /restore-entries (\S+): succeeded/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    return id;
  };
  const removeMembers = (host: string, group: string, members: string[]): Promise<void> =>
    dir.withLdap(host, (c) =>
      c.modify(
        group,
        new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: members }) }),
      ),
    );
  /** The snapshot's entries at or under `base`. */
  const snapshotUnder = (base: string): Map<string, Entry> =>
    new Map([...baseline].filter(([dn]) => dn === base || dn.endsWith(`,${base}`)));

  it('restore-entries --dn --dn: two deleted users back on a and b, with the memberships they lost', async () => {
    // Damage: users 11 and 12 deleted and, as referential integrity would have done (plain 389 runs none), taken
    // out of group00002's members. The restore is the repair.
    const group = groupDn(2);
    await deleteUsers(dir, A, [uid(11), uid(12)]);
    await removeMembers(A, group, [userDn(11), userDn(12)]);
    await settled(group, (e) => e?.member?.length === 8);
    for (const i of [11, 12]) await settled(userDn(i), (e) => e === undefined);
    const plan = await dryRun(['--dn', userDn(11), '--dn', userDn(12)]);
    assert.deepEqual(opsOf(plan), [
      `put ${userDn(11)}`,
      `put ${userDn(12)}`,
      `add-values ${group}`,
      `add-values ${group}`,
    ]);
    assert.deepEqual(
      plan.ops
        .filter((o) => o.op === 'add-values')
        .flatMap((o) => ((o.attributes?.member ?? []) as string[]).map((m) => m.toLowerCase()))
        .sort(),
      [userDn(11), userDn(12)],
    );
    assert.deepEqual(plan.conflicts, []);
    await restored(['--dn', userDn(11), '--dn', userDn(12)]);
    for (const dn of [userDn(11), userDn(12), group]) await asInSnapshot(dn);
    for (const args of [
      ['--base', PEOPLE, '--filter', `(|(uid=${uid(11)})(uid=${uid(12)}))`],
      ['--base', group, '--host', B],
    ]) {
      const r = await diff(args);
      assert.equal(r.code, 0, `diff ${args.join(' ')}: ${shown(r)}`);
    }
    stamp('restore --dn');
  });

  it('restore-entries --subtree deletes entries added since only with --delete-added, on a and b', async () => {
    // Damage: junk under ou=groups (an ou holding a group, and a group beside the lab's); the test's own
    // --delete-added run is the repair.
    const junkOu = `ou=junk,${GROUPS}`;
    const junk1 = `cn=junk-1,${junkOu}`;
    const junk2 = `cn=junk-2,${GROUPS}`;
    await dir.withLdap(A, async (c) => {
      await c.add(junkOu, { objectClass: ['top', 'organizationalUnit'], ou: 'junk' });
      await c.add(junk1, { objectClass: ['top', 'groupOfNames'], cn: 'junk-1', member: userDn(5) });
      await c.add(junk2, { objectClass: ['top', 'groupOfNames'], cn: 'junk-2', member: userDn(6) });
    });
    for (const dn of [junkOu, junk1, junk2]) await settled(dn, (e) => e !== undefined);
    const kept = await dryRun(['--subtree', GROUPS]);
    assert.deepEqual(kept.ops, []);
    assert.deepEqual(kept.unchanged.map((d) => d.toLowerCase()).sort(), [...snapshotUnder(GROUPS).keys()].sort());
    const text = await restoreEntries(['--subtree', GROUPS, '--dry-run']);
    assert.equal(text.code, 0, shown(text));
    assert.match(text.stdout, /: 0 write\(s\)/);
    assert.doesNotMatch(text.stdout, /junk/);
    const purge = await dryRun(['--subtree', GROUPS, '--delete-added']);
    assert.deepEqual(opsOf(purge).sort(), [`delete ${junk1}`, `delete ${junk2}`, `delete ${junkOu}`].sort());
    assert.ok(opsOf(purge).indexOf(`delete ${junk1}`) < opsOf(purge).indexOf(`delete ${junkOu}`), 'children first');
    for (const o of purge.ops) assert.equal(o.why, 'added since the snapshot');
    await restored(['--subtree', GROUPS]);
    for (const h of [A, B]) for (const dn of [junkOu, junk1, junk2]) assert.ok(await read(h, dn), `${h}: ${dn} kept`);
    await restored(['--subtree', GROUPS, '--delete-added']);
    for (const h of [A, B]) assert.deepEqual(await search(h, GROUPS), snapshotUnder(GROUPS), `${h}: ou=groups`);
    stamp('restore --subtree');
  });

  it('restore-entries --filter --attrs puts back only those attributes; another modified one stays', async () => {
    // Damage: description, mail and sn of user 21; the test puts sn back itself at the end.
    const dn = userDn(21);
    await modify(A, dn, { description: 'damaged by the attrs test', mail: 'attrs@elsewhere.test', sn: 'Renamed' });
    await settled(dn, (e) => e?.sn?.[0] === 'Renamed' && e?.mail?.[0] === 'attrs@elsewhere.test');
    // --filter is evaluated on both sides: an entry that matches only in the snapshot (its mail changed) is
    // modified, not deleted.
    const byMail = await diff(['--filter', `(mail=${uid(21)}@ipa.test)`], true);
    assert.equal(byMail.code, 3, shown(byMail));
    assert.deepEqual(
      (JSON.parse(byMail.stdout) as DiffJson).suffixes[0]!.entries.map((e) => [
        e.dn.toLowerCase(),
        e.change,
        e.attributes.map((a) => a.name),
      ]),
      [[dn, 'modified', ['description', 'mail', 'sn']]],
    );
    const selection = ['--filter', `(uid=${uid(21)})`, '--attrs', 'description,mail'];
    const plan = await dryRun(selection);
    assert.deepEqual(
      plan.ops.map((o) => [o.op, o.dn.toLowerCase(), o.only]),
      [['put', dn, ['description', 'mail']]],
    );
    await restored(selection);
    const want = { ...baseline.get(dn)!, sn: ['Renamed'] };
    for (const h of [A, B]) assert.deepEqual(await read(h, dn), want, h);
    const left = await diff(['--filter', `(uid=${uid(21)})`, '--host', B], true);
    assert.equal(left.code, 3, shown(left));
    const entries = (JSON.parse(left.stdout) as DiffJson).suffixes[0]!.entries;
    assert.deepEqual(
      entries.map((e) => [e.dn.toLowerCase(), e.change, e.attributes.map((a) => a.name)]),
      [[dn, 'modified', ['sn']]],
    );
    await modify(A, dn, { sn: baseline.get(dn)!.sn! });
    await settled(dn, (e) => isDeepStrictEqual(e, baseline.get(dn)));
    stamp('restore --attrs');
  });

  it("restore-entries skips an entry re-created since as a conflict; --replace puts the snapshot's back", async () => {
    // Damage: user 31 deleted and re-created with other values (a new object: another nsUniqueId); --replace is
    // the repair.
    const dn = userDn(31);
    await deleteUsers(dir, A, [uid(31)]);
    await dir.withLdap(A, (c) =>
      c.add(dn, {
        objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
        ...{ uid: uid(31), cn: 'Impostor', sn: 'Impostor', description: 'not the user of the snapshot' },
      }),
    );
    await settled(dn, (e) => e?.cn?.[0] === 'Impostor');
    const withId = ['*', 'nsUniqueId'];
    const impostor = await Promise.all([A, B].map((h) => read(h, dn, withId)));
    const plan = await dryRun(['--dn', dn]);
    assert.deepEqual(plan.ops, []);
    assert.deepEqual(
      plan.conflicts.map((c) => c.dn.toLowerCase()),
      [dn],
    );
    assert.match(plan.conflicts[0]!.reason, /nsUniqueId/);
    const skipped = await restoreEntries(['--dn', dn, '--yes']);
    assert.equal(skipped.code, 3, `a skipped conflict exits 3: ${shown(skipped)}`);
    assert.match(skipped.stdout, new RegExp(`conflict, skipped: ${dn}`, 'i'));
    assert.match(cleanError(skipped.stderr) ?? '', new RegExp(`1 conflict\\(s\\) skipped \\(${dn}\\)`, 'i'));
    for (const [i, h] of [A, B].entries()) assert.deepEqual(await read(h, dn, withId), impostor[i], `${h}: unchanged`);
    await restored(['--dn', dn, '--replace']);
    await asInSnapshot(dn);
    for (const h of [A, B])
      assert.notDeepEqual((await read(h, dn, ['nsUniqueId']))?.nsuniqueid, impostor[0]!.nsuniqueid, `${h}: replaced`);
    stamp('conflict');
  });

  it('restore-entries --undo RUN puts a and b back as they were before that run', async () => {
    // Damage: user 41's description, user 42 deleted with its membership of group00005. The undo brings the
    // damage back; a second restore-entries is the repair.
    const [u41, u42, group] = [userDn(41), userDn(42), groupDn(5)];
    await modify(A, u41, { description: 'damaged by the undo test' });
    await deleteUsers(dir, A, [uid(42)]);
    await removeMembers(A, group, [u42]);
    await settled(group, (e) => e?.member?.length === 9);
    await settled(u42, (e) => e === undefined);
    await settled(u41, (e) => e?.description?.[0] === 'damaged by the undo test');
    const state = async (h: string) => ({
      dns: await dnsOf(dir, h, DOMAIN),
      ...Object.fromEntries(await Promise.all([u41, u42, group].map(async (dn) => [dn, await read(h, dn)]))),
    });
    const damaged = await state(A);
    assert.deepEqual(await state(B), damaged);
    const first = await restoreEntries(['--dn', u41, '--dn', u42, '--yes'], true);
    assert.equal(first.code, 0, shown(first));
    const result = JSON.parse(first.stdout.slice(first.stdout.search(/^\{$/m))) as {
      runId: string;
      state: string;
      phases: { phases: string[] };
    };
    assert.equal(result.state, 'succeeded');
    assert.deepEqual(result.phases.phases.slice(-2), ['restore entries', 'prove on every host']);
    const runId = result.runId;
    for (const dn of [u41, u42, group]) await asInSnapshot(dn);
    const undo = await lab.fleet(['restore-entries', '-i', lab.paths.inventory, '--undo', runId, '--yes']);
    assert.equal(undo.code, 0, shown(undo));
    for (const h of [A, B]) assert.deepEqual(await state(h), damaged, `${h}: as before ${runId}`);
    await restored(['--dn', u41, '--dn', u42]);
    for (const dn of [u41, u42, group]) await asInSnapshot(dn);
    stamp('undo');
  });

  it('a selection that matches nothing in the snapshot: exit 2, one error line naming it, nothing changed', async () => {
    // Damage: user 45's description, which the refused runs must leave as it is; put back at the end.
    const dn = userDn(45);
    await modify(A, dn, { description: 'damaged by the bad-input test' });
    await settled(dn, (e) => e?.description?.[0] === 'damaged by the bad-input test');
    const before = await Promise.all([A, B].map((h) => search(h, DOMAIN)));
    const nobody = `uid=nobody,${PEOPLE}`;
    const cases: Array<[string[], string]> = [
      [['--dn', dn, '--dn', nobody], `--dn ${nobody}`],
      [['--filter', '(uid=nobody)'], '--filter (uid=nobody)'],
      [['--subtree', `ou=nowhere,${DOMAIN}`], `--subtree ou=nowhere,${DOMAIN}`],
    ];
    for (const [args, named] of cases) {
      const r = await restoreEntries([...args, '--yes']);
      assert.equal(r.code, 2, shown(r));
      const line = cleanError(r.stderr);
      assert.ok(line, `not one clean error line: ${r.stderr}`);
      assert.ok(line.includes(named), line);
      assert.match(line, /nothing in the snapshot matches/);
      assert.doesNotMatch(line, new RegExp(`--dn ${dn}`, 'i'), 'only what matched nothing is named');
    }
    for (const [i, h] of [A, B].entries()) assert.deepEqual(await search(h, DOMAIN), before[i], `${h}: changed`);
    await modify(A, dn, { description: baseline.get(dn)!.description! });
    await settled(dn, (e) => isDeepStrictEqual(e, baseline.get(dn)));
    stamp('bad input');
  });

  it('--suffix ca: a deleted o=ipaca record is reported and restored on both CA hosts', async () => {
    const dn = `cn=3,ou=certificateRepository,ou=ca,${CA}`;
    const before = await read(A, dn);
    assert.ok(before, 'the lab holds CA records');
    await dir.withLdap(B, (c) => c.del(dn));
    await settled(dn, (e) => e === undefined);
    const r = await diff(['--suffix', 'ca'], true);
    assert.equal(r.code, 3, shown(r));
    const report = JSON.parse(r.stdout) as DiffJson;
    assert.deepEqual(
      report.suffixes.map((s) => [s.kind, s.entries.map((e) => `${e.change} ${e.dn}`)]),
      [['ca', [`deleted ${dn}`]]],
    );
    await restored(['--suffix', 'ca', '--dn', dn]);
    for (const h of [A, B]) assert.deepEqual(await read(h, dn), before, `${h}: ${dn} back`);
    const clean = await diff(['--suffix', 'all', '--host', B]);
    assert.equal(clean.code, 0, shown(clean));
    stamp('ca suffix');
  });

  it('after all: no differences on a nor on b, and ds-replcheck finds a and b in sync', async () => {
    for (const h of [A, B]) {
      const r = await diff(['--host', h], true);
      assert.equal(r.code, 0, shown(r));
      assert.equal((JSON.parse(r.stdout) as DiffJson).differences, 0);
    }
    assert.deepEqual(await dnsOf(dir, A, DOMAIN), await dnsOf(dir, B, DOMAIN));
    const check = await run('ds-replcheck', [
      ...['online', '-D', 'cn=Directory Manager', '-y', pwFile],
      ...['-m', url(A), '-r', url(B), '-b', DOMAIN, '-l', '0'],
    ]);
    assert.equal(check.code, 0, shown(check));
    const report = replcheckReport(check.stdout);
    assert.match(report["Database RUV's"] ?? '', /Supplier and Replica are in perfect synchronization/, check.stdout);
    const counts = /Supplier:\s+(\d+)\s+Replica:\s+(\d+)/.exec(report['Entry Counts'] ?? '');
    assert.ok(counts && counts[1] === counts[2], `entry counts differ: ${report['Entry Counts']}`);
    assert.equal(report.Result?.trim(), 'No replication differences between Supplier and Replica', check.stdout);
    const sections = Object.keys(report).filter(
      (k) => !/^(Replication Synchronization Report|Database RUV's$|Entry Counts$|Tombstones$|Result$)/.test(k),
    );
    assert.deepEqual(sections, [], `ds-replcheck reports more: ${check.stdout}`);
  });
});
