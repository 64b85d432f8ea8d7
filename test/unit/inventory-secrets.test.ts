import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { FleetError } from '../../src/errors.js';
import { LITERAL_SECRET_REFUSED, parseSecretSource, readSecret } from '../../src/inventory/index.js';

const BASE = { baseDir: '/inv', homeDir: '/home/op' };

function usageError(pattern: RegExp, secret?: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof FleetError);
    assert.equal(err.kind, 'usage');
    assert.match(err.message, pattern);
    if (secret !== undefined) assert.ok(!err.message.includes(secret), 'the secret is not in the message');
    return true;
  };
}

describe('inventory secret sources', () => {
  it('parses file:, env: and prompt', () => {
    assert.deepEqual(parseSecretSource('file:dm.txt', BASE), { kind: 'file', path: '/inv/dm.txt' });
    assert.deepEqual(parseSecretSource('file:~/dm.txt', BASE), { kind: 'file', path: '/home/op/dm.txt' });
    assert.deepEqual(parseSecretSource('file:/etc/dm', BASE), { kind: 'file', path: '/etc/dm' });
    assert.deepEqual(parseSecretSource('env:DM_PASSWORD', BASE), { kind: 'env', name: 'DM_PASSWORD' });
    assert.deepEqual(parseSecretSource('prompt', BASE), { kind: 'prompt' });
  });

  it('refuses literals and malformed sources without repeating them', () => {
    for (const value of ['Secret123', 'Prompt', 'files:x', 42, true]) {
      assert.deepEqual(parseSecretSource(value, BASE), { problem: LITERAL_SECRET_REFUSED });
    }
    const badEnv = parseSecretSource('env:1hunter2', BASE);
    assert.ok('problem' in badEnv && !badEnv.problem.includes('hunter2'));
    assert.deepEqual(parseSecretSource('file:', BASE), { problem: 'file: path is empty' });
  });
});

describe('inventory readSecret', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ipa-fleet-secrets-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and strips exactly one trailing newline', async () => {
    const cases: Array<[string, string]> = [
      ['pw\n', 'pw'],
      ['pw', 'pw'],
      ['pw\r\n', 'pw'],
      ['pw\n\n', 'pw\n'],
      [' pw \n', ' pw '],
    ];
    for (const [i, [content, expected]] of cases.entries()) {
      const path = join(dir, `secret-${i}`);
      await writeFile(path, content);
      assert.equal(await readSecret({ kind: 'file', path }, 'ipa1: ldap.password'), expected);
    }
  });

  it('names a missing or empty file but never its contents', async () => {
    const missing = join(dir, 'missing');
    await assert.rejects(
      readSecret({ kind: 'file', path: missing }, 'ipa1: ldap.password'),
      usageError(new RegExp(`^ipa1: ldap\\.password: cannot read secret file ${missing}: no such file$`)),
    );
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n');
    await assert.rejects(readSecret({ kind: 'file', path: empty }, 'x'), usageError(/secret file .*empty is empty/));
    await assert.rejects(readSecret({ kind: 'file', path: dir }, 'x'), usageError(/it is a directory/));
  });

  it('reads an environment variable; missing or empty is a usage error', async () => {
    const env = { DM_PASSWORD: 's3cret', EMPTY: '' };
    assert.equal(await readSecret({ kind: 'env', name: 'DM_PASSWORD' }, 'x', { env }), 's3cret');
    await assert.rejects(
      readSecret({ kind: 'env', name: 'NOPE' }, 'ipa1: ldap.password', { env }),
      usageError(/^ipa1: ldap\.password: environment variable NOPE is not set$/),
    );
    await assert.rejects(readSecret({ kind: 'env', name: 'EMPTY' }, 'x', { env }), usageError(/EMPTY is empty/));
  });

  it('asks the injected prompt', async () => {
    const questions: string[] = [];
    const secret = await readSecret({ kind: 'prompt' }, 'ipa1: ldap.password', {
      prompt: async (question) => {
        questions.push(question);
        return 'typed';
      },
    });
    assert.equal(secret, 'typed');
    assert.deepEqual(questions, ['ipa1: ldap.password: ']);
    await assert.rejects(
      readSecret({ kind: 'prompt' }, 'x', { prompt: async () => '' }),
      usageError(/no secret was entered/),
    );
  });

  it('refuses to prompt without a terminal', async () => {
    const input = Object.assign(new PassThrough(), { isTTY: false });
    await assert.rejects(
      readSecret({ kind: 'prompt' }, 'ipa1: ldap.password', { input }),
      usageError(/^ipa1: ldap\.password: cannot prompt for a secret without a terminal; use file:PATH or env:NAME$/),
    );
  });

  it('reads from a terminal without echoing what is typed', async () => {
    const input = Object.assign(new PassThrough(), { isTTY: true });
    const output = new PassThrough();
    let shown = '';
    output.on('data', (chunk: Buffer) => {
      shown += chunk.toString();
    });
    const answer = readSecret({ kind: 'prompt' }, 'ipa1: ldap.password', { input, output });
    input.write('typed-secret\n');
    assert.equal(await answer, 'typed-secret');
    assert.ok(shown.includes('ipa1: ldap.password: '), 'the question is shown');
    assert.ok(!shown.includes('typed-secret'), 'the answer is not echoed');
  });
});
