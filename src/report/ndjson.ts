// --json: every event of the run as one JSON line on stdout, and nothing else, so the output
// can be piped into jq or read back line by line.

import type { EventStream, FleetEvent } from './events.js';
import type { Redactor } from './redact.js';

export interface NdjsonOptions {
  out: NodeJS.WritableStream;
  /** Masks secrets anywhere in the event (messages, errors) before it is written. */
  redactor?: Pick<Redactor, 'maskValue'> | undefined;
}

/** One event as one NDJSON line (JSON.stringify never emits a raw newline). */
function toNdjsonLine(event: FleetEvent, redactor?: Pick<Redactor, 'maskValue'>): string {
  return `${JSON.stringify(redactor ? redactor.maskValue(event) : event)}\n`;
}

/** Write every event of `stream` to `opts.out`; the returned function stops. */
export function attachNdjson(stream: EventStream, opts: NdjsonOptions): () => void {
  return stream.on((event) => {
    opts.out.write(toNdjsonLine(event, opts.redactor));
  });
}
