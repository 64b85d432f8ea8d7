import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { enableRounds } from '../../src/restore/unfence.js';

/** Agreements as "supplier>consumer". */
const rounds = (edges: string[]): string[][] => enableRounds(edges, (e) => e.split('>')[1]!);

describe('enableRounds: no consumer twice in one round', () => {
  it('a chain a-b-c-d: two rounds, each middle host receives once per round', () => {
    const r = rounds(['a>b', 'b>a', 'b>c', 'c>b', 'c>d', 'd>c']);
    assert.deepEqual(r, [
      ['a>b', 'b>a', 'b>c', 'c>d'],
      ['c>b', 'd>c'],
    ]);
  });

  it('a star: as many rounds as leaves for the centre, leaves come on in the first', () => {
    const edges = ['x', 'y', 'z'].flatMap((l) => [`hub>${l}`, `${l}>hub`]);
    const r = rounds(edges);
    assert.equal(r.length, 3);
    assert.deepEqual(r[0], ['hub>x', 'x>hub', 'hub>y', 'hub>z']);
    for (const round of r) {
      const consumers = round.map((e) => e.split('>')[1]);
      assert.equal(new Set(consumers).size, consumers.length, `a consumer twice in ${round.join(', ')}`);
    }
    assert.deepEqual(r.flat().sort(), [...edges].sort(), 'every agreement in exactly one round');
  });

  it('nothing to enable: no round', () => {
    assert.deepEqual(rounds([]), []);
  });
});
