import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChannelLimit } from '../../src/transport/channel-limit.js';

/** Lets every pending promise callback run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

describe('ChannelLimit', () => {
  for (const max of [1, 3, 10]) {
    it(`never more than ${max} holders under 50 concurrent acquire/release with random delays`, async () => {
      const limit = new ChannelLimit(max);
      let holders = 0;
      let peak = 0;
      let done = 0;
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          await sleep(Math.floor(Math.random() * 3));
          const release = await limit.acquire();
          holders++;
          peak = Math.max(peak, holders);
          assert.ok(holders <= max, `${holders} holders with max ${max}`);
          assert.ok(limit.inUse <= max, `inUse ${limit.inUse}`);
          await sleep(Math.floor(Math.random() * 5));
          holders--;
          release();
          if (i % 3 === 0) release(); // a second release must change nothing
          done++;
        }),
      );
      assert.equal(done, 50, 'everyone got a turn');
      assert.equal(peak, max, 'the limit is actually used');
      assert.equal(limit.inUse, 0, 'all slots returned');
    });
  }

  it('release is idempotent without waiters: inUse never goes below the real count', async () => {
    const limit = new ChannelLimit(2);
    const r1 = await limit.acquire();
    const r2 = await limit.acquire();
    assert.equal(limit.inUse, 2);
    r1();
    r1();
    r1();
    assert.equal(limit.inUse, 1);
    // Only one slot is free: a third holder gets it, a fourth must wait.
    await limit.acquire();
    let fourth = false;
    void limit.acquire().then(() => {
      fourth = true;
    });
    await settle();
    assert.equal(fourth, false, 'a double release created a phantom slot');
    r2();
    await settle();
    assert.equal(fourth, true);
  });

  it('release is idempotent with waiters: a second release does not hand over a second slot', async () => {
    const limit = new ChannelLimit(1);
    const r1 = await limit.acquire();
    const got: number[] = [];
    void limit.acquire().then(() => got.push(2));
    void limit.acquire().then(() => got.push(3));
    await settle();
    assert.deepEqual(got, []);
    r1();
    r1();
    await settle();
    assert.deepEqual(got, [2], 'only one waiter may get the freed slot');
    assert.equal(limit.inUse, 1);
  });

  it('waiting acquirers are served first in, first out', async () => {
    const limit = new ChannelLimit(2);
    const first = await limit.acquire();
    const second = await limit.acquire();
    const order: number[] = [];
    const releases = new Map<number, () => void>();
    const waiters = [1, 2, 3, 4, 5, 6].map((n) =>
      limit.acquire().then((release) => {
        order.push(n);
        releases.set(n, release);
      }),
    );
    await settle();
    assert.deepEqual(order, []);
    first();
    await settle();
    assert.deepEqual(order, [1]);
    second();
    await settle();
    assert.deepEqual(order, [1, 2]);
    // Release out of order: still the next in line is served.
    releases.get(2)!();
    releases.get(1)!();
    await settle();
    assert.deepEqual(order, [1, 2, 3, 4]);
    releases.get(4)!();
    releases.get(3)!();
    await Promise.all(waiters);
    assert.deepEqual(order, [1, 2, 3, 4, 5, 6]);
    releases.get(5)!();
    releases.get(6)!();
    assert.equal(limit.inUse, 0);
  });

  it('a newcomer does not overtake someone already waiting', async () => {
    const limit = new ChannelLimit(1);
    const r = await limit.acquire();
    const order: string[] = [];
    const early = limit.acquire().then((rel) => {
      order.push('early');
      return rel;
    });
    r();
    // Arrives after the release but before the waiter's callback has run.
    const late = limit.acquire().then((rel) => {
      order.push('late');
      return rel;
    });
    (await early)();
    (await late)();
    assert.deepEqual(order, ['early', 'late']);
    assert.equal(limit.inUse, 0);
  });
});
