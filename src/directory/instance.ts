// Where a 389-DS instance keeps its files (DIRECTORY-OPS.md: the standard layout), and the
// folders an instance's own dse.ldif names, which recreating the instance must make again.

/** The instance's ldif/ folder: files tasks read or write must be there (owned by dirsrv). */
export function ldifDir(instance: string): string {
  return `/var/lib/dirsrv/slapd-${instance}/ldif`;
}

export function bakDir(instance: string): string {
  return `/var/lib/dirsrv/slapd-${instance}/bak`;
}

/** The configuration folder (dse.ldif, schema/, the NSS certificate database). */
export function configDir(instance: string): string {
  return `/etc/dirsrv/slapd-${instance}`;
}

/** lib389's marker of an instance: it lists and removes instances by their dse.ldif. */
export function dseLdifPath(instance: string): string {
  return `${configDir(instance)}/dse.ldif`;
}

/** What recreating an instance needs from its dse.ldif: who runs it and every folder it uses. */
export interface InstanceLayout {
  /** nsslapd-localuser: the account ns-slapd runs as (dirsrv). */
  user: string;
  /**
   * Folders ns-slapd needs before it starts, owned by `user` with mode 0770 as lib389's setup makes
   * them: config, schema, certificates, database, database home, backups, LDIF, lock, run, logs.
   */
  folders: string[];
  /** Parents lib389 also gives to `user`: /var/lib/dirsrv/slapd-INST (a restore recreates db/ in it), the lock's. */
  ownedParents: string[];
}

/** The instance's folders, from the values of its dse.ldif (the defaults of defaults.inf where one is missing). */
export function instanceLayout(instance: string, dse: string): InstanceLayout {
  const config = dseAttributes(dse, 'cn=config');
  const ldbm = dseAttributes(dse, 'cn=config,cn=ldbm database,cn=plugins,cn=config');
  const varLib = `/var/lib/dirsrv/slapd-${instance}`;
  const logDir = `/var/log/dirsrv/slapd-${instance}`;
  const pick = (attrs: Map<string, string>, name: string, fallback: string): string => attrs.get(name) ?? fallback;
  const parentOf = (path: string): string => path.replace(/\/+[^/]+\/*$/, '') || '/';
  const lockDir = pick(config, 'nsslapd-lockdir', `/run/lock/dirsrv/slapd-${instance}`);
  const dbDir = pick(ldbm, 'nsslapd-directory', `${varLib}/db`);
  const logs = ['nsslapd-errorlog', 'nsslapd-accesslog', 'nsslapd-auditlog', 'nsslapd-securitylog']
    .map((a) => config.get(a))
    .filter((v): v is string => v?.startsWith('/') === true)
    .map(parentOf);
  const folders = [
    configDir(instance),
    pick(config, 'nsslapd-schemadir', `${configDir(instance)}/schema`),
    pick(config, 'nsslapd-certdir', configDir(instance)),
    dbDir,
    pick(ldbm, 'nsslapd-db-home-directory', `/dev/shm/slapd-${instance}`),
    pick(config, 'nsslapd-bakdir', `${varLib}/bak`),
    pick(config, 'nsslapd-ldifdir', `${varLib}/ldif`),
    lockDir,
    pick(config, 'nsslapd-rundir', '/run/dirsrv'),
    ...(logs.length > 0 ? logs : [logDir]),
  ];
  return {
    user: pick(config, 'nsslapd-localuser', 'dirsrv'),
    folders: [...new Set(folders.map((f) => f.replace(/\/+$/, '')))],
    ownedParents: [...new Set([parentOf(dbDir), parentOf(lockDir)])],
  };
}

/** The attributes (first value each, lower-case names) of one entry of a dse.ldif; empty when it is absent. */
function dseAttributes(dse: string, dn: string): Map<string, string> {
  const wanted = dn.toLowerCase().replace(/\s*,\s*/g, ',');
  // Folded lines continue on lines that start with one space.
  const unfolded = dse.replace(/\r?\n /g, '');
  for (const entry of unfolded.split(/(?:\r?\n){2,}/)) {
    const lines = entry.split(/\r?\n/).filter((l) => l !== '' && !l.startsWith('#'));
    const first = /^dn:\s*(.*)$/i.exec(lines[0] ?? '');
    if (
      !first ||
      first[1]!
        .trim()
        .toLowerCase()
        .replace(/\s*,\s*/g, ',') !== wanted
    )
      continue;
    const attrs = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const m = /^([A-Za-z0-9;-]+):(?!:)\s?(.*)$/.exec(line);
      if (m && !attrs.has(m[1]!.toLowerCase())) attrs.set(m[1]!.toLowerCase(), m[2]!.trim());
    }
    return attrs;
  }
  return new Map();
}
