import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareCsn, csnLagSeconds, parseCsn } from '../../src/directory/csn.js';

// Real CSNs from a 3-host 389-DS 2.3.1 lab (domain rids 1-3, CA rids 1001-1002).
const GENERATION = '6b07ff06000000010000';
const A_MAX = '6b07ff24000000010000';
const B_MIN = '6b07ff0a000000020000';
const C_MIN = '6b07ff0d000100030000';
const CA_B = '6b07ff10000103ea0000';

describe('parseCsn', () => {
  it('splits the four fields of a real CSN', () => {
    assert.deepEqual(parseCsn(C_MIN), { time: 0x6b07ff0d, seq: 1, rid: 3, subseq: 0, raw: C_MIN });
    assert.deepEqual(parseCsn(CA_B), { time: 0x6b07ff10, seq: 1, rid: 1002, subseq: 0, raw: CA_B });
    assert.equal(parseCsn(GENERATION)!.time, 1795686150);
    assert.equal(new Date(parseCsn(GENERATION)!.time * 1000).toISOString(), '2026-11-26T09:42:30.000Z');
  });

  it('reads the largest field values and upper case, and trims', () => {
    assert.deepEqual(parseCsn(' FFFFFFFFFFFEFFFD0001\n'), {
      time: 0xffffffff,
      seq: 0xfffe,
      rid: 0xfffd,
      subseq: 1,
      raw: 'FFFFFFFFFFFEFFFD0001',
    });
  });

  it('refuses anything that is not exactly 20 hex digits', () => {
    for (const bad of [
      '',
      '6b07ff24',
      '6b07ff2400000001000',
      '6b07ff240000000100000',
      '6b07ff24-00000001000',
      'g b07ff24000000010000',
      '0x6b07ff240000000100',
      '{replicageneration}',
    ]) {
      assert.equal(parseCsn(bad), undefined, bad);
    }
    assert.equal(parseCsn(undefined), undefined);
  });
});

describe('compareCsn', () => {
  it('orders by time, then seq, then rid, then subseq', () => {
    assert.ok(compareCsn(B_MIN, A_MAX) < 0, 'older time first');
    assert.ok(compareCsn('6b07ff24000100010000', '6b07ff24000000020000') > 0, 'seq before rid');
    assert.ok(compareCsn('6b07ff24000000010005', '6b07ff24000000020000') < 0, 'rid before subseq');
    assert.ok(compareCsn('6b07ff24000000010001', '6b07ff24000000010000') > 0, 'subseq last');
    assert.equal(compareCsn(A_MAX, A_MAX.toUpperCase()), 0);
    assert.equal(compareCsn(parseCsn(A_MAX), A_MAX), 0, 'parsed and raw mix');
  });

  it('sorts a list of CSNs like the server does', () => {
    const csns = [A_MAX, CA_B, GENERATION, C_MIN, B_MIN];
    assert.deepEqual([...csns].sort(compareCsn), [GENERATION, B_MIN, C_MIN, CA_B, A_MAX]);
  });

  it('puts a missing CSN before every CSN, and refuses garbage', () => {
    assert.ok(compareCsn(undefined, GENERATION) < 0);
    assert.ok(compareCsn(GENERATION, undefined) > 0);
    assert.equal(compareCsn(undefined, undefined), 0);
    assert.throws(() => compareCsn('nonsense', GENERATION), /not a CSN: 'nonsense'/);
  });
});

describe('csnLagSeconds', () => {
  it('is the difference of the time parts, how far a is behind b', () => {
    assert.equal(csnLagSeconds(B_MIN, A_MAX), 0x24 - 0x0a);
    assert.equal(csnLagSeconds(parseCsn(GENERATION), parseCsn(C_MIN)), 7);
    // seq/rid/subseq do not count: same second, no lag.
    assert.equal(csnLagSeconds('6b07ff24000000010000', '6b07ff24ffff00020003'), 0);
  });

  it('is never negative and undefined when a side has no CSN', () => {
    assert.equal(csnLagSeconds(A_MAX, B_MIN), 0);
    assert.equal(csnLagSeconds(undefined, A_MAX), undefined);
    assert.equal(csnLagSeconds(A_MAX, 'unavailable'), undefined);
  });
});
