// Replication lag is not divergence. A host that lacks a change another host holds, and whose RUV says
// it has not seen that change yet, is behind: the change is in flight while replication can still bring
// it (an enabled agreement into the host that is not failing), and a divergence when nothing can.
import { compareCsn, parseCsn } from '../directory/csn.js';
import { ruvElement, type Ruv } from '../directory/ruv.js';

/** What one host holds of one DN, in replication's terms: its entry's newest CSN, or its tombstone's. */
export interface HeldState {
  host: string;
  csn: string | undefined;
}

/** A host that has not seen a change another host holds. */
export interface Behind {
  host: string;
  /** The change it has not seen… */
  csn: string;
  /** …which this host holds. */
  from: string;
}

/** Every host whose RUV has not seen the newest change some other host holds for the DN. */
export function hostsBehind(states: readonly HeldState[], ruvs: ReadonlyMap<string, Ruv | undefined>): Behind[] {
  const out: Behind[] = [];
  for (const { host } of states) {
    const ruv = ruvs.get(host);
    let worst: Behind | undefined;
    for (const other of states) {
      const csn = parseCsn(other.csn);
      if (other.host === host || !csn) continue;
      const seen = ruv ? ruvElement(ruv, csn.rid)?.maxCsn : undefined;
      if (compareCsn(seen, csn) >= 0) continue;
      if (!worst || compareCsn(csn, worst.csn) > 0) worst = { host, csn: csn.raw, from: other.host };
    }
    if (worst) out.push(worst);
  }
  return out;
}

/** The hosts' RUVs agree on every supplier's newest change: nothing is in flight among them. */
export function ruvsAgree(ruvs: ReadonlyMap<string, Ruv | undefined>): boolean {
  const keys = [...ruvs.values()].map(maxCsnKey);
  return keys.every((k) => k !== undefined && k === keys[0]);
}

/** The same RUV readings (per host) twice: nothing arrived in between. */
export function sameRuvs(a: ReadonlyMap<string, Ruv | undefined>, b: ReadonlyMap<string, Ruv | undefined>): boolean {
  return [...a].every(([host, ruv]) => maxCsnKey(ruv) === maxCsnKey(b.get(host)));
}

function maxCsnKey(ruv: Ruv | undefined): string | undefined {
  if (!ruv) return undefined;
  return ruv.elements
    .map((e) => `${e.rid}=${e.maxCsn ?? ''}`)
    .sort()
    .join(' ');
}

/** A working agreement: enabled, not failing, from one compared host to another. */
export type Feed = readonly [from: string, to: string];

/**
 * Whether replication can still bring the change to the host that lacks it: some host that has seen it
 * reaches the host through working agreements (several hops allowed: a→b→c).
 */
export function canArrive(behind: Behind, feeds: readonly Feed[], ruvs: ReadonlyMap<string, Ruv | undefined>): boolean {
  const csn = parseCsn(behind.csn)!;
  const seen = [...ruvs].filter(([, ruv]) => ruv && compareCsn(ruvElement(ruv, csn.rid)?.maxCsn, csn) >= 0);
  const reached = new Set([behind.from, ...seen.map(([host]) => host)]);
  const queue = [...reached];
  while (queue.length > 0) {
    const from = queue.shift()!;
    for (const [f, to] of feeds) {
      if (f !== from || reached.has(to)) continue;
      reached.add(to);
      queue.push(to);
    }
  }
  return reached.has(behind.host);
}
