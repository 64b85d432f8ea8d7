// The snapshot a restore reads: found in the store by id, with the private key to decrypt it.
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { RunContext } from '../context.js';
import { FleetError, UsageError } from '../errors.js';
import { parseSecretSource } from '../inventory/secrets.js';
import { loadPrivateKey, type PrivateKey } from '../backup/keys.js';
import { defaultStoreDir, SnapshotStore, type SnapshotEntry } from '../backup/store.js';
import type { SnapshotType } from '../backup/manifest.js';
import type { JsonObject } from '../json.js';

export interface RestoreSource {
  snapshot: SnapshotEntry;
  key: PrivateKey | undefined;
  /** The restore's type: as asked, else the snapshot's. */
  type: SnapshotType;
}

/** What `SecretStore.get` caches a prompted passphrase under: the CLI asks before the run starts. */
export const PASSPHRASE_PROMPT = 'the private key passphrase';

export async function openRestoreSource(
  ctx: RunContext,
  deployment: string,
  params: JsonObject,
  opts: { needKey?: boolean } = {},
): Promise<RestoreSource> {
  const store = new SnapshotStore(typeof params.store === 'string' && params.store ? params.store : defaultStoreDir());
  const id = String(params.backup ?? '');
  const snapshot = await store.find(id);
  if (snapshot.deployment !== deployment) {
    throw new UsageError(
      `snapshot ${snapshot.id} belongs to deployment '${snapshot.deployment}', the inventory is for '${deployment}'`,
    );
  }
  const asked = String(params.type ?? '');
  if (asked !== '' && asked !== 'data' && asked !== 'full')
    throw new UsageError(`--type: data or full, not '${asked}'`);
  const type: SnapshotType = asked === 'data' || asked === 'full' ? asked : snapshot.type;
  let key: PrivateKey | undefined;
  if (snapshot.manifest.archive.encrypted && opts.needKey !== false) {
    const keyFile = typeof params.key === 'string' ? params.key : '';
    if (!keyFile) throw new UsageError(`snapshot ${snapshot.id} is encrypted: give the private key (--key FILE)`);
    let passphrase: string | undefined;
    if (typeof params.passphrase === 'string' && params.passphrase) {
      const src = parseSecretSource(params.passphrase, { baseDir: process.cwd(), homeDir: homedir() });
      if ('problem' in src) throw new UsageError(`--passphrase: ${src.problem}`);
      passphrase = await ctx.secrets.get(src, PASSPHRASE_PROMPT);
    }
    key = await loadPrivateKey(resolve(keyFile), passphrase);
    const fingerprint = key.getFingerprint().toUpperCase();
    const subkeys = key.getKeys().map((k) => k.getFingerprint().toUpperCase());
    if (
      !snapshot.manifest.archive.recipients.some(
        (r) => r.toUpperCase() === fingerprint || subkeys.includes(r.toUpperCase()),
      )
    ) {
      throw new FleetError(
        'auth',
        `snapshot ${snapshot.id} is not encrypted to ${keyFile} (recipients: ` +
          `${snapshot.manifest.archive.recipients.join(', ')})`,
      );
    }
  }
  return { snapshot, key, type };
}
