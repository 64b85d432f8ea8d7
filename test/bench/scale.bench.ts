// The scale matrix: whole restores of lab deployments over hosts × topology × entries × init mode, one lab
// per (hosts, topology, entries): up once, one encrypted fleet backup, then a restore of a.ipa.test per
// init mode from a's snapshot. Each cell records the wall time, each step's wall, the servers' floor on the
// critical path, time per entry, the per-import server times, the controller's peak RSS; all of it goes
// to a JSON file, and gnuplot draws the cost curves from it. Prints figures, asserts nothing.
// Run: npm run bench:scale [-- --quick] [--cells 3:chain:20000:ldif,...] [--out FILE.json]
//      [--plot FILE.json] [--docs]   (needs root: it builds labs; the full matrix takes hours)
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { table } from '../../src/cli/output.js';
import { bringUpLab, makeKeys, ROOT, type TestLab } from '../lab/fixture.js';
import { fleetBackup, measureRestore } from './restore-measure.js';
import {
  type Cell,
  type CellResult,
  cellKey,
  cellResult,
  DEFAULT_CELLS,
  type LabGroup,
  type LabResult,
  labGroups,
  markdownTable,
  PHASES,
  parseCells,
  QUICK_CELLS,
  type ScaleResults,
} from './scale-matrix.js';
import { drawPlots, gnuplotMissing } from './scale-plot.js';

/** The options, and the cells to run (none with --plot); a mistake is one line and exit 2, no stack. */
function options(): { opts: { docs: boolean; out?: string; plot?: string }; cells: Cell[] } {
  try {
    const { values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        cells: { type: 'string' },
        out: { type: 'string' },
        plot: { type: 'string' },
        docs: { type: 'boolean', default: false },
      },
    });
    const cells = values.plot ? [] : parseCells(values.cells ?? (values.quick ? QUICK_CELLS : DEFAULT_CELLS));
    return { opts: values, cells };
  } catch (e) {
    console.error(`bench:scale: ${(e as Error).message}`);
    process.exit(2);
  }
}
const { opts, cells } = options();
const RESTORE_TIMEOUT_MS = 3 * 3_600_000;

/** The directory server's version as ns-slapd reports it ("389-Directory/2.3.1 …"). */
async function directoryServer(): Promise<string> {
  const r = await promisify(execFile)('ns-slapd', ['-v']).catch((e: { stdout?: string }) => ({
    stdout: e.stdout ?? '',
  }));
  return /389-Directory\/\S+/.exec(r.stdout)?.[0] ?? 'unknown';
}

/** The whole message: a failed run's names its exit code, then the tail of its stdout and stderr. */
const why = (e: unknown): string => String(e instanceof Error ? e.message : e).trim();

/** Every cell of a lab that could not be built or backed up is recorded as failed, with why. */
function failAll(results: ScaleResults, g: LabGroup, e: unknown): void {
  for (const init of g.inits) results.failures.push({ cell: cellKey({ ...g, init }), error: why(e) });
  console.log(`${g.hosts} hosts ${g.topology}, ${g.entries} entries: FAILED: ${why(e)}`);
}

/** One lab: up, backed up once, restored once per init mode; a failed restore is recorded, the rest go on. */
async function runLab(
  g: LabGroup,
  keys: { pub: string; sec: string; pass: string },
  results: ScaleResults,
): Promise<void> {
  const name = `${g.hosts} hosts ${g.topology}, ${g.entries} entries`;
  let lab: TestLab;
  try {
    lab = await bringUpLab([
      '--hosts',
      String(g.hosts),
      '--topology',
      g.topology,
      '--ca',
      'a,b',
      '--entries',
      String(g.entries),
      // Seeded from an export: total updates would take most of an hour at 200 000 entries.
      '--init',
      'ldif',
    ]);
  } catch (e) {
    // bringUpLab has taken down what it built; the other labs of the matrix still run.
    failAll(results, g, e);
    return;
  }
  try {
    const store = join(lab.tmp, 'store');
    const b = await fleetBackup(lab, keys.pub, store, RESTORE_TIMEOUT_MS);
    const labResult: LabResult = {
      hosts: g.hosts,
      topology: g.topology,
      entries: g.entries,
      labUpS: Number((lab.upOutput.ms / 1000).toFixed(3)),
      backupS: Number(b.wallS.toFixed(3)),
      backupSlowestHostS: Number(b.slowestHostS.toFixed(3)),
    };
    results.labs.push(labResult);
    console.log(`${name}: lab up ${labResult.labUpS.toFixed(1)} s, fleet backup ${b.wallS.toFixed(1)} s`);
    const args = ['--backup', b.snapshot, '--key', keys.sec, '--passphrase', `file:${keys.pass}`, '--store', store];
    for (const init of g.inits) {
      const cell = { hosts: g.hosts, topology: g.topology, entries: g.entries, init };
      try {
        const m = await measureRestore(lab, init, args);
        const c = cellResult(cell, { ...m, phaseWallS: m.phases.wall }, labResult);
        results.cells.push(c);
        console.log(`  restore --init ${init}: ${c.wallS.toFixed(1)} s (floor ${c.floorS.toFixed(1)} s)`);
      } catch (e) {
        const error = why(e);
        results.failures.push({ cell: cellKey(cell), error });
        console.log(`  restore --init ${init}: FAILED: ${error}`);
      }
    }
  } catch (e) {
    failAll(results, g, e);
  } finally {
    await lab.down();
  }
}

async function runMatrix(out: string): Promise<ScaleResults> {
  const results: ScaleResults = {
    bench: 'scale',
    startedAt: new Date().toISOString(),
    finishedAt: '',
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      node: process.version,
      directoryServer: await directoryServer(),
      load: loadavg().map((x) => Number(x.toFixed(2))),
    },
    labs: [],
    cells: [],
    failures: [],
  };
  const keyDir = await mkdtemp(join(tmpdir(), 'ipa-fleet-bench-keys-'));
  try {
    const keys = await makeKeys(keyDir);
    for (const g of labGroups(cells)) {
      await runLab(g, keys, results);
      // Written after every lab: hours of a full matrix are not lost to one late failure.
      results.finishedAt = new Date().toISOString();
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
    }
  } finally {
    await rm(keyDir, { recursive: true, force: true });
  }
  return results;
}

function summary(r: ScaleResults): void {
  const s = (x: number): string => x.toFixed(1);
  console.log('');
  console.log(
    `restore of a.ipa.test, CA on a,b; ${r.machine.cores} cores (${r.machine.cpu}), node ${r.machine.node}, ` +
      `${r.machine.directoryServer}; load at start ${r.machine.load.join(' ')} (other labs make these figures noisy)`,
  );
  const rows = r.cells.map((c: CellResult) => [
    cellKey(c),
    s(c.wallS),
    ...PHASES.map((p) => s(c.phasesS[p] ?? 0)),
    s(c.floorS),
    `${c.wallOverFloor.toFixed(2)}×`,
    c.perEntryUs.toFixed(0),
    `${s(c.masterImportS)} / ${s(c.replicaInitAvgS)} / ${s(c.replicaInitMaxS)}`,
    s(c.unfenceGreenS),
    `${s(c.proofContentS)} / ${s(c.proofAuditS)}`,
    (c.peakRssBytes / 1048576).toFixed(0),
  ]);
  const head = ['CELL', 'WALL', ...PHASES.map((p) => p.toUpperCase()), 'FLOOR', 'WALL/FLOOR', 'µS/ENTRY'];
  console.log(
    table([[...head, 'IMPORT MASTER / REPLICA AVG / MAX', 'GREEN', 'PROOF CONTENT / AUDIT', 'RSS MB'], ...rows]),
  );
  const ratio = (entries: number): string | undefined => {
    const pick = (init: string): CellResult | undefined =>
      r.cells.find((c) => c.hosts === 3 && c.topology === 'chain' && c.entries === entries && c.init === init);
    const l = pick('ldif');
    const o = pick('online');
    return l && o ? `${entries} entries ${(o.wallS / l.wallS).toFixed(2)}×` : undefined;
  };
  const ratios = [...new Set(r.cells.map((c) => c.entries))].flatMap((e) => ratio(e) ?? []);
  if (ratios.length) console.log(`online / ldif on 3 hosts: ${ratios.join(', ')}`);
  for (const l of r.labs)
    console.log(
      `${l.hosts} ${l.topology} ${l.entries}: lab up ${s(l.labUpS)} s, fleet backup ${s(l.backupS)} s, ` +
        `slowest host inside it ${s(l.backupSlowestHostS)} s`,
    );
  for (const f of r.failures) console.log(`FAILED ${f.cell}: ${f.error.split('\n')[0]}`);
  console.log('');
  console.log(markdownTable(r));
}

const started = Date.now();
const missing = await gnuplotMissing();
if (missing) console.log(`NOTE: ${missing}`);
// Asked only to draw, or to draw for the docs: without gnuplot that cannot be done.
if (missing && (opts.plot || opts.docs)) process.exitCode = 1;
const date = new Date().toISOString().slice(0, 19).replaceAll(':', '-');
const out = opts.out ?? join(ROOT, 'bench-results', `scale-${date}.json`);
const results = opts.plot ? (JSON.parse(await readFile(opts.plot, 'utf8')) as ScaleResults) : await runMatrix(out);
summary(results);
if (!opts.plot) console.log(`results: ${out}`);
if (!missing) {
  const dir = opts.docs ? join(ROOT, 'docs', 'benchmarks') : await mkdtemp(join(tmpdir(), 'ipa-fleet-scale-svg-'));
  for (const f of await drawPlots(results, dir)) console.log(`plot: ${f}`);
}
console.log(`bench wall time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
