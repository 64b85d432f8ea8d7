import { CommandFailedError } from '../transport/result.js';
import { shellQuote } from '../transport/shell.js';
import type { ActionDefinition } from './action.js';

/**
 * A shell command on each host, with Ansible-style guards so that re-running it (on --resume)
 * does no harm: `creates` skips when a path exists, `unless` skips when a command succeeds.
 */
export const execAction: ActionDefinition = {
  name: 'exec',
  description: 'run a shell command on the hosts (guards: creates, unless)',
  destructive: false,
  needsFacts: false,
  params: {
    command: { type: 'string', required: true, description: 'the command, run by the login shell' },
    creates: { type: 'string', description: 'skip when this path exists on the host' },
    unless: { type: 'string', description: 'skip when this command exits 0' },
    timeout: { type: 'duration', default: '10m', description: 'fail when the command runs longer' },
  },
  async run(ctx, params) {
    const ssh = await ctx.transport.ssh(ctx.host);
    const timeoutMs = Number(params.timeout) * 1000;
    if (typeof params.creates === 'string') {
      const exists = await ssh.exec(`test -e ${shellQuote(params.creates)}`);
      if (exists.exitCode === 0) return { status: 'skipped', message: `${params.creates} exists`, results: [strip(exists)] };
    }
    if (typeof params.unless === 'string') {
      const guard = await ssh.exec(params.unless, { timeoutMs });
      if (guard.exitCode === 0) return { status: 'skipped', message: `unless: '${guard.command}' succeeded`, results: [strip(guard)] };
    }
    const result = await ssh.exec(String(params.command), { timeoutMs });
    if (!result.ok) throw new CommandFailedError(strip(result));
    const last = result.stdout.trim().split('\n').pop() ?? '';
    return { status: 'changed', ...(last ? { message: last.slice(0, 200) } : {}), results: [strip(result)] };
  },
};

/** The journal keeps the result object, not the whole output. */
function strip<T extends { stdout?: string }>(output: T): Omit<T, 'stdout'> {
  const { stdout: _ignored, ...rest } = output;
  return rest;
}
