// inventory import-ansible: an ansible-freeipa inventory file → an ipa-fleet inventory, printed or
// written to a new file. The conversion itself is src/inventory/ansible-import.ts.
import { homedir } from 'node:os';
import { createFileExclusively, replaceFile } from '../atomic-file.js';
import { FleetError, UsageError } from '../errors.js';
import { importAnsibleInventory, type AnsibleImport } from '../inventory/ansible-import.js';
import { readInputFile } from '../text-file.js';

export interface ImportAnsibleOptions {
  /** The Ansible inventory file (INI or YAML). */
  source: string;
  /** Where to write the ipa-fleet inventory; absent: only returned. */
  out?: string | undefined;
  /** Replace `out` when it exists. */
  force?: boolean | undefined;
}

export interface ImportAnsibleResult extends AnsibleImport {
  /** The file written, when `out` was given. */
  written?: string;
}

export async function importAnsible(opts: ImportAnsibleOptions): Promise<ImportAnsibleResult> {
  const text = await readInputFile(opts.source, 'Ansible inventory');
  const result = importAnsibleInventory(text, opts.source, { cwd: process.cwd(), homeDir: homedir() });
  if (opts.out === undefined) return result;
  // Written whole or not at all: a temporary file renamed (--force) or linked (never over an existing file).
  try {
    if (opts.force) await replaceFile(opts.out, result.yaml);
    else if (!(await createFileExclusively(opts.out, result.yaml))) {
      throw new UsageError(`${opts.out} exists; pass --force to replace it`);
    }
  } catch (err) {
    if (err instanceof FleetError) throw err;
    throw new FleetError('failure', `cannot write ${opts.out}: ${(err as Error).message}`, { cause: err });
  }
  return { ...result, written: opts.out };
}
