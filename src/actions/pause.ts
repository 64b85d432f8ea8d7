import { setTimeout as delay } from 'node:timers/promises';
import { FleetError } from '../errors.js';
import { defineAction } from '../playbook/action.js';

/** Waits a number of seconds, or until a command succeeds on the host (with a timeout). */
export const pauseAction = defineAction({
  name: 'pause',
  description: 'wait for some seconds, or until a command exits 0 on the host',
  destructive: false,
  needsFacts: false,
  params: {
    seconds: { type: 'duration', description: 'how long to wait' },
    until: { type: 'string', description: 'poll this command until it exits 0' },
    interval: { type: 'duration', default: '2s', description: 'between polls of until' },
    timeout: { type: 'duration', default: '5m', description: 'give up on until after this long' },
  },
  async run(ctx, params) {
    if (typeof params.until !== 'string') {
      const seconds = params.seconds ?? 0;
      await sleep(seconds * 1000, ctx.signal);
      if (ctx.signal.aborted) throw new FleetError('failure', `${ctx.host.name}: pause interrupted`);
      return { status: 'ok', message: `waited ${seconds} s` };
    }
    const ssh = await ctx.transport.ssh(ctx.host);
    const deadline = Date.now() + params.timeout * 1000;
    for (let attempt = 1; ; attempt++) {
      const probe = await ssh.exec(params.until, { timeoutMs: params.timeout * 1000 });
      if (probe.exitCode === 0) return { status: 'ok', message: `condition met after ${attempt} check(s)` };
      ctx.progress({ done: attempt, unit: 'items', message: `waiting for: ${probe.command}` });
      if (Date.now() > deadline || ctx.signal.aborted) {
        throw new FleetError(
          'failure',
          `${ctx.host.name}: '${probe.command}' did not succeed within ${params.timeout} s`,
          { host: ctx.host.name },
        );
      }
      await sleep(params.interval * 1000, ctx.signal);
    }
  },
});

/** Waits `ms`, or less when the signal aborts (its listener goes with the timer). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}
