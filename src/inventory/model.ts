// The validated inventory: what every later stage (transport, topology, plan) reads.
// Values here are resolved: group vars merged, defaults applied, relative paths made absolute.

/** Where a secret comes from. The inventory never holds a secret itself. */
export type SecretSource = { kind: 'file'; path: string } | { kind: 'env'; name: string } | { kind: 'prompt' };

export type HostKeyPolicy = 'strict' | 'accept-new';

/** `ssh2`: the built-in client (the default); `openssh`: the system `ssh`, with ~/.ssh/config and GSSAPI. */
export type SshTransportKind = 'ssh2' | 'openssh';

/** Commands run as another user through sudo (`ssh.become: sudo`); LDAP through the tunnel needs none. */
export interface BecomeSettings {
  method: 'sudo';
  /** Whom to become (`ssh.become_user`, default root). */
  user: string;
  /** sudo's password, sent on stdin when sudo asks; absent: NOPASSWD (`sudo -n`). */
  password: SecretSource | undefined;
}

export interface SshSettings {
  transport: SshTransportKind;
  user: string;
  /** Whether the inventory set `ssh.user` (the openssh transport otherwise leaves it to ~/.ssh/config). */
  userGiven: boolean;
  become: BecomeSettings | undefined;
  port: number;
  /** Private key file; when absent, ssh-agent (SSH_AUTH_SOCK) is used. */
  identityFile: string | undefined;
  identityPassphrase: SecretSource | undefined;
  /** OpenSSH known_hosts file used to verify host keys. */
  knownHostsFile: string;
  hostKeyPolicy: HostKeyPolicy;
  /** Name of another inventory host, or `[user@]address[:port]`, to jump through. */
  proxyJump: string | undefined;
  connectTimeoutMs: number;
  connectRetries: number;
  keepaliveIntervalMs: number;
}

export interface LdapSettings {
  /** 389-DS instance name, e.g. IPA-TEST (slapd-IPA-TEST). */
  instance: string;
  port: number;
  bindDn: string;
  password: SecretSource;
  /** `ldaps`: connect straight to the host with TLS instead of tunnelling through SSH. */
  direct: 'ldaps' | undefined;
  caFile: string | undefined;
  timeoutMs: number;
}

export interface CaSuffixSettings {
  suffix: string;
  /** Old deployments ran the CA in a separate instance (port 7389). */
  instance: string | undefined;
  port: number | undefined;
}

export interface SuffixSettings {
  domain: string;
  ca: CaSuffixSettings;
}

export type Profile = '389ds' | 'freeipa';

export interface Host {
  /** Inventory name, normally the FQDN. */
  name: string;
  address: string;
  /** Every group the host belongs to, directly or through `children`. */
  groups: string[];
  roles: string[];
  profile: Profile;
  ssh: SshSettings;
  ldap: LdapSettings;
  suffixes: SuffixSettings;
  /** Where the host was declared, for error messages. */
  source: { file: string; line: number | undefined };
}

export interface Inventory {
  file: string;
  /** Deployment name (`all.vars.deployment`, default: the file's base name). */
  deployment: string;
  /** In declaration order. */
  hosts: Host[];
  /** group name → host names (transitively through children). `all` included. */
  groups: Map<string, string[]>;
}

export const DEFAULTS = {
  sshUser: 'root',
  sshTransport: 'ssh2' as SshTransportKind,
  becomeUser: 'root',
  sshPort: 22,
  connectTimeoutMs: 10_000,
  connectRetries: 2,
  keepaliveIntervalMs: 15_000,
  ldapPort: 389,
  /** With `ldap.direct: ldaps` and no `ldap.port`. */
  ldapsPort: 636,
  bindDn: 'cn=Directory Manager',
  ldapTimeoutMs: 30_000,
  caSuffix: 'o=ipaca',
  profile: '389ds' as Profile,
} as const;
