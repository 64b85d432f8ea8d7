import { FleetError, type ErrorKind } from '../errors.js';

/** The documented exit codes (README "Exit codes"). The only place errors become numbers. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
  unreachable: 4,
  lock: 11,
  auth: 12,
} as const satisfies Record<ErrorKind | 'ok', number>;

export function exitCodeFor(err: unknown): number {
  if (err instanceof FleetError) return EXIT[err.kind];
  return EXIT.failure;
}
