// The project's secrets scan, shared by the lab tests that prove a secret never leaves its file: the
// forms a secret may take (raw, base64, hex, …), counting them in bytes, sampling every process's argv
// and environment (/proc) during a run, and the files to search.
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export const SAMPLE_EVERY_MS = 100;

// ---------------------------------------------------------------------------------------------------
// What is searched for.

export interface Needle {
  secret: string;
  form: string;
  bytes: Buffer;
}

/** The base64 characters of `bytes` that do not depend on neighbouring bytes, at each alignment. */
function embeddedBase64(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const core = encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
    if (core.length >= 16) out.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

export function needlesFor(name: string, secret: string, bindDn?: string): Needle[] {
  const raw = Buffer.from(secret, 'utf8');
  const forms: Array<[string, string | Buffer]> = [
    ['raw', secret],
    ['base64', raw.toString('base64')],
    ['base64url', raw.toString('base64url')],
    ['hex', raw.toString('hex')],
    ['HEX', raw.toString('hex').toUpperCase()],
    ['utf-16le', Buffer.from(secret, 'utf16le')],
    ...embeddedBase64(raw).map((core, i): [string, string] => [`base64 inside a longer value (${i})`, core]),
  ];
  if (bindDn) {
    // `dn:password` (HTTP Basic style) and SASL PLAIN's `\0dn\0password`, base64-encoded.
    forms.push([`base64("${bindDn}:pw")`, Buffer.from(`${bindDn}:${secret}`).toString('base64')]);
    forms.push([`base64("\\0${bindDn}\\0pw")`, Buffer.from(`\0${bindDn}\0${secret}`).toString('base64')]);
  }
  const seen = new Set<string>();
  const out: Needle[] = [];
  for (const [form, value] of forms) {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const key = bytes.toString('hex');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ secret: name, form, bytes });
  }
  return out;
}

/** Occurrences in `data`: matches of every form, overlapping matches of one secret counted once. */
export function occurrences(
  data: Buffer,
  needles: Needle[],
): { count: number; hits: Array<{ secret: string; form: string; at: number }> } {
  const hits: Array<{ secret: string; form: string; at: number; end: number }> = [];
  for (const n of needles) {
    for (let at = data.indexOf(n.bytes); at !== -1; at = data.indexOf(n.bytes, at + 1))
      hits.push({ secret: n.secret, form: n.form, at, end: at + n.bytes.length });
  }
  hits.sort((a, b) => a.at - b.at);
  let count = 0;
  const ends = new Map<string, number>();
  for (const h of hits) {
    if ((ends.get(h.secret) ?? -1) >= h.at) {
      ends.set(h.secret, Math.max(ends.get(h.secret)!, h.end));
      continue;
    }
    count++;
    ends.set(h.secret, h.end);
  }
  return { count, hits: hits.map(({ secret, form, at }) => ({ secret, form, at })) };
}

// ---------------------------------------------------------------------------------------------------
// Process sampling: argv (/proc/PID/cmdline) and environment (/proc/PID/environ) of every process.

interface ProcessContent {
  kind: 'argv' | 'environ';
  uts: string;
  data: Buffer;
  samples: number;
  pids: Set<number>;
  comm: string;
}

export class ProcessSampler {
  /** Distinct (namespace, kind, content), with how many samples saw it. */
  readonly contents = new Map<string, ProcessContent>();
  /** Per UTS namespace: samples (one process read once) and distinct pids. */
  readonly perNamespace = new Map<string, { samples: number; pids: Set<number> }>();
  ticks = 0;
  samples = 0;
  slowestTickMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      const started = Date.now();
      this.running = this.tick().finally(() => {
        const took = Date.now() - started;
        this.slowestTickMs = Math.max(this.slowestTickMs, took);
        if (!this.stopped) this.timer = setTimeout(loop, Math.max(0, SAMPLE_EVERY_MS - took));
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  async tick(): Promise<void> {
    this.ticks++;
    const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
    await Promise.all(
      pids.map(async (pid) => {
        const base = `/proc/${pid}`;
        const [uts, argv, environ] = await Promise.all([
          readlink(`${base}/ns/uts`).catch(() => undefined),
          readFile(`${base}/cmdline`).catch(() => undefined),
          readFile(`${base}/environ`).catch(() => undefined),
        ]);
        const comm = argv ? (argv.toString('utf8').split('\0')[0] ?? '') : '';
        if (uts === undefined || argv === undefined) return; // gone meanwhile
        this.samples++;
        const ns = this.perNamespace.get(uts) ?? { samples: 0, pids: new Set<number>() };
        ns.samples++;
        ns.pids.add(pid);
        this.perNamespace.set(uts, ns);
        for (const [kind, data] of [
          ['argv', argv],
          ['environ', environ ?? Buffer.alloc(0)],
        ] as const) {
          const key = `${uts}\0${kind}\0${data.toString('latin1')}`;
          const seen = this.contents.get(key);
          if (seen) {
            seen.samples++;
            seen.pids.add(pid);
          } else {
            this.contents.set(key, { kind, uts, data, samples: 1, pids: new Set([pid]), comm });
          }
        }
      }),
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Files.

/** Every regular file below `dir` (symlinks are not followed). */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) out.push(...(await filesUnder(path)));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/** Files in /tmp (depth ≤ 2) changed since `since`, not this test's own folder, at most 16 MiB each. */
export async function recentTmpFiles(since: number, own: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string, depth: number): Promise<void> => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const path = join(dir, name);
      if (path === own || path.startsWith('/tmp/bash_jobs') || path.startsWith('/tmp/bash_tool')) continue;
      const st = await lstat(path).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory() && depth < 2) await visit(path, depth + 1);
      else if (st.isFile() && st.mtimeMs >= since && st.size <= 16 * 1024 * 1024) out.push(path);
    }
  };
  await visit('/tmp', 1);
  return out;
}
