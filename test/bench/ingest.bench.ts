// Ingest benchmark: ingestArchive reading a tar from `cat`'s stdout (standing in for the SSH
// channel) against the gpg pipeline an administrator would write, measured in the same run on the
// same bytes:
//   - a real FULL snapshot (the target: ingest ≥ 1.0× `cat | gpg`): a 1-host lab with BENCH_ENTRIES
//     users (20 000) backed up with `backup --type full --binary --no-encrypt --no-compress`, whose
//     archive is byte for byte the tar the host sent (LDIF exports, the db2bak database files,
//     /etc/dirsrv with its NSS certificate and key databases). Baseline: `cat | gpg --encrypt` with
//     gpg's default compression, ZLIB at level 6 — what gpg does for a key gpg made (preferences ZLIB,
//     BZIP2, ZIP). The bench key is openpgp.js's, whose preferences put "uncompressed" first, so the
//     algorithm is named (--compress-algo zlib) to give gpg the same choice. For reference also gpg at
//     deflate level 1 (ours) and gpg with no compression. The tar is small (tens of MB), so each
//     side runs BENCH_ROUNDS times (5), in turns, and the medians are compared, wall time and CPU time
//     (ours: the whole process, libuv's gzip threads included; gpg's: every process of the pipeline);
//   - incompressible data: `cat FILE | gpg --encrypt --compress-algo none -r KEY > out`;
//   - LDIF-like data, compressed: `cat FILE | gzip -1 | gpg --encrypt --compress-algo none …`.
// Prints MB/s of tar input, the ratio to the baseline and the controller's peak RSS (sampled every
// 50 ms); checks only that the per-file hashes are right, never a timing. Both sides end with the
// output fsynced (ingest does it itself; the baseline runs `sync FILE`).
//
// Run: npm run build && node dist/test/bench/ingest.bench.js   (BENCH_BIG=1 adds 4 GB tars; BENCH_REAL=0
// skips the real snapshot, BENCH_SYNTHETIC=0 the two generated data sets; BENCH_DIR picks the scratch
// folder, default the OS temp dir). Needs gpg, gzip and GNU tar; the real snapshot needs root (a lab).
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { ingestArchive } from '../../src/backup/archive.js';
import type { Manifest, ManifestFile } from '../../src/backup/manifest.js';
import { verifyArchiveData } from '../../src/backup/verify.js';
import { bringUpLab } from '../lab/fixture.js';

const MB = 1024 * 1024;
const GB = 1024 * MB;
const sizes = [1 * GB, ...(process.env.BENCH_BIG === '1' ? [4 * GB] : [])];

const scratch = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ipa-fleet-bench-ingest-'));
const gnupgHome = join(scratch, 'gnupg');
const gpgEnv = { ...process.env, GNUPGHOME: gnupgHome };

try {
  const { privateKey, publicKey } = await openpgp.generateKey({
    userIDs: [{ name: 'bench', email: 'bench@example.test' }],
    format: 'object',
  });
  const fingerprint = publicKey.getFingerprint().toUpperCase();
  spawnSync('mkdir', ['-m', '700', gnupgHome]);
  const imported = spawnSync('gpg', ['--batch', '--quiet', '--import'], { env: gpgEnv, input: publicKey.armor() });
  if (imported.status !== 0) throw new Error(`gpg --import failed: ${imported.stderr.toString()}`);

  console.log(`ingest benchmark (node ${process.version}, ${availableParallelism()} cores, scratch ${scratch})`);
  const datasets: Dataset[] = [
    {
      what: 'one file of AES-CTR keystream (incompressible)',
      write: writeRandomFile,
      baseline: { name: 'cat | gpg --encrypt -z0 (baseline)', script: 'cat "$1" | gpg $GPGOPTS -r "$2" > "$3"' },
      cases: [
        { name: 'ingestArchive encrypt, no gzip', encrypt: true, compress: false, verify: true },
        { name: 'ingestArchive encrypt + gzip', encrypt: true, compress: true },
        { name: 'ingestArchive --no-encrypt, no gzip', encrypt: false, compress: false },
      ],
    },
    {
      what: 'one LDIF-like file (compresses ~3:1)',
      write: writeLdifFile,
      baseline: {
        name: 'cat | gzip -1 | gpg --encrypt -z0 (baseline)',
        script: 'cat "$1" | gzip -1 | gpg $GPGOPTS -r "$2" > "$3"',
      },
      cases: [
        { name: 'ingestArchive encrypt + gzip', encrypt: true, compress: true, verify: true },
        { name: 'ingestArchive --no-encrypt + gzip', encrypt: false, compress: true },
      ],
    },
  ];
  if (process.env.BENCH_REAL !== '0') await runRealSnapshot(await realSnapshotTar());
  if (process.env.BENCH_SYNTHETIC !== '0') {
    for (const size of sizes) {
      for (const dataset of datasets) await runDataset(dataset, size);
    }
  }

  /** A FULL snapshot of a 1-host lab, stored as its plain tar; the files its manifest lists. */
  async function realSnapshotTar(): Promise<{ tarFile: string; files: ManifestFile[] }> {
    const entries = process.env.BENCH_ENTRIES ?? '20000';
    const lab = await bringUpLab(['--hosts', '1', '--ca', 'a', '--entries', entries]);
    try {
      const store = join(lab.tmp, 'store');
      const backup = ['backup', '-i', lab.paths.inventory, '--type', 'full', '--binary'];
      const r = await lab.fleet([...backup, '--no-encrypt', '--no-compress', '--store', store]);
      if (r.code !== 0) throw new Error(`backup failed (exit ${r.code}): ${r.stderr}`);
      const hostDir = join(store, 'ipa-lab', 'a.ipa.test');
      const snapshotDir = join(hostDir, readdirSync(hostDir).find((n) => !n.startsWith('.'))!);
      const manifest = JSON.parse(readFileSync(join(snapshotDir, 'manifest.json'), 'utf8')) as Manifest;
      const tarFile = join(scratch, 'real.tar');
      copyFileSync(join(snapshotDir, manifest.archive.name), tarFile);
      console.log(`\nreal FULL snapshot of a 1-host lab, ${entries} users: ${manifest.files.length} files`);
      return { tarFile, files: manifest.files };
    } finally {
      await lab.down();
    }
  }

  async function runRealSnapshot(real: { tarFile: string; files: ManifestFile[] }): Promise<void> {
    const rounds = Number(process.env.BENCH_ROUNDS ?? '5');
    const tarBytes = statSync(real.tarFile).size;
    const tarMB = tarBytes / MB;
    const kinds = (prefix: string): string => {
      const sum = (p: RegExp): number => real.files.filter((f) => p.test(f.path)).reduce((a, f) => a + f.size, 0);
      const mib = (p: RegExp): string => `${(sum(p) / MB).toFixed(1)} MB`;
      return `${prefix}LDIF ${mib(/^ldif\//)}, database (db2bak) ${mib(/^bak\//)}, configuration and certificates ${mib(/^etc\//)}`;
    };
    console.log(`${tarBytes} bytes of tar: ${kinds('')}; median of ${rounds} rounds`);
    const gpgOpts = '--batch --quiet --trust-model always --encrypt';
    const baselines = [
      { name: 'cat | gpg --encrypt (default: ZLIB level 6)', opts: `${gpgOpts} --compress-algo zlib` },
      { name: 'cat | gpg --encrypt -z1 (ZLIB level 1)', opts: `${gpgOpts} --compress-algo zlib -z1` },
      { name: 'cat | gpg --encrypt -z0 (not compressed)', opts: `${gpgOpts} --compress-algo none` },
    ];
    const ours = [
      { name: 'ingestArchive encrypt + gzip (backup default)', compress: true },
      { name: 'ingestArchive encrypt, no gzip (--no-compress)', compress: false },
    ];
    const samples = new Map<string, Array<{ wall: number; cpu: number; size: number; rss: number }>>();
    const add = (name: string, sample: { wall: number; cpu: number; size: number; rss: number }): void => {
      samples.set(name, [...(samples.get(name) ?? []), sample]);
    };
    const gpgOut = join(scratch, 'gpg.out');
    for (let round = 0; round < rounds; round++) {
      for (const b of baselines) {
        const script = `set -o pipefail; cat "$1" | gpg ${b.opts} -r "$2" > "$3" && sync "$3"; times`;
        let cpu = 0;
        const wall = await timed(async () => {
          cpu = childCpuSeconds(runOut('bash', ['-c', script, 'bench', real.tarFile, fingerprint, gpgOut], gpgEnv));
        });
        add(b.name, { wall, cpu, size: statSync(gpgOut).size, rss: 0 });
        rmSync(gpgOut);
      }
      for (const c of ours) {
        const dest = join(scratch, 'archive');
        const memory = sampleRss();
        const cpu0 = process.cpuUsage();
        let result: Awaited<ReturnType<typeof ingestArchive>> | undefined;
        const wall = await timed(async () => {
          const cat = spawn('cat', [real.tarFile], { stdio: ['ignore', 'pipe', 'inherit'] });
          result = await ingestArchive(cat.stdout, { dest, recipients: [publicKey], compress: c.compress });
        });
        const cpuUsed = process.cpuUsage(cpu0);
        const rss = memory.stop();
        if (JSON.stringify(result!.files) !== JSON.stringify(real.files) || result!.plainBytes !== tarBytes) {
          throw new Error(`${c.name}: the files ingested differ from the snapshot's manifest`);
        }
        add(c.name, { wall, cpu: (cpuUsed.user + cpuUsed.system) / 1e6, size: result!.size, rss: rss.peak });
        rmSync(dest);
      }
    }
    const median = (name: string, key: 'wall' | 'cpu' | 'size' | 'rss'): number => {
      const v = samples
        .get(name)!
        .map((x) => x[key])
        .sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)]!;
    };
    const target = baselines[0]!.name;
    for (const name of samples.keys()) {
      const isOurs = ours.some((c) => c.name === name);
      const ratios = isOurs
        ? `  ${(median(target, 'wall') / median(name, 'wall')).toFixed(2)}× the default gpg (CPU ${(median(target, 'cpu') / median(name, 'cpu')).toFixed(2)}×)` +
          `, ${(median(baselines[1]!.name, 'wall') / median(name, 'wall')).toFixed(2)}× gpg -z1, ` +
          `${(median(baselines[2]!.name, 'wall') / median(name, 'wall')).toFixed(2)}× gpg -z0; peak RSS ${mb(median(name, 'rss'))}`
        : '';
      console.log(
        `${line(name, median(name, 'wall'), tarMB)}  CPU ${median(name, 'cpu').toFixed(2)} s  archive ${mb(median(name, 'size'))}${ratios}`,
      );
    }
    rmSync(real.tarFile);
  }

  async function runDataset(dataset: Dataset, size: number): Promise<void> {
    const dataDir = join(scratch, 'data');
    mkdirSync(dataDir, { recursive: true });
    const dataFile = join(dataDir, 'userroot.ldif');
    const tarFile = join(scratch, 'source.tar');
    const dataSha = await dataset.write(dataFile, size);
    run('tar', ['--create', `--file=${tarFile}`, '-C', scratch, 'data']);
    rmSync(dataDir, { recursive: true, force: true });
    const tarBytes = statSync(tarFile).size;
    const tarMB = tarBytes / MB;
    console.log(`\n${size / GB} GB tar (${tarBytes} bytes): ${dataset.what}`);

    // Baseline, then fsync its output.
    const gpgOut = join(scratch, 'gpg.out');
    const gpgOpts = '--batch --quiet --trust-model always --encrypt --compress-algo none';
    const baseline = await timed(async () => {
      run(
        'bash',
        [
          '-c',
          `set -o pipefail; GPGOPTS="${gpgOpts}"; ${dataset.baseline.script} && sync "$3"`,
          'bench',
          tarFile,
          fingerprint,
          gpgOut,
        ],
        gpgEnv,
      );
    });
    const baselineSize = statSync(gpgOut).size;
    rmSync(gpgOut);
    console.log(`${line(dataset.baseline.name, baseline, tarMB)}  archive ${mb(baselineSize)}`);

    for (const c of dataset.cases) {
      const dest = join(scratch, 'archive');
      const memory = sampleRss();
      let result: Awaited<ReturnType<typeof ingestArchive>> | undefined;
      const seconds = await timed(async () => {
        const cat = spawn('cat', [tarFile], { stdio: ['ignore', 'pipe', 'inherit'] });
        result = await ingestArchive(cat.stdout, {
          dest,
          recipients: c.encrypt ? [publicKey] : undefined,
          compress: c.compress,
        });
      });
      const rss = memory.stop();
      if (result!.files.length !== 1 || result!.files[0]!.sha256 !== dataSha || result!.plainBytes !== tarBytes) {
        throw new Error(`${c.name}: wrong result ${JSON.stringify(result!.files)} plainBytes ${result!.plainBytes}`);
      }
      console.log(
        `${line(c.name, seconds, tarMB)}  ${(baseline / seconds).toFixed(2)}× baseline  peak RSS ${mb(rss.peak)} (start ${mb(rss.start)})  archive ${mb(result!.size)}`,
      );

      if (c.verify) {
        const manifest = {
          files: result!.files,
          archive: {
            name: 'archive',
            size: result!.size,
            sha256: result!.sha256,
            compression: c.compress ? 'gzip' : 'none',
            encrypted: c.encrypt,
            recipients: [fingerprint],
          },
        } as unknown as Manifest;
        const vMemory = sampleRss();
        let problems: string[] = [];
        const vSeconds = await timed(async () => {
          problems = (await verifyArchiveData(dest, manifest, privateKey)).problems;
        });
        const vRss = vMemory.stop();
        console.log(
          `${line('  then verifyArchiveData (streamed)', vSeconds, tarMB)}  ok=${problems.length === 0}  peak RSS ${mb(vRss.peak)}`,
        );
        if (problems.length > 0) console.log(problems);
      }
      rmSync(dest);
    }
    rmSync(tarFile);
  }
} finally {
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: gpgEnv });
  rmSync(scratch, { recursive: true, force: true });
}

interface Dataset {
  what: string;
  write: (path: string, size: number) => Promise<string>;
  baseline: { name: string; script: string };
  cases: Array<{ name: string; encrypt: boolean; compress: boolean; verify?: boolean }>;
}

/** Write about `size` bytes of LDIF-like entries (random hashes and ids, like a real export); returns its SHA-256. */
async function writeLdifFile(path: string, size: number): Promise<string> {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(64 * 1000);
  let entry = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let written = 0; written < size; ) {
      const noise = cipher.update(zeros);
      let text = '';
      for (let k = 0; k < 1000; k++, entry++) {
        const r = noise.subarray(k * 64, k * 64 + 64);
        text +=
          `dn: uid=user${entry},cn=users,cn=accounts,dc=example,dc=test\nobjectClass: top\nobjectClass: person\n` +
          `objectClass: inetOrgPerson\nobjectClass: ipaobject\nuid: user${entry}\ncn: User ${entry}\nsn: ${r.subarray(0, 6).toString('hex')}\n` +
          `userPassword:: ${r.subarray(6, 54).toString('base64')}\nipaUniqueID: ${r.subarray(54, 64).toString('hex')}\n` +
          `memberOf: cn=ipausers,cn=groups,cn=accounts,dc=example,dc=test\nentryusn: ${entry}\n\n`;
      }
      let chunk = Buffer.from(text);
      if (written + chunk.length > size) chunk = chunk.subarray(0, size - written);
      written += chunk.length;
      hash.update(chunk);
      yield chunk;
    }
  }
  await pipeline(Readable.from(chunks()), createWriteStream(path));
  return hash.digest('hex');
}

/** Write `size` bytes of AES-128-CTR keystream (fast, incompressible); returns its SHA-256. */
async function writeRandomFile(path: string, size: number): Promise<string> {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(4 * MB);
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let left = size; left > 0; left -= zeros.length) {
      const chunk = cipher.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
      hash.update(chunk);
      yield chunk;
    }
  }
  await pipeline(Readable.from(chunks()), createWriteStream(path));
  return hash.digest('hex');
}

function sampleRss(): { stop: () => { start: number; peak: number } } {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      return { start, peak };
    },
  };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0)
    throw new Error(`${command} failed (${result.status ?? result.signal}): ${result.stderr.toString()}`);
}

/** Runs a command; its stdout. */
function runOut(command: string, args: string[], env: NodeJS.ProcessEnv): string {
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0)
    throw new Error(`${command} failed (${result.status ?? result.signal}): ${result.stderr.toString()}`);
  return result.stdout.toString();
}

/** The children's user + system time from the last line bash's `times` printed ("0m0.300s 0m0.050s"). */
function childCpuSeconds(timesOutput: string): number {
  const last = timesOutput.trim().split('\n').at(-1) ?? '';
  return [...last.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}

function line(name: string, seconds: number, megabytes: number): string {
  return `  ${name.padEnd(48)} ${seconds.toFixed(2).padStart(6)} s  ${(megabytes / seconds).toFixed(0).padStart(4)} MB/s`;
}

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(0)} MB`;
}
