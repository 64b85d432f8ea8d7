// The shape every refused input file must give (inventory, schedule): an LocatedError of kind
// usage whose one-line message starts with `file:line: key: ` and then names the problem.
import assert from 'node:assert/strict';
import { LocatedError } from '../../src/located/located-error.js';

/** Runs `parse`, asserts it refused with exactly this location and a matching problem; returns the message. */
export function assertLocatedError(
  parse: () => unknown,
  file: string,
  line: number | undefined,
  key: string | undefined,
  problem: RegExp,
): string {
  let caught: unknown;
  try {
    parse();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof LocatedError, `expected an LocatedError, got ${String(caught)}`);
  assert.equal(caught.kind, 'usage');
  assert.equal(caught.file, file);
  assert.equal(caught.line, line, caught.message);
  assert.equal(caught.key, key, caught.message);
  const prefix = `${file}${line === undefined ? '' : `:${line}`}${key ? `: ${key}` : ''}: `;
  assert.ok(caught.message.startsWith(prefix), `${caught.message} should start with ${prefix}`);
  assert.match(caught.message.slice(prefix.length), problem);
  assert.ok(!caught.message.includes('\n'), `one line: ${caught.message}`);
  return caught.message;
}

/** The 1-based line of the only line containing `marker`. */
export function lineOf(text: string, marker: string): number {
  const lines = text.split('\n');
  const hits = lines.map((l, i) => (l.includes(marker) ? i + 1 : 0)).filter((n) => n > 0);
  assert.equal(hits.length, 1, `marker '${marker}' is on exactly one line`);
  return hits[0]!;
}

/** One string per line, so that line N of the text is argument N. */
export function textOfLines(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}
