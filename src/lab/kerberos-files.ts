// Text of the files a `--kerberos` lab's realm is made of: the KDC's kdc.conf and the krb5.conf of the
// controller and of each host. Pure functions of the layout (MIT Kerberos profile syntax).
import type { LabPaths } from './paths.js';
import type { LabRealm } from './spec.js';

/** The KDC's port (the standard one: clients find it from krb5.conf's `kdc = address:88`). */
export const KDC_PORT = 88;

/**
 * A profile value that is a path: quoted, with the two characters the profile parser unescapes
 * (backslash, double quote) escaped, so that a lab folder with spaces or quotes reads back as written.
 */
function profileString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The lab's KDC: listens on the realm's lab address only (UDP and TCP), keeps its database, stash and
 * log in the lab's kdc folder, and asks for pre-authentication as a real KDC does.
 */
export function kdcConf(paths: LabPaths, realm: LabRealm): string {
  const listen = `${realm.kdcAddress}:${KDC_PORT}`;
  return `# KDC of the ipa-fleet lab realm ${realm.realm} (lab up --kerberos): krb5kdc reads it via KRB5_KDC_PROFILE.
[kdcdefaults]
    kdc_listen = ${listen}
    kdc_tcp_listen = ${listen}

[realms]
    ${realm.realm} = {
        database_name = ${profileString(`${paths.kdcDir}/principal`)}
        key_stash_file = ${profileString(`${paths.kdcDir}/stash`)}
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        default_principal_flags = +preauth
    }

[logging]
    kdc = ${profileString(`FILE:${paths.kdcDir}/kdc.log`)}
    admin_server = ${profileString(`FILE:${paths.kdcDir}/kadmin.log`)}
`;
}

/**
 * krb5.conf of the lab realm. Nothing is looked up in DNS (the lab's names exist only in its hosts'
 * /etc/hosts) and host names are taken as given, never canonicalized: the controller reaches a host by
 * its address, and the ticket it asks for is then host/<address>, which each host's keytab holds.
 * `keytab`: a host's own keytab, as its default one (sshd's GSSAPI acceptor reads the default keytab).
 */
export function krb5Conf(realm: LabRealm, keytab?: string): string {
  const domain = realm.realm.toLowerCase();
  return `# Kerberos realm ${realm.realm} of an ipa-fleet lab (lab up --kerberos).
# The controller uses it through KRB5_CONFIG; every lab host has its own copy on /etc/krb5.conf.
[libdefaults]
    default_realm = ${realm.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
${keytab === undefined ? '' : `    default_keytab_name = ${profileString(`FILE:${keytab}`)}\n`}
[realms]
    ${realm.realm} = {
        kdc = ${realm.kdcAddress}:${KDC_PORT}
    }

[domain_realm]
    .${domain} = ${realm.realm}
    ${domain} = ${realm.realm}
`;
}
