// 389-DS change sequence numbers (CSN): 20 hex digits, compared field by field in this order:
//   8 time (unix seconds) | 4 sequence number | 4 replica ID | 4 sub-sequence number
// e.g. 6b07ff0a000000020000 = time 0x6b07ff0a, seq 0, rid 2, subseq 0.

export interface Csn {
  /** Unix time in seconds at which the change was made on its supplier. */
  time: number;
  /** Changes within the same second on one supplier. */
  seq: number;
  /** Replica ID of the supplier that made the change. */
  rid: number;
  subseq: number;
  /** The CSN as it was given (trimmed). */
  raw: string;
}

const CSN_PATTERN = /^([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})$/i;

/** Parses a CSN; anything that is not exactly 20 hex digits gives undefined. */
export function parseCsn(s: string | undefined): Csn | undefined {
  if (typeof s !== 'string') return undefined;
  const raw = s.trim();
  const m = CSN_PATTERN.exec(raw);
  if (!m) return undefined;
  return {
    time: parseInt(m[1]!, 16),
    seq: parseInt(m[2]!, 16),
    rid: parseInt(m[3]!, 16),
    subseq: parseInt(m[4]!, 16),
    raw,
  };
}

/**
 * Orders two CSNs the way the server does (time, seq, rid, subseq): negative when `a` is older.
 * `undefined` (no CSN, e.g. a RUV element that saw no change) sorts before every CSN.
 * A string that is not a CSN is a programming error and throws.
 */
export function compareCsn(a: Csn | string | undefined, b: Csn | string | undefined): number {
  const x = toCsn(a);
  const y = toCsn(b);
  if (!x || !y) return (x ? 1 : 0) - (y ? 1 : 0);
  return x.time - y.time || x.seq - y.seq || x.rid - y.rid || x.subseq - y.subseq;
}

/**
 * How many seconds `a` lags behind `b` (difference of the time parts, never negative).
 * Typical use: `a` = a consumer's max CSN for a supplier's RID, `b` = that supplier's own max CSN.
 * Undefined when either side has no (valid) CSN: the lag cannot be told.
 */
export function csnLagSeconds(a: Csn | string | undefined, b: Csn | string | undefined): number | undefined {
  const x = typeof a === 'string' ? parseCsn(a) : a;
  const y = typeof b === 'string' ? parseCsn(b) : b;
  if (!x || !y) return undefined;
  return Math.max(0, y.time - x.time);
}

function toCsn(v: Csn | string | undefined): Csn | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return v;
  const parsed = parseCsn(v);
  if (!parsed) throw new TypeError(`not a CSN: '${v}'`);
  return parsed;
}
