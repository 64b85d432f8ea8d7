// A worker thread that reads one host's subtree and digests it (wire-digests.ts): the LDAP bytes
// come from the SSH tunnel the main thread holds (ssh2 stays there) and what goes back is one row
// per entry. With one worker per host a comparison spreads its decoding and digests over the
// controller's cores (tunnel-digests.ts says when that pays).
import { Duplex } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { type DigestJob, digestPages } from './wire-digests.js';

/** Messages between the threads (the password arrives as the first message, not in workerData). */
export type ToWorker = { type: 'password'; password: string } | { type: 'data'; bytes: Uint8Array } | { type: 'end' };
export type FromWorker =
  | { type: 'write'; bytes: Uint8Array }
  | { type: 'rows'; rows: string[] }
  | { type: 'done' }
  | { type: 'error'; message: string; code?: number };

const port = parentPort!;
const job = workerData as DigestJob;

/** The tunnel as this thread sees it: writes go to the main thread, its data arrives as messages. */
const tunnel = new Duplex({
  read() {},
  write(chunk: Buffer, _encoding, done) {
    port.postMessage({ type: 'write', bytes: new Uint8Array(chunk) } satisfies FromWorker);
    done();
  },
});

port.on('message', (m: ToWorker) => {
  if (m.type === 'password') void run(m.password);
  else if (m.type === 'data') tunnel.push(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
  else tunnel.push(null);
});

async function run(password: string): Promise<void> {
  try {
    for await (const rows of digestPages(tunnel, job, password))
      port.postMessage({ type: 'rows', rows } satisfies FromWorker);
    port.postMessage({ type: 'done' } satisfies FromWorker);
  } catch (err) {
    const e = err as Error & { code?: unknown };
    const code = typeof e.code === 'number' ? e.code : undefined;
    port.postMessage({
      type: 'error',
      message: e.message,
      ...(code !== undefined ? { code } : {}),
    } satisfies FromWorker);
  }
}
