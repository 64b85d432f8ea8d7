// Granular recovery on the IPA-shaped lab (a↔b↔c, `lab up --data ipa`: memberOf, referential integrity,
// user private groups and DNA as FreeIPA configures them), the scenario: after the backup a user
// in two groups and a sudo rule is deleted, a group with a nested group that an HBAC rule names is
// deleted, three attributes of another user change and junk is added — all on b, as an administrator
// elsewhere would. diff must report exactly that; restore-entries must bring the user and the group back
// with what the plugins removed, on every host, and ds-replcheck must find the hosts in sync.
// The tests run in order: each starts from the state the one before left.
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Attribute, Change } from 'ldapts';
import { IPA_SAMPLE } from '../../src/lab/ipa-data.js';
import { bringUpLab, type CliResult, cleanError, labDirectory, type LabDirectory, makeKeys } from './fixture.js';
import { type TestLab, waitFor } from './fixture.js';

const run = promisify(execFile);
const A = 'a.ipa.test';
const B = 'b.ipa.test';
const SUFFIX = 'dc=ipa,dc=test';
const user = (uid: string): string => `uid=${uid},cn=users,cn=accounts,${SUFFIX}`;
const group = (cn: string): string => `cn=${cn},cn=groups,cn=accounts,${SUFFIX}`;
const JUNK_GROUP = group('junk-group');
const JUNK_HOST = `fqdn=junk1.ipa.test,cn=computers,cn=accounts,${SUFFIX}`;
const SECRETS = ['userPassword', 'krbPrincipalKey', 'krbExtraData', 'ipaNTHash'];

type Values = Record<string, string[]>;

/** The last lines of a host's 389-DS errors log that are not INFO: what a stalled agreement says. */
async function serverErrors(lab: TestLab, host: string): Promise<string> {
  const file = join(lab.paths.hostDir(host), 'var-log-dirsrv', 'slapd-IPA-TEST', 'errors');
  const lines = (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l && !l.includes(' - INFO - '));
  return `${host} errors log:\n${lines.slice(-12).join('\n')}`;
}

/** An entry's user attributes (memberOf apart: the plugin's), values sorted, secrets as base64. */
async function entryOn(dir: LabDirectory, host: string, dn: string): Promise<Values | undefined> {
  return dir.withLdap(host, async (c) => {
    try {
      const { searchEntries } = await c.search(dn, {
        scope: 'base',
        attributes: ['*'],
        explicitBufferAttributes: SECRETS,
      });
      const out: Values = {};
      for (const [name, raw] of Object.entries(searchEntries[0] ?? {})) {
        // ldapts answers the requested '*' as an attribute of no values.
        if (name === 'dn' || name === '*') continue;
        const vs = (Array.isArray(raw) ? raw : [raw]).map((v) =>
          Buffer.isBuffer(v) ? v.toString('base64') : String(v),
        );
        out[name.toLowerCase()] = vs.sort();
      }
      return out;
    } catch (err) {
      if ((err as { code?: number }).code === 32) return undefined;
      throw err;
    }
  });
}

/** Searches by one attribute across the suffix: the rule entries are named by ipaUniqueID. */
async function ruleDn(dir: LabDirectory, cn: string, container: string): Promise<string> {
  return dir.withLdap(A, async (c) => {
    const { searchEntries } = await c.search(`${container},${SUFFIX}`, { filter: `(cn=${cn})`, attributes: ['1.1'] });
    assert.equal(searchEntries.length, 1, `one rule named ${cn}`);
    return searchEntries[0]!.dn;
  });
}

describe('granular recovery on the IPA-shaped lab (a↔b↔c)', () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  let snapshot: string;
  let sudoRule: string;
  let hbacRule: string;
  /** What the snapshot holds, read on a just before the backup. */
  const saved = new Map<string, Values>();
  const shown = (r: CliResult): string => `exit ${r.code}\n${r.stdout.slice(-6000)}\n${r.stderr}`;
  /** A run that should have exited `code`, with the servers' own words when it did not (replication stalls). */
  const expectExit = async (r: CliResult, code: number): Promise<void> => {
    if (r.code === code) return;
    const logs = await Promise.all(dir.hosts.map((h) => serverErrors(lab, h)));
    assert.equal(r.code, code, `${shown(r)}\n${logs.join('\n')}`);
  };
  const withKey = (): string[] => ['--store', store, '--key', keys.sec, '--passphrase', `file:${keys.pass}`];
  const fleet = (args: string[]): Promise<CliResult> => lab.fleet(['-i', lab.paths.inventory, ...args]);
  /** restore-entries from the snapshot with the key. */
  const restore = (args: string[]): Promise<CliResult> =>
    fleet(['restore-entries', '--backup', snapshot, ...withKey(), ...args]);
  const everyHost = async (check: (host: string) => Promise<void>): Promise<void> => {
    for (const host of dir.hosts) await check(host);
  };
  /** Polls until every host agrees (replication takes a moment), then asserts on each. */
  const settled = async (what: string, check: (host: string) => Promise<void>): Promise<void> => {
    // On a time-out the last check's own assertion is the failure: it says what differs.
    await waitFor(what, 60_000, async () => {
      try {
        await everyHost(check);
        return true;
      } catch {
        return undefined;
      }
    }).catch(() => undefined);
    await everyHost(check);
  };

  before(async () => {
    lab = await bringUpLab(['--hosts', '3', '--data', 'ipa', '--entries', '20', '--ca', 'none']);
    dir = await labDirectory(lab, 3);
    keys = await makeKeys(lab.tmp);
    store = join(lab.tmp, 'store');
    sudoRule = await ruleDn(dir, IPA_SAMPLE.sudoRule, 'cn=sudorules,cn=sudo');
    hbacRule = await ruleDn(dir, IPA_SAMPLE.hbacRule, 'cn=hbac');
    for (const dn of [
      user('alice'),
      group('alice'),
      group('developers'),
      group('dev-interns'),
      group('ops'),
      group('web-admins'),
      user('erin'),
      user('carol'),
      sudoRule,
      hbacRule,
    ]) {
      saved.set(dn, (await entryOn(dir, A, dn))!);
    }
    const backup = await fleet(['backup', '--limit', A, '--encrypt-to', keys.pub, '--store', store]);
    assert.equal(backup.code, 0, shown(backup));
    const list = JSON.parse((await lab.fleet(['--json', 'backups', 'list', '--store', store])).stdout) as {
      snapshots: Array<{ id: string }>;
    };
    snapshot = list.snapshots[0]!.id;
    await damage();
  });
  after(async () => {
    await lab?.down();
  });

  /** The damage, on b; done once every host has it. */
  async function damage(): Promise<void> {
    await dir.withLdap(B, async (c) => {
      await c.del(user(IPA_SAMPLE.userInTwoGroups));
      await c.del(group(IPA_SAMPLE.groupWithNested));
      const change = (operation: 'add' | 'replace', type: string, value: string): Change =>
        new Change({ operation, modification: new Attribute({ type, values: [value] }) });
      await c.modify(user(IPA_SAMPLE.otherUser), [
        change('replace', 'mail', 'erin.new@ipa.test'),
        change('replace', 'loginShell', '/bin/zsh'),
        change('add', 'title', 'Chief Tinkerer'),
      ]);
      await c.add(JUNK_GROUP, {
        objectClass: ['top', 'groupofnames', 'nestedgroup', 'ipausergroup', 'ipaobject', 'posixgroup'],
        cn: 'junk-group',
        gidNumber: '-1',
        ipaUniqueID: '99999999-0000-4000-a000-000000000001',
      });
      await c.add(JUNK_HOST, {
        objectClass: ['top', 'nshost', 'ipahost', 'ipaobject'],
        cn: 'junk1.ipa.test',
        fqdn: 'junk1.ipa.test',
        ipaUniqueID: '99999999-0000-4000-a000-000000000002',
      });
    });
    await settled('the damage on every host', async (host) => {
      assert.equal(await entryOn(dir, host, user('alice')), undefined);
      assert.ok(await entryOn(dir, host, JUNK_HOST));
      assert.deepEqual((await entryOn(dir, host, user('erin')))?.title, ['Chief Tinkerer']);
    });
  }

  it('diff reports exactly the damage; what the plugins did shows as memberships removed', async () => {
    const r = await fleet(['--json', 'diff', '--backup', snapshot, ...withKey()]);
    assert.equal(r.code, 3, shown(r));
    const report = JSON.parse(r.stdout) as DiffJson;
    const domain = report.suffixes.find((s) => s.kind === 'domain')!;
    const seen = domain.entries.map((e) => `${e.change} ${e.kind} ${e.dn}: ${attrsOf(e)}`).sort();
    const removed = (name: string, dn: string): string => `${name} removed -${dn}`;
    assert.deepEqual(
      seen,
      [
        `added group ${JUNK_GROUP}: cn,gidnumber,ipauniqueid,objectclass`,
        `added host ${JUNK_HOST}: cn,fqdn,ipauniqueid,objectclass`,
        `deleted group ${group('alice')}: ${names(saved.get(group('alice'))!)}`,
        `deleted group ${group('developers')}: ${names(saved.get(group('developers'))!)}`,
        `deleted user ${user('alice')}: ${names(saved.get(user('alice'))!)}`,
        `modified HBAC rule ${hbacRule}: ${removed('memberuser', group('developers'))}`,
        `modified group ${group('ops')}: ${removed('member', user('alice'))}`,
        `modified group ${group('web-admins')}: ${removed('member', user('alice'))}`,
        `modified sudo rule ${sudoRule}: ${removed('memberuser', user('alice'))}`,
        `modified user ${user('erin')}: loginshell changed -/bin/bash +/bin/zsh; ` +
          'mail changed -erin@ipa.test +erin.new@ipa.test; title added +Chief Tinkerer',
      ].sort(),
    );
    assert.deepEqual(domain.summary, { added: 2, deleted: 3, modified: 5 });
    // DNA gave the group added on b an ID from b's own range (1 250 000 on), not a's.
    const junk = domain.entries.find((e) => e.dn === JUNK_GROUP)!;
    const gid = Number(junk.attributes.find((a) => a.name === 'gidnumber')?.added?.[0]);
    assert.ok(gid >= 1_250_000 && gid < 1_300_000, `gidNumber ${gid} from b's DNA range`);
    assert.deepEqual(domain.byKind.user, { added: 0, deleted: 1, modified: 1 });
    // Secrets are reported as removed, never printed, in any encoding.
    const alice = saved.get(user('alice'))!;
    for (const secret of SECRETS.map((s) => alice[s.toLowerCase()]![0]!)) {
      assert.ok(!r.stdout.includes(secret), 'a secret value is printed');
    }
    const text = await fleet(['diff', '--backup', snapshot, ...withKey()]);
    assert.equal(text.code, 3, shown(text));
    assert.match(text.stdout, /domain dc=ipa,dc=test: 2 added, 3 deleted, 5 modified/);
    assert.match(text.stdout, /~ userpassword: removed \(secret, not shown\)/);
  });

  it('restore-entries --user --group: entries, memberships, rules and private group back on every host', async () => {
    const dry = await restore(['--user', 'alice', '--group', 'developers', '--dry-run']);
    assert.equal(dry.code, 0, shown(dry));
    assert.match(dry.stdout, /7 write\(s\)/);
    assert.equal(await entryOn(dir, A, user('alice')), undefined, 'a dry run writes nothing');
    const t0 = Date.now();
    const r = await restore(['--user', 'alice', '--group', 'developers', '--yes']);
    console.log(`# restore-entries of a user and a group with dependencies, 3 hosts: ${Date.now() - t0} ms wall`);
    await expectExit(r, 0);
    await assertRestored();
    const selection = await fleet([
      'diff',
      '--backup',
      snapshot,
      ...withKey(),
      '--filter',
      '(|(uid=alice)(cn=alice)(cn=developers)(cn=ops)(cn=web-admins)(cn=web-restart)(cn=allow-developers))',
    ]);
    assert.equal(selection.code, 0, `a diff of the selection is empty: ${shown(selection)}`);
    lastRun = /run (\S+-restore-entries-\w+)/.exec(r.stdout)?.[1];
    assert.ok(lastRun, 'the run id is printed');
  });
  let lastRun: string | undefined;

  /** What the restore must have left on every host, unrelated damage untouched. */
  async function assertRestored(): Promise<void> {
    await settled('the restored entries on every host', async (host) => {
      for (const dn of [
        user('alice'),
        group('alice'),
        group('developers'),
        group('ops'),
        group('web-admins'),
        sudoRule,
        hbacRule,
      ]) {
        const live = await entryOn(dir, host, dn);
        const want = saved.get(dn)!;
        assert.deepEqual(omit(live, 'memberof'), omit(want, 'memberof'), `${host}: ${dn}`);
        // memberOf recomputed by each host's plugin, not written.
        assert.deepEqual(live?.memberof ?? [], want.memberof ?? [], `${host}: memberOf of ${dn}`);
      }
      assert.deepEqual(
        (await entryOn(dir, host, group('dev-interns')))?.memberof,
        saved.get(group('dev-interns'))!.memberof,
      );
      assert.ok(await entryOn(dir, host, JUNK_GROUP), `${host}: the junk group is untouched`);
      assert.deepEqual((await entryOn(dir, host, user('erin')))?.title, ['Chief Tinkerer'], `${host}: erin untouched`);
    });
  }

  it('--undo puts the directory back as it was before the run, then the restore is made again', async () => {
    const undo = await fleet(['restore-entries', '--undo', lastRun!, '--yes']);
    await expectExit(undo, 0);
    await settled('the pre-run state on every host', async (host) => {
      for (const dn of [user('alice'), group('alice'), group('developers')]) {
        assert.equal(await entryOn(dir, host, dn), undefined, `${host}: ${dn} gone again`);
      }
      assert.ok(
        !(await entryOn(dir, host, group('ops')))!.member!.includes(user('alice')),
        `${host}: ops without alice`,
      );
      assert.ok(!(await entryOn(dir, host, hbacRule))!.memberuser?.includes(group('developers')));
    });
    const again = await restore(['--user', 'alice', '--group', 'developers', '--yes']);
    await expectExit(again, 0);
    await assertRestored();
  });

  it('a user re-created since under the same DN is a conflict, skipped; --replace puts the snapshot back', async () => {
    await dir.withLdap(B, async (c) => {
      await c.del(user('carol'));
      await c.add(user('carol'), {
        objectClass: [
          'top',
          'person',
          'organizationalperson',
          'inetorgperson',
          'posixaccount',
          'mepOriginEntry',
          'ipaobject',
        ],
        uid: 'carol',
        cn: 'Carol Again',
        sn: 'Again',
        uidNumber: '-1',
        gidNumber: '-1',
        homeDirectory: '/home/carol',
        ipaUniqueID: '99999999-0000-4000-a000-00000000000c',
      });
    });
    const newCarol = async (host: string): Promise<void> => {
      assert.deepEqual((await entryOn(dir, host, user('carol')))?.ipauniqueid, [
        '99999999-0000-4000-a000-00000000000c',
      ]);
    };
    await settled('the new carol on every host', newCarol);
    const r = await restore(['--user', 'carol', '--yes']);
    assert.equal(r.code, 3, `skipped conflicts exit 3: ${shown(r)}`);
    assert.match(r.stdout, /conflict, skipped: uid=carol,cn=users,cn=accounts,dc=ipa,dc=test/, shown(r));
    assert.match(
      cleanError(r.stderr) ?? '',
      // The re-created carol's private group (the plugin made it) is another object too.
      /2 conflict\(s\) skipped \(uid=carol,cn=users,cn=accounts,dc=ipa,dc=test; cn=carol,cn=groups,cn=accounts,/,
    );
    await everyHost(newCarol);
    const replaced = await restore(['--user', 'carol', '--replace', '--yes']);
    await expectExit(replaced, 0);
    await settled('the snapshot carol on every host', async (host) => {
      assert.deepEqual(
        omit(await entryOn(dir, host, user('carol')), 'memberof'),
        omit(saved.get(user('carol')), 'memberof'),
      );
      assert.ok(
        (await entryOn(dir, host, group('developers')))!.member!.includes(user('carol')),
        `${host}: carol in developers`,
      );
    });
  });

  it('--delete-added removes what was added inside the subtree only', async () => {
    const computers = `cn=computers,cn=accounts,${SUFFIX}`;
    const r = await restore(['--subtree', computers, '--delete-added', '--yes']);
    assert.equal(r.code, 0, shown(r));
    await settled('junk1 gone, the junk group kept', async (host) => {
      assert.equal(await entryOn(dir, host, JUNK_HOST), undefined, `${host}: the added host is deleted`);
      assert.ok(await entryOn(dir, host, JUNK_GROUP), `${host}: outside the subtree nothing is deleted`);
    });
    const nothing = await restore(['--user', 'nobody-here', '--yes']);
    assert.equal(nothing.code, 2, shown(nothing));
    assert.match(cleanError(nothing.stderr) ?? '', /nobody-here/);
  });

  it('ds-replcheck finds a↔b and a↔c in sync', async () => {
    const pw = join(lab.tmp, 'dm-password-bare');
    await writeFile(pw, (await readFile(lab.paths.dmPassword, 'utf8')).trim(), { mode: 0o600 });
    for (const peer of ['b.ipa.test', 'c.ipa.test']) {
      const report = await waitFor(`ds-replcheck a↔${peer}`, 60_000, async () => {
        const { stdout } = await run(
          'ds-replcheck',
          [
            'online',
            '-D',
            'cn=Directory Manager',
            '-y',
            pw,
            '-m',
            `ldap://${dir.address(A)}:389`,
            '-r',
            `ldap://${dir.address(peer)}:389`,
            '-b',
            SUFFIX,
          ],
          { maxBuffer: 16 << 20 },
        ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
        return stdout.includes('No replication differences between Supplier and Replica') ? stdout : undefined;
      });
      assert.match(report, /Replication State: Supplier and Replica are in perfect synchronization/);
    }
  });
});

interface DiffAttr {
  name: string;
  change: string;
  removed?: unknown[];
  added?: unknown[];
  secret?: boolean;
}
interface DiffJson {
  suffixes: Array<{
    kind: string;
    summary: Record<string, number>;
    byKind: Record<string, Record<string, number>>;
    entries: Array<{ dn: string; kind: string; change: string; attributes: DiffAttr[] }>;
  }>;
}

/** A modified entry's changes with values; an added or deleted one's attribute names. */
function attrsOf(e: { change: string; attributes: DiffAttr[] }): string {
  if (e.change !== 'modified')
    return e.attributes
      .map((a) => a.name)
      .sort()
      .join(',');
  return e.attributes
    .map((a) => {
      const parts = [a.name, a.change];
      if (a.removed?.length) parts.push(`-${a.removed.join('|')}`);
      if (a.added?.length) parts.push(`+${a.added.join('|')}`);
      return parts.join(' ');
    })
    .join('; ');
}

/** The attribute names diff compares: memberOf is the plugin's. */
function names(values: Values): string {
  return Object.keys(values)
    .filter((n) => n !== 'memberof')
    .sort()
    .join(',');
}

function omit(values: Values | undefined, name: string): Values | undefined {
  if (!values) return undefined;
  const { [name]: _, ...rest } = values;
  return rest;
}
