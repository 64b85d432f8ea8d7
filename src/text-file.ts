// Reading a text file whose absence means something (a first start, no records yet, a refused input
// file), so each caller need not catch the error and look at its code.
import { readFile } from 'node:fs/promises';
import { FleetError } from './errors.js';
import { LocatedError } from './located/located-error.js';

/**
 * The file's text, or undefined when it does not exist. Any other failure is thrown as it came, or,
 * given `what` (e.g. `the schedule state /var/…`), as a FleetError `cannot read <what>: <why>`.
 */
export async function readTextIfExists(file: string, what?: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') return undefined;
    if (what === undefined) throw err;
    throw new FleetError('failure', `cannot read ${what}: ${readFailure(err)}`, { cause: err });
  }
}

/** Why a read failed, in words for a one-line message: `no such file`, `permission denied`… */
export function readFailure(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  }
}

/** An input file the user named (inventory, schedule, playbook): unreadable is `<file>: cannot read the <what>: …`. */
export async function readInputFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new LocatedError(file, undefined, undefined, `cannot read the ${what}: ${readFailure(err)}`);
  }
}
