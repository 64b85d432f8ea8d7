import { join } from 'node:path';
import { stateDir } from '../state-dir.js';

/** Where a lab keeps its files. Several labs can coexist, each in its own folder. */
export class LabPaths {
  constructor(readonly root: string) {}

  static default(env: NodeJS.ProcessEnv = process.env): LabPaths {
    return new LabPaths(join(stateDir(env), 'lab'));
  }

  get state(): string {
    return join(this.root, 'lab.json');
  }
  get inventory(): string {
    return join(this.root, 'inventory.yaml');
  }
  get identity(): string {
    return join(this.root, 'id_ed25519');
  }
  get authorizedKeys(): string {
    return join(this.root, 'authorized_keys');
  }
  get knownHosts(): string {
    return join(this.root, 'known_hosts');
  }
  get dmPassword(): string {
    return join(this.root, 'dm-password');
  }
  get replPassword(): string {
    return join(this.root, 'repl-password');
  }
  /** The hosts' /etc/sudoers (bind-mounted) in a lab with `--sudo-user`. */
  get sudoers(): string {
    return join(this.root, 'sudoers');
  }
  get etcHosts(): string {
    return join(this.root, 'etc-hosts');
  }
  /** The inventory of a `--kerberos` lab's GSSAPI logins: the system ssh client, no key. */
  get kerberosInventory(): string {
    return join(this.root, 'inventory-kerberos.yaml');
  }
  /** The realm's krb5.conf for the controller (KRB5_CONFIG). */
  get krb5Conf(): string {
    return join(this.root, 'krb5.conf');
  }
  /** The credential cache `lab kinit` fills (KRB5CCNAME=FILE:…). */
  get credentialCache(): string {
    return join(this.root, 'krb5cc');
  }
  /** The KDC's folder: kdc.conf, database, stash, log, pid, and the password of root@REALM. */
  get kdcDir(): string {
    return join(this.root, 'kdc');
  }
  get kdcConf(): string {
    return join(this.kdcDir, 'kdc.conf');
  }
  get kdcPidFile(): string {
    return join(this.kdcDir, 'krb5kdc.pid');
  }
  get rootPrincipalPassword(): string {
    return join(this.kdcDir, 'root-password');
  }
  get hostsRoot(): string {
    return join(this.root, 'hosts');
  }

  hostDir(fqdn: string): string {
    return join(this.hostsRoot, fqdn);
  }
  /** ns-slapd's pid file as seen from the controller (the host's /run/dirsrv is bind-mounted). */
  slapdPidFile(fqdn: string, instance: string): string {
    return join(this.hostDir(fqdn), 'run-dirsrv', `slapd-${instance}.pid`);
  }
  sshdPidFile(fqdn: string): string {
    return join(this.hostDir(fqdn), 'sshd.pid');
  }
  /** The host's keytab (its host principals) and the krb5.conf that names it, mounted on the host's /etc/krb5.conf. */
  keytab(fqdn: string): string {
    return join(this.hostDir(fqdn), 'krb5.keytab');
  }
  hostKrb5Conf(fqdn: string): string {
    return join(this.hostDir(fqdn), 'krb5.conf');
  }
  nsPidFile(fqdn: string): string {
    return join(this.hostDir(fqdn), 'namespace.pid');
  }
}
