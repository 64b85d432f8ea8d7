// One host's subtree read and digested page by page, over a stream that carries LDAP: the same code
// whether it runs in a worker thread (digest-worker.ts) or in the main thread (tunnel-digests.ts).
// Each page comes out as flat rows: normalized DN, DN and digest of each selected data entry.
import type { Duplex } from 'node:stream';
import { WireClient } from '../transport/ldap-wire.js';
import { isDataAttribute } from './data.js';
import { type Selection, selects } from './diff.js';
import { contentEntry } from './entry.js';
import { entryFilter } from './filter.js';
import { WITH_SUBENTRIES } from './live-entries.js';
import { entryDigest } from './values.js';

/** What one read needs besides the stream and the password. */
export interface DigestJob {
  bindDn: string;
  base: string;
  /** The selection, as rebuilt on either thread: normalized base and filter text. */
  selectionBase: string;
  filter: string | undefined;
  timeoutMs: number;
  pageSize: number;
}

/** Rows of each page: [ndn, dn, digest, ndn, dn, digest, …]. The conversation is closed at the end. */
export async function* digestPages(stream: Duplex, job: DigestJob, password: string): AsyncGenerator<string[]> {
  const client = new WireClient(stream, job.timeoutMs);
  try {
    await client.bind(job.bindDn, password);
    const selection: Selection = {
      base: job.selectionBase,
      ...(job.filter ? { test: entryFilter(job.filter, '--filter') } : {}),
    };
    const pages = client.pages({
      base: job.base,
      filter: WITH_SUBENTRIES,
      // Operational data too (nsAccountLock, aci, passwordExpirationTime come only with '+').
      attributes: ['*', '+'],
      pageSize: job.pageSize,
      // What contentEntry would drop as not data is not even decoded.
      keep: isDataAttribute,
    });
    for await (const page of pages) {
      const rows: string[] = [];
      for (const found of page) {
        const entry = contentEntry(found.dn, found.attributes);
        if (entry && selects(selection, entry)) rows.push(entry.ndn, entry.dn, entryDigest(entry));
      }
      yield rows;
    }
  } finally {
    client.unbind();
  }
}
