// The drill's pieces around the sandbox: which snapshots it restores, whether the controller has room
// for it, which loopback net it lives on, the schema files a FULL snapshot brings, and the content
// proof (every sandbox host against the snapshot). None of them contacts the deployment.
import { createWriteStream } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import { freemem } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { PrivateKey } from '../backup/keys.js';
import type { Manifest } from '../backup/manifest.js';
import type { SnapshotEntry, SnapshotStore } from '../backup/store.js';
import { unpackSnapshot } from '../backup/unpack.js';
import type { EntrySource } from '../content/diff.js';
import { type ContentDifference, compareHosts, type HostSource } from '../content/host-compare.js';
import { liveSource } from '../content/live-entries.js';
import { snapshotEntries } from '../content/snapshot-entries.js';
import type { RunContext } from '../context.js';
import { normalizeDn, within } from '../directory/dn.js';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import type { Inventory } from '../inventory/model.js';
import { waitForPort } from '../lab/processes.js';
import { type SandboxPlan, sandboxNeeds } from '../lab/sandbox.js';
import { labHostInventoryName } from '../lab/spec.js';
import { Transport } from '../transport/transport.js';

export interface ChosenSnapshots {
  master: SnapshotEntry;
  /** By inventory host: the master's snapshot, and each other host's taken closest to it in time. */
  manifests: Map<string, Manifest>;
  /**
   * The FULL snapshot whose schema files the sandbox loads: the master's when it is FULL, else the
   * deployment's FULL snapshot closest in time (the schema is replicated: every host has the same).
   */
  schemaFrom: SnapshotEntry | undefined;
}

/** The master's snapshot (as asked, or its newest) and, for the topology, the other hosts' closest to it. */
export async function chooseSnapshots(
  store: SnapshotStore,
  inventory: Inventory,
  opts: { backup?: string; master?: string },
): Promise<ChosenSnapshots> {
  const names = inventory.hosts.map((h) => h.name);
  if (opts.master !== undefined && !names.includes(opts.master))
    throw new UsageError(`--master: '${opts.master}' is not a host of the inventory (${names.join(', ')})`);
  const all = await store.list({ deployment: inventory.deployment });
  const wanted = opts.backup && opts.backup !== 'latest' ? opts.backup : undefined;
  let master: SnapshotEntry | undefined;
  const masterName = opts.master ?? names[0]!;
  if (wanted) {
    const matches = all.filter(
      (s) => (s.id === wanted || s.id.startsWith(wanted)) && s.host === (opts.master ?? s.host),
    );
    const exact = matches.filter((s) => s.id === wanted);
    const found = exact.length > 0 ? exact : matches;
    if (found.length > 1)
      throw new UsageError(`--backup: '${wanted}' matches ${found.length} snapshots; give more of it`);
    master = found[0];
    if (!master)
      throw new UsageError(
        `no snapshot '${wanted}' of ${opts.master ?? 'any host of'} ${inventory.deployment} in ${store.root}; ` +
          'see ipa-fleet backups list',
      );
  } else {
    master = all.filter((s) => s.host === masterName).at(-1);
    if (!master)
      throw new UsageError(
        `no snapshot of ${masterName} (deployment ${inventory.deployment}) in ${store.root}: back it up ` +
          '(ipa-fleet backup) or choose another --master',
      );
  }
  if (!names.includes(master.host))
    throw new UsageError(`snapshot ${master.id} is of ${master.host}, which is not in the inventory`);
  const manifests = new Map<string, Manifest>([[master.host, master.manifest]]);
  // Closest in time, not "at or before": the hosts of one fleet backup finish in any order, and the
  // topology the master saw is best matched by what its peers saw in the same run.
  const at = Date.parse(master.time);
  const distance = (s: SnapshotEntry): number => Math.abs(Date.parse(s.time) - at);
  for (const name of names.filter((n) => n !== master.host)) {
    const closest = all.filter((s) => s.host === name).sort((x, y) => distance(x) - distance(y))[0];
    if (closest) manifests.set(name, closest.manifest);
  }
  const full = all.filter((s) => s.type === 'full' && names.includes(s.host)).sort((x, y) => distance(x) - distance(y));
  const schemaFrom = master.type === 'full' ? master : full[0];
  return { master, manifests, schemaFrom };
}

/** Refused before anything is built when the controller lacks the disk or memory the sandbox needs. */
export async function checkResources(dir: string, master: Manifest, hosts: number): Promise<void> {
  const needs = sandboxNeeds(master, hosts);
  let existing = dir;
  for (;;) {
    try {
      const st = await statfs(existing);
      const free = st.bavail * st.bsize;
      if (free < needs.diskBytes)
        throw new UsageError(
          `drill: the sandbox of ${hosts} host(s) needs ${formatBytes(needs.diskBytes)} of free disk in ${dir}; ` +
            `there is ${formatBytes(free)} (nothing was built)`,
        );
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(existing) === existing) throw err;
      existing = dirname(existing);
    }
  }
  const memory = freemem();
  if (memory < needs.memoryBytes)
    throw new UsageError(
      `drill: the sandbox of ${hosts} host(s) needs ${formatBytes(needs.memoryBytes)} of free memory; ` +
        `there is ${formatBytes(memory)} (nothing was built)`,
    );
}

/**
 * A loopback net (127.0.N) for the sandbox that holds no inventory address and where nothing listens
 * on the first address's SSH port (another sandbox or lab).
 */
export async function chooseNet(inventory: Inventory): Promise<string> {
  for (let n = 200; n < 255; n++) {
    const net = `127.0.${n}`;
    if (inventory.hosts.some((h) => h.address.startsWith(`${net}.`))) continue;
    if (!(await waitForPort(`${net}.1`, 22, 100))) return net;
  }
  throw new UsageError('drill: no free loopback net 127.0.200–254 for the sandbox; give one with --net');
}

/** The instance schema files a FULL snapshot holds, written into `dir`; how many. */
export async function extractSchema(snapshot: SnapshotEntry, key: PrivateKey | undefined, dir: string) {
  const prefix = `etc/dirsrv/slapd-${snapshot.manifest.instance}/schema/`;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  let files = 0;
  await unpackSnapshot(snapshot.archive, snapshot.manifest, key, async (file, content) => {
    const name = file.path.startsWith(prefix) ? file.path.slice(prefix.length) : '';
    if (/^[^/]+\.ldif$/.test(name)) {
      await pipeline(content, createWriteStream(join(dir, name), { mode: 0o644 }));
      files++;
      return;
    }
    content.resume();
    await new Promise<void>((resolve, reject) => content.once('end', resolve).once('error', reject));
  });
  return files;
}

export interface ContentProof {
  /** The snapshot's entries (data entries, both suffixes). */
  entries: number;
  differences: ContentDifference[];
}

/** Every sandbox host holding a suffix against the snapshot's export of it, in one pass per host. */
export async function proveContent(
  sandbox: Inventory,
  ctx: RunContext,
  master: SnapshotEntry,
  key: PrivateKey | undefined,
  plan: SandboxPlan,
): Promise<ContentProof> {
  const transport = new Transport(sandbox, ctx);
  let entries = 0;
  const differences: ContentDifference[] = [];
  try {
    for (const s of master.manifest.suffixes) {
      const holders = plan.spec.hosts.filter((h) => s.kind === 'domain' || h.ca).map(labHostInventoryName);
      const base = normalizeDn(s.suffix);
      const counted: EntrySource = async (visit) => {
        await snapshotEntries(
          master,
          key,
          s,
        )((e) => {
          if (within(e.ndn, base)) entries++;
          visit(e);
        });
      };
      const sources: HostSource[] = [{ host: `snapshot ${master.id}`, entries: counted }];
      for (const name of holders) {
        const host = sandbox.hosts.find((h) => h.name === name)!;
        sources.push({ host: name, entries: liveSource(await transport.ldap(host), s.suffix) });
      }
      differences.push(...(await compareHosts(sources, { base })));
    }
  } finally {
    await transport.close();
  }
  return { entries, differences };
}
