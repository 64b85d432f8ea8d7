// The baseline of the diff benchmark (diff.bench.ts), run as a child node process as `ipa-fleet diff`
// is: the least any diff must do, once each and one after the other: (1) decrypt, unpack and parse
// the snapshot's LDIF of the domain suffix (entries counted, not kept); (2) one paged read of the
// live suffix over the tool's own transport (SSH tunnel, LdapSession.pages). Prints one JSON line.
// Usage: node dist/test/bench/diff-baseline.js '{"inventory":…,"store":…,"snapshot":…,"key":…,
// "passphraseFile":…,"logFile":…}'
import { readFile } from 'node:fs/promises';
import { loadPrivateKey } from '../../src/backup/keys.js';
import { SnapshotStore } from '../../src/backup/store.js';
import { unpackSnapshot } from '../../src/backup/unpack.js';
import { ldifEntries } from '../../src/content/ldif-entries.js';
import { createRunContext } from '../../src/context.js';
import { loadInventory } from '../../src/inventory/index.js';
import { Transport } from '../../src/transport/transport.js';

interface Args {
  inventory: string;
  store: string;
  snapshot: string;
  key: string;
  passphraseFile: string;
  logFile: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;

// (1) The snapshot, as snapshot-entries.ts reads it.
const t1 = process.hrtime.bigint();
const snapshot = await new SnapshotStore(args.store).find(args.snapshot);
const key = await loadPrivateKey(args.key, (await readFile(args.passphraseFile, 'utf8')).trim());
const suffix = snapshot.manifest.suffixes.find((s) => s.kind === 'domain');
if (!suffix) throw new Error(`snapshot ${snapshot.id} holds no domain suffix`);
let snapshotEntries = 0;
await unpackSnapshot(snapshot.archive, snapshot.manifest, key, async (file, content) => {
  if (file.path !== suffix.ldif) return;
  for await (const _ of ldifEntries(content, file.path)) snapshotEntries++;
});
const snapshotS = seconds(t1);

// (2) The live suffix, with live-entries.ts's filter and attributes, on the snapshot's host.
const t2 = process.hrtime.bigint();
const inventory = await loadInventory(args.inventory);
const host = inventory.hosts.find((h) => h.name === snapshot.host);
if (!host) throw new Error(`${snapshot.host}: not in ${args.inventory}`);
const transport = new Transport(inventory, createRunContext({ logFile: args.logFile, verbosity: 0 }));
let liveEntries = 0;
try {
  const ldap = await transport.ldap(host);
  const filter = '(|(objectClass=*)(objectClass=ldapSubEntry))';
  for await (const page of ldap.pages(suffix.suffix, { filter, attributes: ['*', '+'] })) liveEntries += page.length;
} finally {
  await transport.close();
}
const liveS = seconds(t2);

console.log(JSON.stringify({ snapshotEntries, snapshotS, liveEntries, liveS }));
