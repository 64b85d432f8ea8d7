// Restore drills through the CLI: a real lab backed up (encrypted), then `ipa-fleet drill` rebuilding it
// in a sandbox of its own. The drill's inventory is a copy of the lab's whose addresses are loopback
// listeners counting every connection: the drill must never contact them. What the sandbox holds is read
// over LDAP (with --keep), and the snapshot that was corrupted after the fact must fail at its import.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { Header } from 'tar';
import { LabPaths } from '../../src/lab/paths.js';
import { isRunning, readPid, waitForPort } from '../../src/lab/processes.js';
import {
  agreements,
  bringUpLab,
  CA,
  claimNet,
  cleanError,
  DOMAIN,
  exitOf,
  labDirectory,
  makeKeys,
  type NetClaim,
  type TestLab,
  uids,
  waitFor,
} from './fixture.js';

const A = 'a.ipa.test';

interface Report {
  deployment: string;
  restorable: boolean;
  failedPhase?: string;
  error?: string;
  recoverySeconds: number;
  hosts: number;
  entries: number;
  snapshots: Array<{ host: string; id: string }>;
  phases: Array<{ name: string; seconds: number; ok: boolean }>;
  topologySource: string;
  sandbox?: { dir: string; inventory: string };
  master: string;
  backup: string;
  notes: string[];
  differenceCount: number;
}

/** Listeners on the inventory copy's addresses (SSH, LDAP, LDAPS) that count what connects to them. */
async function listeners(addresses: string[]): Promise<{ accepts: () => number; close: () => Promise<void> }> {
  let count = 0;
  const servers: Server[] = [];
  for (const address of addresses) {
    for (const port of [22, 389, 636]) {
      const server = createServer((socket) => {
        count++;
        socket.destroy();
      });
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
      servers.push(server);
    }
  }
  return {
    accepts: () => count,
    close: () => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined),
  };
}

/** The lab's inventory with every host address moved to `${net}.20N`, beside it (its relative paths still work). */
async function countingInventory(lab: TestLab, name: string): Promise<{ file: string; addresses: string[] }> {
  const text = await readFile(lab.paths.inventory, 'utf8');
  const addresses: string[] = [];
  const moved = text.replace(new RegExp(`address: ${lab.net.replace(/\./g, '\\.')}\\.(\\d+)`, 'g'), (_m, n) => {
    addresses.push(`${lab.net}.${200 + Number(n)}`);
    return `address: ${lab.net}.${200 + Number(n)}`;
  });
  const file = join(lab.paths.root, name);
  await writeFile(file, moved);
  return { file, addresses };
}

function sandboxPaths(lab: TestLab): LabPaths {
  return new LabPaths(join(lab.stateDir, 'ipa-fleet', 'drills', 'ipa-lab', 'sandbox'));
}

/** A sandbox a failed assertion left running is ended before its lab's folder goes (its pid files are in it). */
async function downSandbox(lab: TestLab | undefined): Promise<void> {
  if (lab && existsSync(sandboxPaths(lab).state)) await lab.fleet(['lab', 'down', '--dir', sandboxPaths(lab).root]);
}

async function drillRecords(lab: TestLab): Promise<Array<{ restorable: boolean; failedPhase?: string }>> {
  return JSON.parse(await readFile(join(lab.stateDir, 'ipa-fleet', 'deployments', 'ipa-lab', 'drills.json'), 'utf8'));
}

describe('drill of a 3-host lab (a↔b↔c, CA on a and b)', { timeout: 1_800_000 }, () => {
  let lab: TestLab;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  let sandboxNet: NetClaim;
  let usersAtBackup: string[];
  const drill = (inventory: string, extra: string[] = []) =>
    lab.fleet([
      '--json',
      'drill',
      '-i',
      inventory,
      '--store',
      store,
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--net',
      sandboxNet.net,
      ...extra,
    ]);

  before(async () => {
    lab = await bringUpLab();
    sandboxNet = await claimNet();
    keys = await makeKeys(lab.tmp);
    store = join(lab.tmp, 'store');
    const data = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', keys.pub, '--store', store]);
    assert.equal(data.code, 0, data.stderr);
    // The master's newest snapshot is FULL: its schema files go into the sandbox instances.
    const full = await lab.fleet([
      'backup',
      '-i',
      lab.paths.inventory,
      '--type',
      'full',
      '--limit',
      A,
      '--encrypt-to',
      keys.pub,
      '--store',
      store,
    ]);
    assert.equal(full.code, 0, full.stderr);
    usersAtBackup = await uids(await labDirectory(lab, 3), A);
  });
  after(async () => {
    await downSandbox(lab);
    await sandboxNet?.release();
    await lab?.down();
  });

  it('passes, proves the content, removes the sandbox and never connects to an inventory address', async () => {
    const counting = await countingInventory(lab, 'counting.yaml');
    const counter = await listeners(counting.addresses);
    let r: Awaited<ReturnType<typeof drill>>;
    try {
      r = await drill(counting.file);
    } finally {
      await counter.close();
    }
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(counter.accepts(), 0, 'the drill connected to an address of the inventory');
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.restorable, true);
    assert.equal(report.hosts, 3);
    assert.equal(report.master, A);
    assert.equal(report.topologySource, 'snapshot');
    assert.equal(report.differenceCount, 0);
    assert.ok(report.entries > usersAtBackup.length, `entries ${report.entries}`);
    assert.ok(report.recoverySeconds > 0);
    assert.deepEqual(report.snapshots.map((s) => s.host).sort(), ['a.ipa.test', 'b.ipa.test', 'c.ipa.test']);
    assert.equal(report.snapshots.find((s) => s.host === A)?.id, report.backup);
    assert.deepEqual(
      report.phases.map((p) => p.name),
      [
        'sandbox',
        'preflight',
        'fence',
        'restore master',
        'reinitialize',
        'unfence',
        'converge',
        'content proof',
        'teardown',
      ],
    );
    assert.ok(report.phases.every((p) => p.ok));
    assert.ok(
      report.notes.some((n) => /schema file\(s\) of FULL snapshot/.test(n)),
      report.notes.join('\n'),
    );
    const sandbox = sandboxPaths(lab);
    assert.equal(existsSync(sandbox.root), false, 'the sandbox folder is gone');
    for (let i = 1; i <= 3; i++) assert.equal(await waitForPort(`${sandboxNet.net}.${i}`, 22, 300), false);
    assert.deepEqual((await drillRecords(lab)).at(-1)?.restorable, true);
  });

  it('--keep leaves a sandbox holding the snapshot on every host, with the lab agreements per suffix', async () => {
    const r = await drill(lab.paths.inventory, ['--keep']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    assert.ok(report.sandbox, 'the report names the kept sandbox');
    const sandbox = sandboxPaths(lab);
    const inSandbox = await labDirectory({ net: sandboxNet.net, paths: sandbox } as TestLab, 3);
    const real = await labDirectory(lab, 3);
    for (const host of inSandbox.hosts) {
      assert.deepEqual(await uids(inSandbox, host), usersAtBackup, `users on the sandbox's ${host}`);
      const shape = async (dir: typeof real) =>
        // An agreement without nsds5ReplicaEnabled is on (389-DS's default); the restore's unfence writes it.
        (await agreements(dir, host)).map((a) => `${a.suffix}|${a.name}|${a.enabled || 'on'}`).sort();
      assert.deepEqual(await shape(inSandbox), await shape(real), `agreements of ${host}`);
    }
    const down = await lab.fleet(['lab', 'down', '--dir', sandbox.root]);
    assert.equal(down.code, 0, down.stderr);
  });

  it('a snapshot corrupted after the fact (re-hashed) fails at the import, and the report says where', async () => {
    const id = await corruptedSnapshot(lab, store, keys);
    const r = await drill(lab.paths.inventory, ['--backup', id]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.restorable, false);
    assert.equal(report.backup, id);
    assert.equal(report.failedPhase, 'restore master', `failed at ${report.failedPhase}: ${report.error}`);
    // The import task's own count against the export's: half the records never reached the server.
    assert.match(report.error ?? '', /the import processed \d+ entries, the snapshot's export holds \d+/);
    assert.equal(report.phases.find((p) => p.name === 'restore master')?.ok, false);
    assert.equal(existsSync(sandboxPaths(lab).root), false);
    assert.equal((await drillRecords(lab)).at(-1)?.failedPhase, 'restore master');
  });

  it('a sandbox left by a killed drill is removed by the next one', async () => {
    const sandbox = sandboxPaths(lab);
    const killed = lab.startFleet([
      'drill',
      '-i',
      lab.paths.inventory,
      '--store',
      store,
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--net',
      sandboxNet.net,
    ]);
    // Killed once the restore runs in the sandbox: its hosts and their servers are up.
    await waitFor('the restore in the sandbox', 300_000, async () => {
      if (killed.child.exitCode !== null) throw new Error(`the drill ended first:\n${killed.output.stdout}`);
      return existsSync(join(sandbox.root, 'state')) ? true : undefined;
    });
    killed.child.kill('SIGKILL');
    await exitOf(killed);
    const leftPids = await Promise.all(['a', 'b', 'c'].map((h) => readPid(sandbox.sshdPidFile(`${h}.ipa.test`))));
    assert.ok(
      leftPids.every((p) => p !== undefined),
      'the killed drill left its sandbox',
    );
    assert.ok(await isRunning(leftPids[0], 'sshd'));
    const r = await drill(lab.paths.inventory);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    assert.ok(
      report.notes.some((n) => /left by a drill that did not finish/.test(n)),
      report.notes.join('\n'),
    );
    assert.match(r.stderr, /warning: removed the sandbox/);
    for (const pid of leftPids) assert.equal(await isRunning(pid, 'sshd'), false);
    assert.equal(existsSync(sandbox.root), false);
  });

  it('bad input exits 2 with one line: no snapshot of the master, an unknown master', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'ipa-fleet-drill-empty-'));
    try {
      const none = await lab.fleet(['drill', '-i', lab.paths.inventory, '--store', empty]);
      assert.equal(none.code, 2, none.stderr);
      assert.match(cleanError(none.stderr) ?? '', /no snapshot of a\.ipa\.test \(deployment ipa-lab\)/);
      const other = await lab.fleet(['drill', '-i', lab.paths.inventory, '--store', store, '--master', 'z.ipa.test']);
      assert.equal(other.code, 2, other.stderr);
      assert.match(cleanError(other.stderr) ?? '', /--master: 'z\.ipa\.test' is not a host of the inventory/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('drill of a 5-host ring with CA on a, c and e', { timeout: 1_800_000 }, () => {
  let lab: TestLab;
  let sandboxNet: NetClaim;

  before(async () => {
    lab = await bringUpLab(['--hosts', '5', '--ca', 'a,c,e', '--topology', 'ring', '--ca-topology', 'ring']);
    sandboxNet = await claimNet();
  });
  after(async () => {
    await downSandbox(lab);
    await sandboxNet?.release();
    await lab?.down();
  });

  it('rebuilds the same shape: hosts, CA hosts and agreements per suffix', async () => {
    const store = join(lab.tmp, 'store');
    const backup = await lab.fleet(['backup', '-i', lab.paths.inventory, '--no-encrypt', '--store', store]);
    assert.equal(backup.code, 0, backup.stderr);
    const r = await lab.fleet([
      '--json',
      'drill',
      '-i',
      lab.paths.inventory,
      '--store',
      store,
      '--keep',
      '--net',
      sandboxNet.net,
    ]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.hosts, 5);
    assert.equal(report.topologySource, 'snapshot');
    assert.deepEqual(
      report.snapshots.map((x) => x.host).sort(),
      ['a', 'b', 'c', 'd', 'e'].map((h) => `${h}.ipa.test`),
    );
    const sandbox = sandboxPaths(lab);
    try {
      const inSandbox = await labDirectory({ net: sandboxNet.net, paths: sandbox } as TestLab, 5);
      const real = await labDirectory(lab, 5);
      for (const host of real.hosts) {
        for (const suffix of [DOMAIN, CA]) {
          const shape = async (dir: typeof real) =>
            (await agreements(dir, host))
              .filter((a) => a.suffix === suffix)
              .map((a) => a.name)
              .sort();
          assert.deepEqual(await shape(inSandbox), await shape(real), `${suffix} agreements of ${host}`);
        }
      }
    } finally {
      const down = await lab.fleet(['lab', 'down', '--dir', sandbox.root]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(existsSync(sandbox.root), false);
    }
  });
});

describe('drill of the IPA-shaped lab (FreeIPA schema, plugins and data)', { timeout: 1_800_000 }, () => {
  let lab: TestLab;
  let sandboxNet: NetClaim;

  before(async () => {
    lab = await bringUpLab(['--data', 'ipa']);
    sandboxNet = await claimNet();
  });
  after(async () => {
    await downSandbox(lab);
    await sandboxNet?.release();
    await lab?.down();
  });

  it("a's DATA snapshot restores with the schema of b's FULL one, and every host holds its content", async () => {
    const store = join(lab.tmp, 'store');
    const data = await lab.fleet(['backup', '-i', lab.paths.inventory, '--no-encrypt', '--store', store]);
    assert.equal(data.code, 0, data.stderr);
    const full = await lab.fleet([
      'backup',
      '-i',
      lab.paths.inventory,
      '--type',
      'full',
      '--limit',
      'b.ipa.test',
      '--no-encrypt',
      '--store',
      store,
    ]);
    assert.equal(full.code, 0, full.stderr);
    const r = await lab.fleet([
      '--json',
      'drill',
      '-i',
      lab.paths.inventory,
      '--store',
      store,
      '--net',
      sandboxNet.net,
    ]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.restorable, true);
    assert.equal(report.master, A);
    assert.equal(report.differenceCount, 0);
    assert.match(report.notes.join('\n'), /schema file\(s\) of FULL snapshot \S+ \(b\.ipa\.test\) loaded/);
    assert.equal(existsSync(sandboxPaths(lab).root), false);
  });
});

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** The tar's regular files, in order. */
function tarFiles(tar: Buffer): Array<{ path: string; data: Buffer }> {
  const files: Array<{ path: string; data: Buffer }> = [];
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = new Header(tar.subarray(at, at + 512));
    if (!header.path) break;
    const size = header.size ?? 0;
    if (header.type === 'File' || header.type === 'OldFile')
      files.push({ path: header.path, data: Buffer.from(tar.subarray(at + 512, at + 512 + size)) });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

function tarOf(files: Array<{ path: string; data: Buffer }>): Buffer {
  const blocks = files.map(({ path, data }) => {
    const block = Buffer.alloc(512);
    new Header({ path, type: 'File', size: data.length, mode: 0o640, uid: 0, gid: 0, mtime: new Date(0) }).encode(
      block,
      0,
    );
    const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
    data.copy(padded);
    return Buffer.concat([block, padded]);
  });
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}

/**
 * A copy of a's DATA snapshot whose domain LDIF lost its second half (cut at an entry boundary), written
 * back into a self-consistent snapshot: file and archive sizes and hashes recomputed, encrypted again.
 */
async function corruptedSnapshot(lab: TestLab, store: string, keys: { pub: string; sec: string }): Promise<string> {
  const listed = await lab.fleet(['--json', 'backups', 'list', '--store', store]);
  const snaps = (JSON.parse(listed.stdout) as { snapshots: Array<{ id: string; host: string; type: string }> })
    .snapshots;
  const genuine = snaps.find((s) => s.host === A && s.type === 'data')!;
  const dir = join(store, 'ipa-lab', A, genuine.id);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  const key = await openpgp.decryptKey({
    privateKey: await openpgp.readPrivateKey({ armoredKey: await readFile(keys.sec, 'utf8') }),
    passphrase: 'restore pass',
  });
  const plain = await openpgp.decrypt({
    message: await openpgp.readMessage({ binaryMessage: await readFile(join(dir, manifest.archive.name)) }),
    decryptionKeys: key,
    format: 'binary',
  });
  const files = tarFiles(gunzipSync(Buffer.from(plain.data as Uint8Array)));
  const domainLdif = manifest.suffixes.find((s: { kind: string }) => s.kind === 'domain').ldif as string;
  const ldif = files.find((f) => f.path === domainLdif)!;
  const records = ldif.data.toString('utf8').split('\n\n');
  ldif.data = Buffer.from(`${records.slice(0, Math.ceil(records.length / 2)).join('\n\n')}\n\n`);
  const archive = Buffer.from(
    (await openpgp.encrypt({
      message: await openpgp.createMessage({ binary: gzipSync(tarOf(files)) }),
      encryptionKeys: await openpgp.readKey({ armoredKey: await readFile(keys.pub, 'utf8') }),
      format: 'binary',
    })) as Uint8Array,
  );
  const id = `${genuine.id.slice(0, 16)}-c0ffee`;
  manifest.id = id;
  manifest.files = files.map((f) => ({ path: f.path, size: f.data.length, sha256: sha256(f.data) }));
  manifest.archive.size = archive.length;
  manifest.archive.sha256 = sha256(archive);
  const snap = join(store, 'ipa-lab', A, id);
  await mkdir(snap, { recursive: true, mode: 0o700 });
  await writeFile(join(snap, manifest.archive.name), archive, { mode: 0o600 });
  await writeFile(join(snap, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  return id;
}
