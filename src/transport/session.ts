// One host's remote shell, whatever carries it (ssh2 or the system ssh): every command, stream and
// tunnel of a run goes through here, so pid tracking, cancelling, timeouts and results are written once.
import { PassThrough, Transform, type Duplex, type Readable, type Writable } from 'node:stream';
import type { RunContext } from '../context.js';
import { AuthError, FleetError } from '../errors.js';
import type { SshSettings } from '../inventory/model.js';
import { BecomeGate, becomeCommand, becomeDisplay, becomeMarkers, type BecomeMarkers } from './become.js';
import { ChannelLimit } from './channel-limit.js';
import { CommandFailedError, OutputBuffer, type CommandResult } from './result.js';

/** Channels one connection may have open at once (OpenSSH's MaxSessions is 10; leave room). */
export const CHANNELS_PER_HOST = 4;
/** Output kept whole for `exec`; larger output needs `execStream`. */
const KEEP_OUTPUT_BYTES = 16 * 1024 * 1024;
/** First stderr line of every command: the remote shell's pid (stripped from stderr). */
const PID_MARKER = 'ipa-fleet-pid:';
/** After a cancel, how long to wait for the server to close the channel. */
const CANCEL_GRACE_MS = 3000;

/** Where and how to connect: an inventory host or an ad-hoc jump host. */
export interface SshTarget {
  /** Name used in messages and known_hosts lookups (with `address`). */
  name: string;
  address: string;
  ssh: SshSettings;
}

export interface ExecOptions {
  /** Sent on stdin, then stdin is closed. The only way secrets travel to a host. */
  stdin?: string | Buffer;
  timeoutMs?: number;
  /** Shown in results and logs instead of the command (e.g. a description). */
  display?: string;
  /**
   * false: Ctrl-C / SIGTERM do not cancel it. For the clean-up a `finally` must finish (starting
   * services a FULL backup stopped); the timeout still applies.
   */
  abortable?: boolean;
}

export interface ExecOutput extends CommandResult {
  stdout: string;
}

export interface CommandStream {
  stdout: Readable;
  stdin: Writable;
  /** Settles when the channel closed; never rejects (inspect `ok`). */
  result: Promise<CommandResult>;
  /** Sends SIGTERM to the remote command and closes the channel. */
  cancel(): void;
}

/** A running remote command as a transport carries it. */
export interface CommandChannel {
  stdout: Readable;
  stderr: Readable;
  stdin: Writable;
  /** Called once with the exit status (null when none was reported), then the channel closes. */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  /** Called once when the channel is closed and its output fully read. */
  onClose(listener: () => void): void;
  close(): void;
}

/** What a transport provides: commands, tunnels from the host, and its end. */
export interface Connection {
  readonly isOpen: boolean;
  /** Starts `command` in the login user's shell on the host. */
  openCommand(command: string): Promise<CommandChannel>;
  /** A byte stream from the host to `address:port` (LDAP tunnels, jump hosts). */
  forwardOut(address: string, port: number): Promise<Duplex>;
  close(): void;
}

/** One connection to one host, reused for every command and tunnel to it. */
export class SshSession {
  private readonly limit = new ChannelLimit(CHANNELS_PER_HOST);
  /** With `ssh.become`: this session's sudo prompt and start marker. */
  private readonly markers: BecomeMarkers | undefined;

  constructor(
    readonly target: SshTarget,
    private readonly connection: Connection,
    private readonly ctx: RunContext,
  ) {
    this.markers = target.ssh.become ? becomeMarkers() : undefined;
  }

  get isOpen(): boolean {
    return this.connection.isOpen;
  }

  /** Runs a command and collects its output. Does not throw on a non-zero exit: see `ok`. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecOutput> {
    const stream = await this.execStream(command, opts);
    const out = new OutputBuffer(KEEP_OUTPUT_BYTES);
    stream.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    const result = await stream.result;
    // The stdout tap hands on what the channel read within the same turn; let it finish.
    await new Promise((r) => setImmediate(r));
    return { ...result, stdout: out.all() };
  }

  /** Runs a command that must succeed; returns its stdout. */
  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const output = await this.exec(command, opts);
    if (!output.ok) throw new CommandFailedError(output);
    return output.stdout;
  }

  /** Runs a command with its stdout and stdin as streams (tar, LDIF transfers). */
  async execStream(command: string, opts: ExecOptions = {}): Promise<CommandStream> {
    const password = await this.becomePassword();
    const release = await this.limit.acquire();
    const shown = this.ctx.redactor.mask(opts.display ?? command);
    const started = Date.now();
    const become = this.target.ssh.become;
    const wire = become ? becomeCommand(command, become, this.markers!, password !== undefined) : command;
    const channel = await this.startCommand(wire, shown, release);
    this.ctx.log.debug(`${this.target.name}: exec ${shown}${become ? ` (${becomeDisplay(become)})` : ''}`);
    let timedOut = false;
    let cancelled = false;
    let sudoRefused = '';

    let finish: (() => void) | undefined;
    const cancel = (): void => {
      if (cancelled) return;
      cancelled = true;
      if (capture.remotePid !== undefined) this.kill(capture.remotePid);
      channel.close();
      // Do not wait on the server for ever: the result is final after a short grace period.
      setTimeout(() => finish?.(), CANCEL_GRACE_MS).unref();
    };
    // The caller's stdin reaches the command only once sudo is done reading the password.
    const stdin: Writable = become ? new PassThrough() : channel.stdin;
    const gate = this.markers
      ? new BecomeGate(this.markers, {
          onPrompt: (count) => {
            if (count === 1 && password !== undefined) {
              channel.stdin.write(`${password}\n`);
              return;
            }
            sudoRefused = 'sudo refused the password (ssh.become_password)';
            cancel();
          },
          onStarted: () => (stdin as PassThrough).pipe(channel.stdin),
          onStderr: (chunk) => capture.pushStderr(chunk),
        })
      : undefined;
    const capture = new ChannelCapture(channel, gate);
    const onAbort = (): void => cancel();
    if (opts.abortable !== false) this.ctx.signal.addEventListener('abort', onAbort, { once: true });
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          cancel();
        }, opts.timeoutMs)
      : undefined;

    const result = new Promise<CommandResult>((resolve) => {
      let done = false;
      finish = (): void => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        this.ctx.signal.removeEventListener('abort', onAbort);
        release();
        // sudo refused or never started the command: what the caller still writes goes nowhere.
        if (gate && !gate.started) (stdin as PassThrough).resume();
        const note = sudoRefused || (timedOut ? `timed out after ${opts.timeoutMs} ms` : cancelled ? 'cancelled' : '');
        const res = this.resultOf(capture, shown, started, cancelled, note);
        const end = note || `exit ${capture.exitCode ?? 'none'}`;
        this.ctx.log.debug(`${this.target.name}: '${shown}' ended: ${end} in ${res.durationMs} ms`);
        resolve(res);
      };
      channel.onClose(finish);
    });

    if (opts.stdin !== undefined) stdin.end(opts.stdin);
    return { stdout: capture.stdout, stdin, result, cancel };
  }

  /**
   * With `ssh.become`: runs `true` through sudo, so a missing sudo right (or a wrong password, or no
   * sudo) is one AuthError naming the host, the user and the refused command before anything changes.
   */
  async checkBecome(): Promise<void> {
    const become = this.target.ssh.become;
    if (!become) return;
    const out = await this.exec('true', { display: 'true (sudo check)', timeoutMs: this.target.ssh.connectTimeoutMs });
    if (out.ok) return;
    const said = out.stderrTail.trim().split('\n').filter(Boolean).pop() ?? `exit ${out.exitCode ?? 'none'}`;
    throw new AuthError(`${this.target.ssh.user} may not run '${becomeDisplay(become)}' (ssh.become: sudo): ${said}`, {
      host: this.target.name,
    });
  }

  /** A byte stream from the host to `address:port`; it holds one of the host's channels while open. */
  async forwardOut(address: string, port: number): Promise<Duplex> {
    const release = await this.limit.acquire();
    try {
      const stream = await this.connection.forwardOut(address, port);
      stream.on('close', release);
      return stream;
    } catch (err) {
      release();
      throw err;
    }
  }

  close(): void {
    this.connection.close();
  }

  private resultOf(
    capture: ChannelCapture,
    shown: string,
    started: number,
    cancelled: boolean,
    note: string,
  ): CommandResult {
    const { exitCode, signal } = capture;
    const stderrText = this.ctx.redactor.mask(capture.stderrTail());
    return {
      host: this.target.name,
      command: shown,
      exitCode: cancelled ? null : exitCode,
      signal,
      durationMs: Date.now() - started,
      stdoutTail: this.ctx.redactor.mask(capture.stdoutTail.tail()),
      stderrTail: note ? `${stderrText}\n${note}`.trim() : stderrText,
      ok: exitCode === 0 && !cancelled,
    };
  }

  /** The sudo password (once per source, registered with the redactor), when `ssh.become` has one. */
  private async becomePassword(): Promise<string | undefined> {
    const source = this.target.ssh.become?.password;
    if (!source) return undefined;
    return this.ctx.secrets.get(source, `${this.target.name}: ssh.become_password`);
  }

  /** Opens the command's channel; `release` gives its slot back if it cannot be opened. */
  private async startCommand(command: string, shown: string, release: () => void): Promise<CommandChannel> {
    try {
      // sshd makes the session's shell a process-group leader and reports its pid first, so a
      // cancelled command can be killed with its whole group: OpenSSH ignores channel signals
      // for sessions without a pty and keeps the channel open until the command ends.
      return await this.connection.openCommand(`printf '${PID_MARKER}%s\\n' "$$" >&2; ${command}`);
    } catch (err) {
      release();
      throw new FleetError('failure', `${this.target.name}: cannot start '${shown}': ${(err as Error).message}`, {
        host: this.target.name,
        cause: err,
      });
    }
  }

  /** SIGTERM to a command's process group, on a channel of its own (the command still holds its channel). */
  private kill(pid: number): void {
    this.connection.openCommand(`kill -TERM -- -${pid} 2>/dev/null || kill -TERM ${pid}`).then(
      (ch) => ch.stdout.resume(),
      () => undefined,
    );
  }
}

/** What a command's channel reports: the remote pid (its first stderr line), its output tails, its exit. */
class ChannelCapture {
  readonly stdoutTail = new OutputBuffer(0);
  /**
   * The command's stdout for the caller, its tail kept on the way. Piped, not listened to: a listener
   * would let output flow away before a caller that first opens its destination starts reading.
   */
  readonly stdout: Transform;
  private readonly stderr = new OutputBuffer(0);
  /** The stderr read before the pid line is complete; undefined once it has been read. */
  private pending: Buffer | undefined = Buffer.alloc(0);
  remotePid: number | undefined;
  exitCode: number | null = null;
  signal: string | null = null;

  /** With `ssh.become`, stderr after the pid line goes through sudo's gate first. */
  constructor(
    channel: CommandChannel,
    private readonly gate: BecomeGate | undefined,
  ) {
    channel.stderr.on('data', (chunk: Buffer) => this.onStderr(chunk));
    const tail = this.stdoutTail;
    this.stdout = new Transform({
      transform(chunk: Buffer, _encoding, done): void {
        tail.push(chunk);
        done(null, chunk);
      },
    });
    channel.stdout.on('error', (err: Error) => this.stdout.destroy(err));
    channel.stdout.pipe(this.stdout);
    // A caller that destroys stdout before its end gives the command up, as destroying the channel did.
    this.stdout.once('close', () => {
      if (!this.stdout.readableEnded) channel.close();
    });
    channel.onExit((code, signal) => {
      this.exitCode = code;
      this.signal = signal;
    });
  }

  /** The stderr tail, with whatever came before an unfinished pid line, or what sudo said when it refused. */
  stderrTail(): string {
    if (this.pending?.length) this.stderr.push(this.pending);
    if (this.gate && !this.gate.started) return this.gate.sudoOutput();
    return this.stderr.tail();
  }

  /** The command's own stderr. */
  pushStderr(chunk: Buffer): void {
    this.stderr.push(chunk);
  }

  private onStderr(chunk: Buffer): void {
    if (this.pending === undefined) {
      this.afterPid(chunk);
      return;
    }
    const pending = Buffer.concat([this.pending, chunk]);
    this.pending = pending;
    const nl = pending.indexOf(10);
    if (nl < 0 && pending.length < 64) return;
    const first = pending.subarray(0, Math.max(nl, 0)).toString('latin1');
    const m = first.startsWith(PID_MARKER) ? /^\S+?(\d+)$/.exec(first) : null;
    if (m) this.remotePid = Number(m[1]);
    const rest = m ? pending.subarray(nl + 1) : pending;
    this.pending = undefined;
    if (rest.length) this.afterPid(rest);
  }

  private afterPid(chunk: Buffer): void {
    if (this.gate) this.gate.push(chunk);
    else this.stderr.push(chunk);
  }
}
