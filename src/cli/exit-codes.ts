// The only place errors and results become exit numbers, and the rule for which of several
// failures a command reports.
import { FleetError, PartialFailureError, type ErrorKind } from '../errors.js';
import { FactsUnavailableError } from '../playbook/run.js';

/** The documented exit codes (README "Exit codes"). */
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
  const reported = reportedError(err);
  if (reported instanceof FleetError) return EXIT[reported.kind];
  return EXIT.failure;
}

/** The error a command prints and exits with: facts that could not be gathered, by their most specific failure. */
export function reportedError(err: unknown): unknown {
  return err instanceof FactsUnavailableError ? mostSpecific(err.failures, err.hostCount) : err;
}

/** The error these failures over hostCount hosts exit with: unreachable (4), auth (12), usage (2), else partial (3) or failure (1). */
export function mostSpecific(errors: FleetError[], hostCount: number): FleetError {
  const pick =
    errors.find((e) => e.kind === 'unreachable') ??
    errors.find((e) => e.kind === 'auth') ??
    errors.find((e) => e.kind === 'usage');
  if (pick) return pick;
  const failedHosts = new Set(errors.map((e) => e.host ?? '?'));
  if (failedHosts.size < hostCount)
    return new PartialFailureError(`${failedHosts.size} of ${hostCount} host(s) failed: ${errors[0]!.message}`, errors);
  return errors[0]!;
}
