// The system OpenSSH client as a Connection (`ssh.transport: openssh`): one ControlMaster per host,
// and every command, stream and tunnel a multiplexed `ssh -S` client of it. ssh reads the
// administrator's ~/.ssh/config, agent, certificates and Kerberos tickets itself, so aliases,
// ProxyJump and GSSAPI work as they do for their own `ssh`; the inventory's host-key policy is still
// enforced through StrictHostKeyChecking and UserKnownHostsFile.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, finished, PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { RunContext } from '../context.js';
import { AuthError, FleetError, UnreachableError, UsageError } from '../errors.js';
import { DEFAULTS } from '../inventory/model.js';
import { normalizeAddress } from '../inventory/names.js';
import { withConnectRetries } from './connect-retry.js';
import { kerberosHint } from './kerberos-hint.js';
import { OutputBuffer } from './result.js';
import { type CommandChannel, type Connection, SshSession, type SshTarget } from './session.js';

const SSH = 'ssh';
/** How often to look for the master's control socket while it connects. */
const READY_POLL_MS = 20;
/** After SIGTERM, how long a master may take to end before it is killed. */
const MASTER_STOP_MS = 3000;
/** Unix socket paths are limited to 108 bytes; ssh binds `PATH.` + 16 random characters first. */
const MAX_SOCKET_DIR = 70;

/**
 * The run's control sockets: a private folder (0700, from mkdtemp) made on first use, one socket per
 * host, and the masters listening on them. `remove()` stops every master and deletes the folder; an
 * exit of the process that skips it (process.exit) still ends them.
 */
export class ControlFolder {
  private dir: Promise<string> | undefined;
  /** The folder once made: an 'exit' listener cannot wait for a promise. */
  private made: string | undefined;
  private readonly masters = new Set<ChildProcess>();
  private readonly byHost = new Map<string, string>();
  /** Masters started so far: each gets a socket of its own, so a stopping master never unlinks a new one's. */
  private started = 0;
  private readonly onExit = (): void => this.removeNow();

  /** A new socket path for a host's master (short: a hash of its name), creating the folder on first use. */
  async socketFor(hostName: string): Promise<string> {
    this.dir ??= mkdtemp(join(tmpdir().length <= MAX_SOCKET_DIR ? tmpdir() : '/tmp', 'ipa-fleet-ssh-')).then((dir) => {
      this.made = dir;
      process.once('exit', this.onExit);
      return dir;
    });
    const name = `${createHash('sha256').update(hostName).digest('hex').slice(0, 10)}-${++this.started}`;
    const path = join(await this.dir, name);
    this.byHost.set(hostName, path);
    return path;
  }

  /** The socket of a host's latest master in this folder, if any (a jump host's, for ProxyCommand). */
  socketOf(hostName: string): string | undefined {
    return this.byHost.get(hostName);
  }

  track(master: ChildProcess): void {
    this.masters.add(master);
    master.once('exit', () => this.masters.delete(master));
  }

  /** Stops every master (SIGTERM, then SIGKILL after a grace period) and deletes the folder. */
  async remove(): Promise<void> {
    await Promise.all([...this.masters].map((m) => stopChild(m)));
    const dir = this.dir;
    this.dir = undefined;
    this.made = undefined;
    this.byHost.clear();
    if (!dir) return;
    process.removeListener('exit', this.onExit);
    await rm(await dir, { recursive: true, force: true });
  }

  /** At process exit only synchronous work runs: signal the masters and delete the folder. */
  private removeNow(): void {
    for (const m of this.masters) m.kill('SIGTERM');
    if (this.made) rmSync(this.made, { recursive: true, force: true });
  }
}

/** A master `ssh -M` and the multiplexed clients started through its socket. */
class OpensshConnection implements Connection {
  private closed = false;

  constructor(
    private readonly target: SshTarget,
    private readonly socket: string,
    private readonly master: ChildProcess,
    /** Where ssh connected: the address, or what ~/.ssh/config resolves an alias to. */
    private readonly hostName: string,
  ) {}

  get isOpen(): boolean {
    return !this.closed && running(this.master);
  }

  openCommand(command: string): Promise<CommandChannel> {
    // `-e none`: no escape character may be read from the data sent on stdin.
    const child = this.client(['-T', '-e', 'none', '--', destination(this.target), command]);
    // Exit 255 with the master gone is a lost connection, not the command's own failure: say so last.
    const stderr = new PassThrough();
    child.stderr!.pipe(stderr, { end: false });
    const closed = new Promise<void>((resolve) => {
      child.once('close', (code) => {
        if (code === 255 && !this.isOpen) stderr.write(`ssh: the connection to ${this.target.name} was lost\n`);
        stderr.end();
        finished(stderr, () => resolve());
      });
    });
    return Promise.resolve({
      stdout: child.stdout!,
      stderr,
      stdin: child.stdin!,
      onExit: (listener) => child.once('exit', (code) => listener(code, null)),
      onClose: (listener) => void closed.then(listener),
      close: () => {
        if (running(child)) child.kill('SIGTERM');
      },
    });
  }

  forwardOut(requested: string, port: number): Promise<Duplex> {
    const address = requested === this.target.address ? this.hostName : requested;
    const to = address.includes(':') ? `[${normalizeAddress(address)}]:${port}` : `${address}:${port}`;
    const child = this.client(['-W', to, '--', destination(this.target)]);
    return Promise.resolve(new ChildStream(child, `${this.target.name}: tunnel to ${to}`));
  }

  close(): void {
    this.closed = true;
    if (running(this.master)) this.master.kill('SIGTERM');
  }

  /**
   * A client of the master. ProxyCommand=false: should the master be gone, the client fails instead of
   * connecting on its own (which would bypass the master and its settings).
   */
  private client(args: string[]): ChildProcess {
    const child = spawn(
      SSH,
      [
        '-S',
        this.socket,
        ...option('ControlMaster', 'no'),
        ...option('ProxyCommand', 'false'),
        ...option('BatchMode', 'yes'),
        ...option('RemoteCommand', 'none'),
        ...option('ClearAllForwardings', 'yes'),
        ...args,
      ],
      // Its own process group: Ctrl-C at the terminal reaches the CLI, which cancels what it runs and
      // lets the clean-up (`finally`) still use the connection.
      { detached: true, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child.on('error', () => undefined);
    child.stdin!.on('error', () => undefined);
    return child;
  }
}

/** A `ssh -W` client as a byte stream: its stdout read, its stdin written; ssh's error ends it. */
class ChildStream extends Duplex {
  private readonly stderr = new OutputBuffer(0);

  constructor(
    private readonly child: ChildProcess,
    what: string,
  ) {
    super();
    const out = child.stdout!;
    out.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) out.pause();
    });
    out.on('end', () => this.push(null));
    child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk));
    child.once('close', (code) => {
      if (this.destroyed) return;
      if (code !== 0) {
        this.destroy(new Error(`${what}: ${lastLine(this.stderr.tail()) || `ssh exit ${code}`}`));
      } else if (this.readableEnded) {
        this.destroy();
      } else {
        this.once('end', () => this.destroy());
      }
    });
  }

  override _read(): void {
    this.child.stdout!.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.child.stdin!.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.child.stdin!.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (running(this.child)) this.child.kill('SIGTERM');
    callback(err);
  }
}

/**
 * Connects a host's master through the system ssh, with connectSsh2's retries. `via`: the session to a
 * jump host (ssh.proxy_jump), which must itself be an openssh session of this folder.
 */
export async function connectOpenssh(
  target: SshTarget,
  ctx: RunContext,
  folder: ControlFolder,
  via?: SshSession,
): Promise<SshSession> {
  if (target.ssh.identityPassphrase) {
    throw new UsageError(
      `${target.name}: ssh.identity_passphrase is not supported with ssh.transport: openssh (ssh never prompts ` +
        `here); load the key into ssh-agent (ssh-add ${target.ssh.identityFile}) and remove identity_passphrase`,
    );
  }
  let jumpSocket: string | undefined;
  if (via) {
    jumpSocket = folder.socketOf(via.target.name);
    if (!jumpSocket) {
      throw new UsageError(
        `${target.name}: ssh.proxy_jump ${via.target.name} uses ssh.transport ssh2; ` +
          'a jump host of an openssh host must use openssh too',
      );
    }
  }
  return withConnectRetries(target, ctx, async (timeoutMs) => {
    const socket = await folder.socketFor(target.name);
    const args = masterArgs(target, socket, timeoutMs, jumpSocket);
    const hostName = await resolvedHostName(target, args);
    const master = await startMaster(target, ctx, folder, socket, args, timeoutMs);
    const through = via ? ` via ${via.target.name}` : '';
    ctx.log.verbose(`${target.name}: ssh (openssh) connected to ${destination(target)} (${hostName})${through}`);
    return new SshSession(target, new OpensshConnection(target, socket, master, hostName), ctx);
  });
}

/**
 * The host name ssh connects to for these arguments (`ssh -G`): the address itself, or the HostName
 * ~/.ssh/config gives an alias. Tunnels to the host's own ports go there: an alias means nothing on the host.
 */
async function resolvedHostName(target: SshTarget, args: string[]): Promise<string> {
  const { stdout, stderr, code } = await collect(spawn(SSH, ['-G', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const name = /^hostname (\S+)$/m.exec(stdout)?.[1];
  if (code !== 0 || !name) throw classifySshFailure(target, stderr);
  return name;
}

/** A short-lived child's whole output and exit code. */
function collect(child: ChildProcess): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  return new Promise((resolve) => {
    child.once('error', (e) => resolve({ stdout: '', stderr: `ssh: ${e.message}`, code: null }));
    child.once('close', (code) =>
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code }),
    );
  });
}

/** The ssh command line of a master: the inventory's settings as ssh options, nothing that turns GSSAPI off. */
export function masterArgs(target: SshTarget, socket: string, timeoutMs: number, jumpSocket?: string): string[] {
  const { ssh } = target;
  const args = [
    '-M',
    '-N',
    '-S',
    socket,
    ...option('ControlPersist', 'no'),
    ...option('BatchMode', 'yes'),
    ...option('StrictHostKeyChecking', ssh.hostKeyPolicy === 'strict' ? 'yes' : 'accept-new'),
    ...option('UserKnownHostsFile', configPath(ssh.knownHostsFile)),
    ...option('ConnectTimeout', String(Math.max(1, Math.ceil(timeoutMs / 1000)))),
    ...option('ServerAliveInterval', String(Math.max(1, Math.round(ssh.keepaliveIntervalMs / 1000)))),
    ...option('ServerAliveCountMax', '3'),
    ...option('RemoteCommand', 'none'),
    ...option('ClearAllForwardings', 'yes'),
  ];
  // Unset in the inventory, user and port are ~/.ssh/config's (or ssh's defaults).
  if (ssh.userGiven) args.push('-l', ssh.user);
  if (ssh.port !== DEFAULTS.sshPort) args.push('-p', String(ssh.port));
  if (ssh.identityFile)
    args.push(...option('IdentityFile', configPath(ssh.identityFile)), ...option('IdentitiesOnly', 'yes'));
  if (jumpSocket) {
    // Through the jump host's own master, so its inventory settings (key, known_hosts) apply to it too.
    const jump = [SSH, '-S', jumpSocket, ...option('ControlMaster', 'no'), ...option('ProxyCommand', 'false')];
    args.push(...option('ProxyCommand', [...jump, '-W', '[%h]:%p', 'jump'].join(' ')));
  }
  args.push('--', destination(target));
  return args;
}

/** Starts the master and waits for its control socket (ssh creates it once authenticated). */
async function startMaster(
  target: SshTarget,
  ctx: RunContext,
  folder: ControlFolder,
  socket: string,
  args: string[],
  timeoutMs: number,
): Promise<ChildProcess> {
  ctx.log.debug(`${target.name}: ${SSH} ${args.join(' ')}`);
  const master = spawn(SSH, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  folder.track(master);
  const stderr = new OutputBuffer(0);
  master.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  let exit: { code: number | null; error?: Error } | undefined;
  // 'close', not 'exit': ssh's last words on stderr have all been read by then.
  master.once('close', (code) => {
    exit ??= { code };
  });
  master.once('error', (error) => {
    exit ??= { code: null, error };
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await exists(socket)) {
      master.stderr!.on('data', (chunk: Buffer) => ctx.log.debug(`${target.name}: ssh: ${chunk.toString().trim()}`));
      return master;
    }
    if (exit) {
      if (exit.error) {
        throw new FleetError('usage', `${target.name}: cannot run the system ssh client: ${exit.error.message}`);
      }
      throw classifySshFailure(target, stderr.tail(), await kerberosHint(stderr.tail()));
    }
    if (ctx.signal.aborted || Date.now() > deadline) {
      await stopChild(master);
      if (ctx.signal.aborted) throw new FleetError('failure', `${target.name}: interrupted while connecting`);
      throw new UnreachableError(
        target.name,
        `ssh connection to ${destination(target)} timed out after ${target.ssh.connectTimeoutMs} ms` +
          (lastLine(stderr.tail()) ? `: ${lastLine(stderr.tail())}` : ''),
      );
    }
    await delay(READY_POLL_MS);
  }
}

/** ssh's failure (exit 255) as one of our errors, with ssh's own last line (and, failed logins, `authHint`). */
export function classifySshFailure(target: SshTarget, stderrText: string, authHint?: string): FleetError {
  const { ssh } = target;
  const said = meaningfulLines(stderrText);
  const last = (said.at(-1) ?? 'ssh exited with status 255 and no message').replace(/^ssh: /, '');
  const text = said.join('\n');
  const dest = destination(target);
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed|host key .* revoked/i.test(text)) {
    return new AuthError(
      `HOST KEY CHANGED for ${dest}: it differs from ${ssh.knownHostsFile}; refusing to connect ` +
        `(if the change is expected, remove the old key with ssh-keygen -R) (ssh: ${last})`,
      { host: target.name },
    );
  }
  if (/Host key verification failed|No \S+ host key is known/i.test(text)) {
    return new AuthError(
      `unknown host key for ${dest}: not in ${ssh.knownHostsFile}; add it there or set ` +
        `ssh.host_key_policy: accept-new (ssh: ${last})`,
      { host: target.name },
    );
  }
  if (/Permission denied|Too many authentication failures|no mutual signature|Authentication failed/i.test(text)) {
    const hint = authHint ? `: ${authHint}` : '';
    return new AuthError(`ssh authentication to ${dest} failed${hint} (ssh: ${last})`, { host: target.name });
  }
  if (/Bad configuration option|Unsupported option|line \d+: |Bad owner or permissions|garbage at end/i.test(text)) {
    return new FleetError('usage', `${target.name}: the ssh client refused its configuration (ssh: ${last})`, {
      host: target.name,
    });
  }
  return new UnreachableError(target.name, `cannot reach ssh at ${dest} (ssh: ${last})`);
}

/** stderr lines that say something: not the warnings ssh prints on every successful first connection. */
function meaningfulLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Warning: Permanently added/.test(l) && !/^@+$/.test(l));
}

/** The destination as ssh takes it: the inventory address (maybe a ~/.ssh/config alias), IPv6 unbracketed. */
function destination(target: SshTarget): string {
  return normalizeAddress(target.address);
}

function option(name: string, value: string): [string, string] {
  return ['-o', `${name}=${value}`];
}

/** A path as an ssh config value: `%` would be a token, and a space would end the value unless quoted. */
function configPath(path: string): string {
  const escaped = path.replace(/%/g, '%%');
  return /\s/.test(escaped) ? `"${escaped}"` : escaped;
}

function lastLine(text: string): string {
  return meaningfulLines(text).at(-1) ?? '';
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** SIGTERM, then SIGKILL if the process has not ended after a grace period. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || !running(child)) return;
  const ended = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), MASTER_STOP_MS);
  await ended;
  clearTimeout(timer);
}
