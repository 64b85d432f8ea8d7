// ssh.become: the sudo command line a login shell runs, and the reading of sudo's stderr talk.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BecomeGate, becomeCommand, becomeDisplay, becomeMarkers } from '../../src/transport/become.js';

const ROOT_BECOME = { method: 'sudo' as const, user: 'root', password: undefined };

/** Runs a login shell's command line locally: its stdout, stderr and exit code. */
function sh(command: string, stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('becomeCommand', () => {
  const markers = becomeMarkers();

  it('without a password asks sudo never to prompt (-n); with one, reads it on stdin at our own prompt', () => {
    const plain = becomeCommand('true', ROOT_BECOME, markers, false);
    assert.match(plain, /^exec sudo -n -u root -- \/bin\/sh -c '/);
    assert.doesNotMatch(plain, / -S /);
    const withPassword = becomeCommand('true', ROOT_BECOME, markers, true);
    assert.ok(withPassword.startsWith(`exec sudo -S -p '${markers.prompt}' -u root -- /bin/sh -c '`), withPassword);
  });

  it('quotes the user and passes the command as one argument, whatever it holds', () => {
    const command = `printf '%s\\n' "it's" $HOME; echo "a  b"`;
    const line = becomeCommand(command, { ...ROOT_BECOME, user: "o'dd" }, markers, false);
    assert.match(line, / -u 'o'\\''dd' -- /);
    assert.ok(line.endsWith(` ipa-fleet 'printf '\\''%s\\n'\\'' "it'\\''s" $HOME; echo "a  b"'`), line);
  });

  it('markers are fresh per session and hold no % (sudo expands it in prompts)', () => {
    const other = becomeMarkers();
    assert.notEqual(other.prompt, markers.prompt);
    assert.notEqual(other.started, markers.started);
    assert.doesNotMatch(markers.prompt, /%/);
  });

  it('messages name the command sudo is asked to run', () => {
    assert.equal(becomeDisplay({ ...ROOT_BECOME, user: 'dirsrv' }), 'sudo -u dirsrv /bin/sh -c …');
  });

  const asRoot = process.getuid?.() === 0 && existsSync('/usr/bin/sudo');
  it('through the real sudo (as root): the marker line first, then the command with its stdin, stderr and exit status', {
    skip: asRoot ? false : 'needs root and sudo',
  }, async () => {
    const line = becomeCommand('id -u; cat; echo warn >&2; exit 3', ROOT_BECOME, markers, false);
    const r = await sh(line, 'caller data\n');
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '0\ncaller data\n');
    assert.equal(r.stderr, `${markers.started}\nwarn\n`);
  });
});

describe('BecomeGate', () => {
  const markers = becomeMarkers();
  const gate = () => {
    const seen = { prompts: [] as number[], started: 0, stderr: '' };
    const g = new BecomeGate(markers, {
      onPrompt: (n) => seen.prompts.push(n),
      onStarted: () => seen.started++,
      onStderr: (chunk) => (seen.stderr += chunk.toString()),
    });
    return { g, seen };
  };
  const feed = (g: BecomeGate, text: string, size: number): void => {
    for (let i = 0; i < text.length; i += size) g.push(Buffer.from(text.slice(i, i + size)));
  };

  it('finds the prompt and the marker split over any chunks, and passes on only what follows the marker', () => {
    for (const size of [1, 3, 7, 1000]) {
      const { g, seen } = gate();
      feed(g, `${markers.prompt}${markers.started}\nreal stderr\nmore`, size);
      assert.deepEqual(seen.prompts, [1], `chunks of ${size}`);
      assert.equal(seen.started, 1);
      assert.equal(seen.stderr, 'real stderr\nmore');
      assert.equal(g.started, true);
      assert.equal(g.sudoOutput(), '');
    }
  });

  it('counts a second prompt (a wrong password) and keeps what sudo said, prompts removed', () => {
    const { g, seen } = gate();
    feed(g, `${markers.prompt}Sorry, try again.\n${markers.prompt}`, 5);
    assert.deepEqual(seen.prompts, [1, 2]);
    assert.equal(seen.started, 0);
    assert.equal(g.sudoOutput(), 'Sorry, try again.');
  });

  it("a refusal never starts the command; sudo's message is kept", () => {
    const { g, seen } = gate();
    feed(g, 'sudo: a password is required\n', 4);
    assert.equal(g.started, false);
    assert.equal(seen.stderr, '');
    assert.equal(g.sudoOutput(), 'sudo: a password is required');
  });

  it('command stderr that mentions the prompt after the start is not mistaken for one', () => {
    const { g, seen } = gate();
    feed(g, `${markers.started}\n${markers.prompt}\n`, 1000);
    g.push(Buffer.from(markers.prompt));
    assert.deepEqual(seen.prompts, []);
    assert.equal(seen.stderr, `${markers.prompt}\n${markers.prompt}`);
  });
});
