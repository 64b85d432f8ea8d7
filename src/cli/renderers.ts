import type { EventStream } from '../report/events.js';
import { attachLogEvents } from '../report/log-events.js';
import { attachNdjson } from '../report/ndjson.js';
import { attachTerminal } from '../report/terminal.js';
import type { CommandEnv } from './command-env.js';

/**
 * Wires the run's event stream to its consumers: the log file always; then NDJSON on stdout
 * with --json, or the terminal view. `live: false` (plan) keeps stdout for the plan itself.
 */
export function attachRenderers(events: EventStream, env: CommandEnv, opts: { live: boolean }): void {
  attachLogEvents(events, { log: env.ctx.log });
  if (!opts.live) return;
  if (env.globals.json) attachNdjson(events, { out: process.stdout, redactor: env.ctx.redactor });
  else attachTerminal(events, { out: process.stdout, color: env.globals.color, redactor: env.ctx.redactor });
}
