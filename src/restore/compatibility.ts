// Can this snapshot be restored onto this master? Pure checks (tested with fixtures); the
// preflight action runs them before anything changes. Stricter than ipa-restore where it only warns.
import type { Manifest, ManifestSuffix, SnapshotType } from '../backup/manifest.js';
import type { Host } from '../inventory/model.js';
import type { HostFacts } from '../topology/facts.js';
import { normalizeDn } from '../directory/dn.js';

export type SuffixKind = 'domain' | 'ca';

export interface CompatibilityInput {
  manifest: Manifest;
  deployment: string;
  type: SnapshotType;
  master: Host;
  masterFacts: HostFacts;
  /** Suffix kinds the plan restores (the master's replicated suffixes). */
  suffixes: SuffixKind[];
  forceVersion: boolean;
  /** FreeIPA version on the master, when it has one. */
  masterIpaVersion?: string | undefined;
}

/** One line per reason the restore must not go ahead; empty when it may. */
export function compatibilityProblems(input: CompatibilityInput): string[] {
  const { manifest: m, masterFacts: f, master } = input;
  const problems: string[] = [];
  if (m.deployment !== input.deployment) {
    problems.push(`snapshot ${m.id} belongs to deployment '${m.deployment}', the inventory is '${input.deployment}'`);
  }
  if (input.type === 'full') {
    if (m.type !== 'FULL')
      problems.push(`snapshot ${m.id} is a DATA backup: a FULL restore needs a FULL snapshot (use --type data)`);
    if (m.fqdn.toLowerCase() !== f.fqdn.toLowerCase()) {
      problems.push(
        `snapshot ${m.id} is a FULL backup of ${m.fqdn}: it can only be restored onto that host, not ${f.fqdn} ` +
          '(restore its data with --type data)',
      );
    }
  }
  const versions: Array<[string, string | undefined, string | undefined]> = [
    ['389-DS', versionOf(m.dsVersion), versionOf(f.dsVersion)],
    ...(m.ipa_version && input.masterIpaVersion
      ? [
          ['FreeIPA', versionOf(m.ipa_version), versionOf(input.masterIpaVersion)] as [
            string,
            string | undefined,
            string | undefined,
          ],
        ]
      : []),
  ];
  for (const [what, theirs, ours] of versions) {
    if (!theirs || !ours) continue;
    if (majorMinor(theirs) !== majorMinor(ours) && !input.forceVersion) {
      problems.push(
        `snapshot ${m.id} was taken with ${what} ${theirs}, ` +
          `${master.name} runs ${ours}: major.minor differ (--force-version to restore anyway)`,
      );
    }
  }
  for (const s of m.suffixes) {
    const backend = f.backends.find((b) => normalizeDn(b.suffix) === normalizeDn(s.suffix));
    if (!backend) {
      problems.push(
        `${master.name} has no backend for ` +
          `${s.suffix}: cannot restore a data backup into an empty system (install the server first)`,
      );
    }
  }
  const held = new Set(m.suffixes.map((s) => s.kind));
  for (const kind of input.suffixes) {
    if (!held.has(kind)) {
      const suffix = kind === 'ca' ? master.suffixes.ca.suffix : master.suffixes.domain;
      problems.push(
        `snapshot ${m.id} holds no export of ${suffix}, which ${master.name} replicates: restoring the rest ` +
          'alone would mix data from two points in time (choose a snapshot of a host with the same suffixes)',
      );
    }
  }
  for (const s of m.suffixes) {
    if (!input.suffixes.includes(s.kind)) {
      problems.push(
        s.kind === 'ca'
          ? `snapshot ${m.id} holds the CA suffix ${s.suffix}, ` +
              `but ${master.name} is not a CA replica: a CA restore needs a CA master`
          : `snapshot ${m.id} holds ${s.suffix}, which ${master.name} does not replicate`,
      );
    }
  }
  return problems;
}

/** Bytes of each suffix's LDIF in the snapshot (what the master and each replica must hold). */
export function ldifBytes(manifest: Manifest, kind: SuffixKind): number {
  const s: ManifestSuffix | undefined = manifest.suffixes.find((x) => x.kind === kind);
  return s ? (manifest.files.find((f) => f.path === s.ldif)?.size ?? 0) : 0;
}

/**
 * Free space a host needs in the instance's ldif/ folder: the LDIF itself and as much again
 * for the database files the import writes (same file system on a standard install).
 */
export function spaceNeeded(ldif: number): number {
  return ldif * 2;
}

/** "2.3.1" from "389-Directory/2.3.1 B2025.016.1616" or "4.12.2-1.fc40". */
export function versionOf(text: string | undefined): string | undefined {
  if (!text) return undefined;
  return /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

export function majorMinor(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}
