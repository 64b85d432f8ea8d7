// Hostile archives: snapshots crafted by someone who can write to the store. Starting from a genuine
// DATA snapshot of a real lab, each case is a new snapshot folder of host a whose archive (or
// manifest) carries one hostile property — absolute paths, `..`, links and devices in the tar, a
// gzip bomb, a huge entry, edited hashes, an archive swapped between two snapshots, an archive
// encrypted to another key — with the rest kept internally consistent (archive size and SHA-256
// recomputed where the case needs it), so the refusal comes from the hostile property itself.
//
// Each is restored through the CLI as an administrator would. Every one must be refused before any
// host is touched: a documented exit code, ONE stderr line `ipa-fleet: error: …` that names the
// problem, no run step beyond preflight finished, the same users, generations and agreement states
// on both hosts, nothing staged on the hosts. `backups verify --read-data` is run on each as well
// and only reported.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { Header } from 'tar';
import { bringUpLab, type CliResult, type TestLab } from './fixture.js';
import { agreements, CA, DOMAIN, generation, labDirectory, makeKeys, uids, type LabDirectory } from './fixture.js';

const A = 'a.ipa.test';
const B = 'b.ipa.test';
const HOSTS = [A, B];
const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

interface RawEntry {
  path: string;
  type?: 'File' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  data?: Buffer;
  linkpath?: string;
  devmaj?: number;
  devmin?: number;
  /** The size the header claims (default: the data's length). */
  claimedSize?: number;
}

/** One tar entry as tar writes it: a 512-byte ustar header, then the data padded to 512. */
function rawEntry(e: RawEntry): Buffer {
  const data = e.data ?? Buffer.alloc(0);
  const header = new Header({
    path: e.path,
    type: (e.type ?? 'File') as never,
    size: e.claimedSize ?? data.length,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: new Date(0),
    uname: 'root',
    gname: 'root',
    ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}),
    ...(e.devmaj !== undefined ? { devmaj: e.devmaj, devmin: e.devmin ?? 0 } : {}),
  });
  const block = Buffer.alloc(512);
  header.encode(block, 0);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return Buffer.concat([block, padded]);
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** A changed hex digest of the same shape (each digit moved by one). */
const flipped = (hex: string): string => hex.replace(/./g, (c) => ((parseInt(c, 16) + 1) % 16).toString(16));

interface Case {
  name: string;
  what: string;
  id: string;
  /** Exit codes the refusal may have (the documented ones for this kind of problem). */
  codes: number[];
  /** What the one stderr line must name. */
  names: RegExp;
}

interface Outcome {
  name: string;
  code: number;
  /** Refused with everything the requirement asks: documented exit code, one named line, nothing touched. */
  refused: boolean;
  /** Stopped before any host was touched (whatever the message says). */
  untouched: boolean;
  message: string;
  verifyCode: number;
  verify: string;
  ms: number;
  why: string[];
}

interface JournalLine {
  type: string;
  taskId?: string;
  status?: string;
}

describe('hostile archives: every one refused before any host is touched, the message naming the problem', {
  timeout: 900_000,
}, () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let store: string;
  let keys: { pub: string; sec: string; pass: string };
  let baseline: Awaited<ReturnType<typeof hostState>>;
  const cases: Case[] = [];
  const outcomes: Outcome[] = [];
  const t0 = Date.now();
  const stamp = (what: string): void =>
    console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s since start`);

  const shown = (r: CliResult): string => `exit ${r.code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr}`;
  const runsDir = (): string => join(lab.tmp, 'state', 'ipa-fleet', 'runs');
  const ldifDir = (fqdn: string): string => join(lab.paths.hostDir(fqdn), 'var-lib-dirsrv', 'slapd-IPA-TEST', 'ldif');

  /** What "a host was touched" would change: users, each suffix's generation, every agreement's enabled state. */
  async function hostState() {
    return {
      users: await Promise.all(HOSTS.map(async (h) => `${h}: ${(await uids(dir, h)).join(',')}`)),
      generations: await Promise.all([
        ...HOSTS.map(async (h) => `${h} ${DOMAIN} ${await generation(dir, h, DOMAIN)}`),
        (async () => `${A} ${CA} ${await generation(dir, A, CA)}`)(),
      ]),
      agreements: (await Promise.all(HOSTS.map((h) => agreements(dir, h))))
        .flat()
        .map((a) => `${a.host} ${a.name} ${a.suffix} ${a.enabled}`)
        .sort(),
    };
  }

  /** Files a restore would stage on a host (export/import files named ipa-fleet-*). */
  async function staged(): Promise<string[]> {
    const out: string[] = [];
    for (const h of HOSTS)
      for (const f of await readdir(ldifDir(h)).catch(() => [] as string[]))
        if (f.startsWith('ipa-fleet-')) out.push(`${h}:${f}`);
    return out;
  }

  /** Tasks beyond the preflight that a run started or finished (from its plan and journal). */
  async function beyondPreflight(runId: string): Promise<string[]> {
    const planText = await readFile(join(runsDir(), runId, 'plan.json'), 'utf8').catch(() => '{"tasks":[]}');
    const plan = JSON.parse(planText) as { tasks: Array<{ id: string; stepName: string }> };
    const preflight = new Set(plan.tasks.filter((t) => t.stepName === 'preflight').map((t) => t.id));
    const text = await readFile(join(runsDir(), runId, 'journal.jsonl'), 'utf8').catch(() => '');
    const lines = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JournalLine);
    const finishedOk = lines.filter(
      (l) => l.type === 'task.finished' && l.taskId && preflight.has(l.taskId) && l.status !== 'failed',
    );
    const beyond = lines
      .filter((l) => (l.type === 'task.started' || l.type === 'task.finished') && l.taskId && !preflight.has(l.taskId))
      .map((l) => `${l.type} ${l.taskId}`);
    return [...beyond, ...finishedOk.map((l) => `preflight ${l.taskId} finished ${l.status}`)];
  }

  before(async () => {
    lab = await bringUpLab(['--hosts', '2', '--ca', 'a']);
    dir = await labDirectory(lab, 2);
    store = join(lab.tmp, 'store');
    keys = await makeKeys(lab.tmp);
    const other = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'Unrelated key' }],
      format: 'armored',
    });
    await mkdir(join(lab.tmp, 'other'), { recursive: true });
    await writeFile(join(lab.tmp, 'other', 'pub.asc'), other.publicKey);
    await writeFile(join(lab.tmp, 'other', 'sec.asc'), other.privateKey, { mode: 0o600 });
    stamp('lab up');

    const backup = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', keys.pub, '--store', store]);
    assert.equal(backup.code, 0, shown(backup));
    const listed = await lab.fleet(['--json', 'backups', 'list', '--store', store]);
    assert.equal(listed.code, 0, shown(listed));
    const list = (
      JSON.parse(listed.stdout) as { snapshots: Array<{ id: string; host: string; deployment: string; type: string }> }
    ).snapshots;
    const genuineA = list.find((s) => s.host === A && s.type === 'data');
    const genuineB = list.find((s) => s.host === B && s.type === 'data');
    assert.ok(genuineA && genuineB, listed.stdout);
    const deployment = genuineA.deployment;
    const aDir = join(store, deployment, A, genuineA.id);
    const bDir = join(store, deployment, B, genuineB.id);
    const manifestA = JSON.parse(await readFile(join(aDir, 'manifest.json'), 'utf8')) as Record<string, unknown> & {
      id: string;
      files: Array<{ path: string; size: number; sha256: string }>;
      archive: {
        name: string;
        size: number;
        sha256: string;
        compression: string;
        encrypted: boolean;
        recipients: string[];
      };
    };
    const manifestB = JSON.parse(await readFile(join(bDir, 'manifest.json'), 'utf8')) as typeof manifestA;
    assert.equal(manifestA.archive.compression, 'gzip');
    assert.ok(manifestA.archive.encrypted);
    const archiveA = await readFile(join(aDir, manifestA.archive.name));
    const archiveB = await readFile(join(bDir, manifestB.archive.name));
    console.log(
      `# genuine snapshot ${genuineA.id} of a: ${manifestA.files.map((f) => `${f.path} (${f.size} B)`).join(', ')}; archive ${archiveA.length} B; b's ${archiveB.length} B`,
    );

    // The genuine plaintext: gzip of the tar, as the backup streamed it.
    const ourKey = await openpgp.decryptKey({
      privateKey: await openpgp.readPrivateKey({ armoredKey: await readFile(keys.sec, 'utf8') }),
      passphrase: 'restore pass',
    });
    const ourPublic = await openpgp.readKey({ armoredKey: await readFile(keys.pub, 'utf8') });
    const otherPublic = await openpgp.readKey({ armoredKey: other.publicKey });
    const decrypted = await openpgp.decrypt({
      message: await openpgp.readMessage({ binaryMessage: archiveA }),
      decryptionKeys: ourKey,
      format: 'binary',
    });
    const genuineGz = Buffer.from(decrypted.data as Uint8Array);
    const genuineTar = gunzipSync(genuineGz);
    const encrypt = async (plain: Buffer, to: openpgp.PublicKey = ourPublic): Promise<Buffer> =>
      Buffer.from(
        (await openpgp.encrypt({
          message: await openpgp.createMessage({ binary: plain }),
          encryptionKeys: to,
          format: 'binary',
          config: { preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed },
        })) as Uint8Array,
      );

    /** A new snapshot folder of a: `archive` as its archive, a's manifest with a fresh id, archive size/hash recomputed unless `rehash: false`, then `edit`. */
    const craft = async (
      c: Omit<Case, 'id'>,
      archive: Buffer,
      opts: { rehash?: boolean; edit?: (m: typeof manifestA) => void } = {},
    ): Promise<void> => {
      const id = `${genuineA.id.slice(0, 16)}-${randomBytes(3).toString('hex')}`;
      const m = JSON.parse(JSON.stringify(manifestA)) as typeof manifestA;
      m.id = id;
      if (opts.rehash !== false) {
        m.archive.size = archive.length;
        m.archive.sha256 = sha256(archive);
      }
      opts.edit?.(m);
      const snap = join(store, deployment, A, id);
      await mkdir(snap, { recursive: true, mode: 0o700 });
      await writeFile(join(snap, m.archive.name), archive, { mode: 0o600 });
      await writeFile(join(snap, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`, { mode: 0o600 });
      cases.push({ ...c, id });
    };
    /** The genuine tar with hostile entries in front of its own entries, gzipped and encrypted to our key. */
    const withEntries = async (...entries: RawEntry[]): Promise<Buffer> =>
      encrypt(gzipSync(Buffer.concat([...entries.map(rawEntry), genuineTar])));

    const evil = Buffer.from('root::0:0:root:/root:/bin/bash\n');
    await craft(
      {
        name: 'absolute path',
        what: 'tar entry /etc/ipa-fleet-hostile (absolute); everything else genuine',
        codes: [1],
        names: /absolute path/,
      },
      await withEntries({ path: '/etc/ipa-fleet-hostile', data: evil }),
    );
    await craft(
      {
        name: '.. path',
        what: 'tar entry ../../etc/passwd; everything else genuine',
        codes: [1],
        names: /\.\. component/,
      },
      await withEntries({ path: '../../etc/passwd', data: evil }),
    );
    const dotdot = await withEntries({ path: '../../etc/passwd', data: evil });
    await craft(
      {
        name: '.. path, vouched for',
        what: 'tar entry ../../etc/passwd, listed in manifest.files with its real size and hash',
        codes: [1, 2],
        names: /'\.\.'|\.\. component/,
      },
      dotdot,
      { edit: (m) => m.files.push({ path: '../../etc/passwd', size: evil.length, sha256: sha256(evil) }) },
    );
    await craft(
      {
        name: 'symlink outside',
        what: 'symlink ldif/evil -> ../../../../etc/shadow',
        codes: [1],
        names: /symbolic link/,
      },
      await withEntries({ path: 'ldif/evil', type: 'SymbolicLink', linkpath: '../../../../etc/shadow' }),
    );
    await craft(
      { name: 'hardlink outside', what: 'hard link ldif/evil -> /etc/shadow', codes: [1], names: /hard link/ },
      await withEntries({ path: 'ldif/evil', type: 'Link', linkpath: '/etc/shadow' }),
    );
    await craft(
      { name: 'character device', what: 'character device ldif/evil (1,3)', codes: [1], names: /character device/ },
      await withEntries({ path: 'ldif/evil', type: 'CharacterDevice', devmaj: 1, devmin: 3 }),
    );
    await craft(
      { name: 'block device', what: 'block device ldif/evil (8,0)', codes: [1], names: /block device/ },
      await withEntries({ path: 'ldif/evil', type: 'BlockDevice', devmaj: 8, devmin: 0 }),
    );
    await craft(
      { name: 'FIFO', what: 'FIFO ldif/evil', codes: [1], names: /FIFO/ },
      await withEntries({ path: 'ldif/evil', type: 'FIFO' }),
    );

    // A gzip bomb: the genuine gzip stream, then the same 64 MiB-of-zeros gzip member again and again
    // (concatenated members are one gzip stream). 8 GiB of tar padding in ~8 MB; nothing that large is
    // ever written. Only the tar size limit derived from the manifest's file sizes can stop it.
    const zeroMember = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
    const bombMembers = (8 * GiB) / (64 * MiB);
    await craft(
      {
        name: 'gzip bomb',
        what: `genuine tar, then ${8} GiB of zeros in ${((zeroMember.length * bombMembers) / MiB).toFixed(1)} MiB of gzip`,
        codes: [1],
        names: /exceeds the manifest's \d+ bytes/,
      },
      await encrypt(Buffer.concat([genuineGz, ...Array.from({ length: bombMembers }, () => zeroMember)])),
    );
    // A single huge entry: a listed file whose header claims 64 GiB (the manifest says a few KB), followed by 512 MiB of zeros.
    const huge = manifestA.files[0]!;
    await craft(
      {
        name: 'huge single entry',
        what: `${huge.path} claims 64 GiB in its header (manifest: ${huge.size} B), 512 MiB of zeros follow`,
        codes: [1],
        names: /exceeds the manifest's \d+ bytes|size/,
      },
      await encrypt(
        Buffer.concat([
          gzipSync(rawEntry({ path: huge.path, claimedSize: 64 * GiB })),
          ...Array.from({ length: 8 }, () => zeroMember),
        ]),
      ),
    );

    await craft(
      {
        name: 'file hash edited',
        what: `manifest.files: ${manifestA.files[0]!.path}'s SHA-256 changed; archive genuine`,
        codes: [1],
        names: /SHA-256/,
      },
      archiveA,
      {
        rehash: false,
        edit: (m) => {
          m.files[0]!.sha256 = flipped(m.files[0]!.sha256);
        },
      },
    );
    await craft(
      {
        name: 'archive hash edited',
        what: 'manifest.archive.sha256 changed; archive genuine',
        codes: [1],
        names: /size or SHA-256 differs/,
      },
      archiveA,
      {
        rehash: false,
        edit: (m) => {
          m.archive.sha256 = flipped(m.archive.sha256);
        },
      },
    );
    await craft(
      {
        name: 'archive swapped',
        what: "b's archive under a's manifest (manifest untouched)",
        codes: [1, 2],
        names: /archive.*(bytes|size|SHA-256)|replaced/,
      },
      archiveB,
      { rehash: false },
    );
    await craft(
      {
        name: 'archive swapped, rehashed',
        what: "b's archive under a's manifest, archive size and SHA-256 recomputed",
        codes: [1],
        names: /SHA-256|unexpected file|missing/,
      },
      archiveB,
    );
    const toOther = await encrypt(genuineGz, otherPublic);
    await craft(
      {
        name: 'other key (manifest names ours)',
        what: 'genuine plaintext encrypted to an unrelated key; manifest still lists our key',
        codes: [1, 12],
        names: /decrypt|not encrypted to|no recipient/,
      },
      toOther,
    );
    await craft(
      {
        name: 'other key (manifest names it)',
        what: 'genuine plaintext encrypted to an unrelated key; manifest lists that key',
        codes: [12],
        names: /not encrypted to/,
      },
      toOther,
      {
        edit: (m) => {
          m.archive.recipients = [otherPublic.getFingerprint().toUpperCase()];
        },
      },
    );

    baseline = await hostState();
    for (const a of baseline.agreements) assert.doesNotMatch(a, / off$/, 'an agreement is off before the first case');
    assert.deepEqual(await staged(), []);
    stamp(`${cases.length} hostile snapshots crafted`);
  });

  after(async () => {
    if (outcomes.length > 0) {
      // Report only: does `backups verify --all` see the snapshots the store cannot use?
      const all = await lab.fleet(['backups', 'verify', '--all', '--store', store]).catch((err: Error) => ({
        code: -1,
        stdout: '',
        stderr: err.message,
        ms: 0,
      }));
      const unusable = cases.filter((c) => ['.. path, vouched for', 'archive swapped'].includes(c.name));
      for (const c of unusable) {
        const named = `${all.stdout}\n${all.stderr}`.includes(c.id);
        console.log(
          `# backups verify --all (exit ${all.code}) ${named ? 'names' : 'does NOT name'} '${c.name}' (${c.id})`,
        );
      }
      const rows = [
        ['case', 'exit', 'refused', 'untouched', 'verify', 'message'],
        ...outcomes.map((o) => [
          o.name,
          String(o.code),
          o.refused ? 'yes' : 'NO',
          o.untouched ? 'yes' : 'NO',
          `${o.verifyCode}`,
          o.message,
        ]),
      ];
      const last = rows[0]!.length - 1;
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (i === last ? 0 : r[i]!.length))));
      console.log(
        '\n# hostile archives (refused = documented exit code, one stderr line naming the problem, no host touched)',
      );
      for (const r of rows) console.log(r.map((cell, i) => (i === last ? cell : cell.padEnd(widths[i]!))).join('  '));
      for (const o of outcomes)
        if (o.why.length > 0) console.log(`# ${o.name}: not counted as refused: ${o.why.join('; ')}`);
      console.log('# backups verify --read-data, per case:');
      for (const o of outcomes) console.log(`#   ${o.name}: exit ${o.verifyCode}: ${o.verify}`);
      console.log(`hostile archives refused: ${outcomes.filter((o) => o.refused).length}/${cases.length}`);
      console.log(
        `# stopped before any host was touched (any message): ${outcomes.filter((o) => o.untouched).length}/${cases.length}`,
      );
    }
    stamp('done');
    await lab?.down();
  });

  // The cases are known only once the lab is up; node:test needs its tests declared now.
  const NAMES = [
    'absolute path',
    '.. path',
    '.. path, vouched for',
    'symlink outside',
    'hardlink outside',
    'character device',
    'block device',
    'FIFO',
    'gzip bomb',
    'huge single entry',
    'file hash edited',
    'archive hash edited',
    'archive swapped',
    'archive swapped, rehashed',
    'other key (manifest names ours)',
    'other key (manifest names it)',
  ];

  for (const name of NAMES) {
    it(name, async () => {
      const c = cases.find((x) => x.name === name);
      assert.ok(c, `case ${name} was not crafted`);
      const runsBefore = new Set(await readdir(runsDir()).catch(() => [] as string[]));
      const started = Date.now();
      const r = await lab.fleet([
        'restore',
        '-i',
        lab.paths.inventory,
        '--master',
        A,
        '--backup',
        c.id,
        '--key',
        keys.sec,
        '--passphrase',
        `file:${keys.pass}`,
        '--store',
        store,
        '--yes',
      ]);
      const ms = Date.now() - started;
      const lines = r.stderr.trim().split('\n').filter(Boolean);
      const message = lines.join(' | ');

      const why: string[] = [];
      if (!c.codes.includes(r.code)) why.push(`exit ${r.code}, expected ${c.codes.join(' or ')}`);
      if (lines.length !== 1) why.push(`${lines.length} stderr lines`);
      if (!/^ipa-fleet: error: /.test(lines[0] ?? '')) why.push('stderr does not start with "ipa-fleet: error:"');
      if (/^\s+at .+:\d+:\d+\)?$/m.test(r.stderr)) why.push('a stack trace');
      if (!c.names.test(message)) why.push(`the message does not name the problem (${c.names})`);
      // Nothing touched: no step past preflight, the same hosts, nothing staged.
      const runs = (await readdir(runsDir()).catch(() => [] as string[])).filter((d) => !runsBefore.has(d));
      for (const run of runs) for (const t of await beyondPreflight(run)) why.push(`run ${run}: ${t}`);
      const now = await hostState();
      if (JSON.stringify(now) !== JSON.stringify(baseline)) why.push('a host changed');
      const left = await staged();
      if (left.length > 0) why.push(`staged on a host: ${left.join(', ')}`);

      const v = await lab.fleet([
        'backups',
        'verify',
        '--read-data',
        '--key',
        keys.sec,
        '--passphrase',
        `file:${keys.pass}`,
        '--store',
        store,
        c.id,
      ]);
      const verify = `${v.stdout.trim()} ${v.stderr.trim()}`
        .replace(/\s*\n\s*/g, ' | ')
        .trim()
        .slice(0, 400);

      const untouched =
        r.code !== 0 && !why.some((w) => w.startsWith('run ') || w.startsWith('staged') || w === 'a host changed');
      outcomes.push({
        name,
        code: r.code,
        refused: why.length === 0,
        untouched,
        message,
        verifyCode: v.code,
        verify,
        ms,
        why,
      });
      console.log(
        `# ${name} (${c.what}): exit ${r.code} in ${(ms / 1000).toFixed(1)} s, ${runs.length} run journal(s) checked: ${message}`,
      );

      // Asserted in this order so the first failure says the most.
      assert.deepEqual(now, baseline, `${name}: a host changed\n${shown(r)}`);
      assert.deepEqual(left, [], `${name}: files staged on a host\n${shown(r)}`);
      assert.deepEqual(
        why.filter((w) => w.startsWith('run ')),
        [],
        `${name}: the run went past preflight\n${shown(r)}`,
      );
      assert.ok(c.codes.includes(r.code), `${name}: exit ${r.code}, expected ${c.codes.join(' or ')}\n${shown(r)}`);
      assert.equal(lines.length, 1, `${name}: stderr is not one line\n${shown(r)}`);
      assert.match(lines[0]!, /^ipa-fleet: error: /);
      assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'a stack trace');
      assert.match(message, c.names, `${name}: the message does not name the problem\n${shown(r)}`);
    });
  }
});
