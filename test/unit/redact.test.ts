import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redactor } from '../../src/report/redact.js';
import { AuthError } from '../../src/errors.js';

const MASK = '********';

function redactorWith(...secrets: (string | undefined)[]): Redactor {
  const redactor = new Redactor();
  for (const secret of secrets) redactor.add(secret);
  return redactor;
}

test('masks every occurrence in a string', () => {
  const r = redactorWith('Secret123');
  assert.equal(
    r.mask('ldapmodify -w Secret123 -D cn=dm; echo Secret123Secret123'),
    `ldapmodify -w ${MASK} -D cn=dm; echo ${MASK}`,
  );
});

test('without secrets, text and values pass through unchanged', () => {
  const r = redactorWith(undefined, '');
  const value = { a: 'x' };
  assert.equal(r.mask('nothing here'), 'nothing here');
  assert.equal(r.maskValue(value), value);
});

test('short secrets are masked too', () => {
  assert.equal(redactorWith('ab').mask('xabx'), `x${MASK}x`);
});

test('regex metacharacters in a secret are matched literally', () => {
  const r = redactorWith('a.b*c$(x)');
  assert.equal(r.mask('pw=a.b*c$(x) end'), `pw=${MASK} end`);
  assert.equal(r.mask('pw=aXbbbc$(x)'), 'pw=aXbbbc$(x)');
});

test('overlapping secrets are masked in full', () => {
  const r = redactorWith('abcdef', 'defghi');
  assert.equal(r.mask('[abcdefghi]'), `[${MASK}]`);
  const nested = redactorWith('pass', 'password1');
  assert.equal(nested.mask('password1 pass'), `${MASK} ${MASK}`);
});

test('base64 of a secret is masked, alone and inside Basic auth', () => {
  const secret = 'Tr0ub4dor&3';
  const r = redactorWith(secret);
  const alone = Buffer.from(secret).toString('base64');
  assert.equal(r.mask(`token ${alone}`), `token ${MASK}`);
  for (const user of ['admin', 'adm', 'ad', 'a']) {
    const basic = Buffer.from(`${user}:${secret}`).toString('base64');
    const masked = r.mask(`Authorization: Basic ${basic}`);
    assert.ok(masked.includes(MASK), `${user}: ${masked}`);
    // At most the characters straddling the secret's edges survive.
    const survivor = masked.slice('Authorization: Basic '.length).replace(MASK, '');
    assert.ok(survivor.length <= Math.ceil(((user.length + 1) * 8) / 6) + 3, `${user}: ${masked}`);
  }
});

test('URL-encoded and JSON-escaped forms are masked', () => {
  const secret = 'p@ss w/rd"\\';
  const r = redactorWith(secret);
  assert.equal(r.mask(`ldap://u:${encodeURIComponent(secret)}@h`), `ldap://u:${MASK}@h`);
  assert.equal(r.mask(`pw=${encodeURIComponent(secret).replace(/%20/g, '+')}`), `pw=${MASK}`);
  assert.equal(r.mask(JSON.stringify({ pw: secret })), `{"pw":"${MASK}"}`);
});

test('maskValue masks strings deep inside objects and arrays without touching the input', () => {
  const r = redactorWith('hunter22');
  const input = {
    command: 'kinit admin <<< hunter22',
    hosts: [{ name: 'ipa1', env: { PW: 'hunter22' } }, 'x hunter22 y'],
    count: 3,
    ok: true,
    none: null,
    hunter22: 'key',
  };
  assert.deepEqual(r.maskValue(input), {
    command: `kinit admin <<< ${MASK}`,
    hosts: [{ name: 'ipa1', env: { PW: MASK } }, `x ${MASK} y`],
    count: 3,
    ok: true,
    none: null,
    [MASK]: 'key',
  });
  assert.equal(input.hosts[1], 'x hunter22 y');
});

test('maskValue keeps error classes and masks message, stack and fields', () => {
  const r = redactorWith('hunter22');
  const err = new AuthError('bind failed with hunter22', { host: 'ipa1', cause: new Error('pw hunter22') });
  const masked = r.maskValue({ err }) as { err: AuthError };
  assert.ok(masked.err instanceof AuthError);
  assert.equal(masked.err.message, `ipa1: bind failed with ${MASK}`);
  assert.equal(masked.err.host, 'ipa1');
  assert.ok(!masked.err.stack?.includes('hunter22'));
  assert.equal((masked.err.cause as Error).message, `pw ${MASK}`);
  assert.equal(err.message, 'ipa1: bind failed with hunter22');
});

test('maskValue handles cycles', () => {
  const r = redactorWith('hunter22');
  const node: { name: string; self?: unknown } = { name: 'hunter22' };
  node.self = node;
  const masked = r.maskValue(node) as { name: string; self: unknown };
  assert.equal(masked.name, MASK);
  assert.equal(masked.self, masked);
});

test('each Redactor is independent', () => {
  const a = redactorWith('alpha-secret');
  const b = new Redactor();
  assert.equal(b.mask('alpha-secret'), 'alpha-secret');
  assert.equal(a.mask('alpha-secret'), MASK);
});
