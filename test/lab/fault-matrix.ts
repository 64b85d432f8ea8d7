// The fault matrices' own vocabulary: what to break (an SSH connection, ns-slapd, a whole host, the
// controller), one cell of the matrix, and the matrix printed as a table. The means of breaking things
// and of reading a journal afterwards are the lab fixture's (fixture.ts).

export type Fault = 'ssh-drop' | 'ds-kill' | 'power-off' | 'controller-kill';
export const FAULTS: readonly Fault[] = ['ssh-drop', 'ds-kill', 'power-off', 'controller-kill'];

export interface Cell {
  operation: 'restore' | 'backup';
  phase: string;
  fault: Fault;
  /** The task the fault was injected at (or the moment, for backups). */
  injectedAt: string;
  exit: string;
  stoppedAt: string;
  message: string;
  healed: string;
  result: 'pass' | 'FAIL';
  why: string;
}

/** The matrix as a table: one row per cell, then the totals. */
export function printMatrix(title: string, cells: Cell[]): string {
  const rows = [
    ['OPERATION', 'PHASE', 'FAULT', 'EXIT', 'JOURNAL STOPPED AT', 'RESULT', 'MESSAGE / WHY'],
    ...cells.map((c) => [
      c.operation,
      c.phase,
      c.fault,
      c.exit,
      c.stoppedAt,
      c.result,
      (c.result === 'pass' ? c.message : c.why).slice(0, 110),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const text = rows.map((r) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]!))).join('  ')).join('\n');
  const passed = cells.filter((c) => c.result === 'pass').length;
  return `${title}\n${text}\nfault cells passed: ${passed}/${cells.length}`;
}
