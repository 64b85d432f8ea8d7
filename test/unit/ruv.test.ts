import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgmtMaxCsn, parseAgmtMaxCsns, parseRuv, parseRuvElement, ruvElement } from '../../src/directory/ruv.js';

// Copied from a 3-host 389-DS 2.3.1 lab (chain a-b-c; domain rids 1..3, CA rids 1001..1002),
// `ldapsearch -b dc=ipa,dc=test '(&(nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff)(objectclass=nstombstone))' nsds50ruv nsds5agmtmaxcsn`.
const RUV_ON_A = [
  '{replicageneration} 6b07ff06000000010000',
  '{replica 1 ldap://a.ipa.test:389} 6b07ff07000100010000 6b07ff07000100010000',
  '{replica 2 ldap://b.ipa.test:389} 6b07ff0a000000020000 6b07ff0b000000020000',
  '{replica 3 ldap://c.ipa.test:389} 6b07ff0d000100030000 6b07ff0f000000030000',
];
/** b has seen no change of rid 1 yet (a's data came with the total update): no CSNs. */
const RUV_ON_B = [
  '{replicageneration} 6b07ff06000000010000',
  '{replica 2 ldap://b.ipa.test:389} 6b07ff0a000000020000 6b07ff0b000000020000',
  '{replica 1 ldap://a.ipa.test:389}',
  '{replica 3 ldap://c.ipa.test:389} 6b07ff0d000100030000 6b07ff0f000000030000',
];
const CA_RUV_ON_B = [
  '{replicageneration} 6b07ff06000003e90000',
  '{replica 1002 ldap://b.ipa.test:389} 6b07ff10000103ea0000 6b07ff12000003ea0000',
  '{replica 1001 ldap://a.ipa.test:389}',
];
const AGMT_MAXCSN_ON_B = [
  'dc=ipa,dc=test;meToa.ipa.test;a.ipa.test;389;1;6b07ff0b000000020000',
  'dc=ipa,dc=test;meToc.ipa.test;c.ipa.test;389;unavailable;6b07ff0d000100030000',
];

describe('parseRuv', () => {
  it('reads the generation and every element of a real RUV, in the server order', () => {
    assert.deepEqual(parseRuv(RUV_ON_A), {
      generation: '6b07ff06000000010000',
      elements: [
        { rid: 1, url: 'ldap://a.ipa.test:389', minCsn: '6b07ff07000100010000', maxCsn: '6b07ff07000100010000' },
        { rid: 2, url: 'ldap://b.ipa.test:389', minCsn: '6b07ff0a000000020000', maxCsn: '6b07ff0b000000020000' },
        { rid: 3, url: 'ldap://c.ipa.test:389', minCsn: '6b07ff0d000100030000', maxCsn: '6b07ff0f000000030000' },
      ],
    });
  });

  it('keeps elements that have a URL but no CSNs', () => {
    const ruv = parseRuv(RUV_ON_B);
    assert.deepEqual(
      ruv.elements.map((e) => e.rid),
      [2, 1, 3],
    );
    assert.deepEqual(ruvElement(ruv, 1), {
      rid: 1,
      url: 'ldap://a.ipa.test:389',
      minCsn: undefined,
      maxCsn: undefined,
    });
    const ca = parseRuv(CA_RUV_ON_B);
    assert.equal(ca.generation, '6b07ff06000003e90000');
    assert.deepEqual(ruvElement(ca, 1001), {
      rid: 1001,
      url: 'ldap://a.ipa.test:389',
      minCsn: undefined,
      maxCsn: undefined,
    });
    assert.equal(ruvElement(ca, 1002)!.maxCsn, '6b07ff12000003ea0000');
  });

  it('keeps ghost elements without URL, with or without CSNs (lib389 drops them)', () => {
    const ruv = parseRuv([
      ...RUV_ON_A,
      '{replica 7}',
      '{replica 8} 6b07fe00000000080000 6b07fe10000000080000',
      '{replica 9 ldap://gone.ipa.test:389}',
    ]);
    assert.deepEqual(
      ruv.elements.map((e) => e.rid),
      [1, 2, 3, 7, 8, 9],
    );
    assert.deepEqual(ruvElement(ruv, 7), { rid: 7, url: undefined, minCsn: undefined, maxCsn: undefined });
    assert.deepEqual(ruvElement(ruv, 8), {
      rid: 8,
      url: undefined,
      minCsn: '6b07fe00000000080000',
      maxCsn: '6b07fe10000000080000',
    });
    assert.deepEqual(ruvElement(ruv, 9), {
      rid: 9,
      url: 'ldap://gone.ipa.test:389',
      minCsn: undefined,
      maxCsn: undefined,
    });
  });

  it('tolerates the extra last-modified field of older servers, spacing and case', () => {
    assert.deepEqual(
      parseRuvElement('{replica 65535 ldap://hub.example.com:389} 4f1c2d3e000000010000 4f1c2d3f000000010000 4f1c2d40'),
      {
        rid: 65535,
        url: 'ldap://hub.example.com:389',
        minCsn: '4f1c2d3e000000010000',
        maxCsn: '4f1c2d3f000000010000',
      },
    );
    assert.deepEqual(
      parseRuvElement('  {Replica  4  ldap://d.ipa.test:389 }  6b07ff0a000000040000  6b07ff0b000000040000 '),
      {
        rid: 4,
        url: 'ldap://d.ipa.test:389',
        minCsn: '6b07ff0a000000040000',
        maxCsn: '6b07ff0b000000040000',
      },
    );
    assert.equal(parseRuv(['{REPLICAGENERATION} 6b07ff06000000010000']).generation, '6b07ff06000000010000');
  });

  it('has no generation when the value is missing, and ignores what it cannot read', () => {
    assert.deepEqual(parseRuv([]), { generation: undefined, elements: [] });
    assert.deepEqual(
      parseRuv([
        '{replicageneration}',
        'garbage',
        '{replica x ldap://a:389}',
        '{replica 5 ldap://e:389} not-a-csn 6b07ff0b000000050000',
      ]),
      {
        generation: undefined,
        elements: [{ rid: 5, url: 'ldap://e:389', minCsn: undefined, maxCsn: '6b07ff0b000000050000' }],
      },
    );
  });
});

describe('parseAgmtMaxCsn', () => {
  it('reads real values, with a consumer RID or "unavailable"', () => {
    assert.deepEqual(parseAgmtMaxCsns(AGMT_MAXCSN_ON_B), [
      {
        suffix: 'dc=ipa,dc=test',
        agreement: 'meToa.ipa.test',
        host: 'a.ipa.test',
        port: 389,
        consumerRid: 1,
        maxCsn: '6b07ff0b000000020000',
      },
      {
        suffix: 'dc=ipa,dc=test',
        agreement: 'meToc.ipa.test',
        host: 'c.ipa.test',
        port: 389,
        consumerRid: undefined,
        maxCsn: '6b07ff0d000100030000',
      },
    ]);
    assert.deepEqual(parseAgmtMaxCsn('o=ipaca;caToa.ipa.test;a.ipa.test;389;1001;6b07ff12000003ea0000'), {
      suffix: 'o=ipaca',
      agreement: 'caToa.ipa.test',
      host: 'a.ipa.test',
      port: 389,
      consumerRid: 1001,
      maxCsn: '6b07ff12000003ea0000',
    });
  });

  it('keeps an escaped ; inside the suffix, and a ; inside the agreement name', () => {
    assert.deepEqual(parseAgmtMaxCsn('o=a\\;b;x;y;h.example.com;7389;unavailable;6b07ff12000003ea0000'), {
      suffix: 'o=a\\;b',
      agreement: 'x;y',
      host: 'h.example.com',
      port: 7389,
      consumerRid: undefined,
      maxCsn: '6b07ff12000003ea0000',
    });
  });

  it('gives no CSN when the last field is not one, and refuses malformed values', () => {
    assert.equal(parseAgmtMaxCsn('dc=ipa,dc=test;meToa.ipa.test;a.ipa.test;389;1;')!.maxCsn, undefined);
    assert.equal(parseAgmtMaxCsn('dc=ipa,dc=test;meToa.ipa.test;a.ipa.test;389;1'), undefined, 'too few fields');
    assert.equal(
      parseAgmtMaxCsn('dc=ipa,dc=test;meToa.ipa.test;a.ipa.test;ldap;1;6b07ff0b000000020000'),
      undefined,
      'port',
    );
    assert.equal(
      parseAgmtMaxCsn('dc=ipa,dc=test;meToa.ipa.test;a.ipa.test;389;none;6b07ff0b000000020000'),
      undefined,
      'rid',
    );
    assert.deepEqual(
      parseAgmtMaxCsns(['junk', AGMT_MAXCSN_ON_B[0]!]).map((v) => v.host),
      ['a.ipa.test'],
    );
  });
});
