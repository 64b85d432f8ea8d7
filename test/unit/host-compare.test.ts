// compareHosts: every host's entries against the first host's, each host read once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContentEntry } from '../../src/content/entry.js';
import { compareHosts, type HostSource } from '../../src/content/host-compare.js';
import { entry } from './content-fixtures.js';

const S = 'dc=ipa,dc=test';
const whole = { base: S };

function host(name: string, entries: ContentEntry[]): HostSource & { passes: number } {
  const source = {
    host: name,
    passes: 0,
    entries: async (visit: (e: ContentEntry) => void) => {
      source.passes++;
      for (const e of entries) visit(e);
    },
  };
  return source;
}

const root = entry(S, { dc: ['ipa'] });
const alice = entry(`uid=alice,${S}`, { uid: ['alice'], mail: ['a@x'] });
const bob = entry(`uid=bob,${S}`, { uid: ['bob'] });

test('compareHosts: identical hosts (values in another order, DN in another case) differ in nothing', async () => {
  const a = host('a', [root, alice, bob]);
  const b = host('b', [entry(`UID=Bob, dc=IPA,dc=test`, { uid: ['bob'] }), root, alice]);
  assert.deepEqual(await compareHosts([a, b], whole), []);
  assert.deepEqual([a.passes, b.passes], [1, 1], 'each host is read once');
});

test('compareHosts: missing, extra and differing entries, named by DN with the hosts on each side', async () => {
  const carol = entry(`uid=carol,${S}`, { uid: ['carol'] });
  const sources = [
    host('a', [root, alice, bob]),
    host('b', [root, entry(alice.dn, { uid: ['alice'], mail: ['changed@x'] }), bob]),
    host('c', [root, alice, carol]),
  ];
  const found = await compareHosts(sources, whole);
  assert.deepEqual(
    found.map((d) => [d.dn, d.missingOn, d.variants]),
    [
      [alice.dn, [], [['a', 'c'], ['b']]],
      [bob.dn, ['c'], [['a', 'b']]],
      [carol.dn, ['a', 'b'], [['c']]],
    ],
  );
});

test('compareHosts: only the selection is compared', async () => {
  const sources = [host('a', [root, alice, bob]), host('b', [root, alice])];
  assert.deepEqual(await compareHosts(sources, { base: `uid=alice,${S}` }), []);
  assert.equal((await compareHosts(sources, whole)).length, 1);
});
