// The entry counts 389-DS 2.3 reports in its task logs and errors log, as the lab's servers wrote
// them (nsTaskLog of export and import tasks, dsctl ldif2db's lines in the errors log).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exportedEntries, importSummary } from '../../src/directory/task-counts.js';

/** An export task's nsTaskLog on the lab: 2 205 entries, a tombstone and the RUV tombstone. */
const EXPORT_LOG = [
  "Beginning export of 'userRoot'",
  'userroot: Processed 1000 entries (45%).',
  'userroot: Processed 2000 entries (90%).',
  'userroot: Processed 2207 entries (100%).',
  'Export finished.',
].join('\n');

/** An import task's nsTaskLog on the lab (the RUV tombstone removed from that export). */
const IMPORT_LOG = [
  'Beginning import job...',
  'Index buffering enabled with bucket size 17',
  'Processing file "/var/lib/dirsrv/slapd-IPA-TEST/ldif/t2.ldif"',
  'Finished scanning file "/var/lib/dirsrv/slapd-IPA-TEST/ldif/t2.ldif" (2206 entries)',
  'Workers finished; cleaning up...',
  'Indexing complete.  Post-processing...',
  'Generating numSubordinates complete.',
  'Flushing caches...',
  'Closing files...',
  'Import complete.  Processed 2206 entries in 2 seconds. (1103.00 entries/sec)',
].join('\n');

describe('exportedEntries', () => {
  test("the export task's last count", () => {
    assert.equal(exportedEntries(EXPORT_LOG), 2207);
  });

  test('a total that is a multiple of 1000: the last progress line is the total, whatever its percentage', () => {
    // 389-DS writes the (100%) line only when the last progress line did not already give the count.
    const log = ["Beginning export of 'userRoot'", 'userroot: Processed 1000 entries (49%).'];
    log.push('userroot: Processed 2000 entries (98%).', 'Export finished.');
    assert.equal(exportedEntries(log.join('\n')), 2000);
  });

  test('an empty backend: no count, the export finished: 0; a log that says neither: unknown', () => {
    assert.equal(exportedEntries("Beginning export of 'ipaca'\nExport finished."), 0);
    assert.equal(exportedEntries("Beginning export of 'ipaca'"), undefined);
    assert.equal(exportedEntries(''), undefined);
  });

  test('the errors log lines of an offline db2ldif (prefix "export") and a log whose start scrolled away', () => {
    const errors = [
      '[07/Dec/2026:18:30:12.653103792 +0000] - INFO - bdb_export_one_entry - export userroot: Processed 1000 entries (45%).',
      '[07/Dec/2026:18:30:12.683866757 +0000] - INFO - bdb_db2ldif - export userroot: Processed 2207 entries (100%).',
    ].join('\n');
    assert.equal(exportedEntries(errors), 2207);
    // 389-DS keeps the end of a long task log; a cut first line does not count as a progress line.
    assert.equal(exportedEntries('ries (12%).\nuserroot: Processed 200000 entries (100%).\nExport finished.'), 200000);
  });

  test('CRLF line ends and a backend name with dashes', () => {
    assert.equal(exportedEntries('ipa-ca_2: Processed 12 entries (100%).\r\nExport finished.\r\n'), 12);
  });
});

describe('importSummary', () => {
  test("the import task's summary: processed, nothing skipped", () => {
    assert.deepEqual(importSummary(IMPORT_LOG), { processed: 2206, skipped: 0 });
  });

  test('skipped entries, as 389-DS words them: bad entries, entries outside the backend, both', () => {
    assert.deepEqual(
      importSummary('Import complete.  Processed 2207 entries (2 were skipped) in 1 seconds. (2207.00 entries/sec)'),
      { processed: 2207, skipped: 2 },
    );
    assert.deepEqual(
      importSummary(
        "Import complete.  Processed 40 entries (3 entries were skipped because they don't belong to this database) " +
          'in 0 seconds. (0.00 entries/sec)',
      ),
      { processed: 40, skipped: 3 },
    );
    assert.deepEqual(
      importSummary(
        'Import complete.  Processed 40 entries (1 bad entries were skipped, 3 entries were skipped because they ' +
          "don't belong to this database) in 0 seconds. (0.00 entries/sec)",
      ),
      { processed: 40, skipped: 4 },
    );
  });

  test('the errors log line of an offline ldif2db', () => {
    const line =
      '[07/Dec/2026:18:31:09.470527724 +0000] - INFO - bdb_public_bdb_import_main - import userroot: ' +
      'Import complete.  Processed 2207 entries in 1 seconds. (2207.00 entries/sec)';
    assert.deepEqual(importSummary(`${line}\n`), { processed: 2207, skipped: 0 });
  });

  test('no summary: an import that did not finish, progress lines only, an empty log', () => {
    assert.equal(importSummary('Beginning import job...\nProcessing file "/x.ldif"\nFlushing caches...'), undefined);
    assert.equal(importSummary('import userroot: Processed 10000 entries -- average rate 5000.0/sec'), undefined);
    assert.equal(importSummary(''), undefined);
  });
});
