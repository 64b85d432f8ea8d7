// Streaming files to and between hosts over SSH, without staging anything on the controller.
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FleetError } from '../errors.js';
import { CommandFailedError } from './result.js';
import { shellQuote } from './shell.js';
import type { SshSession } from './session.js';

export interface UploadOptions {
  /** The new file gets the owner and group of this path (e.g. the instance's ldif/ folder, owned by dirsrv). */
  ownerLike?: string;
  timeoutMs?: number;
  display?: string;
}

/**
 * Writes `source` to `path` on the host (mode 0600, parent folders created). The file appears
 * under its name only once it is complete: written as `<path>.part`, then renamed.
 */
export async function uploadStream(
  ssh: SshSession,
  path: string,
  source: Readable,
  opts: UploadOptions = {},
): Promise<number> {
  const bytes = await writePart(ssh, path, source, opts);
  await ssh.run(`mv -f ${shellQuote(`${path}.part`)} ${shellQuote(path)}`);
  return bytes;
}

/** Writes `<path>.part`; removes it when the transfer fails. */
async function writePart(ssh: SshSession, path: string, source: Readable, opts: UploadOptions): Promise<number> {
  const part = `${path}.part`;
  const chown = opts.ownerLike ? ` && chown --reference=${shellQuote(opts.ownerLike)} ${shellQuote(part)}` : '';
  const command = `umask 077 && mkdir -p "$(dirname ${shellQuote(path)})" && cat > ${shellQuote(part)}${chown}`;
  const stream = await ssh.execStream(command, {
    display: opts.display ?? `write ${path}`,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });
  stream.stdout.resume();
  let bytes = 0;
  const counter = new PassThrough();
  counter.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  try {
    await pipeline(source, counter, stream.stdin);
  } catch (err) {
    stream.cancel();
    await stream.result;
    await ssh.exec(`rm -f ${shellQuote(part)}`).catch(() => undefined);
    throw err;
  }
  const result = await stream.result;
  if (!result.ok) {
    await ssh.exec(`rm -f ${shellQuote(part)}`).catch(() => undefined);
    throw new CommandFailedError(result);
  }
  return bytes;
}

/**
 * Copies a file from one host to another through the controller (hosts need no SSH trust between
 * them). Memory stays bounded: the streams' own windows, with backpressure end to end.
 */
export async function copyBetweenHosts(
  from: SshSession,
  fromPath: string,
  to: SshSession,
  toPath: string,
  opts: UploadOptions & { onProgress?: (bytes: number) => void } = {},
): Promise<number> {
  const reader = await from.execStream(`cat ${shellQuote(fromPath)}`, {
    display: `read ${fromPath}`,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });
  let bytes = 0;
  const counted = new PassThrough();
  counted.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    opts.onProgress?.(bytes);
  });
  reader.stdout.pipe(counted);
  try {
    await writePart(to, toPath, counted, opts);
  } catch (err) {
    reader.cancel();
    await reader.result;
    if (!from.isOpen)
      throw new FleetError(
        'unreachable',
        `${from.target.name}: the SSH connection was lost while reading ${fromPath}`,
        { host: from.target.name, cause: err },
      );
    throw err;
  }
  // A reader that failed half-way ends its stream like one that finished: only its exit status
  // tells, so the file gets its name only after that.
  const read = await reader.result;
  if (!read.ok) {
    await to.exec(`rm -f ${shellQuote(`${toPath}.part`)}`).catch(() => undefined);
    throw new CommandFailedError(read);
  }
  await to.run(`mv -f ${shellQuote(`${toPath}.part`)} ${shellQuote(toPath)}`);
  return bytes;
}
