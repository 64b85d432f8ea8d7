// diff: what changed between a snapshot and a live host (or a later snapshot), entry by entry and
// attribute by attribute, for the suffixes and the selection asked for. Read-only: nothing on any
// host is written, no lock is taken.

import type { ManifestSuffix } from '../backup/manifest.js';
import type { SnapshotEntry } from '../backup/store.js';
import type { RunContext } from '../context.js';
import { diffEntries, type EntryDiff, type EntrySource, type Selection } from '../content/diff.js';
import { entryFilter } from '../content/filter.js';
import { accountsDn } from '../content/ipa-layout.js';
import { liveSource } from '../content/live-entries.js';
import { snapshotEntries } from '../content/snapshot-entries.js';
import { normalizeDn, within } from '../directory/dn.js';
import { UsageError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import { openRestoreSource, type RestoreSource } from '../restore/source.js';
import { Transport } from '../transport/transport.js';

export type SuffixChoice = 'domain' | 'ca' | 'all';

export interface DiffOptions {
  backup: string;
  store?: string;
  key?: string;
  passphrase?: string;
  /** The live host (inventory name); default the snapshot's own host. */
  host?: string;
  /** A second snapshot to compare with instead of a live host. */
  against?: string;
  suffix?: SuffixChoice;
  base?: string;
  filter?: string;
}

interface SnapshotRef {
  id: string;
  host: string;
  time: string;
}

export interface SuffixDiff {
  kind: ManifestSuffix['kind'];
  suffix: string;
  /** The tree has FreeIPA's layout (cn=accounts): the report sorts entries by kind. */
  ipaShaped: boolean;
  entries: EntryDiff[];
}

export interface DiffReport {
  snapshot: SnapshotRef;
  against: { host: string } | { snapshot: SnapshotRef };
  selection: { base?: string; filter?: string };
  suffixes: SuffixDiff[];
}

export async function diffSnapshot(inventory: Inventory, ctx: RunContext, opts: DiffOptions): Promise<DiffReport> {
  const source = await openRestoreSource(ctx, inventory.deployment, { ...opts });
  const test = opts.filter ? entryFilter(opts.filter, '--filter') : undefined;
  const suffixes = chosenSuffixes(source.snapshot, opts.suffix ?? 'domain', opts.base);
  const selection = (s: ManifestSuffix): Selection => ({
    base: normalizeDn(opts.base ?? s.suffix),
    ...(test ? { test } : {}),
  });
  const report = (against: DiffReport['against'], diffs: SuffixDiff[]): DiffReport => ({
    snapshot: refOf(source.snapshot),
    against,
    selection: { ...(opts.base ? { base: opts.base } : {}), ...(opts.filter ? { filter: opts.filter } : {}) },
    suffixes: diffs,
  });
  if (opts.against) {
    const later = await openRestoreSource(ctx, inventory.deployment, { ...opts, backup: opts.against });
    const diffs: SuffixDiff[] = [];
    for (const s of suffixes) {
      const other = later.snapshot.manifest.suffixes.find((x) => x.kind === s.kind);
      if (!other) throw new UsageError(`--against: snapshot ${later.snapshot.id} holds no ${s.kind} suffix`);
      diffs.push(await diffSuffix(s, source, snapshotEntries(later.snapshot, later.key, other), selection(s)));
    }
    return report({ snapshot: refOf(later.snapshot) }, diffs);
  }
  const host = liveHost(inventory, opts.host ?? source.snapshot.host);
  const transport = new Transport(inventory, ctx);
  try {
    const ldap = await transport.ldap(host);
    const diffs: SuffixDiff[] = [];
    for (const s of suffixes)
      diffs.push(await diffSuffix(s, source, liveSource(ldap, opts.base ?? s.suffix), selection(s)));
    return report({ host: host.name }, diffs);
  } finally {
    await transport.close();
  }
}

async function diffSuffix(
  s: ManifestSuffix,
  source: RestoreSource,
  other: EntrySource,
  selection: Selection,
): Promise<SuffixDiff> {
  const accounts = normalizeDn(accountsDn(s.suffix));
  let ipaShaped = false;
  const snapshot: EntrySource = (visit) =>
    snapshotEntries(
      source.snapshot,
      source.key,
      s,
    )((e) => {
      if (e.ndn === accounts) ipaShaped = true;
      visit(e);
    });
  const entries = await diffEntries(snapshot, other, selection);
  return { kind: s.kind, suffix: s.suffix, ipaShaped, entries };
}

/** The snapshot's suffixes of that kind, narrowed to the one holding --base. */
function chosenSuffixes(snapshot: SnapshotEntry, choice: SuffixChoice, base: string | undefined): ManifestSuffix[] {
  const all = snapshot.manifest.suffixes.filter((s) => choice === 'all' || s.kind === choice);
  if (all.length === 0) throw new UsageError(`--suffix ${choice}: snapshot ${snapshot.id} holds no such suffix`);
  if (base === undefined) return all;
  const nbase = normalizeDn(base);
  const holding = all.filter((s) => within(nbase, normalizeDn(s.suffix)));
  if (holding.length === 0)
    throw new UsageError(`--base ${base}: not under the snapshot's ${all.map((s) => s.suffix).join(' or ')}`);
  return holding;
}

function liveHost(inventory: Inventory, name: string): Host {
  const host = inventory.hosts.find((h) => h.name === name);
  if (!host)
    throw new UsageError(
      `--host ${name}: not a host of the inventory (${inventory.hosts.map((h) => h.name).join(', ')})`,
    );
  return host;
}

function refOf(s: SnapshotEntry): SnapshotRef {
  return { id: s.id, host: s.host, time: s.time };
}
