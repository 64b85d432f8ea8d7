import { randomBytes } from 'node:crypto';
import { FleetError } from '../errors.js';
import type { LdapSession } from '../transport/ldap.js';

export type TaskType = 'export' | 'import' | 'backup' | 'restore' | 'cleanallruv' | 'memberof task';

export interface TaskResult {
  dn: string;
  exitCode: number;
  status: string;
  log: string;
  durationMs: number;
}

export interface TaskOptions {
  timeoutMs: number;
  pollMs?: number;
  /** Called with the task's progress while it runs. */
  onProgress?: (done: number | undefined, total: number | undefined, status: string) => void;
  signal?: AbortSignal;
}

/**
 * Runs a 389-DS online task (an entry under cn=<type>,cn=tasks,cn=config) and waits for
 * `nsTaskExitCode` (addTask adds the entry). The result is read as soon as it appears; 2.3.1 deletes
 * finished task entries after a while.
 */
export async function runTask(
  ldap: LdapSession,
  type: TaskType,
  attributes: Record<string, string | string[]>,
  opts: TaskOptions,
): Promise<TaskResult> {
  const { cn, dn } = await addTask(ldap, type, attributes, opts.signal);
  const started = Date.now();
  const pollMs = opts.pollMs ?? 250;
  for (;;) {
    if (opts.signal?.aborted)
      throw new FleetError(
        'failure',
        `${ldap.host.name}: ${type} task ${cn} interrupted (it keeps running on the server)`,
      );
    const entry = await ldap.read(dn, [
      'nsTaskExitCode',
      'nsTaskStatus',
      'nsTaskLog',
      'nsTaskCurrentItem',
      'nsTaskTotalItems',
    ]);
    if (!entry)
      throw new FleetError('failure', `${ldap.host.name}: ${type} task ${cn} vanished before reporting a result`);
    const status = entry.get('nsTaskStatus') ?? '';
    const exit = entry.get('nsTaskExitCode');
    if (exit !== undefined) {
      const result = {
        dn,
        exitCode: Number(exit),
        status,
        log: entry.get('nsTaskLog') ?? '',
        durationMs: Date.now() - started,
      };
      if (result.exitCode !== 0) {
        throw new FleetError(
          'failure',
          `${ldap.host.name}: ${type} task failed (exit ${result.exitCode}): ${lastLine(result.log) || status}`,
        );
      }
      return result;
    }
    const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
    opts.onProgress?.(num(entry.get('nsTaskCurrentItem')), num(entry.get('nsTaskTotalItems')), status);
    if (Date.now() - started > opts.timeoutMs) {
      throw new FleetError(
        'failure',
        `${ldap.host.name}: ${type} task ${cn} did not finish within ${Math.round(opts.timeoutMs / 1000)} ` +
          `s (last status: ${status || 'none'})`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** A backend still held by the task before it (INST_FLAG_BUSY) refuses a new one with operationsError. */
const BUSY_RETRIES_MS = [1_000, 2_000, 4_000, 8_000, 15_000];

/**
 * Adds the task entry. The cn gets a random suffix: same-second names collide (FreeIPA hit that).
 * 389-DS answers operationsError (1), with no text, when the backend is still "in the middle of another
 * task" (seen on a loaded 2-core machine when a suffix's import followed another task closely): the
 * entry is not added, so the add is tried again after a pause, 30 s in all.
 */
async function addTask(
  ldap: LdapSession,
  type: TaskType,
  attributes: Record<string, string | string[]>,
  signal: AbortSignal | undefined,
): Promise<{ cn: string; dn: string }> {
  for (let attempt = 0; ; attempt++) {
    const stamp = new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, '')
      .slice(0, 14);
    const cn = `ipa-fleet-${type.replace(' ', '-')}-${stamp}-${randomBytes(3).toString('hex')}`;
    const dn = `cn=${cn},cn=${type},cn=tasks,cn=config`;
    try {
      await ldap.add(dn, { objectClass: ['top', 'extensibleObject'], cn, ...attributes });
      return { cn, dn };
    } catch (err) {
      const pause = BUSY_RETRIES_MS[attempt];
      if (pause === undefined || signal?.aborted || resultCode(err) !== 1) throw err;
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

function resultCode(err: unknown): number | undefined {
  const code = ((err as Error).cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}
