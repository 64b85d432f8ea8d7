// A worker thread that reads one host's subtree and digests it: the LDAP bytes come from the SSH
// tunnel the main thread holds (ssh2 stays there) and what goes back is one row per entry — its
// normalized DN, DN and digest. Parsing LDAP and building digests is most of a content comparison's
// CPU; one worker per host spreads it over the controller's cores, where the main thread alone is
// the bottleneck (see worker-source.ts, docs/benchmarks.md).
import { Duplex } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { Client } from 'ldapts';
import { EVERY_ATTRIBUTE, toRawEntry } from '../transport/ldap.js';
import { type Selection, selects } from './diff.js';
import { contentEntry } from './entry.js';
import { entryFilter } from './filter.js';
import { entryDigest } from './values.js';

/** What the main thread tells the worker (the password arrives as the first message, not here). */
export interface DigestJob {
  url: string;
  bindDn: string;
  base: string;
  selectionBase: string;
  filter: string | undefined;
  timeoutMs: number;
  pageSize: number;
}

/** Messages between the threads. */
export type ToWorker = { type: 'password'; password: string } | { type: 'data'; bytes: Uint8Array } | { type: 'end' };
export type FromWorker =
  | { type: 'write'; bytes: Uint8Array }
  | { type: 'rows'; rows: string[] }
  | { type: 'done' }
  | { type: 'error'; message: string; code?: number };

const port = parentPort!;
const job = workerData as DigestJob;
const WITH_SUBENTRIES = '(|(objectClass=*)(objectClass=ldapSubEntry))';

/** The tunnel as ldapts sees it: writes go to the main thread, its data arrives as messages. */
const tunnel = new Duplex({
  read() {},
  write(chunk: Buffer, _encoding, done) {
    port.postMessage({ type: 'write', bytes: new Uint8Array(chunk) } satisfies FromWorker);
    done();
  },
});
Object.assign(tunnel, { connecting: false, readyState: 'open' });

port.on('message', (m: ToWorker) => {
  if (m.type === 'password') void run(m.password);
  else if (m.type === 'data') tunnel.push(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
  else tunnel.push(null);
});

async function run(password: string): Promise<void> {
  const client = new Client({ url: job.url, timeout: job.timeoutMs, createConnection: (() => tunnel) as never });
  try {
    await client.bind(job.bindDn, password);
    const selection: Selection = {
      base: job.selectionBase,
      ...(job.filter ? { test: entryFilter(job.filter, '--filter') } : {}),
    };
    const pages = client.searchPaginated(job.base, {
      scope: 'sub',
      filter: WITH_SUBENTRIES,
      attributes: ['*', '+'],
      paged: { pageSize: job.pageSize },
      explicitBufferAttributes: EVERY_ATTRIBUTE,
    });
    for await (const page of pages) {
      const rows: string[] = [];
      for (const found of page.searchEntries) {
        const raw = toRawEntry(found);
        const entry = contentEntry(raw.dn, raw.attributes);
        if (entry && selects(selection, entry)) rows.push(entry.ndn, entry.dn, entryDigest(entry));
      }
      port.postMessage({ type: 'rows', rows } satisfies FromWorker);
    }
    port.postMessage({ type: 'done' } satisfies FromWorker);
  } catch (err) {
    const e = err as Error & { code?: unknown };
    const code = typeof e.code === 'number' ? e.code : undefined;
    port.postMessage({
      type: 'error',
      message: e.message,
      ...(code !== undefined ? { code } : {}),
    } satisfies FromWorker);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
