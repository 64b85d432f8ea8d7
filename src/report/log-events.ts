// Every event of the run into the log file (winston): a readable one-liner as the message and the
// event itself as metadata (under `event`, so its own `message` field cannot clash with winston's).

import type { EventStream, FleetEvent } from './events.js';
import { formatSeconds } from '../format.js';
import { formatWork, oneLine, percentOf } from './terminal.js';

export type EventLogLevel = 'error' | 'warn' | 'info' | 'verbose' | 'debug';

/** What the consumer needs of a logger; a winston Logger fits. */
interface EventLogSink {
  log(level: string, message: string, meta: { event: FleetEvent }): unknown;
}

export interface LogEventsOptions {
  log: EventLogSink;
}

/**
 * task.finished failed and facts that could not be gathered → error; other task results, resumed
 * skips and run.* → info; task.started and facts.* → verbose; task.progress → debug.
 */
export function logLevelOf(event: FleetEvent): EventLogLevel {
  switch (event.type) {
    case 'task.finished':
      return event.status === 'failed' ? 'error' : 'info';
    case 'facts.finished':
      return event.ok ? 'verbose' : 'error';
    case 'task.progress':
      return 'debug';
    case 'task.started':
    case 'facts.started':
      return 'verbose';
    default:
      return 'info';
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The event as one readable line. */
export function describeEvent(event: FleetEvent): string {
  switch (event.type) {
    case 'run.started':
      return (
        `run ${event.runId} started: playbook ${event.playbook}, ` +
        `${plural(event.tasks, 'task')} on ` +
        `${plural(event.hosts.length, 'host')}${event.resumed ? ' (resumed)' : ''}`
      );
    case 'facts.started':
      return `gathering facts from ${plural(event.hosts.length, 'host')}: ${event.hosts.join(', ')}`;
    case 'facts.finished':
      return event.ok
        ? `${event.host}: facts gathered`
        : `${event.host}: facts not gathered: ${oneLine(event.error ?? 'unknown error')}`;
    case 'task.started':
      return `${event.host}: task ${event.taskId} started: ${oneLine(event.title)} (${event.action})`;
    case 'task.progress': {
      const parts: string[] = [];
      const work = formatWork(event);
      const pct = percentOf(event.done, event.total);
      if (work) parts.push(pct === undefined ? work : `${work} (${pct}%)`);
      if (event.message) parts.push(oneLine(event.message));
      return `${event.host}: task ${event.taskId} progress: ${parts.join(', ') || 'working'}`;
    }
    case 'task.finished': {
      let line =
        `${event.host}: task ${event.taskId} (${event.action}) ${event.status} in ` +
        `${formatSeconds(event.durationMs)}`;
      if (event.message) line += `: ${oneLine(event.message)}`;
      if (event.error) line += ` — ${oneLine(event.error)}`;
      return line;
    }
    case 'task.skipped-done':
      return `${event.host}: task ${event.taskId} skipped, done in an earlier run`;
    case 'run.finished': {
      const hosts = Object.values(event.recap);
      const failed = hosts.reduce((n, r) => n + r.failed, 0);
      const changed = hosts.reduce((n, r) => n + r.changed, 0);
      return (
        `run ${event.runId} ${event.state} in ${formatSeconds(event.durationMs)}: ` +
        `${plural(hosts.length, 'host')}, ${plural(changed, 'task')} changed, ${plural(failed, 'task')} failed`
      );
    }
    default:
      return `event ${(event as { type: string }).type}`;
  }
}

/** Log every event of `stream`; the returned function stops. */
export function attachLogEvents(stream: EventStream, opts: LogEventsOptions): () => void {
  return stream.on((event) => {
    opts.log.log(logLevelOf(event), describeEvent(event), { event });
  });
}
