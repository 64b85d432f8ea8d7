import type { RunContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import { LdapSession } from './ldap.js';
import { ControlFolder, connectOpenssh } from './openssh.js';
import type { SshSession, SshTarget } from './session.js';
import { connectSsh2 } from './ssh.js';

/**
 * The run's connections: one SSH session per host (reused by every command and tunnel)
 * and one bound LDAP session per host and port. Close it in a `finally`.
 */
export class Transport {
  private readonly sshSessions = new Map<string, Promise<SshSession>>();
  private readonly ldapSessions = new Map<string, Promise<LdapSession>>();
  /** The openssh transport's control sockets and masters, removed when the run's connections close. */
  private readonly controlFolder = new ControlFolder();

  constructor(
    readonly inventory: Inventory,
    readonly ctx: RunContext,
  ) {}

  ssh(host: Host): Promise<SshSession> {
    return this.sshTo({ name: host.name, address: host.address, ssh: host.ssh });
  }

  /** Bound LDAP session; `port` selects a separate instance (old CA layout). */
  ldap(host: Host, port = host.ldap.port): Promise<LdapSession> {
    const key = `${host.name}:${port}`;
    const cached = this.ldapSessions.get(key);
    if (cached) {
      // A connection that died while idle (a server restart, a dropped channel) is replaced.
      return cached.then((s) => {
        if (s.isOpen) return s;
        if (this.ldapSessions.get(key) === cached) this.ldapSessions.delete(key);
        return this.ldap(host, port);
      });
    }
    const opening = (async () => {
      const ssh = host.ldap.direct === 'ldaps' ? undefined : await this.ssh(host);
      return LdapSession.open(host, ssh, this.ctx, port);
    })();
    this.ldapSessions.set(key, opening);
    opening.catch(() => this.ldapSessions.delete(key));
    return opening;
  }

  /** Drops a host's LDAP sessions (its directory server is being stopped or was restarted). */
  async forgetLdap(host: Host): Promise<void> {
    for (const [key, session] of [...this.ldapSessions]) {
      if (!key.startsWith(`${host.name}:`)) continue;
      this.ldapSessions.delete(key);
      await session.then(
        (s) => s.close(),
        () => undefined,
      );
    }
  }

  /** Drops a host's cached sessions, SSH included (after the host was restarted, for instance). */
  async forget(host: Host): Promise<void> {
    await this.forgetLdap(host);
    const ssh = this.sshSessions.get(host.name);
    this.sshSessions.delete(host.name);
    await ssh?.then(
      (s) => s.close(),
      () => undefined,
    );
  }

  async close(): Promise<void> {
    const ldap = [...this.ldapSessions.values()];
    this.ldapSessions.clear();
    await Promise.all(
      ldap.map((p) =>
        p.then(
          (s) => s.close(),
          () => undefined,
        ),
      ),
    );
    const ssh = [...this.sshSessions.values()];
    this.sshSessions.clear();
    await Promise.all(
      ssh.map((p) =>
        p.then(
          (s) => s.close(),
          () => undefined,
        ),
      ),
    );
    await this.controlFolder.remove();
  }

  private sshTo(target: SshTarget, chain: string[] = []): Promise<SshSession> {
    const cached = this.sshSessions.get(target.name);
    if (cached) {
      return cached.then((s) => {
        if (s.isOpen) return s;
        this.sshSessions.delete(target.name);
        return this.sshTo(target, chain);
      });
    }
    const opening = (async () => {
      const via = target.ssh.proxyJump
        ? await this.sshTo(this.jumpTarget(target, chain), [...chain, target.name])
        : undefined;
      const session =
        target.ssh.transport === 'openssh'
          ? await connectOpenssh(target, this.ctx, this.controlFolder, via)
          : await connectSsh2(target, this.ctx, via);
      try {
        await session.checkBecome();
      } catch (err) {
        session.close();
        throw err;
      }
      return session;
    })();
    this.sshSessions.set(target.name, opening);
    opening.catch(() => this.sshSessions.delete(target.name));
    return opening;
  }

  /** proxy_jump names an inventory host, or is `[user@]host[:port]` using the target's other settings. */
  private jumpTarget(target: SshTarget, chain: string[]): SshTarget {
    const spec = target.ssh.proxyJump!;
    if (chain.includes(spec) || spec === target.name) {
      throw new UsageError(`${target.name}: ssh.proxy_jump loops: ${[...chain, target.name, spec].join(' -> ')}`);
    }
    const known = this.inventory.hosts.find((h) => h.name === spec);
    if (known) return { name: known.name, address: known.address, ssh: known.ssh };
    const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
    if (!m)
      throw new UsageError(`${target.name}: ssh.proxy_jump '${spec}' is not [user@]host[:port] or an inventory host`);
    const address = m[2]!.replace(/^\[|\]$/g, '');
    return {
      name: spec,
      address,
      // A jump host only forwards: it runs no command, so it needs no sudo.
      ssh: {
        ...target.ssh,
        user: m[1] ?? target.ssh.user,
        userGiven: m[1] !== undefined || target.ssh.userGiven,
        port: m[3] ? Number(m[3]) : 22,
        proxyJump: undefined,
        become: undefined,
      },
    };
  }
}
