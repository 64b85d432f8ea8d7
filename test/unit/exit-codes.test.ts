import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, exitCodeFor } from '../../src/cli/exit-codes.js';
import {
  AuthError,
  FleetError,
  PartialFailureError,
  UnreachableError,
  UsageError,
  type ErrorKind,
} from '../../src/errors.js';
import { LocatedError } from '../../src/located/located-error.js';

describe('exit codes', () => {
  it('are the documented numbers', () => {
    assert.deepEqual({ ...EXIT }, { ok: 0, failure: 1, usage: 2, partial: 3, unreachable: 4, lock: 11, auth: 12 });
  });

  it('every FleetError kind maps to its documented code', () => {
    const documented: Record<ErrorKind, number> = {
      failure: 1,
      usage: 2,
      partial: 3,
      unreachable: 4,
      lock: 11,
      auth: 12,
    };
    for (const [kind, code] of Object.entries(documented) as Array<[ErrorKind, number]>) {
      assert.equal(exitCodeFor(new FleetError(kind, 'x')), code, kind);
    }
  });

  it('each error class maps to its code', () => {
    assert.equal(exitCodeFor(new LocatedError('/inv.yml', 3, 'all.vars', 'bad')), 2);
    assert.equal(exitCodeFor(new UsageError('bad flag')), 2);
    assert.equal(exitCodeFor(new UnreachableError('a.ipa.test', 'refused')), 4);
    assert.equal(exitCodeFor(new AuthError('bad password', { host: 'a.ipa.test' })), 12);
    assert.equal(exitCodeFor(new PartialFailureError('1 of 3 failed', [new FleetError('failure', 'x')])), 3);
  });

  it('anything that is not a FleetError is a plain failure (1)', () => {
    assert.equal(exitCodeFor(new Error('bug')), 1);
    assert.equal(exitCodeFor(new TypeError('bug')), 1);
    assert.equal(exitCodeFor('a string'), 1);
    assert.equal(exitCodeFor(undefined), 1);
    assert.equal(exitCodeFor(null), 1);
    assert.equal(exitCodeFor({ kind: 'usage', message: 'looks like one but is not' }), 1);
  });

  it('a PartialFailureError is 3 even when its parts are unreachable or auth errors', () => {
    const err = new PartialFailureError('2 of 3', [new UnreachableError('a', 'x'), new AuthError('y')]);
    assert.equal(exitCodeFor(err), 3);
  });

  it('error messages say where: LocatedError file:line: key: problem; AuthError and UnreachableError host: …', () => {
    assert.equal(
      new LocatedError('/inv.yml', 3, 'all.vars.ssh.port', 'must be a port').message,
      '/inv.yml:3: all.vars.ssh.port: must be a port',
    );
    assert.equal(new LocatedError('/inv.yml', undefined, undefined, 'cannot read').message, '/inv.yml: cannot read');
    assert.equal(new UnreachableError('a.ipa.test', 'refused').message, 'a.ipa.test: refused');
    assert.equal(new AuthError('denied', { host: 'b' }).message, 'b: denied');
    assert.equal(new AuthError('denied').message, 'denied');
  });
});
