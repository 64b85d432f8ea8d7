// The scale benchmark's plots, drawn by gnuplot (Debian: gnuplot-nox) as SVG: where a restore's time goes
// as the entries grow and as the hosts grow (stacked per step), the time per entry (flat is linear), and
// the wall time against the servers' own floor. Data and scripts go to a temporary folder; only the SVGs
// are kept.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type CellResult, OUTSIDE, PHASES, type ScaleResults } from './scale-matrix.js';

const run = promisify(execFile);

/** One colour per step, the same in every plot (Paul Tol's colour-blind-safe "bright" set, grey for the rest). */
const COLOURS = ['#4477aa', '#66ccee', '#228833', '#ccbb44', '#ee6677', '#aa3377', '#bbbbbb'];
const STACK = [...PHASES, OUTSIDE];
const HEAD = [
  "set terminal svg size 960,540 dynamic enhanced font 'Helvetica,13' background rgb 'white'",
  "set datafile separator '\\t'",
  'set grid ytics lc rgb "#dddddd"',
  'set border 3',
  'set tics nomirror',
];

/** A name gnuplot reads inside single quotes. */
const quoted = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** Whether gnuplot runs here; the message says how to get it when it does not. */
export async function gnuplotMissing(): Promise<string | undefined> {
  try {
    await run('gnuplot', ['--version']);
    return undefined;
  } catch {
    return 'gnuplot is not installed: no plots drawn (Debian/Ubuntu: apt-get install -y gnuplot-nox), the JSON is kept';
  }
}

const tsv = (rows: Array<Array<string | number>>): string => `${rows.map((r) => r.join('\t')).join('\n')}\n`;

/** A stacked bar per cell: one segment per step, the label under it. */
function stacked(title: string, cells: CellResult[], label: (c: CellResult) => string, data: string): string[] {
  const rows = [['cell', ...STACK], ...cells.map((c) => [label(c), ...STACK.map((p) => c.phasesS[p] ?? 0)])];
  return [
    `set title ${quoted(title)}`,
    'set style data histograms',
    'set style histogram rowstacked',
    'set style fill solid 0.9 border rgb "#333333"',
    'set boxwidth 0.6',
    'set key outside right top vertical reverse Left invert',
    "set ylabel 'seconds (wall)'",
    'set yrange [0:*]',
    `$${data} << EOD\n${tsv(rows)}EOD`,
    `plot for [i=2:${STACK.length + 1}] $${data} using i:xtic(1) title columnheader(i) lc rgb word(${quoted(COLOURS.join(' '))}, i-1)`,
  ];
}

const thousands = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(n));

/** (1) Time vs entries: 3-host chain, each init mode, stacked per step. */
function byEntries(r: ScaleResults): string[] | undefined {
  const cells = r.cells
    .filter((c) => c.hosts === 3 && c.topology === 'chain')
    .sort((a, b) => a.entries - b.entries || a.init.localeCompare(b.init));
  if (cells.length === 0) return undefined;
  return stacked(
    'Restore of a 3-host chain: where the time goes as the entries grow',
    cells,
    (c) => `${thousands(c.entries)} ${c.init}`,
    'entries',
  );
}

/** The entry count the host-count plot compares at: the smallest one measured with more than 3 hosts. */
const hostsEntries = (r: ScaleResults): number | undefined =>
  r.cells
    .filter((c) => c.hosts > 3 && c.init === 'ldif')
    .map((c) => c.entries)
    .sort((a, b) => a - b)[0];

/** (2) Time vs hosts: ldif at one entry count, stacked per step. */
function byHosts(r: ScaleResults): string[] | undefined {
  const entries = hostsEntries(r);
  const cells = r.cells
    .filter((c) => c.init === 'ldif' && c.entries === entries)
    .sort((a, b) => a.hosts - b.hosts || b.topology.localeCompare(a.topology));
  if (entries === undefined) return undefined;
  return stacked(
    `Restore --init ldif of ${entries} entries: where the time goes as the hosts grow`,
    cells,
    (c) => `${c.hosts} ${c.topology}`,
    'hosts',
  );
}

/** (3) Wall time per entry vs entries on 3 hosts, with the ±20 % band around each mode's mean: flat is linear. */
function perEntry(r: ScaleResults): string[] | undefined {
  const lines: string[] = [];
  const series = (['ldif', 'online'] as const)
    .map((init, k) => ({
      init,
      colour: COLOURS[k === 0 ? 0 : 4]!,
      cells: r.cells.filter((c) => c.hosts === 3 && c.topology === 'chain' && c.init === init),
    }))
    .filter((s) => s.cells.length > 0)
    .map((s) => ({ ...s, cells: s.cells.sort((a, b) => a.entries - b.entries) }));
  if (series.length === 0) return undefined;
  const xs = series.flatMap((s) => s.cells.map((c) => c.entries));
  const plots: string[] = [];
  for (const s of series) {
    const mean = s.cells.reduce((a, c) => a + c.perEntryUs, 0) / s.cells.length;
    lines.push(`$${s.init} << EOD\n${tsv(s.cells.map((c) => [c.entries, c.perEntryUs]))}EOD`);
    plots.push(
      `'+' using 1:(${mean * 0.8}):(${mean * 1.2}) with filledcurves fs transparent solid 0.15 noborder ` +
        `lc rgb ${quoted(s.colour)} title ${quoted(`${s.init}: mean ±20 %`)}`,
      `$${s.init} using 1:2 with linespoints lw 2 pt 7 ps 1.2 lc rgb ${quoted(s.colour)} title ${quoted(s.init)}`,
    );
  }
  return [
    'set title "Restore of a 3-host chain: wall time per entry (flat = linear in entries)"',
    'set logscale x',
    `set xrange [${Math.min(...xs) / 1.3}:${Math.max(...xs) * 1.3}]`,
    'set samples 2',
    `set xtics (${[...new Set(xs)].map((x) => `${quoted(thousands(x))} ${x}`).join(', ')})`,
    "set xlabel 'entries'",
    "set ylabel 'µs per entry (wall)'",
    'set yrange [0:*]',
    'set key outside right top',
    ...lines,
    `plot ${plots.join(', \\\n  ')}`,
  ];
}

/** (4) Wall time against the floor (the servers' own tasks on the plan's critical path), every cell. */
function wallFloor(r: ScaleResults): string[] | undefined {
  if (r.cells.length === 0) return undefined;
  const rows = [
    ['cell', 'floor: server tasks on the critical path', 'wall'],
    ...r.cells.map((c) => [
      `${c.hosts} ${c.topology} ${thousands(c.entries)} ${c.init}: ${c.wallOverFloor.toFixed(2)}×`,
      c.floorS,
      c.wallS,
    ]),
  ];
  return [
    'set title "Restore wall time against its floor (label: cell, wall / floor; goal ≤ 1.3× for ldif)"',
    'set style data histograms',
    'set style histogram clustered gap 1',
    'set style fill solid 0.9 border rgb "#333333"',
    'set key outside top center horizontal',
    "set ylabel 'seconds'",
    'set yrange [0:*]',
    'set xtics rotate by 30 right',
    'set bmargin 8',
    `$cells << EOD\n${tsv(rows)}EOD`,
    `plot $cells using 2:xtic(1) title columnheader(2) lc rgb ${quoted(COLOURS[2]!)}, ` +
      `'' using 3 title columnheader(3) lc rgb ${quoted(COLOURS[0]!)}`,
  ];
}

const PLOTS: Record<string, (r: ScaleResults) => string[] | undefined> = {
  'scale-entries': byEntries,
  'scale-hosts': byHosts,
  'scale-per-entry': perEntry,
  'scale-wall-floor': wallFloor,
};

/** Draws every plot the results have cells for into `outDir` as <name>.svg; returns the files written. */
export async function drawPlots(results: ScaleResults, outDir: string): Promise<string[]> {
  const work = await mkdtemp(join(tmpdir(), 'ipa-fleet-scale-plot-'));
  const written: string[] = [];
  try {
    await mkdir(outDir, { recursive: true });
    for (const [name, draw] of Object.entries(PLOTS)) {
      const body = draw(results);
      if (!body) continue;
      const svg = join(outDir, `${name}.svg`);
      const script = join(work, `${name}.gnuplot`);
      await writeFile(script, [...HEAD, `set output ${quoted(svg)}`, ...body, ''].join('\n'));
      await run('gnuplot', [script]);
      written.push(svg);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return written;
}
