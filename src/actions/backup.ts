import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FleetError } from '../errors.js';
import type { JsonValue } from '../json.js';
import { loadRecipients } from '../backup/keys.js';
import { takeSnapshot } from '../backup/snapshot.js';
import { acquireStoreLock } from '../backup/store-lock.js';
import { defaultStoreDir, SnapshotStore } from '../backup/store.js';
import { defineAction } from '../playbook/action.js';
import { formatBytes } from '../format.js';

/** One host's snapshot into the store. FULL snapshots of one deployment run one host at a time. */
export const backupAction = defineAction({
  name: 'backup',
  description: 'snapshot the host (LDIF with replication data; FULL adds configuration) into the encrypted store',
  destructive: false,
  needsFacts: false,
  params: {
    type: {
      type: 'string',
      default: 'data',
      description: 'data (online) or full (services stopped, configuration too)',
    },
    binary: { type: 'boolean', default: false, description: "also the backup task's db2bak folder" },
    store: { type: 'string', description: "store folder on the controller (default: the state dir's store)" },
    encrypt_to: { type: 'list', description: 'public key files (OpenPGP) to encrypt to' },
    no_encrypt: { type: 'boolean', default: false, description: 'store unencrypted (explicit opt-out)' },
    compress: { type: 'boolean', default: true, description: 'gzip before encrypting' },
  },
  plan({ hosts, withFor }) {
    // A FULL backup stops the host's services: never two servers of a deployment at once (one at
    // a time, not a chain: a host that fails must not keep the others from their backup).
    return hosts.map((h) => {
      const params = withFor(h);
      return {
        key: h.name,
        host: h.name,
        title: `backup (${params.type})`,
        params,
        ...(params.type === 'full' ? { concurrency: 1 } : {}),
      };
    });
  },
  async run(ctx, params) {
    const type = params.type === 'full' ? 'full' : params.type === 'data' ? 'data' : undefined;
    if (!type) throw new FleetError('usage', `backup: type must be data or full, not '${params.type}'`);
    const keyFiles = params.encrypt_to ?? [];
    if (!params.no_encrypt && keyFiles.length === 0) {
      throw new FleetError(
        'usage',
        'backup: name the public key(s) to encrypt to (--encrypt-to KEYFILE), or pass --no-encrypt',
      );
    }
    if (params.no_encrypt && keyFiles.length > 0)
      throw new FleetError('usage', 'backup: --no-encrypt and --encrypt-to exclude each other');
    // Checked before the host is touched.
    const recipients = params.no_encrypt ? undefined : await loadRecipients(keyFiles);
    const store = new SnapshotStore(params.store ?? defaultStoreDir());
    const release = await acquireStoreLock(
      store.root,
      ctx.inventory.deployment,
      'shared',
      `backup ${ctx.host.name}`,
      (m) => ctx.run.warn(m),
    );
    try {
      let lastReport = 0;
      const result = await takeSnapshot(ctx.transport, ctx.host, ctx.run, {
        type,
        binary: params.binary,
        compress: params.compress,
        recipients,
        store,
        toolVersion: await toolVersion(),
        signal: ctx.signal,
        onProgress: (bytes) => {
          if (Date.now() - lastReport < 250) return;
          lastReport = Date.now();
          ctx.progress({ done: bytes, unit: 'bytes' });
        },
      });
      const m = result.manifest;
      return {
        status: 'changed',
        message:
          `snapshot ${m.id}: ${formatBytes(m.archive.size)}, ` +
          m.suffixes.map((s) => `${s.backend} ${s.exportedEntries ?? '?'} entries exported`).join(', '),
        changes: [{ snapshot: m.id, dir: result.dir }],
        data: { id: m.id, dir: result.dir, size: m.archive.size, sha256: m.archive.sha256 } as JsonValue,
      };
    } finally {
      await release();
    }
  },
});

/** The package's version, for the manifest's toolVersion. */
export async function toolVersion(): Promise<string> {
  const pkg = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'package.json');
  return (JSON.parse(await readFile(pkg, 'utf8')) as { version: string }).version;
}
