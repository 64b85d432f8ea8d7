// diff's three passes, the filter evaluated on entries, the digest's equal values and the revert LDIF.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffEntries, type EntrySource, selects } from '../../src/content/diff.js';
import type { ContentEntry } from '../../src/content/entry.js';
import { entryFilter } from '../../src/content/filter.js';
import { kindOf } from '../../src/content/ipa-layout.js';
import { revertLdif } from '../../src/content/ldif-write.js';
import { entryDigest } from '../../src/content/values.js';
import { normalizeDn } from '../../src/directory/dn.js';
import { entry } from './content-fixtures.js';

const SUFFIX = 'dc=ipa,dc=test';

/** A source that counts its passes. */
function source(entries: ContentEntry[]): EntrySource & { passes: number } {
  const s = Object.assign(
    async (visit: (e: ContentEntry) => void) => {
      s.passes++;
      for (const e of entries) visit(e);
    },
    { passes: 0 },
  );
  return s;
}

const alice = entry(`uid=alice,cn=users,cn=accounts,${SUFFIX}`, { uid: ['alice'], title: ['Engineer'] });
const bob = entry(`uid=bob,cn=users,cn=accounts,${SUFFIX}`, { uid: ['bob'], userpassword: ['{SSHA}old'] });
const team = entry(`cn=team,cn=groups,cn=accounts,${SUFFIX}`, {
  cn: ['team'],
  member: [alice.dn, bob.dn],
});

test('diffEntries: added, deleted and modified entries, attribute by attribute, parents first', async () => {
  const before = source([team, alice, bob]);
  const teamNow = entry(team.dn.toUpperCase(), { cn: ['team'], member: [bob.dn.replace(/,/g, ', ')] });
  const bobNow = entry(bob.dn, { uid: ['bob'], userpassword: ['{SSHA}new'] });
  const junk = entry(`cn=junk,${SUFFIX}`, { cn: ['junk'] });
  const after = source([junk, teamNow, bobNow]);
  const diffs = await diffEntries(before, after, { base: normalizeDn(SUFFIX) });
  assert.deepEqual(
    diffs.map((d) => [d.change, d.dn]),
    [
      ['added', junk.dn],
      ['modified', team.dn],
      ['deleted', alice.dn],
      ['modified', bob.dn],
    ],
  );
  const teamDiff = diffs.find((d) => d.ndn === team.ndn)!;
  assert.deepEqual(
    teamDiff.changes.map((c) => [c.attr, c.removed.map(String), c.added.map(String)]),
    [['member', [alice.dn], []]],
    'a DN value written with other case and spacing is the same value',
  );
  assert.equal(before.passes, 2, 'the snapshot is read twice: digests, then the differing entries');
  assert.equal(after.passes, 1);
});

test('diffEntries: no differences reads the snapshot once; base and filter narrow both sides', async () => {
  const same = source([team, alice]);
  assert.deepEqual(await diffEntries(same, source([alice, team]), { base: normalizeDn(SUFFIX) }), []);
  assert.equal(same.passes, 1);
  const test = entryFilter('(&(objectClass=*)(uid=ALI*))', '--filter');
  const diffs = await diffEntries(source([alice, bob]), source([]), { base: normalizeDn(SUFFIX), test });
  assert.deepEqual(
    diffs.map((d) => d.dn),
    [alice.dn],
  );
  assert.equal(selects({ base: normalizeDn(`cn=groups,cn=accounts,${SUFFIX}`) }, alice), false);
});

test('diffEntries: an entry the filter matches on one side only is modified, not deleted or added', async () => {
  const test = entryFilter('(title=Engineer)', '--filter');
  const aliceNow = entry(alice.dn, { uid: ['alice'], title: ['Manager'] });
  const carol = entry(`uid=carol,cn=users,cn=accounts,${SUFFIX}`, { uid: ['carol'], title: ['Engineer'] });
  const base = normalizeDn(SUFFIX);
  const diffs = await diffEntries(source([alice, bob]), source([aliceNow, bob, carol]), { base, test });
  assert.deepEqual(
    diffs.map((d) => [d.change, d.dn, d.changes.map((c) => c.attr)]),
    [
      ['modified', alice.dn, ['title']],
      ['added', carol.dn, ['title', 'uid']],
    ],
  );
  const back = await diffEntries(source([aliceNow]), source([alice]), { base, test });
  assert.deepEqual(
    back.map((d) => [d.change, d.dn]),
    [['modified', alice.dn]],
    'matching only on the other side',
  );
});

test('entryFilter: equality on DNs by their normalized form, presence, not, numbers', () => {
  const member = entryFilter(`(member=UID=alice, cn=users,cn=accounts,${SUFFIX})`, '--filter');
  assert.equal(member(team), true);
  assert.equal(entryFilter('(!(member=*))', '--filter')(team), false);
  const n = entry(`uid=n,${SUFFIX}`, { uidnumber: ['1200'] });
  assert.equal(entryFilter('(uidNumber>=999)', '--filter')(n), true);
  assert.equal(entryFilter('(uidNumber<=999)', '--filter')(n), false);
  assert.throws(() => entryFilter('(uid=alice', '--filter'), /--filter: '\(uid=alice' is not an LDAP filter/);
});

test('entryDigest: value order and DN spelling do not count; a value does', () => {
  const a = entry('cn=g,dc=x', { member: ['uid=a,dc=x', 'uid=b,dc=x'], objectclass: ['top', 'groupOfNames'] });
  const b = entry('cn=g,dc=x', { member: ['UID=b, dc=x', 'uid=a,dc=x'], objectclass: ['GROUPOFNAMES', 'top'] });
  const c = entry('cn=g,dc=x', { member: ['uid=a,dc=x'], objectclass: ['top', 'groupOfNames'] });
  assert.equal(entryDigest(a), entryDigest(b));
  assert.notEqual(entryDigest(a), entryDigest(c));
});

test('kindOf: FreeIPA containers give the kind; anything else is other', () => {
  assert.equal(kindOf(alice.ndn, SUFFIX), 'user');
  assert.equal(kindOf(team.ndn, SUFFIX), 'group');
  assert.equal(kindOf(normalizeDn(`ipaUniqueID=1,cn=sudorules,cn=sudo,${SUFFIX}`), SUFFIX), 'sudo rule');
  assert.equal(kindOf(normalizeDn(`ipaUniqueID=2,cn=hbac,${SUFFIX}`), SUFFIX), 'HBAC rule');
  assert.equal(kindOf(normalizeDn(`cn=junk,${SUFFIX}`), SUFFIX), 'other');
});

test('revertLdif: deletes the added, adds the deleted, modifies back value by value; secrets not printed', async () => {
  const bobNow = entry(bob.dn, { uid: ['bob'], userpassword: ['{SSHA}new'], title: ['Boss'] });
  const junk = entry(`cn=junk,${SUFFIX}`, { cn: ['junk'] });
  const diffs = await diffEntries(source([alice, bob]), source([junk, bobNow]), { base: normalizeDn(SUFFIX) });
  const ldif = revertLdif(diffs);
  assert.match(ldif, /^dn: cn=junk,dc=ipa,dc=test\nchangetype: delete\n/);
  assert.match(ldif, /dn: uid=alice,cn=users,cn=accounts,dc=ipa,dc=test\nchangetype: add\ntitle: Engineer\nuid: alice/);
  assert.match(ldif, /changetype: modify\ndelete: title\ntitle: Boss\n-\n/);
  assert.match(ldif, /# userpassword: a secret, not printed/);
  assert.doesNotMatch(ldif, /SSHA/);
});
