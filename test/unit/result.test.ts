import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FleetError } from '../../src/errors.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { CommandFailedError, OutputBuffer, TAIL_BYTES, type CommandResult } from '../../src/transport/result.js';

/** Deterministic chunk sizes from 0 to 300 bytes. */
function chunkSizes(count: number): number[] {
  let seed = 7;
  return Array.from({ length: count }, () => {
    seed = (seed * 48271) % 2147483647;
    return seed % 301;
  });
}

describe('OutputBuffer', () => {
  it('keeps exactly the last N bytes across many chunks of random sizes', () => {
    const buf = new OutputBuffer(1_000_000, 100);
    const chunks: Buffer[] = [];
    for (const size of chunkSizes(500)) {
      const chunk = Buffer.from(randomBytes(size).toString('hex').slice(0, size), 'latin1');
      chunks.push(chunk);
      buf.push(chunk);
      const sofar = Buffer.concat(chunks);
      assert.equal(buf.tail(), sofar.subarray(Math.max(0, sofar.length - 100)).toString('utf8'));
    }
  });

  it('tail is everything while under the limit, and the default limit is TAIL_BYTES', () => {
    const small = new OutputBuffer(1000);
    small.push(Buffer.from('hello '));
    small.push(Buffer.from('world'));
    assert.equal(small.tail(), 'hello world');

    const big = new OutputBuffer(0);
    const text = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join('');
    for (let i = 0; i < text.length; i += 37) big.push(Buffer.from(text.slice(i, i + 37)));
    assert.equal(TAIL_BYTES, 4096);
    assert.equal(big.tail(), text.slice(text.length - TAIL_BYTES));
  });

  it('all() returns everything received, in order, up to and including the cap', () => {
    const buf = new OutputBuffer(1000, 10);
    const parts = ['a'.repeat(400), 'b'.repeat(400), 'c'.repeat(200)];
    for (const p of parts) buf.push(Buffer.from(p));
    assert.equal(buf.all(), parts.join(''), 'exactly at the cap is still kept');
    assert.equal(buf.tail(), 'c'.repeat(10));
  });

  it('all() throws a FleetError once more than the cap arrived; the tail still works', () => {
    const buf = new OutputBuffer(1000, 10);
    buf.push(Buffer.from('x'.repeat(1000)));
    buf.push(Buffer.from('y'));
    assert.throws(
      () => buf.all(),
      (err: unknown) => err instanceof FleetError && err.kind === 'failure' && /1000 bytes/.test(err.message),
    );
    buf.push(Buffer.from('z'));
    assert.throws(() => buf.all(), FleetError, 'stays over the cap');
    assert.equal(buf.tail(), 'xxxxxxxxyz');
  });

  it('empty output: all() and tail() are empty strings', () => {
    const buf = new OutputBuffer(10);
    assert.equal(buf.all(), '');
    assert.equal(buf.tail(), '');
  });

  it('multi-byte characters split across chunks are reassembled by all()', () => {
    const bytes = Buffer.from('é✓ü'.repeat(10));
    const buf = new OutputBuffer(1000);
    for (let i = 0; i < bytes.length; i++) buf.push(bytes.subarray(i, i + 1));
    assert.equal(buf.all(), 'é✓ü'.repeat(10));
  });
});

function result(over: Partial<CommandResult> = {}): CommandResult {
  return {
    host: 'a.ipa.test',
    command: 'dsctl IPA-TEST db2bak',
    exitCode: 1,
    signal: null,
    durationMs: 1234,
    stdoutTail: '',
    stderrTail: '',
    ok: false,
    ...over,
  };
}

describe('CommandFailedError', () => {
  it('names host, command, exit status and the last stderr line', () => {
    const err = new CommandFailedError(
      result({
        exitCode: 3,
        stderrTail: 'first line\nsecond line\n  Error: backup failed (-1)  \n\n',
        stdoutTail: 'stdout line',
      }),
    );
    assert.equal(err.message, 'a.ipa.test: dsctl IPA-TEST db2bak: exit 3: Error: backup failed (-1)');
    assert.equal(err.kind, 'failure');
    assert.equal(err.host, 'a.ipa.test');
    assert.equal(err.name, 'CommandFailedError');
    assert.equal(err.result.exitCode, 3);
    assert.ok(err instanceof FleetError);
    assert.equal(exitCodeFor(err), 1);
  });

  it('says "no exit status" when the exit code is null, with the signal when there is one', () => {
    assert.equal(
      new CommandFailedError(result({ exitCode: null, stderrTail: 'boom' })).message,
      'a.ipa.test: dsctl IPA-TEST db2bak: no exit status: boom',
    );
    assert.equal(
      new CommandFailedError(result({ exitCode: null, signal: 'KILL' })).message,
      'a.ipa.test: dsctl IPA-TEST db2bak: no exit status (signal KILL)',
    );
  });

  it('falls back to the last stdout line, and to nothing, when stderr is empty', () => {
    assert.equal(
      new CommandFailedError(result({ exitCode: 2, stdoutTail: 'a\nlast out\n' })).message,
      'a.ipa.test: dsctl IPA-TEST db2bak: exit 2: last out',
    );
    assert.equal(
      new CommandFailedError(result({ exitCode: 2, stderrTail: ' \n \n' })).message,
      'a.ipa.test: dsctl IPA-TEST db2bak: exit 2',
    );
  });

  it('uses the description instead of the command when given', () => {
    const err = new CommandFailedError(
      result({ exitCode: 1, command: 'ldapmodify -w ********' }),
      'dscreate from-file <answer file>',
    );
    assert.equal(err.message, 'a.ipa.test: dscreate from-file <answer file>: exit 1');
    assert.equal(err.result.command, 'ldapmodify -w ********');
  });

  it('exit 0 is still reported as exit 0 (not as a missing status)', () => {
    assert.match(new CommandFailedError(result({ exitCode: 0 })).message, /: exit 0$/);
  });
});
