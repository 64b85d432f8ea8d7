// The manifest written beside each archive (manifest.json). It describes one host's snapshot.
// The ipa-backup header fields (type, time, host, ipa_version, version, services) are kept so an
// IdM administrator recognizes them.

export type SnapshotType = 'data' | 'full';

export interface ManifestFile {
  /** Path inside the archive (relative, no leading /). */
  path: string;
  size: number;
  sha256: string;
}

export interface ManifestSuffix {
  kind: 'domain' | 'ca';
  suffix: string;
  backend: string;
  /**
   * Records in the suffix's LDIF in the archive, as the server's export counted them (an export
   * task's "Processed N entries"; for FULL, the dn lines of the file db2ldif wrote): the entries,
   * the tombstones and the RUV tombstone entry. The restore checks its import against it.
   * Undefined in snapshots of older versions and in imported ipa-backup folders.
   */
  exportedEntries?: number | undefined;
  /**
   * Older snapshots only: the live entries a search counted at backup time (no tombstones). A
   * restore of such a snapshot counts the restored entries the same way to compare.
   */
  entryCount: number | undefined;
  rid: number | undefined;
  generation: string | undefined;
  /** nsds50ruv values at backup time. */
  ruv: string[];
  /** Path of the LDIF export inside the archive. */
  ldif: string;
}

/** One replication agreement as the snapshot's host saw it: where it sends changes. */
interface TopologyAgreement {
  /** nsDS5ReplicaHost (the consumer's FQDN as written in the agreement) and port. */
  host: string;
  port: number;
  enabled: boolean;
}

/** One suffix the host serves, with its replica ID (when replicated) and outgoing agreements. */
export interface TopologySuffix {
  kind: 'domain' | 'ca';
  suffix: string;
  backend: string | undefined;
  rid: number | undefined;
  agreements: TopologyAgreement[];
}

/**
 * The replication topology the snapshot was taken in, as seen from its host: enough for a restore
 * drill to rebuild a sandbox of the same shape. Absent in snapshots of older versions.
 */
export interface SnapshotTopology {
  fqdn: string;
  instance: string;
  /** The main instance's LDAP port. */
  port: number;
  roles: string[];
  /** Every backend of the main instance (also those not replicated, e.g. ipaca on a non-CA host). */
  backends: Array<{ name: string; suffix: string }>;
  suffixes: TopologySuffix[];
}

export interface Manifest {
  schema: 'ipa-fleet/snapshot/v1';
  /** `<UTC time>-<random>`, unique per host; also the snapshot's folder name. */
  id: string;
  deployment: string;
  /** Inventory name and the host's FQDN. */
  hostName: string;
  fqdn: string;
  toolVersion: string;
  dsVersion: string | undefined;
  instance: string;
  profile: '389ds' | 'freeipa';
  roles: string[];
  suffixes: ManifestSuffix[];
  /** FULL: paths asked for that did not exist on the host. */
  missingPaths: string[];
  files: ManifestFile[];
  archive: {
    /** File name beside the manifest, e.g. archive.tar.gz.pgp. */
    name: string;
    size: number;
    sha256: string;
    compression: 'gzip' | 'none';
    encrypted: boolean;
    /** OpenPGP fingerprints of the recipients (empty with --no-encrypt). */
    recipients: string[];
  };
  /** ipa-backup's header, for recognition. */
  type: 'DATA' | 'FULL';
  time: string;
  host: string;
  ipa_version: string | undefined;
  version: string;
  services: string[];
  /** Agreements per suffix, backends and replica IDs at backup time (absent before drills existed). */
  topology?: SnapshotTopology;
  /** `HOST:/var/lib/ipa/backup/ipa-…`: the ipa-backup folder the snapshot was imported from. */
  importedFrom?: string;
}
