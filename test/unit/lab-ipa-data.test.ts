// The IPA-shaped lab's generated data and schema, checked as a directory would: parents first, every
// reference resolving, user private groups linked both ways, IDs unique and inside the DNA ranges,
// and a schema whose classes name only attributes it (or 389-DS) defines.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { ContentEntry } from '../../src/content/entry.js';
import { ldifEntries } from '../../src/content/ldif-entries.js';
import { isDnValued } from '../../src/content/values.js';
import { normalizeDn } from '../../src/directory/dn.js';
import { IPA_SAMPLE, ipaDomainLdif } from '../../src/lab/ipa-data.js';
import { ID_START, idRange } from '../../src/lab/ipa-plugins.js';
import { ipaSchemaLdif } from '../../src/lab/ipa-schema.js';

async function entries(users: number): Promise<{ list: ContentEntry[]; idsUsed: number }> {
  const { ldif, idsUsed } = ipaDomainLdif(users);
  const list: ContentEntry[] = [];
  for await (const e of ldifEntries(Readable.from([Buffer.from(ldif)]), 'ipa.ldif')) list.push(e);
  return { list, idsUsed };
}

const text = (e: ContentEntry | undefined, attr: string): string[] =>
  (e?.attrs.get(attr) ?? []).map((v) => v.toString('utf8'));

test('ipaDomainLdif: parents come first and every DN-valued attribute names an entry of the data', async () => {
  const { list } = await entries(23);
  const seen = new Set<string>();
  for (const e of list) {
    const parent = e.ndn.slice(e.ndn.indexOf(',') + 1);
    assert.ok(seen.size === 0 || seen.has(parent), `${e.dn}: its parent comes before it`);
    seen.add(e.ndn);
  }
  for (const e of list) {
    for (const [attr, values] of e.attrs) {
      if (!isDnValued(attr) || attr === 'managedtemplate' || attr === 'originscope' || attr === 'managedbase') continue;
      for (const v of values) assert.ok(seen.has(normalizeDn(v.toString())), `${e.dn}: ${attr} ${v} resolves`);
    }
  }
});

test('ipaDomainLdif: each user has its private group, linked both ways, gidNumber = uidNumber', async () => {
  const { list } = await entries(7);
  const byDn = new Map(list.map((e) => [e.ndn, e]));
  const users = list.filter((e) => e.ndn.endsWith(',cn=users,cn=accounts,dc=ipa,dc=test'));
  assert.equal(users.length, 5 + 7, 'the five named users and the generated ones');
  for (const u of users) {
    const [upgDn] = text(u, 'mepmanagedentry');
    const upg = byDn.get(normalizeDn(upgDn!));
    assert.deepEqual(text(upg, 'mepmanagedby').map(normalizeDn), [u.ndn]);
    assert.deepEqual(text(upg, 'gidnumber'), text(u, 'uidnumber'));
    assert.ok(text(u, 'objectclass').includes('mepOriginEntry'));
    for (const secret of ['userpassword', 'krbprincipalkey', 'krbextradata', 'ipanthash'])
      assert.equal(text(u, secret).length, 1, `${u.dn} has ${secret}`);
  }
});

test('ipaDomainLdif: IDs are unique, from ID_START, and the first host range starts after them', async () => {
  const { list, idsUsed } = await entries(30);
  const ids = new Map<string, string>();
  for (const e of list) {
    if (text(e, 'objectclass').includes('mepManagedEntry')) continue; // a private group shares its user's ID
    for (const id of [...text(e, 'uidnumber'), ...text(e, 'gidnumber')]) {
      const owner = ids.get(id);
      assert.ok(owner === undefined || owner === e.dn, `${id} used by ${owner} and ${e.dn}`);
      ids.set(id, e.dn);
      assert.ok(Number(id) >= ID_START && Number(id) < ID_START + idsUsed, `${id} inside the used block`);
    }
  }
  assert.equal(idRange(1, idsUsed).next, ID_START + idsUsed);
  const [a, b, c] = [idRange(1, idsUsed), idRange(2, idsUsed), idRange(3, idsUsed)];
  assert.ok(a.max < b.next && b.max < c.next, 'the hosts’ ranges do not overlap');
});

test('ipaDomainLdif: the scenario names exist where the tests look for them', async () => {
  const { list } = await entries(0);
  const cn = (e: ContentEntry): string[] => text(e, 'cn');
  const find = (container: string, name: string): ContentEntry | undefined =>
    list.find(
      (e) => e.ndn.endsWith(`${container},dc=ipa,dc=test`) && (cn(e).includes(name) || text(e, 'uid').includes(name)),
    );
  const alice = `uid=${IPA_SAMPLE.userInTwoGroups},cn=users,cn=accounts,dc=ipa,dc=test`;
  const groupsOfAlice = list.filter((e) => text(e, 'member').map(normalizeDn).includes(alice));
  assert.equal(groupsOfAlice.length, 2, 'alice is in two groups');
  assert.ok(text(find('cn=sudorules,cn=sudo', IPA_SAMPLE.sudoRule), 'memberuser').map(normalizeDn).includes(alice));
  const devs = find('cn=groups,cn=accounts', IPA_SAMPLE.groupWithNested)!;
  assert.ok(text(devs, 'member').some((m) => m.startsWith(`cn=${IPA_SAMPLE.nestedGroup},`)));
  assert.ok(text(find('cn=hbac', IPA_SAMPLE.hbacRule), 'memberuser').map(normalizeDn).includes(devs.ndn));
});

test('ipaSchemaLdif: one cn=schema entry whose classes name only attributes defined here or by 389-DS', async () => {
  const ldif = ipaSchemaLdif();
  const unfolded = ldif.replace(/\n /g, '');
  const lines = unfolded.split('\n').filter(Boolean);
  assert.equal(lines[0], 'dn: cn=schema');
  const defined = new Set(
    lines.filter((l) => l.startsWith('attributeTypes:')).map((l) => /NAME '([^']+)'/.exec(l)![1]!.toLowerCase()),
  );
  const fromDs = ['cn', 'uid', 'description', 'userpassword', 'memberof'];
  let checked = 0;
  for (const l of lines.filter((x) => x.startsWith('objectClasses:'))) {
    const lists = [...l.matchAll(/(?:MUST|MAY) \(?([^()]*?)\)?(?= (?:MAY|X-ORIGIN))/g)];
    for (const n of lists.flatMap((m) => m[1]!.split('$')).map((x) => x.trim().toLowerCase())) {
      assert.ok(defined.has(n) || fromDs.includes(n), `${/NAME '([^']+)'/.exec(l)![1]} names ${n}`);
      checked++;
    }
  }
  assert.ok(checked >= 40, `every MUST and MAY list was read (${checked} names)`);
  assert.ok(
    ldif.split('\n').every((l) => l.length <= 77),
    'folded at 76 characters',
  );
});
