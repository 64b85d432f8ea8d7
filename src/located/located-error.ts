// Bad input in a file (inventory, playbook, schedule): the one-line message names file, line and key.

import { FleetError } from '../errors.js';

export class LocatedError extends FleetError {
  readonly file: string;
  readonly line: number | undefined;
  readonly key: string | undefined;

  constructor(file: string, line: number | undefined, key: string | undefined, problem: string) {
    const where = `${file}${line !== undefined ? `:${line}` : ''}${key ? `: ${key}` : ''}`;
    super('usage', `${where}: ${problem}`);
    this.name = 'LocatedError';
    this.file = file;
    this.line = line;
    this.key = key;
  }
}
