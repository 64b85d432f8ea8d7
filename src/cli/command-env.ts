// What the CLI's commands share: the parsed global options, and the wrapper that turns an action
// into a commander handler. Commands import these from here, never from main.ts.
import type { RunContext } from '../context.js';
import type { Output } from './output.js';

export interface GlobalOptions {
  inventory?: string;
  limit?: string;
  verbose: number;
  json: boolean;
  logFile: string;
  color: boolean;
}

/** What every command action gets: parsed global options, output, and a fresh run context. */
export interface CommandEnv {
  globals: GlobalOptions;
  out: Output;
  ctx: RunContext;
}

export type Action<A extends unknown[]> = (env: CommandEnv, ...args: A) => Promise<number | undefined> | Promise<void>;

/** Wraps a command action: context in, typed errors out as one line and a documented exit code. */
export type Wrap = <A extends unknown[]>(action: Action<A>) => (...args: unknown[]) => Promise<void>;

/** A repeatable option's values, in the order given (commander's option argument parser). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
