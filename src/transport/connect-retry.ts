// Connecting with retries and backoff, all within the connect timeout, whatever the client: an
// unreachable host is reported within `ssh.connect_timeout`, and a host that is just restarting gets
// another try. Authentication and host-key refusals are final (they will not change on retry).
import { setTimeout as delay } from 'node:timers/promises';
import type { RunContext } from '../context.js';
import { UnreachableError } from '../errors.js';
import type { SshTarget } from './session.js';

/** Calls `attempt(msLeft)` until it succeeds, fails other than unreachable, or the retries or time run out. */
export async function withConnectRetries<T>(
  target: SshTarget,
  ctx: RunContext,
  attempt: (timeoutMs: number) => Promise<T>,
): Promise<T> {
  const { connectRetries, connectTimeoutMs } = target.ssh;
  const deadline = Date.now() + connectTimeoutMs;
  let lastError: unknown;
  for (let n = 0; n <= connectRetries; n++) {
    if (n > 0) {
      const backoff = Math.min(250 * 2 ** (n - 1), 4000);
      if (Date.now() + backoff >= deadline) break;
      ctx.log.verbose(
        `${target.name}: retrying ssh connection in ${backoff} ms (attempt ${n + 1}/${connectRetries + 1})`,
      );
      await sleep(backoff, ctx.signal);
    }
    try {
      return await attempt(Math.max(deadline - Date.now(), 1));
    } catch (err) {
      lastError = err;
      if (!(err instanceof UnreachableError) || ctx.signal.aborted) throw err;
    }
  }
  throw lastError;
}

/** Waits `ms`, or less when the signal aborts (its listener goes with the timer). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}
