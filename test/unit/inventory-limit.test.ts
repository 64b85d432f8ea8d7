import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { parseInventory, selectHosts, type Inventory } from '../../src/inventory/index.js';

const INVENTORY = `
all:
  vars:
    ldap: {instance: EXAMPLE-COM, password: prompt}
    suffixes: {domain: 'dc=example,dc=com'}
  hosts:
    ipa1.example.com:
  children:
    dc1:
      hosts:
        ipa2.example.com:
        ipa3.example.com:
    dc2:
      hosts:
        ipa4.example.com:
        "fe80::5":
    ca_servers:
      hosts:
        ipa1.example.com:
        ipa4.example.com:
    legacy:
      children:
        dc2:
`;

const inv: Inventory = parseInventory(INVENTORY, '/inv/limit.yml', { homeDir: '/home/op' });

function names(pattern: string | undefined): string[] {
  return selectHosts(inv, pattern).map((h) => h.name);
}

const ALL = ['ipa1.example.com', 'ipa2.example.com', 'ipa3.example.com', 'ipa4.example.com', 'fe80::5'];

function usage(pattern: string, message: string | RegExp): void {
  assert.throws(
    () => selectHosts(inv, pattern),
    (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.kind, 'usage');
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe('inventory --limit', () => {
  it('selects everything without a pattern, with all and with *', () => {
    assert.deepEqual(names(undefined), ALL);
    assert.deepEqual(names('all'), ALL);
    assert.deepEqual(names('*'), ALL);
  });

  it('selects by host name and group name, in inventory order', () => {
    assert.deepEqual(names('ipa3.example.com'), ['ipa3.example.com']);
    assert.deepEqual(names('dc1'), ['ipa2.example.com', 'ipa3.example.com']);
    assert.deepEqual(names('legacy'), ['ipa4.example.com', 'fe80::5'], 'through children');
    assert.deepEqual(names('ipa4.example.com,dc1, ipa1.example.com'), [
      'ipa1.example.com',
      'ipa2.example.com',
      'ipa3.example.com',
      'ipa4.example.com',
    ]);
    assert.deepEqual(names('dc2:ipa2.example.com'), ['ipa2.example.com', 'ipa4.example.com', 'fe80::5']);
    assert.deepEqual(names('dc1,'), ['ipa2.example.com', 'ipa3.example.com'], 'a trailing comma is harmless');
  });

  it('matches globs against host names and group names', () => {
    assert.deepEqual(names('ipa[13]*'), ['ipa1.example.com', 'ipa3.example.com']);
    assert.deepEqual(names('ipa?.example.com'), ALL.slice(0, 4));
    assert.deepEqual(names('ipa[!1-2].*'), ['ipa3.example.com', 'ipa4.example.com']);
    assert.deepEqual(names('dc*'), ['ipa2.example.com', 'ipa3.example.com', 'ipa4.example.com', 'fe80::5']);
    assert.deepEqual(names('ca_*'), ['ipa1.example.com', 'ipa4.example.com']);
    assert.deepEqual(names('*.example.com'), ALL.slice(0, 4), 'dots are literal');
  });

  it('never lets a glob select the implicit all group', () => {
    // Were `all` matched, these would exclude every host (or select all) instead of naming the typo.
    usage('*.example.com,!a*', /^--limit: 'a\*' matches no host or group/);
    usage('al?', /^--limit: 'al\?' matches no host or group/);
    assert.deepEqual(names('all,!dc*'), ['ipa1.example.com'], 'the word all still selects every host');
  });

  it('excludes with ! and intersects with &, whatever the order', () => {
    assert.deepEqual(names('all:!dc1'), ['ipa1.example.com', 'ipa4.example.com', 'fe80::5']);
    assert.deepEqual(
      names('!dc1'),
      ['ipa1.example.com', 'ipa4.example.com', 'fe80::5'],
      'exclusion alone starts from all',
    );
    assert.deepEqual(names('!ipa1.example.com,dc2,ca_servers'), ['ipa4.example.com', 'fe80::5']);
    assert.deepEqual(names('dc2:&ca_servers'), ['ipa4.example.com']);
    assert.deepEqual(names('&ca_servers,dc1,dc2'), ['ipa4.example.com']);
    assert.deepEqual(names('ipa*:&legacy:!fe80*'), ['ipa4.example.com']);
  });

  it('keeps an IPv6 host name whole', () => {
    assert.deepEqual(names('fe80::5'), ['fe80::5']);
    assert.deepEqual(names('!fe80::5'), ALL.slice(0, 4));
  });

  it('refuses a term that matches nothing, and an empty selection', () => {
    usage('ipa9', "--limit: 'ipa9' matches no host or group");
    usage('dc1,dc3', /^--limit: 'dc3' matches no host or group \(did you mean dc1\?\)$/);
    usage('all:!nothing', /^--limit: 'nothing' matches no host or group/);
    usage('web*', "--limit: 'web*' matches no host or group");
    usage('dc1:&dc2', "--limit: 'dc1:&dc2' selects no host");
    usage('all:!all', "--limit: 'all:!all' selects no host");
    usage('', '--limit: the pattern is empty');
    usage('dc1,!', /has no name after !/);
    usage('~ipa.*', /regular expressions are not supported/);
  });
});
