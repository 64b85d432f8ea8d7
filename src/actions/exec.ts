import { createHash } from 'node:crypto';
import { CommandFailedError } from '../transport/result.js';
import { shellQuote } from '../transport/shell.js';
import { defineAction } from '../playbook/action.js';

/** Printed by the guard when the command is skipped; never by a user command by accident. */
const SKIP_MARK = 'ipa-fleet-exec-skipped-d41d8cd9';

/**
 * A shell command on each host, with Ansible-style guards so that re-running it (on --resume)
 * does no harm: `creates` skips when a path exists, `unless` skips when a command succeeds.
 * Guard and command run under one per-task flock on the host: when a controller dies, the
 * command it started keeps running, and a resumed run must see its effect, not race it.
 */
export const execAction = defineAction({
  name: 'exec',
  description: 'run a shell command on the hosts (guards: creates, unless)',
  destructive: false,
  needsFacts: false,
  params: {
    command: { type: 'string', required: true, description: 'the command, run by sh' },
    creates: { type: 'string', description: 'skip when this path exists on the host' },
    unless: { type: 'string', description: 'skip when this command exits 0' },
    timeout: { type: 'duration', default: '10m', description: 'fail when the command runs longer' },
  },
  async run(ctx, params) {
    const ssh = await ctx.transport.ssh(ctx.host);
    const command = params.command;
    const guards: string[] = [];
    if (typeof params.creates === 'string') guards.push(`test -e ${shellQuote(params.creates)}`);
    if (typeof params.unless === 'string') guards.push(`( ${params.unless} ) >/dev/null 2>&1`);
    const script = guards.length
      ? `if ${guards.join(' || ')}; then echo ${SKIP_MARK}; exit 0; fi\n${command}`
      : command;
    const key = createHash('sha256')
      .update(`${ctx.host.name}\0${command}\0${guards.join('\0')}`)
      .digest('hex')
      .slice(0, 20);
    const wrapped = `flock /tmp/.ipa-fleet-exec-${key}.lock sh -c ${shellQuote(script)}`;
    const result = await ssh.exec(wrapped, { timeoutMs: params.timeout * 1000, display: command });
    if (!result.ok) throw new CommandFailedError(strip(result));
    if (result.stdout.trim() === SKIP_MARK) {
      const why = typeof params.creates === 'string' ? `creates: ${params.creates}` : `unless: ${params.unless}`;
      return { status: 'skipped', message: `guard held (${why})`, results: [strip(result)] };
    }
    const last = result.stdout.trim().split('\n').pop() ?? '';
    return { status: 'changed', ...(last ? { message: last.slice(0, 200) } : {}), results: [strip(result)] };
  },
});

/** The journal keeps the result object, not the whole output. */
function strip<T extends { stdout?: string }>(output: T): Omit<T, 'stdout'> {
  const { stdout: _ignored, ...rest } = output;
  return rest;
}
