// The entries of an LDIF export (389-DS db2ldif / export task, with or without replication data)
// as ContentEntry values, one record at a time: memory is one entry, whatever the file holds.
// Folded lines are unfolded, `::` values base64-decoded; values the replication state marks
// deleted, attributes that are not data, tombstones, RUV entries and probes are dropped.

import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { FleetError } from '../errors.js';
import { contentEntry, type ContentEntry } from './entry.js';

/** Yields each data entry of the LDIF on `source`; `where` names the source in errors. */
export async function* ldifEntries(source: Readable, where: string): AsyncGenerator<ContentEntry> {
  let record: string[] = [];
  let lineNo = 0;
  let startLine = 0;
  const lines = createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const raw of lines) {
    lineNo++;
    if (raw === '') {
      if (record.length > 0) {
        const entry = toEntry(record, where, startLine);
        if (entry) yield entry;
      }
      record = [];
    } else if (raw.startsWith(' ')) {
      if (record.length === 0)
        throw new FleetError('failure', `${where}:${lineNo}: continuation line outside a record`);
      record[record.length - 1] += raw.slice(1);
    } else if (!raw.startsWith('#')) {
      if (record.length === 0) startLine = lineNo;
      record.push(raw);
    }
  }
  if (record.length > 0) {
    const entry = toEntry(record, where, startLine);
    if (entry) yield entry;
  }
}

function toEntry(lines: string[], where: string, at: number): ContentEntry | undefined {
  const pairs = lines.map((l, i) => splitLine(l, where, at + i));
  if (pairs[0]?.[0].toLowerCase() === 'version') pairs.shift();
  const first = pairs.shift();
  if (!first) return undefined;
  if (first[0].toLowerCase() !== 'dn') throw new FleetError('failure', `${where}:${at}: a record must start with dn:`);
  return contentEntry(first[1].toString('utf8'), pairs);
}

function splitLine(line: string, where: string, at: number): [string, Buffer] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new FleetError('failure', `${where}:${at}: not an LDIF attribute line`);
  const description = line.slice(0, colon);
  const rest = line.slice(colon + 1);
  if (rest.startsWith(':')) return [description, Buffer.from(rest.slice(1).trim(), 'base64')];
  if (rest.startsWith('<')) throw new FleetError('failure', `${where}:${at}: URL values (:<) are not read`);
  return [description, Buffer.from(rest.replace(/^ /, ''), 'utf8')];
}
