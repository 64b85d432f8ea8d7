import { setMaxListeners } from 'node:events';
import type { SecretSource } from './inventory/model.js';
import { readSecret } from './inventory/secrets.js';
import { createLog, type Logger } from './report/log.js';
import { Redactor } from './report/redact.js';

/** Resolves secret sources once per run and registers every value with the redactor. */
export class SecretStore {
  private readonly cache = new Map<string, Promise<string>>();
  constructor(
    private readonly redactor: Redactor,
    private readonly prompt?: (question: string) => Promise<string>,
  ) {}

  get(src: SecretSource, what: string): Promise<string> {
    const key = src.kind === 'file' ? `file:${src.path}` : src.kind === 'env' ? `env:${src.name}` : `prompt:${what}`;
    let value = this.cache.get(key);
    if (!value) {
      value = readSecret(src, what, this.prompt ? { prompt: this.prompt } : undefined).then((secret) => {
        this.redactor.add(secret);
        return secret;
      });
      this.cache.set(key, value);
    }
    return value;
  }
}

/** Everything one run needs. Passed explicitly: the library keeps no module-level state. */
export interface RunContext {
  log: Logger;
  redactor: Redactor;
  secrets: SecretStore;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  /**
   * Something the operator must see even without -v (a stale lock removed, a crashed backup's
   * leftovers cleaned up): logged, and shown on stderr by the CLI.
   */
  warn: (message: string) => void;
}

export interface ContextOptions {
  logFile: string;
  verbosity: number;
  /** Where -v echoes log lines (stderr in the CLI). */
  echo?: NodeJS.WritableStream;
  prompt?: (question: string) => Promise<string>;
  signal?: AbortSignal;
  /** Where `warn` shows a warning besides the log (the CLI: stderr, when -v does not echo the log already). */
  onWarning?: (message: string) => void;
}

export function createRunContext(opts: ContextOptions): RunContext {
  const signal = opts.signal ?? new AbortController().signal;
  // Every running remote command listens for Ctrl-C on this signal; dozens at once are normal.
  setMaxListeners(0, signal);
  const redactor = new Redactor();
  const log = createLog({ file: opts.logFile, verbosity: opts.verbosity, redactor, echo: opts.echo });
  return {
    log,
    redactor,
    secrets: new SecretStore(redactor, opts.prompt),
    signal,
    warn: (message) => {
      log.warn(message);
      opts.onWarning?.(redactor.mask(message));
    },
  };
}
