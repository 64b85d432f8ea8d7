// Fencing: turning a host's replication agreements off (and on again), verified by reading back.
// A fenced host sends nothing: with every agreement of a suffix off
// on every host, no server can push changes into a restored master while it is being rebuilt.
import { FleetError } from '../errors.js';
import type { LdapSession } from '../transport/ldap.js';
import { listAgreements, type Agreement } from './agreements.js';

export interface AgreementToggle {
  dn: string;
  name: string;
  suffix: string;
  target: string;
  /** nsds5ReplicaEnabled before the change, as the server reported it. */
  before: 'on' | 'off';
  after: 'on' | 'off';
}

/**
 * Sets nsds5ReplicaEnabled on every agreement of `suffix` that `select` keeps (all by default),
 * then reads every one back: an agreement that does not show the new value is a failure.
 * Agreements already in the wanted state are not written.
 */
export async function setAgreementsEnabled(
  ldap: LdapSession,
  suffix: string,
  enabled: boolean,
  select: (a: Agreement) => boolean = () => true,
): Promise<AgreementToggle[]> {
  const want = enabled ? 'on' : 'off';
  const agreements = (await listAgreements(ldap, suffix)).filter(select);
  const toggles: AgreementToggle[] = [];
  for (const a of agreements) {
    const before = a.enabled ? 'on' : 'off';
    if (before !== want) await ldap.modify(a.dn, [{ op: 'replace', attr: 'nsds5ReplicaEnabled', values: [want] }]);
    toggles.push({ dn: a.dn, name: a.name, suffix, target: a.targetHost, before, after: want });
  }
  const check = new Map((await listAgreements(ldap, suffix)).map((a) => [a.dn.toLowerCase(), a]));
  for (const t of toggles) {
    const now = check.get(t.dn.toLowerCase());
    if (!now)
      throw new FleetError(
        'failure',
        `${ldap.host.name}: agreement ${t.name} vanished while it was being turned ${want}`,
        { host: ldap.host.name },
      );
    if (now.enabled !== enabled)
      throw new FleetError(
        'failure',
        `${ldap.host.name}: agreement ${t.name} still reads nsds5ReplicaEnabled ` +
          `${now.enabled ? 'on' : 'off'} after it was set ${want}`,
        { host: ldap.host.name },
      );
  }
  return toggles;
}
