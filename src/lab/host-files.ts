// Text of the files one lab host is made of (LAB.md). Pure functions of the layout.
import type { LabHost, LabSpec } from './spec.js';
import type { LabPaths } from './paths.js';

/** How a host is logged into, beyond the lab's key: a Kerberos realm, a sudo user instead of root. */
export type HostLogin = Pick<LabSpec, 'kerberos' | 'sudo'>;

/**
 * Bind mounts that give a host its own copies of 389-DS's folders and its own /etc/hosts (and, in a
 * `--kerberos` lab, its own /etc/krb5.conf, which names its keytab; with a sudo user, the lab's sudoers).
 */
export function bootScript(paths: LabPaths, host: LabHost, { kerberos, sudo }: HostLogin = {}): string {
  const dir = paths.hostDir(host.fqdn);
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const krb5Mount = kerberos !== undefined ? `\nmount --bind ${q(paths.hostKrb5Conf(host.fqdn))} /etc/krb5.conf` : '';
  return `#!/bin/bash
# Runs inside the host's private mount + UTS namespace (unshare --mount --uts --fork).
set -euo pipefail
L=${q(dir)}
hostname ${host.fqdn}
mount --bind "$L/etc-dirsrv" /etc/dirsrv
mount --bind "$L/var-lib-dirsrv" /var/lib/dirsrv
mount --bind "$L/var-log-dirsrv" /var/log/dirsrv
mkdir -p /run/dirsrv /run/lock/dirsrv /run/sshd
mount --bind "$L/run-dirsrv" /run/dirsrv
mount --bind "$L/lock-dirsrv" /run/lock/dirsrv
mount --bind "$L/defaults.inf" /usr/share/dirsrv/inf/defaults.inf
mount --bind ${q(paths.etcHosts)} /etc/hosts${krb5Mount}
${
  sudo
    ? `mount --bind ${q(paths.sudoers)} /etc/sudoers
`
    : ''
}# 389-DS keeps its database environment in /dev/shm/slapd-<instance>: each host needs its own.
mount -t tmpfs -o mode=1777,size=256m tmpfs /dev/shm
exec /usr/sbin/sshd -D -e -f "$L/sshd_config"
`;
}

/** Paths are double-quoted: sshd splits unquoted values at spaces. A realm: GSSAPI logins too. */
export function sshdConfig(paths: LabPaths, host: LabHost, { kerberos: realm, sudo }: HostLogin = {}): string {
  const dir = paths.hostDir(host.fqdn);
  // sshd reads an AuthorizedKeysFile as the user logging in, who cannot enter a root-only lab folder:
  // with a sudo user the lab's key is handed over by a command sshd runs as root.
  const keys = sudo
    ? [
        'AuthorizedKeysFile none',
        `AuthorizedKeysCommand /bin/cat "${paths.authorizedKeys}"`,
        'AuthorizedKeysCommandUser root',
      ].join('\n')
    : `AuthorizedKeysFile "${paths.authorizedKeys}"`;
  return `# ipa-fleet lab host ${host.fqdn}
ListenAddress ${host.address}:22
HostKey "${dir}/ssh/host_ed25519"
PermitRootLogin ${sudo ? 'no' : 'prohibit-password'}
${keys}
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile "${dir}/sshd.pid"
MaxSessions 10
AcceptEnv none
${realm ? gssapiLines(realm) : ''}`;
}

/**
 * The controller connects to a lab host's address, so its ticket is for host/<address>, while the
 * host's name (and sshd's strict acceptor name) is host/<fqdn>. The keytab holds both, and sshd accepts
 * a ticket for any key in it: the keytab is the host's alone, so that admits exactly this host's names.
 * (A controller-side ssh config with GSSAPIServerIdentity would instead need every ssh run to be given
 * that file; a site whose inventory addresses are the FQDNs needs neither.)
 */
function gssapiLines(realm: NonNullable<LabSpec['kerberos']>): string {
  return `# Kerberos logins (realm ${realm.realm}): root@${realm.realm} maps to root by the default auth_to_local rule
GSSAPIAuthentication yes
GSSAPIStrictAcceptorCheck no
`;
}

/**
 * The hosts' /etc/sudoers: the lab user may run anything as anyone, with its password or without.
 * No tty (commands come over SSH without one), no lecture, and root's usual PATH as distributions set it.
 */
export function sudoersFile(sudo: NonNullable<LabSpec['sudo']>): string {
  return `# ipa-fleet lab: sudo for ${sudo.user}
Defaults !requiretty
Defaults !lecture
Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
root ALL=(ALL:ALL) ALL
${sudo.user} ALL=(ALL:ALL) ${sudo.passwordFile === undefined ? 'NOPASSWD: ' : ''}ALL
`;
}

export function etcHosts(spec: LabSpec): string {
  return ['127.0.0.1 localhost', ...spec.hosts.map((h) => `${h.address} ${h.fqdn} ${h.short}`), ''].join('\n');
}

/**
 * defaults.inf with systemd off (dsctl then starts ns-slapd itself) and the LDAPI socket moved
 * under /run/dirsrv, which is per host: the stock path /run/slapd-<inst>.socket would be shared.
 */
export function defaultsInf(stock: string): string {
  return stock
    .replace(/^with_systemd = .*$/m, 'with_systemd = 0')
    .replace(/^ldapi = .*$/m, 'ldapi = /run/dirsrv/slapd-{instance_name}.socket');
}

/**
 * The temporary ports of dscreate's start-up, which listens on every address: unique per host and
 * per lab network, so that two labs built at once (lab tests run two files in parallel) never meet.
 */
export function temporaryPorts(host: LabHost): { port: number; securePort: number } {
  const [, second, third] = host.address.split('.').map(Number) as [number, number, number];
  const slot = ((second * 256 + third) % 312) * 32 + host.index;
  return { port: 20000 + slot, securePort: 30000 + slot };
}

/** dscreate answer file. The temporary ports avoid dscreate's start-up on every address colliding. */
export function dsInf(host: LabHost, instance: string, dmPassword: string): string {
  const { port, securePort } = temporaryPorts(host);
  return `[general]
config_version = 2
full_machine_name = ${host.fqdn}
strict_host_checking = False
selinux = False
systemd = False
start = False
[slapd]
instance_name = ${instance}
port = ${port}
secure_port = ${securePort}
root_password = ${dmPassword}
self_sign_cert = False
${host.backends.map((b) => `[backend-${b.name}]\nsuffix = ${b.suffix}\ncreate_suffix_entry = True\n`).join('')}`;
}

/** After dscreate: listen on 389/636 on the host's own address only. */
export function rewriteListen(dseLdif: string, address: string): string {
  return dseLdif
    .replace(/^nsslapd-port: .*$/m, `nsslapd-port: 389\nnsslapd-listenhost: ${address}`)
    .replace(/^nsslapd-secureport: .*$/m, 'nsslapd-secureport: 636');
}
