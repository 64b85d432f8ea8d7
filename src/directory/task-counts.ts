// The entry counts 389-DS reports for its own exports and imports, read from the task's nsTaskLog
// (online tasks) or the errors log (dsctl db2ldif/ldif2db run offline). The server counts the
// entries as it writes or reads them, so these numbers cost no search and describe exactly the
// LDIF file or the import at hand. The texts are those of 389-DS 2.3 (bdb and mdb alike):
//
//   export: "userroot: Processed 2000 entries (90%)." every 1000 entries, then
//           "userroot: Processed 2207 entries (100%)." unless the last progress line already
//           gave the total (a multiple of 1000); nothing at all for an empty backend.
//           The errors log prefixes "export ". The count is every record written: entries,
//           tombstones and the RUV tombstone entry when replication data is exported.
//   import: "Import complete.  Processed 2206 entries in 2 seconds. (1103.00 entries/sec)", or
//           "… Processed 2207 entries (2 were skipped) in …" and variants naming entries skipped
//           because they are outside the backend. The errors log prefixes "import <backend>: ".
//           "Processed" counts the entry IDs the import handed out; an entry rejected after it
//           got one (no parent) is in it and among the skipped.

/** What a finished import task says of its work. */
export interface ImportSummary {
  /** Entries the import processed (stored, plus any rejected after they got an ID). */
  processed: number;
  /** Entries left out: schema violations, missing parents, entries outside the backend. */
  skipped: number;
}

const EXPORT_PROGRESS = /(?:^|\s)\S+: Processed (\d+) entries \(\d+%\)\.\s*$/;
const EXPORT_FINISHED = /^Export finished\.\s*$/m;
const IMPORT_COMPLETE = /Import complete\.\s+Processed (\d+) entries(?: \(([^)]*)\))? in \d+ seconds/;

/**
 * The number of records an export wrote, from its log: the last "Processed N entries (P%)." line,
 * 0 when the export finished without one (an empty backend). Undefined when the log says neither.
 */
export function exportedEntries(log: string): number | undefined {
  let last: number | undefined;
  for (const line of log.split('\n')) {
    const m = EXPORT_PROGRESS.exec(line);
    if (m) last = Number(m[1]);
  }
  if (last !== undefined) return last;
  return EXPORT_FINISHED.test(log) ? 0 : undefined;
}

/** An import's "Import complete." line, with the skipped entries it names; undefined when there is none. */
export function importSummary(log: string): ImportSummary | undefined {
  let found: ImportSummary | undefined;
  for (const line of log.split('\n')) {
    const m = IMPORT_COMPLETE.exec(line);
    if (!m) continue;
    // "(2 were skipped)", "(1 bad entries were skipped, 3 entries were skipped because they don't belong …)"
    const skipped = [...(m[2] ?? '').matchAll(/(\d+) (?:bad )?entries were skipped|(\d+) were skipped/g)].reduce(
      (sum, s) => sum + Number(s[1] ?? s[2]),
      0,
    );
    found = { processed: Number(m[1]), skipped };
  }
  return found;
}
