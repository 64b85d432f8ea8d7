// Playbooks as read from YAML, and the plan built from them. A plan is a plain JSON value:
// `ipa-fleet plan` prints it, `ipa-fleet run` executes it, and the run directory keeps it.

import type { JsonObject, JsonValue } from '../json.js';

/** Where something was written, for one-line error messages. */
export interface Located {
  file: string;
  line: number;
}

export type ParamType = 'string' | 'number' | 'boolean' | 'host' | 'hosts' | 'duration' | 'list';

export interface ParamSpec {
  type: ParamType;
  required: boolean;
  default: JsonValue | undefined;
  description: string;
}

/** `hosts:` of a step: a --limit style pattern (templated), or a selector an action module provides. */
export type HostSelector = { kind: 'pattern'; pattern: string } | { kind: 'selector'; name: string; argument: string };

export interface Step {
  index: number;
  name: string;
  action: string;
  hosts: HostSelector;
  with: JsonObject;
  /** At most this many tasks of the step at once. */
  concurrency: number | undefined;
  /** Hosts in batches of this size; a batch starts when the previous one is done. */
  serial: number | undefined;
  when: string | undefined;
  confirm: boolean;
  /** A failed task of this step does not stop the run: other hosts go on (backups of a fleet). */
  keepGoing: boolean;
  at: Located;
}

export interface Playbook {
  file: string;
  /** SHA-256 of the file, so a resumed run can tell the playbook changed. */
  sha256: string;
  name: string;
  description: string;
  params: Record<string, ParamSpec & { at: Located }>;
  /**
   * `offline_hosts:`, the hosts the playbook may plan without when their facts cannot be gathered
   * (templated, e.g. `"{{ allow_offline }}"`); undefined: every host must answer.
   */
  offlineHosts: string | undefined;
  steps: Step[];
}

export interface PlannedTask {
  /** Stable id, e.g. `02-write-marker@b.ipa.test`. */
  id: string;
  step: number;
  stepName: string;
  action: string;
  host: string;
  title: string;
  params: JsonObject;
  dependsOn: string[];
  destructive: boolean;
  /** Step-level cap on simultaneous tasks, carried to the executor. */
  concurrency: number | undefined;
  /** Its failure does not stop the run (tasks that depend on it still do not start). */
  keepGoing?: boolean;
}

export interface Plan {
  version: 1;
  playbook: { name: string; file: string; sha256: string; description: string };
  inventory: { file: string; deployment: string };
  params: JsonObject;
  limit: string | undefined;
  createdAt: string;
  /** Steps left out by their `when`, with the reason. */
  skippedSteps: Array<{ step: number; name: string; reason: string }>;
  destructive: boolean;
  /** Whether runners need facts (then `--resume` gathers them again). */
  needsFacts: boolean;
  tasks: PlannedTask[];
}
