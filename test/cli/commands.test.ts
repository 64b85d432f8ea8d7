// The CLI's contract without a lab: the compiled CLI (bin/ipa-fleet.js) as a child process, its
// usage errors, messages and exit codes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOneErrorLine, cliIn, type CliRun, ROOT, runCli } from './run-cli.js';

const SITE = join(ROOT, 'test/fixtures/inventory/site.yml');

let tmp: string;
let logFile: string;

/** The CLI in the temp dir, its state there too; without --log-file. */
const run = (args: string[], timeoutMs = 20_000): Promise<CliRun> =>
  runCli(args, { cwd: tmp, env: { XDG_STATE_HOME: join(tmp, 'state') }, timeoutMs });

/** With --log-file into the temp dir, so no run writes under the real home. */
const cli = (...args: string[]): Promise<CliRun> => cliIn(tmp, { logFile })(...args);

/** A port on 127.0.9.250 nothing listens on (bound, then freed). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.9.250', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-cli-'));
  logFile = join(tmp, 'logs', 'ipa-fleet.log');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('cli: help and usage', () => {
  it('--help exits 0 and documents every global option and the exit codes', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const option of [
      /-i, --inventory <file>/,
      /--limit <pattern>/,
      /-v, --verbose/,
      /--json/,
      /--log-file <file>/,
      /--no-color/,
    ]) {
      assert.match(r.stdout, option);
    }
    for (const code of [/0 ok/, /1 failure/, /2 usage/, /3 partial/, /4 host unreachable/, /11 lock/, /12 auth/]) {
      assert.match(r.stdout, code);
    }
    for (const command of ['inventory', 'lab', 'ping']) assert.match(r.stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
  });

  it('an unknown option exits 2, globally and on a subcommand', async () => {
    const global = await cli('--bogus');
    assert.equal(global.code, 2);
    assert.match(global.stderr, /unknown option '--bogus'/);
    const sub = await cli('inventory', 'check', '--bogus-too');
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /unknown option '--bogus-too'/);
    assert.equal(sub.stdout, '');
  });

  it('an unknown command exits 2', async () => {
    const r = await cli('frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });

  // main.ts once mapped commander's 'commander.help' to EXIT.ok, but commander raises that code only
  // from help({ error: true }), i.e. when a command is missing; --help raises 'commander.helpDisplayed'.
  // So `ipa-fleet` (or `ipa-fleet lab`) printed usage to stderr and exited 0: a script with an empty
  // command variable "succeeded". A missing command is a usage error: exit 2.
  it('a missing command is a usage error (exit 2), not success', async () => {
    for (const args of [[], ['lab'], ['inventory']]) {
      const r = await cli(...args);
      assert.match(r.stderr, /Usage: ipa-fleet/, `help on stderr for ${JSON.stringify(args)}`);
      assert.equal(r.code, 2, `ipa-fleet ${args.join(' ')} exited ${r.code}`);
    }
  });
});

describe('cli: inventory check', () => {
  it('without -i exits 2 with one line on stderr and no stack trace', async () => {
    const r = await cli('inventory', 'check');
    assert.equal(r.code, 2);
    assertOneErrorLine(r, /no inventory: pass -i\/--inventory/);
    assert.equal(r.stdout, '');
  });

  it('a bad value exits 2 naming file:line and the key', async () => {
    const file = join(tmp, 'bad-value.yml');
    writeFileSync(file, 'all:\n  vars:\n    ssh:\n      port: "22"\n');
    const r = await cli('-i', file, 'inventory', 'check');
    assert.equal(r.code, 2);
    assertOneErrorLine(r, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: all\\.vars\\.ssh\\.port: `));
  });

  it('broken YAML exits 2 naming file:line', async () => {
    const file = join(tmp, 'bad-syntax.yml');
    writeFileSync(file, 'all:\n  hosts: [a\n  b: {\n');
    const r = await cli('-i', file, 'inventory', 'check');
    assert.equal(r.code, 2);
    assertOneErrorLine(r, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: .*YAML`));
  });

  it('a missing file exits 2', async () => {
    const r = await cli('-i', join(tmp, 'nope.yml'), 'inventory', 'check');
    assert.equal(r.code, 2);
    assertOneErrorLine(r, /nope\.yml: cannot read the inventory: no such file/);
  });

  it('a valid inventory prints its hosts and exits 0; the log file is where --log-file says', async () => {
    const r = await cli('-i', SITE, 'inventory', 'check');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployment ipa-prod, 4 of 4 host\(s\)/);
    for (const h of ['ipa1.example.com', 'ipa2.example.com', 'ipa3.example.com', 'ipa4.example.com']) {
      assert.match(r.stdout, new RegExp(`^${h.replace(/\./g, '\\.')}\\s`, 'm'));
    }
    assert.match(r.stdout, /192\.0\.2\.11/);
    assert.doesNotMatch(r.stderr, /error:/);
    assert.ok(existsSync(logFile), 'log file written');
    assert.match(readFileSync(logFile, 'utf8'), /inventory check/);
  });

  it('--limit narrows the hosts', async () => {
    const r = await cli('-i', SITE, '--limit', 'dc2', 'inventory', 'check');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 of 4 host\(s\)/);
    assert.doesNotMatch(r.stdout, /^ipa[12]\.example\.com/m);
    assert.match(r.stdout, /^ipa3\.example\.com\s/m);
    assert.match(r.stdout, /^ipa4\.example\.com\s/m);
  });

  it('--json output is JSON only and describes the hosts', async () => {
    const r = await cli('--json', '-i', SITE, 'inventory', 'check');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      deployment: string;
      file: string;
      hosts: Array<{ name: string; address: string; ssh: { port: number } }>;
      warnings: string[];
    };
    assert.equal(doc.deployment, 'ipa-prod');
    assert.deepEqual(
      doc.hosts.map((h) => h.name),
      ['ipa1.example.com', 'ipa2.example.com', 'ipa3.example.com', 'ipa4.example.com'],
    );
    assert.equal(doc.hosts[0]!.address, '192.0.2.11');
    assert.equal(doc.hosts[2]!.ssh.port, 2022);
    assert.ok(Array.isArray(doc.warnings));
    assert.ok(
      doc.warnings.some((w) => /identity_file .* does not exist/.test(w)),
      'the fixture key does not exist',
    );
  });
});

describe('cli: ping and lab without hosts', () => {
  let inventory: string;

  before(async () => {
    const dir = join(tmp, 'unreachable');
    mkdirSync(dir);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
    writeFileSync(join(dir, 'known_hosts'), '');
    writeFileSync(join(dir, 'dm-password'), 'not-used\n', { mode: 0o600 });
    inventory = join(dir, 'inventory.yml');
    writeFileSync(
      inventory,
      [
        'all:',
        '  vars:',
        '    deployment: nowhere',
        '    ssh:',
        '      user: root',
        `      port: ${await unusedPort()}`,
        '      identity_file: id_ed25519',
        '      connect_timeout: 2',
        '    ldap:',
        '      instance: EXAMPLE-COM',
        '      password: file:dm-password',
        '    suffixes:',
        '      domain: dc=example,dc=com',
        '  hosts:',
        '    h1.example.test:',
        '      address: 127.0.9.250',
        '',
      ].join('\n'),
    );
  });

  it('the fixture inventory itself is valid', async () => {
    const r = await cli('-i', inventory, 'inventory', 'check');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no warnings: key and known_hosts exist');
  });

  it('ping of an unreachable host exits 4 within a few seconds', async () => {
    const r = await cli('-i', inventory, 'ping');
    assert.equal(r.code, 4, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.ok(r.ms < 10_000, `took ${r.ms} ms with connect_timeout 2`);
    assert.match(r.stderr, /h1\.example\.test: cannot reach ssh at 127\.0\.9\.250:\d+/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.match(r.stdout, /h1\.example\.test\s+FAIL/);
  });

  it('ping --json reports the host as unreachable and still exits 4', async () => {
    const r = await cli('--json', '-i', inventory, 'ping');
    assert.equal(r.code, 4, r.stderr);
    const results = JSON.parse(r.stdout) as Array<{ host: string; ok: boolean; kind: string }>;
    assert.deepEqual(
      results.map((x) => [x.host, x.ok, x.kind]),
      [['h1.example.test', false, 'unreachable']],
    );
  });

  it('lab status in an empty folder exits 2 saying there is no lab', async () => {
    const dir = join(tmp, 'no-lab');
    mkdirSync(dir);
    const r = await cli('lab', 'status', '--dir', dir);
    assert.equal(r.code, 2, r.stderr);
    assertOneErrorLine(r, /no lab in .*no-lab/);
    assert.equal(r.stdout, '');
  });
});

describe('cli: drill refusals (nothing built, no host contacted)', () => {
  it('no snapshot of the master exits 2 naming it; an unknown --master exits 2', async () => {
    const store = join(tmp, 'empty-store');
    mkdirSync(store, { recursive: true });
    const none = await cli('drill', '-i', SITE, '--store', store);
    assert.equal(none.code, 2, none.stderr);
    assertOneErrorLine(none, /no snapshot of ipa1\.example\.com \(deployment ipa-prod\)/);
    const other = await cli('drill', '-i', SITE, '--store', store, '--master', 'nowhere.example.com');
    assert.equal(other.code, 2, other.stderr);
    assertOneErrorLine(other, /--master: 'nowhere\.example\.com' is not a host of the inventory/);
    assert.equal(existsSync(join(tmp, 'state', 'ipa-fleet', 'drills')), false, 'no sandbox folder');
  });

  it('a sandbox bigger than the free disk is refused before building, with the figure needed', async () => {
    const store = join(tmp, 'huge-store');
    const id = '20261126T101500Z-1a2b3c';
    const dir = join(store, 'ipa-prod', 'ipa1.example.com', id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'archive.tar.gz'), 'x');
    // A snapshot whose domain LDIF is 1 PiB: the sandbox needs four times that per host.
    const manifest = {
      schema: 'ipa-fleet/snapshot/v1',
      id,
      deployment: 'ipa-prod',
      hostName: 'ipa1.example.com',
      fqdn: 'ipa1.example.com',
      toolVersion: '0.1.0',
      dsVersion: '2.3.1',
      instance: 'EXAMPLE-COM',
      profile: 'freeipa',
      roles: ['ca'],
      suffixes: [
        {
          kind: 'domain',
          suffix: 'dc=example,dc=com',
          backend: 'userRoot',
          entryCount: 1,
          rid: 4,
          generation: 'g',
          ruv: [],
          ldif: 'ldif/userRoot.ldif',
        },
      ],
      missingPaths: [],
      files: [{ path: 'ldif/userRoot.ldif', size: 2 ** 50, sha256: 'a'.repeat(64) }],
      archive: {
        name: 'archive.tar.gz',
        size: 1,
        sha256: 'b'.repeat(64),
        compression: 'gzip',
        encrypted: false,
        recipients: [],
      },
      type: 'DATA',
      time: '2026-11-26T10:15:00Z',
      host: 'ipa1.example.com',
      version: '1',
      services: ['ipactl'],
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const r = await cli('drill', '-i', SITE, '--store', store, '--net', '127.0.9');
    assert.equal(r.code, 2, r.stderr);
    assertOneErrorLine(
      r,
      /the sandbox of \d+ host\(s\) needs [\d.]+ PiB of free disk .*; there is .* \(nothing was built\)/,
    );
    assert.equal(existsSync(join(tmp, 'state', 'ipa-fleet', 'drills', 'ipa-prod', 'sandbox')), false);
  });
});
