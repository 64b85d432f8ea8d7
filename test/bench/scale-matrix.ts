// The scale benchmark's matrix and the shape of its results file: which cells (hosts × topology ×
// entries × init mode) run, which share a lab, and the per-cell figures derived from one measured
// restore. Pure: nothing here touches a lab, so the unit tests and the plotting read the same shapes.

export type Topology = 'chain' | 'star';
export type Init = 'ldif' | 'online';

export interface Cell {
  hosts: number;
  topology: Topology;
  entries: number;
  init: Init;
}

/** The restore's steps, in run order (the names in playbooks/restore-deployment.yaml). */
export const PHASES = ['preflight', 'fence', 'restore master', 'reinitialize', 'unfence', 'converge'] as const;
/** The part of the wall time outside every step: the CLI starting, gathering facts, planning, reporting. */
export const OUTSIDE = 'outside the steps';

/** The issue's matrix: entries on 3 hosts, both init modes at the ends, then hosts at 20 000 entries. */
export const DEFAULT_CELLS =
  '3:chain:20000:ldif,3:chain:20000:online,3:chain:100000:ldif,3:chain:200000:ldif,3:chain:200000:online,' +
  '5:chain:20000:ldif,10:star:20000:ldif,10:chain:20000:ldif';
/** A smoke run of a few minutes: the same shape at sizes a busy 2-core machine gets through quickly. */
export const QUICK_CELLS = '3:chain:2000:ldif,3:chain:2000:online,3:chain:4000:ldif,5:chain:2000:ldif';

export const cellKey = (c: Cell): string => `${c.hosts}:${c.topology}:${c.entries}:${c.init}`;

/** `hosts:topology:entries:init,...` → cells; a malformed cell is an Error naming it and what is wanted. */
export function parseCells(text: string): Cell[] {
  const cells: Cell[] = [];
  for (const raw of text.split(',').map((s) => s.trim())) {
    if (!raw) continue;
    const [hosts, topology, entries, init, ...rest] = raw.split(':');
    const cell = { hosts: Number(hosts), topology, entries: Number(entries), init } as Cell;
    const wrong =
      rest.length > 0 || init === undefined
        ? 'wants four fields hosts:topology:entries:init'
        : !Number.isInteger(cell.hosts) || cell.hosts < 2 || cell.hosts > 26
          ? 'hosts must be a whole number from 2 to 26'
          : cell.topology !== 'chain' && cell.topology !== 'star'
            ? 'topology must be chain or star'
            : !Number.isInteger(cell.entries) || cell.entries < 1 || cell.entries > 1_000_000
              ? 'entries must be a whole number from 1 to 1000000'
              : cell.init !== 'ldif' && cell.init !== 'online'
                ? 'init must be ldif or online'
                : undefined;
    if (wrong) throw new Error(`--cells: '${raw}': ${wrong}`);
    if (!cells.some((c) => cellKey(c) === cellKey(cell))) cells.push(cell);
  }
  if (cells.length === 0) throw new Error('--cells: no cell given (e.g. 3:chain:20000:ldif)');
  return cells;
}

export interface LabGroup {
  hosts: number;
  topology: Topology;
  entries: number;
  /** The init modes restored on this lab, ldif first (the order the benchmark runs them). */
  inits: Init[];
}

/** One lab per (hosts, topology, entries), in the order the cells first name them. */
export function labGroups(cells: readonly Cell[]): LabGroup[] {
  const groups: LabGroup[] = [];
  for (const c of cells) {
    let g = groups.find((x) => x.hosts === c.hosts && x.topology === c.topology && x.entries === c.entries);
    if (!g) {
      g = { hosts: c.hosts, topology: c.topology, entries: c.entries, inits: [] };
      groups.push(g);
    }
    if (!g.inits.includes(c.init)) g.inits.push(c.init);
  }
  for (const g of groups) g.inits.sort((a, b) => (a === b ? 0 : a === 'ldif' ? -1 : 1));
  return groups;
}

export interface LabResult {
  hosts: number;
  topology: Topology;
  entries: number;
  labUpS: number;
  backupS: number;
  /** The longest one host's backup tasks took inside the fleet backup run. */
  backupSlowestHostS: number;
}

/** What one measured restore gives the cell (a subset of RestoreMeasure, so this file stays pure). */
export interface RestoreFigures {
  wallS: number;
  peakRssBytes: number;
  /** Each step's wall, first start to last finish (s). */
  phaseWallS: Record<string, number>;
  criticalS: number;
  masterS: number;
  exportS: number;
  replicaInitS: number[];
  unfenceGreenS: number;
  proofContentS: number;
  proofAuditS: number;
}

export interface CellResult extends Cell {
  wallS: number;
  /** Each of PHASES and OUTSIDE → seconds. */
  phasesS: Record<string, number>;
  /** Server durations on the critical path of the plan: the physical floor. */
  floorS: number;
  wallOverFloor: number;
  /** Wall time per entry, microseconds; and each phase's. */
  perEntryUs: number;
  perEntryPhaseUs: Record<string, number>;
  masterImportS: number;
  exportS: number;
  /** The replicas' own initializations (copy + import, or the online total update): the per-import cost. */
  replicaInitAvgS: number;
  replicaInitMaxS: number;
  unfenceGreenS: number;
  /** Inside converge: the content comparison of every host (and the snapshot), and the closing audit. */
  proofContentS: number;
  proofAuditS: number;
  peakRssBytes: number;
  labUpS: number;
}

export interface ScaleResults {
  bench: 'scale';
  startedAt: string;
  finishedAt: string;
  machine: { cores: number; cpu: string; memoryBytes: number; node: string; directoryServer: string; load: number[] };
  labs: LabResult[];
  cells: CellResult[];
  /** Cells that did not finish, with the error (a failed command's exit code and its output's tail). */
  failures: Array<{ cell: string; error: string }>;
}

const round = (x: number, places = 3): number => Number(x.toFixed(places));

export function cellResult(cell: Cell, m: RestoreFigures, lab: LabResult): CellResult {
  const phasesS: Record<string, number> = {};
  for (const p of PHASES) phasesS[p] = round(m.phaseWallS[p] ?? 0);
  // Steps run one after the other, so what their walls leave of the whole is the CLI's own start and end.
  phasesS[OUTSIDE] = round(Math.max(0, m.wallS - PHASES.reduce((s, p) => s + phasesS[p]!, 0)));
  const perEntryPhaseUs: Record<string, number> = {};
  for (const [p, s] of Object.entries(phasesS)) perEntryPhaseUs[p] = round((s * 1e6) / cell.entries, 1);
  const inits = m.replicaInitS;
  return {
    ...cell,
    wallS: round(m.wallS),
    phasesS,
    floorS: round(m.criticalS),
    wallOverFloor: m.criticalS > 0 ? round(m.wallS / m.criticalS, 2) : 0,
    perEntryUs: round((m.wallS * 1e6) / cell.entries, 1),
    perEntryPhaseUs,
    masterImportS: round(m.masterS),
    exportS: round(m.exportS),
    replicaInitAvgS: inits.length ? round(inits.reduce((a, b) => a + b, 0) / inits.length) : 0,
    replicaInitMaxS: round(Math.max(0, ...inits)),
    unfenceGreenS: round(m.unfenceGreenS),
    proofContentS: round(m.proofContentS),
    proofAuditS: round(m.proofAuditS),
    peakRssBytes: m.peakRssBytes,
    labUpS: lab.labUpS,
  };
}

/** The results as the Markdown table docs/benchmarks.md shows. */
export function markdownTable(results: ScaleResults): string {
  const s = (x: number): string => x.toFixed(1);
  const rows = [
    '| hosts | topology | entries | init | wall s | ' +
      `${PHASES.join(' | ')} | floor s | wall/floor | µs/entry | master import s | replica init avg/max s | ` +
      'unfence green s | proof: content / audit s | RSS MB | lab up s | backup s (slowest host) |',
    `${'|---'.repeat(PHASES.length + 15)}|`,
  ];
  for (const c of results.cells) {
    const lab = results.labs.find((l) => l.hosts === c.hosts && l.topology === c.topology && l.entries === c.entries);
    rows.push(
      `| ${c.hosts} | ${c.topology} | ${c.entries} | ${c.init} | ${s(c.wallS)} | ` +
        `${PHASES.map((p) => s(c.phasesS[p] ?? 0)).join(' | ')} | ${s(c.floorS)} | ${c.wallOverFloor.toFixed(2)} | ` +
        `${c.perEntryUs.toFixed(0)} | ${s(c.masterImportS)} | ${s(c.replicaInitAvgS)} / ${s(c.replicaInitMaxS)} | ` +
        `${s(c.unfenceGreenS)} | ${s(c.proofContentS)} / ${s(c.proofAuditS)} | ${(c.peakRssBytes / 1048576).toFixed(0)} | ${s(c.labUpS)} | ` +
        `${lab ? `${s(lab.backupS)} (${s(lab.backupSlowestHostS)})` : '-'} |`,
    );
  }
  return rows.join('\n');
}
