// Re-checking stored snapshots against their manifests: size and SHA-256 of the archive, and with
// readData every file inside (decrypted in memory). `backups verify` and the scheduler call it.
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { loadPrivateKey, type PrivateKey } from '../backup/keys.js';
import { acquireStoreLock } from '../backup/store-lock.js';
import type { SnapshotEntry, SnapshotStore } from '../backup/store.js';
import { snapshotProblems } from '../backup/verify.js';
import type { RunContext } from '../context.js';
import { FleetError, UsageError } from '../errors.js';
import { parseSecretSource } from '../inventory/secrets.js';

/** Which snapshots: ids (or unique prefixes), every one (of a deployment), or each host's newest. */
export type VerifyTargets =
  | { ids: string[] }
  | { all: true; deployment?: string }
  | { newestOf: { deployment: string; hosts: string[] } };

export interface VerifyOptions {
  targets: VerifyTargets;
  /** Decrypt and hash every file inside, not only the archive. */
  readData: boolean;
  /** The private key for readData of encrypted snapshots: loaded, or a file and its passphrase source. */
  key?: PrivateKey | { file: string; passphrase?: string };
  /** A snapshot that cannot be read at all (a wrong key) is that snapshot's problem instead of an error. */
  keepGoing?: boolean;
  /** Names the store lock's holder, e.g. `backups verify`. */
  command: string;
  /** Where lock waits are told (default ctx.warn). */
  warn?: (message: string) => void;
}

export interface SnapshotVerification {
  id: string;
  host: string;
  ok: boolean;
  /** Empty when ok. */
  problems: string[];
}

export interface VerifyResult {
  readData: boolean;
  ok: boolean;
  snapshots: SnapshotVerification[];
}

export async function verifySnapshots(
  store: SnapshotStore,
  ctx: RunContext,
  opts: VerifyOptions,
): Promise<VerifyResult> {
  const targets = await findTargets(store, opts.targets);
  const key = await keyFor(targets.entries, ctx, opts);
  const warn = opts.warn ?? ((m: string) => ctx.warn(m));
  const snapshots: SnapshotVerification[] = [];
  for (const deployment of [...new Set(targets.entries.map((t) => t.deployment))]) {
    const release = await acquireStoreLock(store.root, deployment, 'shared', opts.command, warn);
    try {
      for (const entry of targets.entries.filter((t) => t.deployment === deployment)) {
        const check = snapshotProblems(entry, { readData: opts.readData, key });
        const problems = opts.keepGoing
          ? await check.catch((err: unknown) => [err instanceof FleetError ? err.message : String(err)])
          : await check;
        snapshots.push({ id: entry.id, host: entry.host, ok: problems.length === 0, problems });
      }
    } finally {
      await release();
    }
  }
  snapshots.push(...targets.missing);
  return { readData: opts.readData, ok: snapshots.every((s) => s.ok), snapshots };
}

/** The snapshots to check, and those that fail before any check (unreadable folders, no snapshot at all). */
async function findTargets(
  store: SnapshotStore,
  targets: VerifyTargets,
): Promise<{ entries: SnapshotEntry[]; missing: SnapshotVerification[] }> {
  if ('ids' in targets) {
    if (targets.ids.length === 0) throw new UsageError('name snapshot ids, or --all');
    return { entries: await Promise.all(targets.ids.map((id) => store.find(id))), missing: [] };
  }
  if ('all' in targets) {
    const scan = await store.scan(targets.deployment ? { deployment: targets.deployment } : {});
    // Folders the store cannot even read as snapshots fail too.
    const missing = scan.problems.map((p) => ({ id: p.id, host: p.host, ok: false, problems: [p.problem] }));
    return { entries: scan.snapshots, missing };
  }
  const { deployment, hosts } = targets.newestOf;
  const entries: SnapshotEntry[] = [];
  const missing: SnapshotVerification[] = [];
  for (const host of hosts) {
    const newest = (await store.list({ deployment, host })).at(-1);
    if (newest) entries.push(newest);
    else missing.push({ host, id: '-', ok: false, problems: ['no snapshot in the store'] });
  }
  return { entries, missing };
}

async function keyFor(entries: SnapshotEntry[], ctx: RunContext, opts: VerifyOptions): Promise<PrivateKey | undefined> {
  if (!opts.readData || !entries.some((t) => t.manifest.archive.encrypted)) return undefined;
  if (!opts.key) throw new UsageError('--read-data of an encrypted snapshot needs --key FILE (the private key)');
  if (!('file' in opts.key)) return opts.key;
  let passphrase: string | undefined;
  if (opts.key.passphrase) {
    const src = parseSecretSource(opts.key.passphrase, { baseDir: process.cwd(), homeDir: homedir() });
    if ('problem' in src) throw new UsageError(`--passphrase: ${src.problem}`);
    passphrase = await ctx.secrets.get(src, '--passphrase');
  }
  return loadPrivateKey(resolve(opts.key.file), passphrase);
}
