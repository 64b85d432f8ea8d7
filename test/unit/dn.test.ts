import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RUV_FILTER, agreementFilter, escapeFilterValue, escapeRdnValue, replicaDn } from '../../src/directory/dn.js';

describe('escapeRdnValue', () => {
  it('escapes a suffix the way 389-DS names its mapping-tree entry', () => {
    assert.equal(escapeRdnValue('dc=ipa,dc=test'), 'dc\\3Dipa\\2Cdc\\3Dtest');
    assert.equal(escapeRdnValue('o=ipaca'), 'o\\3Dipaca');
  });

  it('escapes every RFC 4514 special character as two upper-case hex digits', () => {
    assert.equal(escapeRdnValue('a+b'), 'a\\2Bb');
    assert.equal(escapeRdnValue('a"b'), 'a\\22b');
    assert.equal(escapeRdnValue('<a>'), '\\3Ca\\3E');
    assert.equal(escapeRdnValue('a;b'), 'a\\3Bb');
    assert.equal(escapeRdnValue('a\\b'), 'a\\5Cb');
    assert.equal(escapeRdnValue('a,b=c'), 'a\\2Cb\\3Dc');
  });

  it('escapes a leading space or #, and a trailing space; inner spaces stay', () => {
    assert.equal(escapeRdnValue(' a'), '\\20a');
    assert.equal(escapeRdnValue('#a'), '\\23a');
    assert.equal(escapeRdnValue('a '), 'a\\20');
    assert.equal(escapeRdnValue('a b#c'), 'a b#c');
    assert.equal(escapeRdnValue('cn=mapping tree'), 'cn\\3Dmapping tree');
  });

  it('leaves plain values alone', () => {
    assert.equal(escapeRdnValue('meTob.ipa.test'), 'meTob.ipa.test');
    assert.equal(escapeRdnValue(''), '');
  });
});

describe('replicaDn', () => {
  it('is cn=replica under the escaped suffix in the mapping tree', () => {
    assert.equal(replicaDn('dc=ipa,dc=test'), 'cn=replica,cn=dc\\3Dipa\\2Cdc\\3Dtest,cn=mapping tree,cn=config');
    assert.equal(replicaDn('o=ipaca'), 'cn=replica,cn=o\\3Dipaca,cn=mapping tree,cn=config');
  });
});

describe('escapeFilterValue', () => {
  it('escapes * ( ) \\ and NUL as lower-case hex (RFC 4515)', () => {
    assert.equal(escapeFilterValue('*()\\'), '\\2a\\28\\29\\5c');
    assert.equal(escapeFilterValue('a*b(c)d\\e'), 'a\\2ab\\28c\\29d\\5ce');
    assert.equal(escapeFilterValue('a\0b'), 'a\\00b');
  });

  it('leaves =, commas and spaces (legal in a filter value) alone', () => {
    assert.equal(escapeFilterValue('dc=ipa,dc=test'), 'dc=ipa,dc=test');
    assert.equal(escapeFilterValue('cn=Directory Manager'), 'cn=Directory Manager');
  });

  it('an escaped value cannot close the filter early', () => {
    const hostile = 'x)(objectclass=*';
    const escaped = escapeFilterValue(hostile);
    assert.ok(!/[()*]/.test(escaped), escaped);
  });
});

describe('agreementFilter', () => {
  it('selects replication agreements of one suffix', () => {
    assert.equal(
      agreementFilter('dc=ipa,dc=test'),
      '(&(objectclass=nsds5replicationagreement)(nsDS5ReplicaRoot=dc=ipa,dc=test))',
    );
  });

  it('escapes the suffix', () => {
    assert.equal(
      agreementFilter('o=a(b)*'),
      '(&(objectclass=nsds5replicationagreement)(nsDS5ReplicaRoot=o=a\\28b\\29\\2a))',
    );
  });

  it('parentheses balance for any suffix', () => {
    for (const suffix of ['dc=ipa,dc=test', 'o=(((', 'o=)))', 'o=\\)']) {
      const f = agreementFilter(suffix);
      let depth = 0;
      for (let i = 0; i < f.length; i++) {
        if (f[i] === '\\') {
          i += 2;
          continue;
        }
        if (f[i] === '(') depth++;
        if (f[i] === ')') depth--;
        assert.ok(depth >= 0, f);
      }
      assert.equal(depth, 0, f);
    }
  });

  it('the RUV filter targets the tombstone', () => {
    assert.match(RUV_FILTER, /nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff/);
    assert.match(RUV_FILTER, /objectclass=nstombstone/);
  });
});
