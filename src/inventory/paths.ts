// How paths written in an inventory are read: relative to the inventory file, `~/` is the home
// directory. Resolving them once here means no later stage depends on the current directory.

import { isAbsolute, join, resolve } from 'node:path';

export interface PathBase {
  /** Directory of the inventory file (absolute). */
  baseDir: string;
  homeDir: string;
}

/** The absolute path, or a problem to report. */
export function resolveInventoryPath(path: string, base: PathBase): { path: string } | { problem: string } {
  if (path.trim() === '') return { problem: 'path is empty' };
  if (path.includes('\0')) return { problem: 'path contains a NUL character' };
  if (path === '~' || path.startsWith('~/')) return { path: join(base.homeDir, path.slice(1)) };
  if (path.startsWith('~')) return { problem: '~user paths are not supported; write the full path' };
  return { path: isAbsolute(path) ? resolve(path) : resolve(base.baseDir, path) };
}
