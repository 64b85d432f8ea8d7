// Typed errors. Every user-facing failure is one of these; the CLI maps them to
// exit codes in exactly one place (src/cli/exit-codes.ts) and prints `message` as one line.

export type ErrorKind =
  | 'failure' // 1: the operation failed
  | 'usage' // 2: bad command line, inventory or playbook
  | 'partial' // 3: some hosts failed
  | 'unreachable' // 4: a host could not be reached
  | 'lock' // 11: another run holds the deployment lock
  | 'auth'; // 12: authentication or decryption failed

export class FleetError extends Error {
  readonly kind: ErrorKind;
  /** Host the error is about, when there is one. */
  readonly host: string | undefined;

  constructor(kind: ErrorKind, message: string, opts: { host?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FleetError';
    this.kind = kind;
    this.host = opts.host;
  }
}

export class UsageError extends FleetError {
  constructor(message: string) {
    super('usage', message);
    this.name = 'UsageError';
  }
}

export class UnreachableError extends FleetError {
  constructor(host: string, message: string, cause?: unknown) {
    super('unreachable', `${host}: ${message}`, { host, cause });
    this.name = 'UnreachableError';
  }
}

export class AuthError extends FleetError {
  constructor(message: string, opts: { host?: string; cause?: unknown } = {}) {
    super('auth', opts.host ? `${opts.host}: ${message}` : message, opts);
    this.name = 'AuthError';
  }
}

/** Several hosts failed independently; `failures` keeps each one. */
export class PartialFailureError extends FleetError {
  readonly failures: FleetError[];
  constructor(message: string, failures: FleetError[]) {
    super('partial', message);
    this.name = 'PartialFailureError';
    this.failures = failures;
  }
}
