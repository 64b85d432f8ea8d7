import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import type { RunContext } from '../context.js';
import { AuthError, FleetError, UnreachableError } from '../errors.js';
import type { SshSettings } from '../inventory/model.js';
import { withConnectRetries } from './connect-retry.js';
import { KnownHosts, fingerprint, keyTypeOf } from './known-hosts.js';
import { SshSession, type CommandChannel, type Connection, type SshTarget } from './session.js';

/** An ssh2 client as a Connection: its exec channels and direct-tcpip forwards. */
class Ssh2Connection implements Connection {
  private closed = false;

  constructor(
    private readonly target: SshTarget,
    private readonly client: ssh2.Client,
    ctx: RunContext,
  ) {
    client.on('close', () => {
      this.closed = true;
    });
    client.on('error', (err: Error) =>
      ctx.log.debug(`${target.name}: ssh connection error after connect: ${err.message}`),
    );
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  openCommand(command: string): Promise<CommandChannel> {
    return new Promise<CommandChannel>((resolve, reject) => {
      this.client.exec(command, (err, ch) => (err ? reject(err) : resolve(commandChannel(ch))));
    });
  }

  async forwardOut(address: string, port: number): Promise<Duplex> {
    try {
      return await new Promise<ClientChannel>((resolve, reject) => {
        this.client.forwardOut('127.0.0.1', 0, address, port, (err, ch) => (err ? reject(err) : resolve(ch)));
      });
    } catch (err) {
      throw new UnreachableError(
        this.target.name,
        `cannot open a tunnel to ${address}:${port}: ${(err as Error).message}`,
        err,
      );
    }
  }

  close(): void {
    this.client.end();
  }
}

function commandChannel(channel: ClientChannel): CommandChannel {
  // Recorded from the start: ssh2 parses a whole read at once, so a quick command's exit status can
  // arrive with the channel's confirmation, before the session listens (seen as "no exit status").
  let exit: [number | null, string | null] | undefined;
  const listeners: Array<(code: number | null, signal: string | null) => void> = [];
  // ssh2 may never emit 'exit'; 'close' is the end, and a missing code is a failure.
  channel.on('exit', (code: number | null, sig?: string) => {
    exit = [typeof code === 'number' ? code : null, sig ?? null];
    for (const listener of listeners) listener(...exit);
  });
  return {
    stdout: channel,
    stderr: channel.stderr,
    stdin: channel,
    onExit: (listener) => {
      listeners.push(listener);
      if (exit) listener(...exit);
    },
    onClose: (listener) => channel.on('close', listener),
    close: () => channel.close(),
  };
}

/**
 * Connects through ssh2 with retries and backoff, all within `connectTimeoutMs`: an unreachable host is
 * reported within the connect timeout, and a host that is just restarting gets another try.
 * `via` is an open session to a jump host.
 */
export async function connectSsh2(target: SshTarget, ctx: RunContext, via?: SshSession): Promise<SshSession> {
  return withConnectRetries(target, ctx, async (timeoutMs) => {
    const client = await openClient(target, ctx, timeoutMs, via);
    const through = via ? ` via ${via.target.name}` : '';
    ctx.log.verbose(`${target.name}: ssh connected to ${target.address}:${target.ssh.port}${through}`);
    return new SshSession(target, new Ssh2Connection(target, client, ctx), ctx);
  });
}

async function openClient(
  target: SshTarget,
  ctx: RunContext,
  timeoutMs: number,
  via?: SshSession,
): Promise<ssh2.Client> {
  const knownHosts = await KnownHosts.load(target.ssh.knownHostsFile);
  const config = await connectConfig(target, ctx, knownHosts, timeoutMs, via);
  // The verifier cannot throw into ssh2; remember why a key was refused and raise that instead.
  const refused: { error?: FleetError } = {};
  config.hostVerifier = hostVerifier(target, ctx, knownHosts, refused);

  const client = new ssh2.Client();
  // ssh2 can emit a second error after the first (e.g. "Connection lost before handshake" after a
  // timeout); an unhandled 'error' event would kill the process.
  client.on('error', (err: Error) => ctx.log.debug(`${target.name}: ssh: ${err.message}`));
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        client.end();
        reject(new FleetError('failure', `${target.name}: interrupted while connecting`));
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      client.once('ready', () => {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve();
      });
      client.once('error', (err) => {
        ctx.signal.removeEventListener('abort', onAbort);
        reject(err);
      });
      // A connection cut during the handshake can close without an 'error' (and ssh2 then clears its
      // readyTimeout): without this the connect waited for ever (seen when sshd's session died).
      client.once('close', () => {
        ctx.signal.removeEventListener('abort', onAbort);
        reject(new Error('the connection closed before the SSH handshake finished'));
      });
      client.connect(config);
    });
  } catch (err) {
    client.end();
    if (refused.error) throw refused.error;
    throw classifyConnectError(target, err as Error & { level?: string });
  }
  return client;
}

/** Address, user, timeouts, host key algorithms, credentials and (through `via`) the socket. */
async function connectConfig(
  target: SshTarget,
  ctx: RunContext,
  knownHosts: KnownHosts,
  timeoutMs: number,
  via: SshSession | undefined,
): Promise<ConnectConfig> {
  const { ssh } = target;
  // Prefer the key types known_hosts already has for this host, as OpenSSH does, so a host
  // with several keys offers the one we can verify.
  const knownTypes = [...new Set([target.name, target.address].flatMap((n) => knownHosts.keyTypesFor(n, ssh.port)))];
  const config: ConnectConfig = {
    host: target.address,
    port: ssh.port,
    username: ssh.user,
    readyTimeout: timeoutMs,
    keepaliveInterval: ssh.keepaliveIntervalMs,
    keepaliveCountMax: 3,
  };
  if (knownTypes.length > 0) config.algorithms = { serverHostKey: preferredHostKeyAlgorithms(knownTypes) };
  if (ssh.identityFile) {
    try {
      config.privateKey = await readFile(ssh.identityFile);
    } catch (err) {
      throw new FleetError(
        'usage',
        `${target.name}: ssh.identity_file ${ssh.identityFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
        { host: target.name },
      );
    }
    if (ssh.identityPassphrase)
      config.passphrase = await ctx.secrets.get(ssh.identityPassphrase, `${target.name}: ssh.identity_passphrase`);
  }
  if (process.env.SSH_AUTH_SOCK) config.agent = process.env.SSH_AUTH_SOCK;
  if (!config.privateKey && !config.agent) {
    throw new FleetError(
      'usage',
      `${target.name}: no ssh.identity_file and no ssh-agent (SSH_AUTH_SOCK) to authenticate with`,
      { host: target.name },
    );
  }
  if (via) config.sock = await via.forwardOut(target.address, ssh.port);
  return config;
}

/** ssh2's host verifier: checks known_hosts, records a new key under accept-new, notes a refusal in `refused`. */
function hostVerifier(
  target: SshTarget,
  ctx: RunContext,
  knownHosts: KnownHosts,
  refused: { error?: FleetError },
): NonNullable<ConnectConfig['hostVerifier']> {
  const { ssh } = target;
  const names = [...new Set([target.name, target.address])];
  return (key: Buffer, verify: (ok: boolean) => void): void => {
    let decision: ReturnType<typeof verifyHostKey>;
    try {
      decision = verifyHostKey(knownHosts, names, ssh, target.name, key);
    } catch (err) {
      decision = {
        refusal:
          err instanceof FleetError
            ? err
            : new AuthError(`unreadable host key: ${(err as Error).message}`, { host: target.name }),
      };
    }
    if (decision.refusal) {
      refused.error = decision.refusal;
      verify(false);
      return;
    }
    if (!decision.remember) {
      verify(true);
      return;
    }
    knownHosts
      .remember(target.address === target.name ? target.name : `${target.name},${target.address}`, ssh.port, key)
      .then(
        () => {
          ctx.log.info(`${target.name}: host key ${fingerprint(key)} added to ${ssh.knownHostsFile} (accept-new)`);
          verify(true);
        },
        (err: Error) => {
          refused.error = new FleetError(
            'failure',
            `${target.name}: cannot record host key in ${ssh.knownHostsFile}: ${err.message}`,
            { host: target.name },
          );
          verify(false);
        },
      );
  };
}

function verifyHostKey(
  knownHosts: KnownHosts,
  names: string[],
  ssh: SshSettings,
  display: string,
  key: Buffer,
): { refusal?: FleetError; remember?: boolean } {
  const offered = fingerprint(key);
  let unknown = true;
  for (const name of names) {
    const check = knownHosts.check(name, ssh.port, key);
    if (check.status === 'revoked') {
      return {
        refusal: new AuthError(`host key ${offered} is marked @revoked in ${ssh.knownHostsFile}; refusing to connect`, {
          host: display,
        }),
      };
    }
    if (check.status === 'changed') {
      return {
        refusal: new AuthError(
          `HOST KEY CHANGED: the server offers ${offered} but ${ssh.knownHostsFile} has ` +
            `${check.expectedFingerprints.join(', ')} for ${name}; refusing to connect ` +
            '(if the change is expected, remove the old key with ssh-keygen -R)',
          { host: display },
        ),
      };
    }
    if (check.status === 'match') unknown = false;
    // accept-new must not let a server (or a man in the middle) swap in a key of a type we have
    // not recorded for a host we already know.
    if (check.status === 'unknown' && check.otherKeyTypes.length > 0 && ssh.hostKeyPolicy === 'accept-new') {
      return {
        refusal: new AuthError(
          `HOST KEY CHANGED: the server offers a ${keyTypeOf(key)} key ${offered} but ${ssh.knownHostsFile} ` +
            `has only ${check.otherKeyTypes.join(', ')} keys for ${name}; refusing to connect`,
          { host: display },
        ),
      };
    }
  }
  if (!unknown) return {};
  if (ssh.hostKeyPolicy === 'accept-new') return { remember: true };
  return {
    refusal: new AuthError(
      `unknown host key ${offered}: not in ${ssh.knownHostsFile}; add it there or set ssh.host_key_policy: accept-new`,
      { host: display },
    ),
  };
}

const ALL_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;
type HostKeyAlgorithm = (typeof ALL_HOST_KEY_ALGORITHMS)[number];

/** Known key types first (ssh-rsa keys are offered as rsa-sha2-*), then the rest. */
function preferredHostKeyAlgorithms(knownTypes: string[]): HostKeyAlgorithm[] {
  const wanted = knownTypes.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
  const first = ALL_HOST_KEY_ALGORITHMS.filter((a) => wanted.includes(a));
  return [...first, ...ALL_HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))];
}

function classifyConnectError(target: SshTarget, err: Error & { level?: string; code?: string }): FleetError {
  if (err instanceof FleetError) return err;
  const where = `${target.address}:${target.ssh.port}`;
  if (err.level === 'client-authentication') {
    return new AuthError(`ssh authentication as ${target.ssh.user} failed at ${where} (key refused)`, {
      host: target.name,
    });
  }
  if (/timed out/i.test(err.message)) {
    return new UnreachableError(
      target.name,
      `ssh connection to ${where} timed out after ${target.ssh.connectTimeoutMs} ms`,
      err,
    );
  }
  return new UnreachableError(target.name, `cannot reach ssh at ${where}: ${err.code ?? err.message}`, err);
}
