// Human output (stdout) and machine output (--json); the log file is separate (report/log.ts).

export interface OutputOptions {
  json: boolean;
  color: boolean;
}

export class Output {
  constructor(
    readonly opts: OutputOptions,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** A progress or result line for people; suppressed with --json so stdout stays parseable. */
  line(text: string): void {
    if (!this.opts.json) this.stdout.write(`${text}\n`);
  }

  /** Progress lines go to stderr under --json, so they are still visible. */
  progress(text: string): void {
    (this.opts.json ? this.stderr : this.stdout).write(`${text}\n`);
  }

  json(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  error(text: string): void {
    this.stderr.write(`${this.paint('31', 'ipa-fleet: error:')} ${text}\n`);
  }

  warn(text: string): void {
    this.stderr.write(`${this.paint('33', 'ipa-fleet: warning:')} ${text}\n`);
  }

  ok(text: string): string {
    return this.paint('32', text);
  }
  bad(text: string): string {
    return this.paint('31', text);
  }

  private paint(code: string, text: string): string {
    return this.opts.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }
}

/** Left-aligned text table. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visibleLength(cell))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function visibleLength(text: string): number {
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}
