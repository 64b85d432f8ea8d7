// `ssh.become: sudo`: every command of a session runs through sudo as the become user. The login shell
// prints its pid and execs sudo, so the pid a cancel signals is sudo's (the login user may signal it;
// sudo relays the signal to the root shell, which ends its whole process group). sudo's own talk (its
// prompt, its refusals) comes on stderr before a marker line the root shell prints; the caller's stdin
// is held until then, so sudo's password read never sees user data and the command never sees the password.
import { randomBytes } from 'node:crypto';
import type { BecomeSettings } from '../inventory/model.js';
import { shellQuote } from './shell.js';

/** The per-session strings that tell sudo's talk from the command's output. */
export interface BecomeMarkers {
  /** What sudo prints to ask for the password (-p); no `%`, which sudo expands. */
  prompt: string;
  /** The line the root shell prints on stderr before the command starts. */
  started: string;
}

export function becomeMarkers(): BecomeMarkers {
  const token = randomBytes(9).toString('hex');
  return { prompt: `[ipa-fleet-sudo-${token}]`, started: `ipa-fleet-become-${token}` };
}

/**
 * The root shell's script; the command is its $1. It runs the command in the background and waits, so a
 * SIGTERM relayed by sudo is handled at once: the trap ends the process group (the command and its
 * children), which the login user cannot signal itself. stdin is passed on explicitly (a background
 * command's stdin is /dev/null otherwise). sbin folders are added as a root login has them.
 */
function rootScript(started: string): string {
  return [
    `printf '%s\\n' ${started} >&2`,
    'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"',
    'exec 3<&0',
    `trap 'trap - TERM; kill -TERM 0' TERM`,
    '/bin/sh -c "$1" <&3 3<&- &',
    'wait $!',
  ].join('\n');
}

/** `sudo … -u USER -- /bin/sh -c …` as shown in messages (without the script). */
export function becomeDisplay(become: BecomeSettings): string {
  return `sudo -u ${become.user} /bin/sh -c …`;
}

/**
 * The login shell's command: exec sudo (-S with our prompt when a password is configured, else -n, which
 * fails at once instead of asking) running the root script with `command` as its argument.
 */
export function becomeCommand(
  command: string,
  become: BecomeSettings,
  markers: BecomeMarkers,
  withPassword: boolean,
): string {
  const auth = withPassword ? `-S -p ${shellQuote(markers.prompt)}` : '-n';
  return (
    `exec sudo ${auth} -u ${shellQuote(become.user)} -- /bin/sh -c ${shellQuote(rootScript(markers.started))} ` +
    `ipa-fleet ${shellQuote(command)}`
  );
}

/**
 * Reads a command's stderr (after the pid line) while sudo talks: calls `onPrompt` for each password
 * prompt (1, 2, …), `onStarted` once the root shell's marker line came, and from then on hands the
 * command's stderr to `onStderr`. What sudo said (prompts removed) stays in `sudoOutput()` for messages.
 */
export class BecomeGate {
  private buffered = '';
  private prompts = 0;
  started = false;

  constructor(
    private readonly markers: BecomeMarkers,
    private readonly handlers: {
      onPrompt: (count: number) => void;
      onStarted: () => void;
      onStderr: (chunk: Buffer) => void;
    },
  ) {}

  push(chunk: Buffer): void {
    if (this.started) {
      this.handlers.onStderr(chunk);
      return;
    }
    this.buffered += chunk.toString('latin1');
    const line = `${this.markers.started}\n`;
    const end = this.buffered.indexOf(line);
    // Prompts count only before the marker: after it, the text is the command's.
    let before = end < 0 ? this.buffered : this.buffered.slice(0, end);
    for (let at = before.indexOf(this.markers.prompt); at >= 0; at = before.indexOf(this.markers.prompt)) {
      before = before.slice(0, at) + before.slice(at + this.markers.prompt.length);
      this.prompts += 1;
      this.handlers.onPrompt(this.prompts);
    }
    if (end < 0) {
      this.buffered = before;
      return;
    }
    const rest = Buffer.from(this.buffered.slice(end + line.length), 'latin1');
    this.buffered = before;
    this.started = true;
    this.handlers.onStarted();
    if (rest.length) this.handlers.onStderr(rest);
  }

  /** sudo's own messages (its refusal, "Sorry, try again."), prompts and markers removed. */
  sudoOutput(): string {
    return this.buffered.trim();
  }
}
