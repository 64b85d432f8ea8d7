// Where a 389-DS instance keeps its files (DIRECTORY-OPS.md: the standard layout).

/** The instance's ldif/ folder: files tasks read or write must be there (owned by dirsrv). */
export function ldifDir(instance: string): string {
  return `/var/lib/dirsrv/slapd-${instance}/ldif`;
}

export function bakDir(instance: string): string {
  return `/var/lib/dirsrv/slapd-${instance}/bak`;
}
