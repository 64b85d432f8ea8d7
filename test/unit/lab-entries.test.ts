import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { caLdif, domainLdif } from '../../src/lab/entries.js';

interface Entry {
  dn: string;
  attrs: Array<[string, string]>;
}

/** Entries are separated by blank lines; each line is "name: value". */
function parseLdif(text: string): Entry[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => block.trim())
    .filter(Boolean)
    .map((block) => {
      const lines = block.split('\n');
      const attrs = lines.map((line): [string, string] => {
        const m = /^([A-Za-z][A-Za-z0-9-]*): (.*)$/.exec(line);
        assert.ok(m, `not an attribute line: ${JSON.stringify(line)}`);
        return [m[1]!, m[2]!];
      });
      assert.equal(attrs[0]![0], 'dn', `entry does not start with dn: ${block}`);
      return { dn: attrs[0]![1], attrs: attrs.slice(1) };
    });
}

const values = (e: Entry, name: string): string[] =>
  e.attrs.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

describe('domainLdif', () => {
  it('25 users: 3 base entries + 25 users + 3 groups, every dn unique', () => {
    const entries = parseLdif(domainLdif(25));
    assert.equal(entries.length, 3 + 25 + 3);
    assert.equal(new Set(entries.map((e) => e.dn.toLowerCase())).size, entries.length);
    assert.deepEqual(
      entries.slice(0, 3).map((e) => e.dn),
      ['dc=ipa,dc=test', 'ou=people,dc=ipa,dc=test', 'ou=groups,dc=ipa,dc=test'],
    );
    const users = entries.filter((e) => e.dn.endsWith(',ou=people,dc=ipa,dc=test'));
    const groups = entries.filter((e) => e.dn.endsWith(',ou=groups,dc=ipa,dc=test'));
    assert.equal(users.length, 25);
    assert.equal(groups.length, 3);
  });

  it('parents come before children (an import in file order works)', () => {
    const entries = parseLdif(domainLdif(25));
    const seen = new Set<string>();
    for (const e of entries) {
      const parent = e.dn.slice(e.dn.indexOf(',') + 1);
      if (e.dn !== 'dc=ipa,dc=test') assert.ok(seen.has(parent), `${e.dn} before ${parent}`);
      seen.add(e.dn);
    }
  });

  it('groups hold ten members each (the last one the rest), every member an existing user', () => {
    const entries = parseLdif(domainLdif(25));
    const userDns = new Set(entries.filter((e) => values(e, 'objectClass').includes('inetOrgPerson')).map((e) => e.dn));
    const groups = entries.filter((e) => values(e, 'objectClass').includes('groupOfNames'));
    assert.deepEqual(
      groups.map((g) => values(g, 'member').length),
      [10, 10, 5],
    );
    const all = groups.flatMap((g) => values(g, 'member'));
    assert.equal(new Set(all).size, 25, 'each user in exactly one group');
    for (const m of all) assert.ok(userDns.has(m), m);
  });

  it('user entries carry the RDN value as uid and a matching mail', () => {
    for (const e of parseLdif(domainLdif(12)).filter((x) => x.dn.startsWith('uid='))) {
      const uid = /^uid=([^,]+),/.exec(e.dn)![1]!;
      assert.deepEqual(values(e, 'uid'), [uid]);
      assert.deepEqual(values(e, 'mail'), [`${uid}@ipa.test`]);
      assert.equal(values(e, 'sn').length, 1);
      assert.equal(values(e, 'cn').length, 1);
    }
  });

  it('counts for other sizes: ceil(n/10) groups', () => {
    for (const [n, groups] of [
      [0, 0],
      [1, 1],
      [10, 1],
      [11, 2],
      [200, 20],
    ] as const) {
      const entries = parseLdif(domainLdif(n));
      assert.equal(entries.length, 3 + n + groups, `n=${n}`);
      assert.ok(
        entries.every((e) => !values(e, 'objectClass').includes('groupOfNames') || values(e, 'member').length > 0),
        'no empty groupOfNames',
      );
    }
  });
});

describe('caLdif', () => {
  it('7 records: 3 base entries + 7, every dn unique and under o=ipaca', () => {
    const entries = parseLdif(caLdif(7));
    assert.equal(entries.length, 10);
    assert.equal(new Set(entries.map((e) => e.dn.toLowerCase())).size, 10);
    assert.ok(entries.every((e) => e.dn === 'o=ipaca' || e.dn.endsWith(',o=ipaca')));
    assert.deepEqual(
      entries.slice(0, 3).map((e) => e.dn),
      ['o=ipaca', 'ou=ca,o=ipaca', 'ou=certificateRepository,ou=ca,o=ipaca'],
    );
    assert.deepEqual(
      entries.slice(3).map((e) => values(e, 'cn')[0]),
      ['1', '2', '3', '4', '5', '6', '7'],
    );
  });

  it('0 records: only the base entries', () => {
    assert.equal(parseLdif(caLdif(0)).length, 3);
  });
});
