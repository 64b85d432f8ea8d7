import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { describeAttribute, isNotDataEntry, isSecretAttribute } from '../../src/content/data.js';
import { normalizeDn } from '../../src/directory/dn.js';
import type { ContentEntry } from '../../src/content/entry.js';
import { ldifEntries } from '../../src/content/ldif-entries.js';

async function read(text: string): Promise<ContentEntry[]> {
  const out: ContentEntry[] = [];
  for await (const e of ldifEntries(Readable.from([Buffer.from(text)]), 'x.ldif')) out.push(e);
  return out;
}

test('normalizeDn: case and spaces around separators, escapes kept', () => {
  assert.equal(normalizeDn('UID=Alice , cn=Users,  dc=IPA,dc=test'), 'uid=alice,cn=users,dc=ipa,dc=test');
  assert.equal(normalizeDn('cn=a\\,b ,dc=x'), 'cn=a\\,b,dc=x');
});

test('describeAttribute: replication state options are not part of the name', () => {
  assert.deepEqual(describeAttribute('cn;vucsn-5f1a2b3c000000010000'), { name: 'cn', deleted: false });
  assert.deepEqual(describeAttribute('CN;lang-de;adcsn-5f1a'), { name: 'cn;lang-de', deleted: false });
  assert.deepEqual(describeAttribute('description;vdcsn-5f1a;deletedattribute'), {
    name: 'description',
    deleted: true,
  });
  assert.equal(isSecretAttribute('userPassword'), true);
  assert.equal(isSecretAttribute('cn'), false);
});

test('ldifEntries: unfolds, decodes base64, drops state, operational attributes, tombstones and RUV', async () => {
  const entries = await read(
    [
      'version: 1',
      '',
      '# entry-id: 1',
      'dn: uid=alice,cn=users,cn=accounts,dc=ipa,dc=test',
      'objectClass;vucsn-5f1a: top',
      'objectClass;vucsn-5f1a: person',
      'cn;vucsn-5f1a: Alice Exa',
      ' mple',
      'description;vdcsn-5f1b;deletedattribute;deleted: old',
      'memberOf: cn=admins,cn=groups,cn=accounts,dc=ipa,dc=test',
      'modifyTimestamp: 20261202000000Z',
      'krbPrincipalKey:: AAEC/w==',
      '',
      'dn: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=ipa,dc=test',
      'objectClass: nsTombstone',
      '',
      'dn: nsuniqueid=1234,cn=gone,dc=ipa,dc=test',
      'objectClass: nsTombstone',
      '',
      'dn: cn=ipa-fleet-probe-0a0b,dc=ipa,dc=test',
      'objectClass: top',
    ].join('\n'),
  );
  assert.equal(entries.length, 1);
  const [alice] = entries;
  assert.equal(alice!.ndn, 'uid=alice,cn=users,cn=accounts,dc=ipa,dc=test');
  assert.deepEqual([...alice!.attrs.keys()], ['objectclass', 'cn', 'krbprincipalkey']);
  assert.equal(alice!.attrs.get('cn')![0]!.toString(), 'Alice Example');
  assert.deepEqual([...alice!.attrs.get('krbprincipalkey')![0]!], [0, 1, 2, 255]);
});

test('ldifEntries: a line that is not LDIF names the file and line', async () => {
  await assert.rejects(read('dn: cn=a,dc=x\nnot ldif\n'), /x\.ldif:2: not an LDIF attribute line/);
});

test('isNotDataEntry: tombstones, keep-alive, DNA shared ranges and probes are not data; users are', () => {
  const shared = 'dnahostname=b.ipa.test+dnaportnum=389,cn=posix-ids,cn=dna,cn=ipa,cn=etc,dc=ipa,dc=test';
  assert.equal(isNotDataEntry(shared, ['top', 'extensibleObject', 'dnaSharedConfig']), true);
  assert.equal(isNotDataEntry('cn=repl keep alive 2,dc=ipa,dc=test', ['top', 'ldapsubentry']), true);
  assert.equal(isNotDataEntry('uid=x,cn=users,dc=ipa,dc=test', ['top', 'nsTombstone']), true);
  assert.equal(isNotDataEntry('uid=alice,cn=users,cn=accounts,dc=ipa,dc=test', ['top', 'person']), false);
});
