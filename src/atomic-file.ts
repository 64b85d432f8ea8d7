// Writing a file so that a reader (node_exporter, a resumed daemon, `runs show`, another controller
// taking a lock) sees either the old content or the new, never half of it, even when the controller
// dies mid-write. Every such write in src/ goes through here.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A dot name beside `file`: node_exporter only reads *.prom files, so a temporary one is never scraped. */
function temporaryBeside(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`);
}

/** Creates `tmp` (never an existing file) holding `text` with exactly `mode`, and fsyncs it. */
async function writeSynced(tmp: string, text: string, mode: number): Promise<void> {
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(text);
    // open()'s mode is filtered by the umask (systemd's UMask=0077 would make it 0600).
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `text` to a temporary file beside `file`, fsyncs it and renames it over `file`. */
export async function replaceFile(file: string, text: string, mode = 0o600): Promise<void> {
  // A file others may read (0644: node_exporter runs as its own user) gets a folder they can enter.
  await mkdir(dirname(file), { recursive: true, mode: mode & 0o044 ? 0o755 : 0o700 });
  const tmp = temporaryBeside(file);
  try {
    await writeSynced(tmp, text, mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function replaceJson(file: string, value: unknown): Promise<void> {
  await replaceFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Creates `file` holding `text` (0600) unless it exists: false then. Written and fsynced under a
 * temporary name, then hard-linked: link(2) fails with EEXIST like O_EXCL, and whoever reads `file`
 * finds it complete.
 */
export async function createFileExclusively(file: string, text: string): Promise<boolean> {
  const tmp = temporaryBeside(file);
  try {
    await writeSynced(tmp, text, 0o600);
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Fsyncs a folder, so a rename or link in it survives a crash. */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory; the rename has still happened.
    if (!['EINVAL', 'ENOTSUP', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle.close();
  }
}
