// Lag or divergence: the newest CSN of an entry's state, which hosts have not seen a change, whether the
// RUVs say nothing is in flight, and whether working agreements can still bring a change.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { differenceSummary } from '../../src/content/host-compare.js';
import { canArrive, hostsBehind, ruvsAgree, sameRuvs } from '../../src/content/lag.js';
import { newestStateCsn } from '../../src/directory/entry-state.js';
import { parseRuv, type Ruv } from '../../src/directory/ruv.js';

const ruv = (...elements: Array<[number, string]>): Ruv =>
  parseRuv([
    '{replicageneration} 6b16a13b000000010000',
    ...elements.map(([rid, max]) => `{replica ${rid} ldap://h${rid}:389} 6b16a13c00000${rid}000000 ${max}`),
  ]);
const OLD1 = '6b16a150000000010000';
const NEW1 = '6b16a160000000010000';
const NEW3 = '6b16a158000000030000';

test('newestStateCsn: the newest of every state option, values and deletions included', () => {
  const lines = [
    'objectClass;vucsn-6b16a13c000000010000: top',
    `mail;adcsn-${NEW3};vucsn-${NEW3}: c@x`,
    'description;vdcsn-6b16a140000000020000;deleted: old',
    'cn;vucsn-6b16a13c000000010000: has ;vucsn-ffffffffffffffffffff in its value',
  ];
  assert.equal(newestStateCsn(lines), NEW3);
  assert.equal(newestStateCsn(['uid: origin value, never changed since the import']), undefined);
});

test('hostsBehind: the host whose RUV has not seen the change another host holds, with the change and its holder', () => {
  const ruvs = new Map([
    ['a', ruv([1, NEW1], [3, OLD1])],
    ['b', ruv([1, NEW1], [3, NEW3])],
    ['c', ruv([1, OLD1], [3, NEW3])],
  ]);
  // c changed the entry (rid 3), b has it, a has not; c lacks a's newer change of another entry only.
  const behind = hostsBehind(
    [
      { host: 'a', csn: OLD1 },
      { host: 'b', csn: NEW3 },
      { host: 'c', csn: NEW3 },
    ],
    ruvs,
  );
  assert.deepEqual(behind, [{ host: 'a', csn: NEW3, from: 'b' }]);
  assert.deepEqual(
    hostsBehind(
      [
        { host: 'a', csn: undefined },
        { host: 'b', csn: OLD1 },
      ],
      ruvs,
    ),
    [],
  );
});

test('ruvsAgree and sameRuvs: nothing in flight only when every host saw every supplier up to the same change', () => {
  const same = new Map([
    ['a', ruv([1, NEW1], [3, NEW3])],
    ['b', ruv([3, NEW3], [1, NEW1])],
  ]);
  assert.equal(ruvsAgree(same), true, 'element order does not matter');
  const apart = new Map([...same, ['c', ruv([1, OLD1], [3, NEW3])]]);
  assert.equal(ruvsAgree(apart), false);
  assert.equal(ruvsAgree(new Map([...same, ['c', undefined]])), false, 'a host without a RUV');
  assert.equal(sameRuvs(same, new Map(same)), true);
  assert.equal(sameRuvs(apart, new Map([...apart, ['c', ruv([1, NEW1], [3, NEW3])]])), false);
});

test('canArrive: over working agreements from a host that has the change, several hops too', () => {
  const ruvs = new Map([
    ['a', ruv([1, NEW1])],
    ['b', ruv([1, OLD1])],
    ['c', ruv([1, OLD1])],
  ]);
  const behindC = { host: 'c', csn: NEW1, from: 'a' };
  assert.equal(
    canArrive(
      behindC,
      [
        ['a', 'b'],
        ['b', 'c'],
      ],
      ruvs,
    ),
    true,
    'a→b→c',
  );
  assert.equal(
    canArrive(
      behindC,
      [
        ['a', 'b'],
        ['c', 'b'],
      ],
      ruvs,
    ),
    false,
    'b→c is off',
  );
  assert.equal(canArrive(behindC, [], ruvs), false);
});

test('differenceSummary: who lacks it and how the holders split, in one line', () => {
  const digests = new Map([['a', 'x']]);
  assert.equal(
    differenceSummary({ dn: 'uid=u,dc=x', ndn: 'uid=u,dc=x', missingOn: ['b'], variants: [['a']], digests }),
    'uid=u,dc=x (missing on b)',
  );
  assert.equal(
    differenceSummary({ dn: 'uid=u,dc=x', ndn: 'uid=u,dc=x', missingOn: [], variants: [['a', 'c'], ['b']], digests }),
    'uid=u,dc=x (values differ: a, c | b)',
  );
});
