import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shellCommand, shellQuote } from '../../src/transport/shell.js';

let dir: string;
let canary: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipa-fleet-shell-'));
  canary = join(dir, 'canary');
  // So that an unquoted * or ? would expand to something visible.
  writeFileSync(join(dir, 'existing-file'), '');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Values that would run something, split, glob or expand if quoting were wrong. */
function hostile(): string[] {
  return [
    '',
    ' ',
    'plain',
    'two words',
    '  leading and trailing  ',
    `; touch ${canary}`,
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `| touch ${canary}`,
    `&& touch ${canary}`,
    `> ${canary}`,
    `\n touch ${canary}\n`,
    "it's",
    "'",
    "''",
    "'\\''",
    '"double" quotes',
    '"',
    '$HOME ${HOME} $1 $@ $$ $?',
    '\\ back\\slash\\',
    'line1\nline2\n',
    '\n',
    'tab\there',
    '*',
    '/*',
    '?',
    '[a-z]*',
    '~',
    '~/x',
    'a=~/x',
    '{a,b}',
    '#comment',
    '!',
    '-n',
    '--',
    'dc=ipa,dc=test',
    'cn=Directory Manager',
    'üñíçødé ✓',
    'mixed \'single\' and "double" $(and) `back` ; | & < > \n * ? [x] {y,z} ~ # !',
  ];
}

function runIn(shell: string, script: string): Buffer {
  return execFileSync(shell, ['-c', script], { cwd: dir });
}

describe('shellQuote', () => {
  for (const shell of ['sh', 'bash']) {
    it(`${shell}: every value comes back byte-identical and nothing runs`, () => {
      for (const value of hostile()) {
        const out = runIn(shell, `printf %s ${shellQuote(value)}`);
        assert.ok(
          out.equals(Buffer.from(value, 'utf8')),
          `${shell}: ${JSON.stringify(value)} came back as ${JSON.stringify(out.toString())}`,
        );
      }
      assert.equal(existsSync(canary), false, 'a quoted value ran a command');
      assert.deepEqual(readdirSync(dir), ['existing-file'], 'a quoted value created a file');
    });
  }

  it('each value is exactly one word, even when empty or all spaces', () => {
    for (const value of hostile()) {
      const count = runIn('sh', `set -- ${shellQuote(value)}; printf %s "$#"`).toString();
      assert.equal(count, '1', JSON.stringify(value));
    }
  });

  it('random strings round-trip through sh', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ` !"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}~\t\nabcXYZ019é`;
    for (let i = 0; i < 200; i++) {
      const len = rand(20);
      let value = '';
      for (let j = 0; j < len; j++) value += alphabet[rand(alphabet.length)];
      const out = runIn('sh', `printf %s ${shellQuote(value)}`).toString('utf8');
      assert.equal(out, value);
    }
    assert.equal(existsSync(canary), false);
  });

  it('leaves safe words unquoted and quotes the empty string', () => {
    assert.equal(shellQuote('dc=ipa,dc=test'), 'dc=ipa,dc=test');
    assert.equal(shellQuote('/var/lib/dirsrv/slapd-IPA-TEST'), '/var/lib/dirsrv/slapd-IPA-TEST');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
});

describe('shellCommand', () => {
  it('quotes the program and every argument separately', () => {
    const values = hostile();
    const out = runIn('sh', shellCommand('printf', '<%s>', ...values)).toString('utf8');
    assert.equal(out, values.map((v) => `<${v}>`).join(''));
    assert.equal(existsSync(canary), false);
  });

  it('passes the right number of arguments', () => {
    const values = hostile();
    const out = runIn('bash', `f() { printf %s "$#"; }; ${shellCommand('f', ...values)}`).toString();
    assert.equal(out, String(values.length));
  });

  it('joins with single spaces', () => {
    assert.equal(shellCommand('dsctl', 'IPA-TEST', 'status'), 'dsctl IPA-TEST status');
    assert.equal(shellCommand('echo', 'a b', ''), "echo 'a b' ''");
  });
});
