// Hostile values against a REAL sshd + 389-DS lab: host names, paths, DNs and playbook parameters
// containing `;`, `$()`, backticks, quotes, spaces, newlines and globs. Every value either reaches
// the remote side as exactly the bytes it was (proved by reading it back) without running anything
// (proved by `touch` markers that must never appear), or is refused up front with exit 2 on one line.
//
// Remote-command sites and how each is protected (the full list is in the report of this change):
//   playbook {{ p | quote }}  → playbook/params.ts render → shellQuote           (tested: a)
//   exec creates:, pause until: {{ p | quote }}   → actions/exec.ts, pause.ts      (tested: a)
//   hello-fleet marker_dir (mkdir, rm -rf)                                         (tested: a)
//   ldap.instance, suffixes.ca_instance, host names, users, addresses, deployment  → refused by the schema (tested: b)
//   ssh.identity_file / known_hosts / ldap.password file: / -i  → controller-side paths, never in a shell (tested: b)
//   suffix DNs, bind DN → LDAP only, never in a shell                              (tested: b)
//   backup store → controller; remote tar/rm of the exports use the (refused-if-hostile) instance (tested: b)
//   reinitialize tag → restore/reinit.ts initExportPath → files.ts upload / rm -f with shellQuote (tested: b, library)
import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { loadInventory, type Host, type Inventory } from '../../src/inventory/index.js';
import { initExportPath, removeRemoteFile } from '../../src/restore/reinit.js';
import { copyBetweenHosts, uploadStream } from '../../src/transport/files.js';
import type { SshSession } from '../../src/transport/session.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, testContext, type CliResult, type TestLab } from './fixture.js';

/** Every injection attempt touches a file whose name starts with this; none may ever exist. */
const PWNED_BASE = `ipa-fleet-pwned-${process.pid}`;
const PWNED = `/tmp/${PWNED_BASE}`;
const marker = (tag: string): string => `${PWNED}-${tag}`;
/** Lab hosts share the controller's /tmp (their namespaces bind only 389-DS's folders). */
const WORK = `/tmp/ipa-fleet-quoting-${process.pid}`;

/** Sent through `{{ p | quote }}` into `printf %s … > file`; each must come back byte for byte. */
const HOSTILE: string[] = [
  `; touch ${marker('semi')}`,
  `$(touch ${marker('subst')})`,
  `\`touch ${marker('tick')}\``,
  `'; touch ${marker('sq')}; '`,
  `"; touch ${marker('dq')}; "`,
  `it's "both" kinds of 'quotes'`,
  'two  spaces and\ta tab',
  `line one\nline two; touch ${marker('nl')}\n`,
  '*',
  '/tmp/*',
  '$HOME ${IFS} $((1+1)) !! %s %n \\ \\\\ ~',
  '-n',
  `$'\\x41' && touch ${marker('and')} || touch ${marker('or')} | touch ${marker('pipe')} & touch ${marker('bg')}`,
  `> ${marker('redir')} < /etc/passwd`,
  'é🔥\u202e مرحبا \r cr',
  '',
  "'",
  '"',
  '\\',
  '{{ p0 }} {{ host.name }}',
];

/** Markers in /tmp, and relative ones in this process's (and so the CLI's) working folder and home. */
function pwned(): string[] {
  return [...new Set(['/tmp', process.cwd(), homedir()])].flatMap((d) =>
    readdirSync(d)
      .filter((n) => n.startsWith(PWNED_BASE))
      .map((n) => join(d, n)),
  );
}

/** One stderr line `ipa-fleet: error: …`, exit 2, no stack. */
function assertCleanUsage(r: CliResult, what: string): void {
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  assert.equal(r.code, 2, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.equal(lines.length, 1, `${what}: one stderr line: ${r.stderr}`);
  assert.match(lines[0]!, /^ipa-fleet: error: /, what);
  assert.doesNotMatch(r.stderr, /internal error|^\s+at /m, what);
}

function assertNoStack(r: CliResult, what: string): void {
  assert.doesNotMatch(r.stderr, /internal error|^\s{4}at /m, `${what}: ${r.stderr}`);
}

describe('quoting: hostile values against a real sshd + 389-DS lab', { timeout: 300_000 }, () => {
  let lab: TestLab;
  let inventory: Inventory;
  let host: Host;
  let transport: Transport;
  let ssh: SshSession;
  const t0 = Date.now();

  /** The CLI; a concurrent `tsc` may leave dist/ half-written for a moment, so a SyntaxError there is retried. */

  /** The lab inventory (its files by absolute path, so it can live anywhere) with `edits` applied. */
  const labInventoryWith = (edits: Array<[string[], unknown]>, renameHost?: string): string => {
    const doc = parseDocument(readFileSync(lab.paths.inventory, 'utf8'));
    doc.setIn(['all', 'vars', 'ssh', 'identity_file'], lab.paths.identity);
    doc.setIn(['all', 'vars', 'ssh', 'known_hosts'], lab.paths.knownHosts);
    doc.setIn(['all', 'vars', 'ldap', 'password'], `file:${lab.paths.dmPassword}`);
    for (const [path, value] of edits) doc.setIn(path, value);
    let text = doc.toString({ lineWidth: 0 });
    if (renameHost !== undefined) text = text.replace(`    ${host.name}:`, `    ${JSON.stringify(renameHost)}:`);
    return text;
  };

  before(async () => {
    lab = await bringUpLab(['--hosts', '1', '--ca', 'none']);
    console.log(`quoting: lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Runs, journals and locks of these tests live in the lab's temp folder.
    inventory = await loadInventory(lab.paths.inventory);
    host = inventory.hosts[0]!;
    transport = new Transport(inventory, testContext(join(lab.tmp, 'library.log')));
    ssh = await transport.ssh(host);
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(WORK, { recursive: true });
    assert.deepEqual(pwned(), [], 'no marker before the tests');
  });

  after(async () => {
    const left = pwned();
    for (const f of left) rmSync(f, { recursive: true, force: true });
    rmSync(WORK, { recursive: true, force: true });
    await transport?.close();
    await lab?.down();
    console.log(`quoting: total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(left, [], 'no injection marker was ever created');
  });

  /** Markers on the controller's /tmp and, through ssh, on the host's. */
  const assertNotPwned = async (what: string): Promise<void> => {
    assert.deepEqual(pwned(), [], `${what}: a marker file exists: an injected command ran`);
    // Relative markers (no '/') land in the session's working folder, the user's home.
    const remote = await ssh.exec(`ls -1a /tmp ~ | grep -F ${PWNED_BASE} || true`);
    assert.equal(remote.stdout.trim(), '', `${what}: a marker file exists on the host`);
  };

  // ---- (a) playbook parameters through {{ p | quote }} ---------------------------------------

  it('(a) {{ p | quote }} in exec: the host receives exactly the bytes of each hostile value, nothing runs', async () => {
    const steps = HOSTILE.map((_v, i) =>
      [
        `  - name: write ${i}`,
        '    action: exec',
        '    hosts: all',
        '    with:',
        `      command: printf %s {{ p${i} | quote }} > ${WORK}/out-${i}`,
      ].join('\n'),
    );
    const params = HOSTILE.map((_v, i) => `  p${i}: {type: string, required: true}`);
    const playbook = join(WORK, 'printf.yaml');
    writeFileSync(playbook, ['name: quoting-printf', 'params:', ...params, 'steps:', ...steps, ''].join('\n'));

    const planned = await lab.fleet([
      '--json',
      'plan',
      playbook,
      '-i',
      lab.paths.inventory,
      ...HOSTILE.flatMap((v, i) => ['--set', `p${i}=${v}`]),
    ]);
    assert.equal(planned.code, 0, planned.stderr);
    const plan = JSON.parse(planned.stdout) as { tasks: Array<{ params: { command: string } }> };
    // Every value is single-quoted (or plain safe characters) in the rendered command.
    for (const [i, task] of plan.tasks.entries()) {
      const arg = task.params.command.slice('printf %s '.length, task.params.command.lastIndexOf(' > '));
      assert.ok(
        /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) || /^'(?:[^']|'\\'')*'$/.test(arg),
        `task ${i}: ${JSON.stringify(arg)}`,
      );
    }

    const ran = await lab.fleet([
      'run',
      playbook,
      '-i',
      lab.paths.inventory,
      '--yes',
      ...HOSTILE.flatMap((v, i) => ['--set', `p${i}=${v}`]),
    ]);
    assert.equal(ran.code, 0, ran.stderr + ran.stdout);
    for (const [i, value] of HOSTILE.entries()) {
      const file = `${WORK}/out-${i}`;
      assert.deepEqual(
        readFileSync(file),
        Buffer.from(value, 'utf8'),
        `value ${i} ${JSON.stringify(value)} on the controller's view`,
      );
      // … and as the host itself reads it (base64 keeps every byte).
      const remote = await ssh.run(`base64 -w0 ${file}`);
      assert.equal(
        Buffer.from(remote.trim(), 'base64').toString('utf8'),
        value,
        `value ${i} ${JSON.stringify(value)} read through ssh`,
      );
    }
    await assertNotPwned('printf');

    // The control: the same kind of value through an UNQUOTED {{ p }} does run on the host, so the
    // markers above would have caught an injection.
    const control = `/tmp/ipa-fleet-control-${process.pid}`;
    const unquoted = join(WORK, 'unquoted.yaml');
    writeFileSync(
      unquoted,
      [
        'name: quoting-control',
        'params:',
        '  p: {type: string, required: true}',
        'steps:',
        '  - name: unquoted',
        '    action: exec',
        '    hosts: all',
        '    with:',
        '      command: echo {{ p }}',
        '',
      ].join('\n'),
    );
    const ctl = await lab.fleet([
      'run',
      unquoted,
      '-i',
      lab.paths.inventory,
      '--yes',
      '--set',
      `p=$(touch ${control})`,
    ]);
    assert.equal(ctl.code, 0, ctl.stderr);
    assert.ok(existsSync(control), 'the unquoted control value ran on the host');
    rmSync(control, { force: true });
  });

  it('(a) exec creates: and pause until: with a hostile path: the guard tests exactly that path', async () => {
    const path = `${WORK}/c $(touch ${marker('creates')}) 'q' "d" ; x*`;
    const playbook = join(WORK, 'guards.yaml');
    writeFileSync(
      playbook,
      [
        'name: quoting-guards',
        'params:',
        '  path: {type: string, required: true}',
        'steps:',
        '  - name: once',
        '    action: exec',
        '    hosts: all',
        '    with:',
        '      command: mkdir -p "$(dirname {{ path | quote }})" && echo once >> {{ path | quote }}',
        '      creates: "{{ path }}"',
        '  - name: wait',
        '    action: pause',
        '    hosts: all',
        '    with:',
        '      until: test -s {{ path | quote }}',
        '      timeout: 20s',
        '',
      ].join('\n'),
    );
    for (let run = 1; run <= 2; run++) {
      const r = await lab.fleet(['run', playbook, '-i', lab.paths.inventory, '--yes', '--set', `path=${path}`]);
      assert.equal(r.code, 0, `run ${run}: ${r.stderr}${r.stdout}`);
    }
    // The second run's guard saw the file at exactly that path and skipped the command.
    assert.equal(readFileSync(path, 'utf8'), 'once\n');
    await assertNotPwned('creates/until');
  });

  it('(a) the shipped hello-fleet with a hostile marker_dir: mkdir and rm -rf touch only that folder', async () => {
    const canary = `${WORK}/hello`; // the first word of the hostile name: word splitting would hit it
    const canary2 = `${WORK}/canary`;
    mkdirSync(canary);
    mkdirSync(canary2);
    const dir = `${WORK}/hello $(touch ${marker('hello')}) ; rm -rf ${canary2} ; 'q' "d"`;
    const kept = await lab.fleet([
      'run',
      'hello-fleet',
      '-i',
      lab.paths.inventory,
      '--yes',
      '--set',
      `marker_dir=${dir}`,
      '--set',
      'keep=true',
    ]);
    assert.equal(kept.code, 0, kept.stderr + kept.stdout);
    assert.equal(readFileSync(join(dir, host.name), 'utf8').trim(), host.name, 'the marker is in exactly that folder');
    const cleaned = await lab.fleet([
      'run',
      'hello-fleet',
      '-i',
      lab.paths.inventory,
      '--yes',
      '--set',
      `marker_dir=${dir}`,
    ]);
    assert.equal(cleaned.code, 0, cleaned.stderr + cleaned.stdout);
    assert.ok(!existsSync(dir), 'rm -rf removed the hostile folder');
    assert.ok(existsSync(canary) && existsSync(canary2), 'and nothing else');
    await assertNotPwned('hello-fleet');
  });

  // ---- (b) inventory-controlled values ---------------------------------------------------------

  it('(b) instance names, host names, users, addresses, deployment, jump hosts: refused up front (exit 2, one line)', async () => {
    const values = [`$(touch ${marker('inv')})`, 'a;b', "a'b", 'a"b', 'a b', '`id`', 'a\nb', '*'];
    const edits: Array<[string, (v: string) => string]> = [
      ['ldap.instance', (v) => labInventoryWith([[['all', 'vars', 'ldap', 'instance'], v]])],
      [
        'suffixes.ca_instance',
        (v) =>
          labInventoryWith([
            [['all', 'vars', 'suffixes', 'ca_instance'], v],
            [['all', 'vars', 'suffixes', 'ca_port'], 7389],
          ]),
      ],
      ['host name', (v) => labInventoryWith([], v)],
      ['address', (v) => labInventoryWith([[['all', 'hosts', host.name, 'address'], v]])],
      ['ssh.user', (v) => labInventoryWith([[['all', 'vars', 'ssh', 'user'], v]])],
      ['deployment', (v) => labInventoryWith([[['all', 'vars', 'deployment'], v]])],
      ['ssh.proxy_jump', (v) => labInventoryWith([[['all', 'vars', 'ssh', 'proxy_jump'], `root@${v}`]])],
    ];
    const dir = join(lab.tmp, 'refused');
    mkdirSync(dir, { recursive: true });
    let n = 0;
    for (const [what, make] of edits) {
      for (const v of values) {
        const file = join(dir, `inv-${n++}.yaml`);
        writeFileSync(file, make(v));
        await assert.rejects(
          loadInventory(file),
          (err: Error & { kind?: string }) => {
            assert.equal(err.name, 'LocatedError', `${what} ${JSON.stringify(v)}: ${err.stack}`);
            assert.equal(err.kind, 'usage');
            assert.ok(err.message.startsWith(`${file}:`), err.message);
            assert.doesNotMatch(err.message, /\n/);
            return true;
          },
          `${what} ${JSON.stringify(v)} is refused`,
        );
      }
      // Through the CLI, as a run that would reach the host: refused before any connection.
      const file = join(dir, `inv-cli-${what.replace(/\W/g, '_')}.yaml`);
      writeFileSync(file, make(values[0]!));
      assertCleanUsage(await lab.fleet(['run', 'hello-fleet', '-i', file, '--yes']), `run with a hostile ${what}`);
    }
    await assertNotPwned('refused inventories');
  });

  it('(b) hostile controller-side paths (inventory, identity_file, known_hosts, password file:): used as paths, ping works', async () => {
    const dir = `${WORK}/inv $(touch ${marker('dir')}) 'q' "d"`;
    mkdirSync(dir, { recursive: true });
    // File names cannot hold '/': these markers are relative (the CLI's working folder, checked too).
    const key = `key $(touch ${PWNED_BASE}-key); 'q' "d"`;
    const known = `known \`touch ${PWNED_BASE}-kh\` *`;
    const password = `pw ; touch ${PWNED_BASE}-pw`;
    copyFileSync(lab.paths.identity, join(dir, key));
    chmodSync(join(dir, key), 0o600);
    copyFileSync(lab.paths.knownHosts, join(dir, known));
    copyFileSync(lab.paths.dmPassword, join(dir, password));
    const file = join(dir, `inventory $(touch ${PWNED_BASE}-file).yaml`);
    writeFileSync(
      file,
      labInventoryWith([
        [['all', 'vars', 'ssh', 'identity_file'], key],
        [['all', 'vars', 'ssh', 'known_hosts'], known],
        [['all', 'vars', 'ldap', 'password'], `file:${password}`],
      ]),
    );
    const r = await lab.fleet(['--json', 'ping', '-i', file]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const results = JSON.parse(r.stdout) as Array<{ ok: boolean; ssh: boolean; ldap: boolean }>;
    assert.deepEqual(
      results.map((x) => [x.ok, x.ssh, x.ldap]),
      [[true, true, true]],
    );
    await assertNotPwned('paths');
  });

  it('(b) hostile suffix and bind DNs (accepted by the schema) only reach LDAP: no shell, clean errors', async () => {
    const dns = [
      `dc=$(touch ${marker('dn')});x,dc=ipa,dc=test`,
      `cn=a 'b' "c" \`touch ${marker('dn2')}\`,dc=ipa,dc=test`,
      `ou=x\\,y; touch ${marker('dn3')},dc=ipa,dc=test`,
    ];
    const dir = join(lab.tmp, 'dns');
    mkdirSync(dir, { recursive: true });
    for (const [i, dn] of dns.entries()) {
      const domain = join(dir, `domain-${i}.yaml`);
      writeFileSync(domain, labInventoryWith([[['all', 'vars', 'suffixes', 'domain'], dn]]));
      // (With one host, the audit of a suffix the host does not hold says "clean": nothing checks
      // that the suffix exists. Not a quoting matter; only the absence of a shell is asserted here.)
      const audit = await lab.fleet(['audit', '-i', domain]);
      assertNoStack(audit, `audit with suffix ${dn}`);
      const backup = await lab.fleet(['backup', '-i', domain, '--no-encrypt', '--store', join(dir, `store-${i}`)]);
      assertNoStack(backup, `backup with suffix ${dn}`);
      assert.notEqual(backup.code, 0, 'nothing to back up under that suffix');
      assert.match(backup.stderr, /no replicated suffix to back up/);

      const bind = join(dir, `bind-${i}.yaml`);
      writeFileSync(bind, labInventoryWith([[['all', 'vars', 'ldap', 'bind_dn'], dn]]));
      const ping = await lab.fleet(['ping', '-i', bind]);
      assertNoStack(ping, `ping with bind DN ${dn}`);
      // A DN the server does not know is an authentication failure (12); one it cannot parse (`;`
      // and `"` are not allowed unescaped) a failure (1). Either way one clean line, no shell.
      assert.ok(ping.code === 12 || ping.code === 1, `exit ${ping.code}: ${ping.stderr}`);
      assert.match(ping.stderr, /^ipa-fleet: error: [^\n]*ldap bind as [^\n]*\n$/i, ping.stderr);
    }
    await assertNotPwned('DNs');
  });

  it('(b) backup into a store folder with a hostile name: the snapshot lands there, the remote exports are removed', async () => {
    const store = `${WORK}/store $(touch ${marker('store')}) ; 'q' "d" *`;
    const r = await lab.fleet(['backup', '-i', lab.paths.inventory, '--no-encrypt', '--store', store]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const listed = await lab.fleet(['--json', 'backups', 'list', '--store', store]);
    assert.equal(listed.code, 0, listed.stderr);
    const listing = JSON.parse(listed.stdout) as { store: string; snapshots: Array<{ host: string }> };
    assert.equal(listing.snapshots.length, 1, listed.stdout);
    const ldif = await ssh.run(`ls -1a /var/lib/dirsrv/slapd-${host.ldap.instance}/ldif`);
    assert.doesNotMatch(ldif, /ipa-fleet-/, 'the export files were removed on the host');
    await assertNotPwned('store');
  });

  it('(b) a hostile reinitialize tag (initExportPath): upload, copy and rm -f on the host act on exactly that file', async () => {
    // No '/' in the tag (it would make folders): the markers are relative, in the session's home.
    const tag = `t $(touch ${PWNED_BASE}-tag) ; 'q' "d" \`touch ${PWNED_BASE}-tag2\` *\nx`;
    const path = initExportPath(host, tag, 'userRoot');
    const ldifFolder = `/var/lib/dirsrv/slapd-${host.ldap.instance}/ldif`;
    const content = `dn: ${tag}\n`;
    await uploadStream(ssh, path, Readable.from([Buffer.from(content)]), { ownerLike: ldifFolder });
    const listed = (await ssh.run(`ls -1a ${ldifFolder}`)).split('\n');
    assert.ok(listed.includes(path.slice(ldifFolder.length + 1).split('\n')[0]!), listed.join(' | '));
    assert.equal(
      Buffer.from(
        (await ssh.run(`find ${ldifFolder} -maxdepth 1 -name 'ipa-fleet-init-t *' -exec base64 -w0 {} +`)).trim(),
        'base64',
      ).toString(),
      content,
    );

    const copy = `${WORK}/copy $(touch ${marker('copy')}) 'q'/target "d" *`;
    await copyBetweenHosts(ssh, path, ssh, copy, {});
    assert.equal(readFileSync(copy, 'utf8'), content, 'copied byte for byte to the hostile target');

    await removeRemoteFile(transport, host, path, testContext(join(lab.tmp, 'library.log')));
    assert.doesNotMatch(await ssh.run(`ls -1a ${ldifFolder}`), /ipa-fleet-init/, 'rm -f removed exactly that file');
    await assertNotPwned('tag');
  });
});
