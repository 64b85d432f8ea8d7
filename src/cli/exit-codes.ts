// The only place errors and results become exit numbers, and the rule for which of several
// failures a command reports.
import { FleetError, PartialFailureError, type ErrorKind } from '../errors.js';
import type { AuditSeverity } from '../operations/audit.js';
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

/**
 * The error these failures over hostCount hosts exit with: unreachable (4), auth (12), usage (2), else
 * partial (3) when some hosts did not fail, or failure (1).
 */
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

/**
 * The error a command ends with when its run failed: the most specific of its failures, or partial
 * (3) when the command counts some hosts done as a partial result; `message` says it the command's way.
 */
export function runFailure(
  failures: FleetError[],
  hostCount: number,
  opts: { partial?: boolean; message?: (picked: FleetError) => string } = {},
): FleetError {
  const picked = mostSpecific(failures, hostCount);
  const message = opts.message ? opts.message(picked) : picked.message;
  if (opts.partial || picked.kind === 'partial') return new PartialFailureError(message, failures);
  if (message === picked.message) return picked;
  return new FleetError(picked.kind, message, { ...(picked.host ? { host: picked.host } : {}), cause: picked });
}

/** audit: 0 clean (info only), 1 any error finding, 3 warnings only. */
export function auditExitCode(severity: AuditSeverity): number {
  return severity === 'errors' ? EXIT.failure : severity === 'warnings' ? EXIT.partial : EXIT.ok;
}

/** diff: 0 no differences, 3 differences found (like diff(1)'s 1, which is ours for failures). */
export function diffExitCode(differences: number): number {
  return differences === 0 ? EXIT.ok : EXIT.partial;
}

/** drill: 0 the snapshot restored and every sandbox host holds its content; 1 it did not. */
export function drillExitCode(restorable: boolean): number {
  return restorable ? EXIT.ok : EXIT.failure;
}
