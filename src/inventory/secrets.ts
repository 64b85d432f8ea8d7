// Secret sources: the inventory says where a secret comes from (file:PATH, env:NAME, prompt), never
// the secret itself. Messages here name paths and variables but never repeat a value.

import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { FleetError } from '../errors.js';
import type { SecretSource } from './model.js';
import { resolveInventoryPath, type PathBase } from './paths.js';
import { readFailure } from '../text-file.js';

export const LITERAL_SECRET_REFUSED = 'a literal password is not allowed here; use file:PATH, env:NAME or prompt';

/**
 * Parses a secret source. `file:` paths are resolved against `base` (the inventory directory).
 * Problems never quote the value: a refused value is most likely the secret itself.
 */
export function parseSecretSource(value: unknown, base: PathBase): SecretSource | { problem: string } {
  if (typeof value !== 'string') {
    return value === null
      ? { problem: 'has no value; use file:PATH, env:NAME or prompt' }
      : { problem: LITERAL_SECRET_REFUSED };
  }
  if (value === 'prompt') return { kind: 'prompt' };
  if (value.startsWith('file:')) {
    const resolved = resolveInventoryPath(value.slice('file:'.length).trim(), base);
    return 'problem' in resolved ? { problem: `file: ${resolved.problem}` } : { kind: 'file', path: resolved.path };
  }
  if (value.startsWith('env:')) {
    const name = value.slice('env:'.length).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      return { problem: 'env: needs a variable name (letters, digits and _, not starting with a digit)' };
    }
    return { kind: 'env', name };
  }
  return { problem: LITERAL_SECRET_REFUSED };
}

/** Where a secret came from, for messages. */
export function describeSecretSource(src: SecretSource): string {
  switch (src.kind) {
    case 'file':
      return `file:${src.path}`;
    case 'env':
      return `env:${src.name}`;
    case 'prompt':
      return 'prompt';
  }
}

export interface ReadSecretOptions {
  /** Asks the operator; when absent, the terminal is used if there is one. */
  prompt?: (question: string) => Promise<string>;
  /** Environment for env: sources (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Terminal to prompt on (default: process.stdin, with the question on process.stderr). */
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream;
}

/** Reads the secret `src` points to. `what` names it in messages, e.g. `ipa1.example.com: ldap.password`. */
export async function readSecret(src: SecretSource, what: string, opts: ReadSecretOptions = {}): Promise<string> {
  switch (src.kind) {
    case 'file': {
      let text: string;
      try {
        text = await readFile(src.path, 'utf8');
      } catch (err) {
        throw new FleetError('usage', `${what}: cannot read secret file ${src.path}: ${readFailure(err)}`);
      }
      // Only one newline: it is what editors and `echo` add; anything more may be part of the secret.
      const secret = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
      if (secret === '') throw new FleetError('usage', `${what}: secret file ${src.path} is empty`);
      return secret;
    }
    case 'env': {
      const value = (opts.env ?? process.env)[src.name];
      if (value === undefined) throw new FleetError('usage', `${what}: environment variable ${src.name} is not set`);
      if (value === '') throw new FleetError('usage', `${what}: environment variable ${src.name} is empty`);
      return value;
    }
    case 'prompt': {
      const question = `${what}: `;
      const answer = opts.prompt
        ? await opts.prompt(question)
        : await promptOnTerminal(question, what, opts.input ?? process.stdin, opts.output ?? process.stderr);
      if (answer === '') throw new FleetError('usage', `${what}: no secret was entered`);
      return answer;
    }
  }
}

/** Reads one line with echo off: the question is shown, the typed characters are not. */
function promptOnTerminal(
  question: string,
  what: string,
  input: NodeJS.ReadableStream & { isTTY?: boolean },
  output: NodeJS.WritableStream,
): Promise<string> {
  if (!input.isTTY) {
    return Promise.reject(
      new FleetError('usage', `${what}: cannot prompt for a secret without a terminal; use file:PATH or env:NAME`),
    );
  }
  return new Promise((resolve, reject) => {
    let muted = false;
    const echo = new Writable({
      write(chunk, encoding, done) {
        if (!muted) output.write(chunk, encoding);
        done();
      },
    });
    const rl = createInterface({ input, output: echo, terminal: true });
    let answered = false;
    rl.on('SIGINT', () => rl.close());
    rl.on('close', () => {
      output.write('\n');
      if (!answered) reject(new FleetError('usage', `${what}: cancelled at the prompt`));
    });
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
    muted = true; // after the question is written: from here on only keystrokes would be echoed
  });
}
