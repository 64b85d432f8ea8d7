// Ingest benchmark: ingestArchive reading a tar from `cat`'s stdout (standing in for the SSH
// channel) against the gpg pipeline an administrator would write, measured in the same run on the
// same file:
//   - incompressible data: `cat FILE | gpg --encrypt --compress-algo none -r KEY > out`;
//   - LDIF-like data, compressed: `cat FILE | gzip -1 | gpg --encrypt --compress-algo none …`.
// Prints MB/s of tar input, the ratio to the baseline and the controller's peak RSS (sampled every
// 50 ms); checks only that the per-file hash is right, never a timing. Both sides end with the
// output fsynced (ingest does it itself; the baseline runs `sync FILE`).
//
// Run: npm run build && node dist/test/bench/ingest.bench.js   (BENCH_BIG=1 adds 4 GB tars;
// BENCH_DIR picks the scratch folder, default the OS temp dir). Needs gpg, gzip and GNU tar.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { ingestArchive } from '../../src/backup/archive.js';
import type { Manifest } from '../../src/backup/manifest.js';
import { verifyArchiveData } from '../../src/backup/verify.js';

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
  for (const size of sizes) {
    for (const dataset of datasets) await runDataset(dataset, size);
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

function line(name: string, seconds: number, megabytes: number): string {
  return `  ${name.padEnd(46)} ${seconds.toFixed(2).padStart(6)} s  ${(megabytes / seconds).toFixed(0).padStart(4)} MB/s`;
}

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(0)} MB`;
}
