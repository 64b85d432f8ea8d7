import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KnownHosts,
  appendKnownHost,
  checkHostKey,
  fingerprint,
  formatKnownHostsLine,
  hostKeyLookupName,
  keyTypeOf,
  parseKnownHosts,
  type KnownHostEntry,
} from '../../src/transport/known-hosts.js';

const scratch = mkdtempSync(join(tmpdir(), 'known-hosts-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function sshString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** A real ssh-ed25519 public key blob, in SSH wire format. */
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]);
}

/** A blob of another type; the checker only looks at its type name and bytes. */
function fakeBlob(type: string, fill: number): Buffer {
  return Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.alloc(32, fill))]);
}

function keyText(blob: Buffer): string {
  return `${keyTypeOf(blob)} ${blob.toString('base64')}`;
}

function check(entries: KnownHostEntry[], host: string, port: number, blob: Buffer) {
  return checkHostKey(entries, host, port, keyTypeOf(blob), blob);
}

const keyA = ed25519Blob();
const keyB = ed25519Blob();

test('keyTypeOf reads the type name; fingerprint has OpenSSH form', () => {
  assert.equal(keyTypeOf(keyA), 'ssh-ed25519');
  assert.match(fingerprint(keyA), /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.throws(() => keyTypeOf(Buffer.from([0, 0, 0, 99, 1])));
});

test('hostKeyLookupName uses [host]:port off port 22 and lowercases', () => {
  assert.equal(hostKeyLookupName('IPA1.example.com', 22), 'ipa1.example.com');
  assert.equal(hostKeyLookupName('ipa1', 2222), '[ipa1]:2222');
});

test('plain entry with several names matches each name, case-insensitively', () => {
  const entries = parseKnownHosts(`ipa1.example.com,10.0.0.1 ${keyText(keyA)} root@ipa1\n`);
  assert.deepEqual(check(entries, 'ipa1.example.com', 22, keyA), { status: 'match' });
  assert.deepEqual(check(entries, 'IPA1.Example.COM', 22, keyA), { status: 'match' });
  assert.deepEqual(check(entries, '10.0.0.1', 22, keyA), { status: 'match' });
  assert.deepEqual(check(entries, 'ipa2.example.com', 22, keyA), { status: 'unknown', otherKeyTypes: [] });
  const [entry] = entries;
  assert.equal(entry?.kind === 'key' && entry.comment, 'root@ipa1');
});

test('[host]:port entries only match that port', () => {
  const entries = parseKnownHosts(`[ipa1]:2222 ${keyText(keyA)}\n`);
  assert.deepEqual(check(entries, 'ipa1', 2222, keyA), { status: 'match' });
  assert.equal(check(entries, 'ipa1', 22, keyA).status, 'unknown');
  assert.equal(check(entries, 'ipa1', 2223, keyA).status, 'unknown');
});

test('hashed entries match by HMAC-SHA1 of the lookup name', () => {
  const text = [
    formatKnownHostsLine('ipa1.example.com', 22, keyA, { hashed: true }),
    formatKnownHostsLine('ipa2.example.com', 2222, keyB, { hashed: true }),
  ].join('\n');
  assert.match(text, /^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 /);
  assert.ok(!text.includes('example.com'));
  const entries = parseKnownHosts(text);
  assert.deepEqual(check(entries, 'ipa1.example.com', 22, keyA), { status: 'match' });
  assert.deepEqual(check(entries, 'ipa2.example.com', 2222, keyB), { status: 'match' });
  assert.equal(check(entries, 'ipa2.example.com', 22, keyB).status, 'unknown');
  assert.equal(check(entries, 'ipa3.example.com', 22, keyA).status, 'unknown');
});

test('wildcards and negation follow OpenSSH pattern lists', () => {
  const entries = parseKnownHosts(`*.example.com,!bad.example.com,ipa?.lab ${keyText(keyA)}\n`);
  assert.equal(check(entries, 'ipa1.example.com', 22, keyA).status, 'match');
  assert.equal(check(entries, 'a.b.example.com', 22, keyA).status, 'match');
  assert.equal(check(entries, 'ipa7.lab', 22, keyA).status, 'match');
  assert.equal(check(entries, 'ipa10.lab', 22, keyA).status, 'unknown');
  assert.equal(check(entries, 'bad.example.com', 22, keyA).status, 'unknown');
  assert.equal(check(entries, 'example.com', 22, keyA).status, 'unknown');
  // A negation alone never matches anything.
  assert.equal(check(parseKnownHosts(`!x ${keyText(keyA)}`), 'y', 22, keyA).status, 'unknown');
});

test('a changed key of the same type reports the recorded fingerprints', () => {
  const entries = parseKnownHosts(`ipa1 ${keyText(keyA)}\n`);
  assert.deepEqual(check(entries, 'ipa1', 22, keyB), {
    status: 'changed',
    expectedFingerprints: [fingerprint(keyA)],
  });
});

test('a host may have several keys of a type; any recorded one matches', () => {
  const entries = parseKnownHosts(`ipa1 ${keyText(keyA)}\nipa1 ${keyText(keyB)}\n`);
  assert.equal(check(entries, 'ipa1', 22, keyB).status, 'match');
});

test('a key of a type not recorded for the host is unknown and names the recorded types', () => {
  const rsa = fakeBlob('ssh-rsa', 1);
  const entries = parseKnownHosts(`ipa1 ${keyText(rsa)}\n`);
  assert.deepEqual(check(entries, 'ipa1', 22, keyA), { status: 'unknown', otherKeyTypes: ['ssh-rsa'] });
});

test('@revoked refuses the key even when a plain line accepts it', () => {
  const entries = parseKnownHosts(`ipa1 ${keyText(keyA)}\n@revoked * ${keyText(keyA)}\n`);
  assert.deepEqual(check(entries, 'ipa1', 22, keyA), { status: 'revoked' });
  assert.deepEqual(check(entries, 'other', 22, keyA), { status: 'revoked' });
  assert.equal(check(entries, 'ipa1', 22, keyB).status, 'changed');
});

test('comments, blank lines, @cert-authority and malformed lines are skipped and reported', () => {
  const text = [
    '# comment',
    '',
    '   ',
    `@cert-authority *.example.com ${keyText(keyB)}`,
    'onlyhost',
    `ipa1 ssh-rsa ${keyA.toString('base64')}`,
    'ipa1 ssh-ed25519 not*base64',
    `|1|bad|hash ${keyText(keyA)}`,
    `@bogus ipa1 ${keyText(keyA)}`,
    'ipa1 1024 35 1234567',
    `ipa1 ${keyText(keyA)}\r`,
  ].join('\n');
  const entries = parseKnownHosts(text);
  assert.deepEqual(
    entries.map((e) => [e.kind, e.line]),
    [
      ['cert-authority', 4],
      ['malformed', 5],
      ['malformed', 6],
      ['malformed', 7],
      ['malformed', 8],
      ['malformed', 9],
      ['malformed', 10],
      ['key', 11],
    ],
  );
  assert.equal(check(entries, 'ipa1', 22, keyA).status, 'match');
  // The cert-authority key is not treated as a host key.
  assert.equal(check(entries, 'x.example.com', 22, keyB).status, 'unknown');
});

test('appendKnownHost creates 0600 file in a 0700 dir and keeps existing lines', async () => {
  const file = join(scratch, 'fresh', '.ssh', 'known_hosts');
  await appendKnownHost(file, formatKnownHostsLine('ipa1', 22, keyA));
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(join(scratch, 'fresh', '.ssh'))).mode & 0o777, 0o700);

  const existing = join(scratch, 'no-trailing-newline');
  await writeFile(existing, `# mine\nipa1 ${keyText(keyA)}`);
  await appendKnownHost(existing, `ipa2 ${keyText(keyB)}\n`);
  assert.equal(await readFile(existing, 'utf8'), `# mine\nipa1 ${keyText(keyA)}\nipa2 ${keyText(keyB)}\n`);
  await assert.rejects(appendKnownHost(existing, `ipa3 x\nipa1 ${keyText(keyB)}`));
});

test('KnownHosts: missing file is empty; remember appends; a changed key is never replaced', async () => {
  const file = join(scratch, 'kh', 'known_hosts');
  const empty = await KnownHosts.load(file);
  assert.equal(empty.check('ipa1', 22, keyA).status, 'unknown');
  await empty.remember('ipa1', 22, keyA);
  await empty.remember('ipa1', 22, keyA); // already known: no second line
  assert.equal(empty.check('ipa1', 22, keyA).status, 'match');
  await assert.rejects(empty.remember('ipa1', 22, keyB), /host key changed/);
  assert.equal(empty.check('ipa1', 22, keyB).status, 'changed');

  await empty.remember('ipa2', 2222, keyB, { hashed: true });
  const reloaded = await KnownHosts.load(file);
  assert.equal(reloaded.check('ipa1', 22, keyA).status, 'match');
  assert.equal(reloaded.check('ipa2', 2222, keyB).status, 'match');
  assert.deepEqual(reloaded.keyTypesFor('ipa1', 22), ['ssh-ed25519']);
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.equal(lines[0], `ipa1 ${keyText(keyA)}`);
});

test('remember records every name (inventory name and address), each with its port', async () => {
  assert.equal(formatKnownHostsLine(['ipa1', '10.0.0.1'], 2222, keyA), `[ipa1]:2222,[10.0.0.1]:2222 ${keyText(keyA)}`);
  assert.throws(() => formatKnownHostsLine('ipa1,10.0.0.1', 22, keyA, { hashed: true }));

  const file = join(scratch, 'names', 'known_hosts');
  const known = await KnownHosts.load(file);
  await known.remember('ipa1,10.0.0.1', 2222, keyA);
  assert.equal(await readFile(file, 'utf8'), `[ipa1]:2222,[10.0.0.1]:2222 ${keyText(keyA)}\n`);
  // Already-known names are skipped; only the new one is written (one hashed line per name).
  await known.remember(['ipa1', 'ipa1.example.com', '10.0.0.9'], 2222, keyA, { hashed: true });
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.ok(lines.slice(1).every((l) => l.startsWith('|1|')));
  const reloaded = await KnownHosts.load(file);
  for (const name of ['ipa1', '10.0.0.1', 'ipa1.example.com', '10.0.0.9']) {
    assert.equal(reloaded.check(name, 2222, keyA).status, 'match', name);
  }
  // One changed name refuses the whole remember and writes nothing.
  await assert.rejects(reloaded.remember(['new-name', 'ipa1'], 2222, keyB), /host key changed/);
  assert.equal((await readFile(file, 'utf8')).trimEnd().split('\n').length, 3);
});

test('KnownHosts reports malformed lines and refuses to remember a revoked key', async () => {
  const file = join(scratch, 'revoked_hosts');
  await writeFile(file, `garbage\n@revoked * ${keyText(keyB)}\n`);
  const known = await KnownHosts.load(file);
  assert.deepEqual(known.malformed, [{ kind: 'malformed', line: 1, problem: known.malformed[0]!.problem }]);
  await assert.rejects(known.remember('ipa1', 22, keyB), /revoked/);
  assert.equal(await readFile(file, 'utf8'), `garbage\n@revoked * ${keyText(keyB)}\n`);
});

test('cross-check with ssh-keygen: fingerprints, -H hashing and -F lookup', async () => {
  const dir = join(scratch, 'ssh-keygen');
  mkdirSync(dir);
  const keys = ['ed25519', 'ecdsa', 'rsa'].map((type) => {
    const path = join(dir, `id_${type}`);
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `test-${type}`, '-f', path]);
    return path;
  });
  const blobs: Buffer[] = [];
  for (const path of keys) {
    const pub = (await readFile(`${path}.pub`, 'utf8')).trim().split(' ');
    const blob = Buffer.from(pub[1]!, 'base64');
    assert.equal(keyTypeOf(blob), pub[0]);
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], { encoding: 'utf8' });
    assert.equal(fingerprint(blob), printed.split(' ')[1]);
    blobs.push(blob);
  }

  // ssh-keygen -H hashes our plain file; we must still match every name/port.
  const file = join(dir, 'known_hosts');
  await writeFile(
    file,
    `${[
      `ipa1.example.com ${keyText(blobs[0]!)}`,
      `[ipa2.example.com]:2222 ${keyText(blobs[1]!)}`,
      `ipa3.example.com ${keyText(blobs[2]!)}`,
    ].join('\n')}\n`,
  );
  execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
  const hashedText = await readFile(file, 'utf8');
  assert.ok(!hashedText.includes('example.com'));
  const entries = parseKnownHosts(hashedText);
  assert.ok(entries.every((e) => e.kind === 'key' && e.hosts.kind === 'hashed'));
  assert.equal(check(entries, 'ipa1.example.com', 22, blobs[0]!).status, 'match');
  assert.equal(check(entries, 'ipa2.example.com', 2222, blobs[1]!).status, 'match');
  assert.equal(check(entries, 'ipa3.example.com', 22, blobs[2]!).status, 'match');
  assert.equal(check(entries, 'ipa2.example.com', 22, blobs[1]!).status, 'unknown');
  assert.equal(check(entries, 'ipa1.example.com', 22, ed25519Blob()).status, 'changed');

  // ssh-keygen -F must find the lines we write, hashed or not.
  const ours = join(dir, 'ours');
  await appendKnownHost(ours, formatKnownHostsLine('ipa4.example.com', 22, keyA, { hashed: true }));
  await appendKnownHost(ours, formatKnownHostsLine('ipa5.example.com', 2222, keyB, { hashed: true }));
  await appendKnownHost(ours, formatKnownHostsLine(['ipa6.example.com', '10.9.9.6'], 2200, keyB));
  for (const name of ['ipa4.example.com', '[ipa5.example.com]:2222', '[ipa6.example.com]:2200', '[10.9.9.6]:2200']) {
    const found = spawnSync('ssh-keygen', ['-F', name, '-f', ours], { encoding: 'utf8' });
    assert.equal(found.status, 0, `ssh-keygen -F ${name}: ${found.stdout}${found.stderr}`);
  }
  assert.notEqual(spawnSync('ssh-keygen', ['-F', 'ipa5.example.com', '-f', ours]).status, 0);
});
