// What a restore or a rejoin returns: its run, how it ended, and the seconds per host and phase.
import { defaultRegistry } from '../actions/index.js';
import type { ActionRegistry } from '../playbook/registry.js';
import type { FleetError } from '../errors.js';
import type { Plan } from '../playbook/model.js';
import type { RunOutcome } from '../playbook/run.js';
import type { EventStream } from '../report/events.js';
import { hostOutcomes, type HostOutcome } from './outcome.js';
import { phaseReport, type PhaseReport } from './phase-report.js';

/** How a restore or rejoin runs: where its journal goes, how wide, what it reports to, who confirms. */
export interface RunSettings {
  /** Runs, journals, the deployment lock and quarantine records live here. */
  stateDir: string;
  /** Tasks running at once, over all hosts (default 10). */
  forks?: number;
  /** Progress events (terminal, --json, log file); none by default. */
  events?: EventStream;
  /** Asked before the deployment is changed; false refuses the run. Default: yes. */
  confirm?: (plan: Plan) => Promise<boolean>;
  /** The actions the playbook may use (default: ipa-fleet's own). */
  registry?: ActionRegistry;
}

/** The settings as the engine takes them, defaults filled in: ipa-fleet's actions, 10 forks, no questions. */
export function engineSettings(opts: RunSettings) {
  return {
    events: opts.events,
    registry: opts.registry ?? defaultRegistry(),
    stateDir: opts.stateDir,
    forks: opts.forks ?? 10,
    confirm: opts.confirm ?? (async () => true),
  };
}

export interface PhasedRunResult {
  runId: string;
  runDir: string;
  /** A restore is whole or not done: succeeded, failed or interrupted, never partial. */
  state: RunOutcome['state'];
  /** Per host, in plan order: its tasks all done, their time, its first failure. */
  hosts: HostOutcome[];
  phases: PhaseReport;
  /** Hosts in the plan's order, for the report's rows. */
  hostOrder: string[];
  /** What stopped the run (its kind tells unreachable, auth, … apart); none when it succeeded. */
  failure?: FleetError;
  /** The phase (step name) of the task that failed with `failure`. */
  failedPhase?: string;
  /** Resuming the run can finish it: false when only the preflight refused it (nothing was changed). */
  resumable: boolean;
}

export function phasedRunResult(outcome: RunOutcome): PhasedRunResult {
  const { plan } = outcome;
  const failed = outcome.tasks.filter((t) => t.status === 'failed');
  const failure = stoppedBy(outcome.failures);
  const failedTask = failed.find((t) => t.error === failure) ?? failed[0];
  const failedPhase = failedTask && plan.tasks.find((t) => t.id === failedTask.id)?.stepName;
  return {
    runId: outcome.runId,
    runDir: outcome.runDir,
    state: outcome.state,
    hosts: hostOutcomes(outcome.tasks),
    phases: phaseReport(plan, outcome.tasks),
    hostOrder: plan.tasks.map((t) => t.host),
    ...(failure ? { failure } : {}),
    ...(failedPhase ? { failedPhase } : {}),
    resumable: !(failed.length > 0 && failed.every((t) => t.action === 'restore-preflight')),
  };
}

/**
 * A restore is whole or not done: no "some hosts failed" here. The failure that stopped it counts,
 * an unreachable host or a refused authentication before any other.
 */
function stoppedBy(failures: FleetError[]): FleetError | undefined {
  return (
    failures.find((e) => e.kind === 'unreachable') ??
    failures.find((e) => e.kind === 'auth') ??
    failures.find((e) => e.kind === 'usage') ??
    failures[0]
  );
}
