// Replacing a file so that a reader (node_exporter, a resumed daemon, `runs show`) sees either the
// old content or the new, never half of it, even when the controller dies mid-write.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes `text` to a temporary file beside `file`, fsyncs it and renames it over `file`. */
export async function replaceFile(file: string, text: string, mode = 0o600): Promise<void> {
  // A file others may read (0644: node_exporter runs as its own user) gets a folder they can enter.
  await mkdir(dirname(file), { recursive: true, mode: mode & 0o044 ? 0o755 : 0o700 });
  // A dot name: node_exporter only reads *.prom files, so the temporary one is never scraped.
  const tmp = `${dirname(file)}/.${file.slice(dirname(file).length + 1)}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`;
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(text);
    // open()'s mode is filtered by the umask (systemd's UMask=0077 would make it 0600).
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function replaceJson(file: string, value: unknown): Promise<void> {
  await replaceFile(file, `${JSON.stringify(value, null, 2)}\n`);
}
