// A snapshot's export of one suffix as an EntrySource: decrypted, unpacked and parsed as it streams,
// each pass a fresh read of the archive (nothing of it kept on disk or in memory).

import type { PrivateKey } from 'openpgp';
import type { ManifestSuffix } from '../backup/manifest.js';
import type { SnapshotEntry } from '../backup/store.js';
import { unpackSnapshot } from '../backup/unpack.js';
import type { EntrySource } from './diff.js';
import { ldifEntries } from './ldif-entries.js';

export function snapshotEntries(
  snapshot: SnapshotEntry,
  key: PrivateKey | undefined,
  suffix: ManifestSuffix,
): EntrySource {
  return async (visit) => {
    await unpackSnapshot(snapshot.archive, snapshot.manifest, key, async (file, content) => {
      if (file.path !== suffix.ldif) return;
      for await (const entry of ldifEntries(content, `snapshot ${snapshot.id}: ${file.path}`)) visit(entry);
    });
  };
}
