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

  const diff = (args: string[], json = false): Promise<CliResult> =>
    lab.fleet([
      ...(json ? ['--json'] : []),
      'diff',
      '-i',
      lab.paths.inventory,
      '--backup',
      snapshot,
      ...keyArgs(),
      ...args,
    ]);
  const restoreEntries = (args: string[], json = false): Promise<CliResult> =>
    lab.fleet([
      ...(json ? ['--json'] : []),
      'restore-entries',
      '-i',
      lab.paths.inventory,
      '--backup',
      snapshot,
      ...keyArgs(),
      ...args,
    ]);

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
});
