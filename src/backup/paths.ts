// What a FULL backup takes from a FreeIPA server besides the 389-DS instance's own folder: the
// list ipa-backup keeps (FreeIPA 4.13 ipa_backup.py), as data in one place. Missing paths are
// skipped and listed in the manifest.
export const FREEIPA_FULL_PATHS: readonly string[] = [
  '/etc/ipa',
  '/etc/krb5.conf',
  '/etc/krb5.keytab',
  '/etc/krb5.conf.d',
  '/var/kerberos/krb5kdc',
  '/etc/httpd/conf/ipa.keytab',
  '/etc/httpd/conf.d/ipa.conf',
  '/etc/httpd/conf.d/ipa-pki-proxy.conf',
  '/etc/httpd/conf.d/ipa-rewrite.conf',
  '/etc/httpd/alias',
  '/var/lib/ipa/certs',
  '/var/lib/ipa/private',
  '/var/lib/ipa/passwds',
  '/var/lib/ipa/sysrestore',
  '/var/lib/ipa/sysupgrade',
  '/etc/pki/pki-tomcat',
  '/etc/sysconfig/pki-tomcat',
  '/var/lib/pki/pki-tomcat/conf',
  '/var/lib/certmonger',
  '/etc/named.conf',
  '/etc/named.keytab',
  '/etc/ssh/sshd_config',
  '/etc/sssd/sssd.conf',
  '/etc/nsswitch.conf',
  '/etc/pki/ca-trust/source/ipa.p11-kit',
  '/etc/ipa/nssdb',
  '/etc/dirsrv/ssca',
];

/** Never in an archive: PID files and lock folders (the seed review's point), and ipa-backup's own folder. */
export const NEVER_ARCHIVED: readonly string[] = ['*.pid', 'lock', 'locks', '*.lock', 'var/lib/ipa/backup'];
