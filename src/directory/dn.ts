import { randomBytes } from 'node:crypto';

/** Escapes a value for use inside an RDN (RFC 4514), the way 389-DS writes mapping-tree names. */
export function escapeRdnValue(value: string): string {
  return value
    .replace(/[\\,=+"<>;\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)
    .replace(/^[ #]/, (c) => `\\${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/ $/, '\\20');
}

/** The replica configuration entry of a suffix. */
export function replicaDn(suffix: string): string {
  return `cn=replica,cn=${escapeRdnValue(suffix)},cn=mapping tree,cn=config`;
}

/** The RUV tombstone entry of a suffix. */
export const RUV_FILTER = '(&(nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff)(objectclass=nstombstone))';

/** Agreements of one suffix, found by filter: names (meTo…, caTo…) are not reliable. */
export function agreementFilter(suffix: string): string {
  return `(&(objectclass=nsds5replicationagreement)(nsDS5ReplicaRoot=${escapeFilterValue(suffix)}))`;
}

/** Escapes a value for an LDAP filter (RFC 4515). */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Case- and space-insensitive form of a DN, for comparing suffixes. */
export function normalizeDn(dn: string): string {
  return dn
    .split(/(?<!\\),/)
    .map((rdn) =>
      rdn
        .split(/(?<!\\)=/)
        .map((p) => p.trim())
        .join('='),
    )
    .join(',')
    .toLowerCase();
}

/** Whether a normalized DN is `nbase` or below it (both normalized). */
export function within(ndn: string, nbase: string): boolean {
  return ndn === nbase || ndn.endsWith(`,${nbase}`);
}

/** The entries ipa-fleet adds for a moment to watch replication work: convergence probes and canaries. */
export type ProbeKind = 'probe' | 'canary';

export function probeDn(kind: ProbeKind, suffix: string): string {
  return `cn=ipa-fleet-${kind}-${randomBytes(4).toString('hex')},${suffix}`;
}

/** Finds the probes and canaries an interrupted run left under a suffix (one level). */
export const PROBE_FILTER = '(|(cn=ipa-fleet-probe-*)(cn=ipa-fleet-canary-*))';

/** Whether a normalized DN is one of those probes: they are never data. */
export function isProbeDn(ndn: string): boolean {
  return /^cn=ipa-fleet-(probe|canary)-/.test(ndn);
}
