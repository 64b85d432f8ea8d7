// FreeIPA's own backups, as `ipa-backup` writes them (ipaserver/install/ipa_backup.py; read back by
// ipa_restore.py), and how their parts map onto an ipa-fleet snapshot:
//
//   /var/lib/ipa/backup/ipa-data-YYYY-MM-DD-HH-MM-SS/   (ipa-full-… for a FULL backup)
//     header                       ConfigParser INI, section [ipa]: type DATA|FULL, time (UTC,
//                                  %Y-%m-%dT%H:%M:%S), host, ipa_version, version (1), services
//     ipa-data.tar | ipa-full.tar  `tar -czf … .` of a work folder: gzipped despite the name;
//                                  `.gpg` appended when encrypted with `gpg --encrypt` (the plain one
//                                  is then gone; ipa-restore takes the plain file when both exist)
//   inside that tar:
//     ./<INSTANCE>-userRoot.ldif   db2ldif --replication / an export task with nsExportReplica
//     ./<INSTANCE>-ipaca.ldif      the same for the CA backend, when the instance has one
//     ./<INSTANCE>/…               the db2bak folder (moved there from slapd-<INSTANCE>/bak/<INSTANCE>)
//     ./files.tar                  FULL only: `tar --xattrs --selinux -cf` of absolute paths (stored
//                                  without the leading /), then gzipped and renamed back to files.tar
//
// In the snapshot the LDIFs become ldif/<backend>.ldif, the db2bak folder bak/…, and of files.tar
// the paths a FULL ipa-fleet snapshot takes (fullPaths) keep their path below /, so restore reads
// an imported snapshot exactly as one `ipa-fleet backup` made.
import { parseRuv } from '../directory/ruv.js';
import { UsageError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import type { Manifest, ManifestSuffix } from './manifest.js';
import { NEVER_ARCHIVED } from './paths.js';
import { parseManifestTime } from './store.js';

export type IpaBackupType = 'DATA' | 'FULL';

/** The folder `ipa-backup` made, from the path given on the command line. */
export interface IpaBackupFolder {
  path: string;
  type: IpaBackupType;
}

/** The `header` file's [ipa] section. */
export interface IpaBackupHeader {
  type: IpaBackupType;
  /** As written: UTC without a zone. */
  time: string;
  host: string;
  ipaVersion: string;
  version: string;
  services: string[];
}

const FOLDER_RE = /^ipa-(data|full)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$/;
/** The only header version ipa-backup has ever written. */
const HEADER_VERSION = '1';
const REQUIRED_KEYS = ['type', 'time', 'host', 'ipa_version', 'version', 'services'] as const;

/** An absolute path whose last component is an ipa-backup folder name; anything else is a UsageError. */
export function parseIpaBackupFolder(path: string): IpaBackupFolder {
  const clean = path.replace(/\/+$/, '');
  const name = clean.slice(clean.lastIndexOf('/') + 1);
  if (!clean.startsWith('/'))
    throw new UsageError(`--from: '${path}' is not an absolute path (like /var/lib/ipa/backup/ipa-data-…)`);
  const m = FOLDER_RE.exec(name);
  if (!m)
    throw new UsageError(
      `--from: '${name}' is not an ipa-backup folder name (ipa-data-YYYY-MM-DD-HH-MM-SS or ipa-full-…)`,
    );
  return { path: clean, type: m[1] === 'full' ? 'FULL' : 'DATA' };
}

/**
 * The header as Python's ConfigParser reads it (keys case-insensitive, `=` or `:`, `#`/`;` comment
 * lines, indented continuation lines), checked as ipa-restore would use it. `where` names the file.
 */
export function parseIpaBackupHeader(text: string, where: string): IpaBackupHeader {
  const ipa = iniSection(text, 'ipa', where);
  for (const key of REQUIRED_KEYS) {
    if (ipa.get(key) === undefined) throw new UsageError(`${where}: [ipa] has no '${key}' (not an ipa-backup header)`);
  }
  const get = (key: (typeof REQUIRED_KEYS)[number]): string => ipa.get(key)!;
  const version = get('version');
  if (version !== HEADER_VERSION)
    throw new UsageError(`${where}: header version '${version}' is unknown (ipa-backup writes version 1)`);
  const type = get('type');
  if (type !== 'DATA' && type !== 'FULL') throw new UsageError(`${where}: type '${type}' is not DATA or FULL`);
  const time = get('time');
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(time) || !parseManifestTime(time))
    throw new UsageError(`${where}: time '${time}' is not ipa-backup's %Y-%m-%dT%H:%M:%S`);
  const host = get('host');
  if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new UsageError(`${where}: host '${host}' is not a host name`);
  return {
    type,
    time,
    host,
    ipaVersion: get('ipa_version'),
    version,
    services: get('services')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

/** One section of an INI text, keys lower-cased as ConfigParser's optionxform does. */
function iniSection(text: string, wanted: string, where: string): Map<string, string> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    const at = `${where}:${i + 1}`;
    if (/^\s*([#;].*)?$/.test(line)) return;
    if (/^\s/.test(line) && current && lastKey) {
      current.set(lastKey, `${current.get(lastKey)}\n${line.trim()}`);
      return;
    }
    const section = /^\[([^\]]+)\]\s*$/.exec(line);
    if (section) {
      if (sections.has(section[1]!)) throw new UsageError(`${at}: section [${section[1]}] appears twice`);
      current = new Map();
      sections.set(section[1]!, current);
      lastKey = undefined;
      return;
    }
    const pair = /^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$/.exec(line);
    if (!pair || !current) throw new UsageError(`${at}: not an INI line (${JSON.stringify(line.slice(0, 60))})`);
    lastKey = pair[1]!.toLowerCase();
    if (current.has(lastKey)) throw new UsageError(`${at}: '${lastKey}' appears twice`);
    current.set(lastKey, pair[2]!.trim());
  });
  const section = sections.get(wanted);
  if (!section) throw new UsageError(`${where}: no [${wanted}] section (not an ipa-backup header)`);
  return section;
}

/** The archive ipa-restore would read from the folder's file names: the plain tar, else its `.gpg`. */
export function ipaBackupArchive(
  type: IpaBackupType,
  names: readonly string[],
  where: string,
): { name: string; encrypted: boolean } {
  const plain = type === 'FULL' ? 'ipa-full.tar' : 'ipa-data.tar';
  if (names.includes(plain)) return { name: plain, encrypted: false };
  if (names.includes(`${plain}.gpg`)) return { name: `${plain}.gpg`, encrypted: true };
  throw new UsageError(`${where}: neither ${plain} nor ${plain}.gpg is there (not a complete ${type} ipa-backup)`);
}

/** What an entry of ipa-backup's tar is in the snapshot. */
export type IpaBackupPart =
  | { kind: 'ldif'; backend: string; target: string }
  | { kind: 'bak'; target: string }
  | { kind: 'files' }
  | { kind: 'folder' }
  | { kind: 'refused'; problem: string };

/** Maps one entry of ipa-data.tar / ipa-full.tar (its path as stored, `./…`) for the host's instance. */
export function ipaBackupPart(path: string, type: IpaBackupType, instance: string): IpaBackupPart {
  const rel = path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (rel === '' || rel === '.') return { kind: 'folder' };
  if (rel === 'files.tar') {
    return type === 'FULL'
      ? { kind: 'files' }
      : { kind: 'refused', problem: 'files.tar in a DATA backup (the header and the content disagree)' };
  }
  const top = rel.split('/')[0]!;
  if (!rel.includes('/') && rel.endsWith('.ldif')) {
    const m = /^(.+)-([^-/]+)\.ldif$/.exec(rel);
    if (!m) return { kind: 'refused', problem: `${rel} is not named <instance>-<backend>.ldif` };
    if (m[1] !== instance) return { kind: 'refused', problem: instanceMismatch(`${rel} is`, m[1]!, instance) };
    return { kind: 'ldif', backend: m[2]!, target: `ldif/${m[2]}.ldif` };
  }
  if (top === instance)
    return rel === top ? { kind: 'folder' } : { kind: 'bak', target: `bak/${rel.slice(top.length + 1)}` };
  return {
    kind: 'refused',
    problem: `${rel} is not part of ipa-backup's layout for instance ${instance} (another instance's db2bak folder?)`,
  };
}

function instanceMismatch(what: string, found: string, instance: string): string {
  return `${what} of instance ${found}, the inventory host's ldap.instance is ${instance}`;
}

/**
 * Whether a file of files.tar goes into the snapshot: under one of the FULL paths (as stored,
 * without the leading /), and not a PID file or lock (NEVER_ARCHIVED, as for `ipa-fleet backup`).
 */
export function keepsConfigFile(path: string, roots: readonly string[]): boolean {
  const rel = path.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
  if (!roots.some((root) => rel === root || rel.startsWith(`${root}/`))) return false;
  const parts = rel.split('/');
  return !NEVER_ARCHIVED.some((pattern) =>
    pattern.includes('/') ? rel.startsWith(pattern) : parts.some((p) => globMatch(pattern, p)),
  );
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return re.test(name);
}

/** What an LDIF export says about itself: its first entry's DN (the suffix), its RUV and its records. */
export interface LdifSurvey {
  suffix: string | undefined;
  /** nsds50ruv values of the RUV tombstone, unfolded. */
  ruv: string[];
  /** Records (dn lines): what the manifest's exportedEntries says of ipa-fleet's own exports. */
  records: number;
}

/** Longest line kept while surveying; dn and nsds50ruv lines are far shorter. */
const MAX_SURVEY_LINE = 64 * 1024;

/**
 * Notes an LDIF stream's first DN and the RUV tombstone's nsds50ruv values (unfolding continuation
 * lines) from the chunks it is shown. Memory: one line, capped.
 */
export class LdifSurveyor {
  readonly survey: LdifSurvey = { suffix: undefined, ruv: [], records: 0 };
  private line: Buffer[] = [];
  private lineBytes = 0;
  /** The logical line being unfolded (physical line plus continuations). */
  private logical: string | undefined;
  private inRuv = false;

  write(chunk: Buffer): void {
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      this.keep(chunk.subarray(from, nl));
      this.physical(Buffer.concat(this.line).toString('utf8').replace(/\r$/, ''));
      this.line = [];
      this.lineBytes = 0;
      from = nl + 1;
    }
    this.keep(chunk.subarray(from));
  }

  end(): LdifSurvey {
    if (this.lineBytes > 0) this.physical(Buffer.concat(this.line).toString('utf8'));
    this.physical('');
    return this.survey;
  }

  private keep(part: Buffer): void {
    if (this.lineBytes >= MAX_SURVEY_LINE || part.length === 0) return;
    const room = MAX_SURVEY_LINE - this.lineBytes;
    this.line.push(part.length > room ? part.subarray(0, room) : part);
    this.lineBytes += Math.min(part.length, room);
  }

  private physical(text: string): void {
    if (text.startsWith(' ') && this.logical !== undefined) {
      this.logical += text.slice(1);
      return;
    }
    if (this.logical !== undefined) this.logicalLine(this.logical);
    this.logical = text === '' || text.startsWith('#') ? undefined : text;
    if (text === '') this.inRuv = false;
  }

  private logicalLine(line: string): void {
    const m = /^([^:]+):(:?)\s?(.*)$/.exec(line);
    if (!m) return;
    const name = m[1]!.toLowerCase();
    const value = (m[2] ? Buffer.from(m[3]!.trim(), 'base64').toString('utf8') : m[3]!).trim();
    if (name === 'dn') {
      this.survey.records++;
      this.survey.suffix ??= value;
      this.inRuv = /^nsuniqueid\s*=\s*ffffffff-ffffffff-ffffffff-ffffffff\s*,/i.test(value);
    } else if (this.inRuv && name === 'nsds50ruv') this.survey.ruv.push(value);
  }
}

/** One LDIF of the backup as it went into the snapshot. */
export interface ConvertedLdif {
  backend: string;
  /** Its path in the snapshot's tar. */
  target: string;
  survey: LdifSurvey;
}

/** DNs compared as 389-DS compares suffixes: case and the spaces around separators do not count. */
function sameDn(a: string, b: string): boolean {
  const norm = (dn: string): string =>
    dn
      .replace(/\s*([,=+])\s*/g, '$1')
      .trim()
      .toLowerCase();
  return norm(a) === norm(b);
}

/**
 * The manifest's suffixes from the LDIFs: each must hold the inventory host's domain or CA suffix,
 * and one the domain suffix. The replica ID is the RUV element of the backup's own host.
 */
export function importedSuffixes(
  ldifs: readonly ConvertedLdif[],
  host: Host,
  fqdn: string,
  where: string,
): ManifestSuffix[] {
  const suffixes = ldifs.map((l): ManifestSuffix => {
    const found = l.survey.suffix;
    const kind =
      found === undefined
        ? undefined
        : sameDn(found, host.suffixes.domain)
          ? 'domain'
          : sameDn(found, host.suffixes.ca.suffix)
            ? 'ca'
            : undefined;
    if (kind === undefined)
      throw new UsageError(
        `${where}: ${l.backend}'s LDIF holds ${found === undefined ? 'no entry' : `'${found}'`}, neither the ` +
          `inventory's domain suffix ${host.suffixes.domain} nor its CA suffix ${host.suffixes.ca.suffix}`,
      );
    const ruv = parseRuv(l.survey.ruv);
    const own = ruv.elements.find((e) => e.url !== undefined && new RegExp(`//${escapeRe(fqdn)}:`, 'i').test(e.url));
    return {
      kind,
      suffix: kind === 'domain' ? host.suffixes.domain : host.suffixes.ca.suffix,
      backend: l.backend,
      exportedEntries: l.survey.records,
      entryCount: undefined,
      rid: (own ?? ruv.elements[0])?.rid,
      generation: ruv.generation,
      ruv: l.survey.ruv,
      ldif: l.target,
    };
  });
  if (!suffixes.some((s) => s.kind === 'domain'))
    throw new UsageError(
      `${where}: no LDIF of the domain suffix ${host.suffixes.domain} (ipa-backup's <instance>-userRoot.ldif)`,
    );
  return suffixes;
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What importedManifest needs besides the header. */
export interface ImportedParts {
  id: string;
  deployment: string;
  host: Host;
  toolVersion: string;
  importedFrom: string;
  suffixes: ManifestSuffix[];
  missingPaths: string[];
  files: Manifest['files'];
  archive: Manifest['archive'];
}

/** The snapshot's manifest: ipa-backup's header fields where a backup made by ipa-fleet has its own. */
export function importedManifest(header: IpaBackupHeader, p: ImportedParts): Manifest {
  return {
    schema: 'ipa-fleet/snapshot/v1',
    id: p.id,
    deployment: p.deployment,
    hostName: p.host.name,
    fqdn: header.host,
    toolVersion: p.toolVersion,
    dsVersion: undefined,
    instance: p.host.ldap.instance,
    profile: p.host.profile,
    roles: p.host.roles,
    suffixes: p.suffixes,
    missingPaths: p.missingPaths,
    files: p.files,
    archive: p.archive,
    type: header.type,
    time: header.time,
    host: header.host,
    ipa_version: header.ipaVersion,
    version: header.version,
    services: header.services,
    importedFrom: p.importedFrom,
  };
}
