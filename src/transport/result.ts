import { FleetError } from '../errors.js';

/** One result object per remote command (DESIGN: "one result object per remote command"). */
export interface CommandResult {
  host: string;
  /** The command as run, secrets masked. */
  command: string;
  /** null when the server sent no exit status: that counts as a failure. */
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  stdoutTail: string;
  stderrTail: string;
  ok: boolean;
}

/** A command whose exit status was not 0 (or missing). Carries the result. */
export class CommandFailedError extends FleetError {
  readonly result: CommandResult;
  constructor(result: CommandResult, what?: string) {
    const status =
      result.exitCode === null
        ? `no exit status${result.signal ? ` (signal ${result.signal})` : ''}`
        : `exit ${result.exitCode}`;
    const detail = lastLine(result.stderrTail) || lastLine(result.stdoutTail);
    super('failure', `${result.host}: ${what ?? result.command}: ${status}${detail ? `: ${detail}` : ''}`, {
      host: result.host,
    });
    this.name = 'CommandFailedError';
    this.result = result;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').trim();
}

export const TAIL_BYTES = 4096;

/** Keeps the tail of a stream for the result object, and all of it (up to `keepAll` bytes) when asked. */
export class OutputBuffer {
  private full: Buffer[] | null = [];
  private fullSize = 0;
  private tailBuf = Buffer.alloc(0);
  constructor(
    private readonly keepAll: number,
    private readonly tailLimit = TAIL_BYTES,
  ) {}

  push(chunk: Buffer): void {
    if (this.full) {
      this.fullSize += chunk.length;
      if (this.fullSize > this.keepAll) this.full = null;
      else this.full.push(chunk);
    }
    const joined = Buffer.concat([this.tailBuf, chunk]);
    this.tailBuf = joined.length > this.tailLimit ? joined.subarray(joined.length - this.tailLimit) : joined;
  }

  /** Everything received; fails when more than `keepAll` bytes arrived. */
  all(): string {
    if (!this.full)
      throw new FleetError('failure', `command output larger than ${this.keepAll} bytes; use a streaming exec`);
    return Buffer.concat(this.full).toString('utf8');
  }

  tail(): string {
    return this.tailBuf.toString('utf8');
  }
}
