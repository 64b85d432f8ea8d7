// The scale benchmark's matrix: parsing --cells, one lab per (hosts, topology, entries), and the figures
// a cell derives from one measured restore.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cellKey,
  cellResult,
  DEFAULT_CELLS,
  labGroups,
  markdownTable,
  OUTSIDE,
  PHASES,
  parseCells,
  QUICK_CELLS,
  type ScaleResults,
} from '../bench/scale-matrix.js';

describe('scale matrix: --cells', () => {
  it('reads hosts:topology:entries:init cells, dropping repeats', () => {
    const cells = parseCells(' 3:chain:20000:ldif, 10:star:2000:online,3:chain:20000:ldif,');
    assert.deepEqual(cells, [
      { hosts: 3, topology: 'chain', entries: 20000, init: 'ldif' },
      { hosts: 10, topology: 'star', entries: 2000, init: 'online' },
    ]);
  });

  it('refuses a malformed cell, naming it and the field', () => {
    const cases: Array<[string, RegExp]> = [
      ['3:chain:20000', /'3:chain:20000': wants four fields/],
      ['3:chain:20000:ldif:x', /wants four fields/],
      ['1:chain:20000:ldif', /'1:chain:20000:ldif': hosts must be/],
      ['3:ring:20000:ldif', /topology must be chain or star/],
      ['3:chain:2e4x:ldif', /entries must be/],
      ['3:chain:0:ldif', /entries must be/],
      ['3:chain:20000:bak', /init must be ldif or online/],
      [' , ', /no cell given/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseCells(text), message, text);
  });

  it('the default and quick matrices parse: the issue’s eight cells, and a smoke run of four', () => {
    assert.deepEqual(parseCells(DEFAULT_CELLS).map(cellKey), [
      '3:chain:20000:ldif',
      '3:chain:20000:online',
      '3:chain:100000:ldif',
      '3:chain:200000:ldif',
      '3:chain:200000:online',
      '5:chain:20000:ldif',
      '10:star:20000:ldif',
      '10:chain:20000:ldif',
    ]);
    assert.equal(parseCells(QUICK_CELLS).length, 4);
  });
});

describe('scale matrix: labs', () => {
  it('one lab per hosts, topology and entries, in first-named order, ldif restored before online', () => {
    const groups = labGroups(parseCells('3:chain:2000:online,5:chain:2000:ldif,3:chain:2000:ldif,3:star:2000:ldif'));
    assert.deepEqual(groups, [
      { hosts: 3, topology: 'chain', entries: 2000, inits: ['ldif', 'online'] },
      { hosts: 5, topology: 'chain', entries: 2000, inits: ['ldif'] },
      { hosts: 3, topology: 'star', entries: 2000, inits: ['ldif'] },
    ]);
  });
});

describe('scale matrix: a cell’s figures', () => {
  const lab = { hosts: 3, topology: 'chain' as const, entries: 20000, labUpS: 30, backupS: 6, backupSlowestHostS: 5 };
  const cell = { hosts: 3, topology: 'chain' as const, entries: 20000, init: 'ldif' as const };
  const phaseWallS = {
    preflight: 0.2,
    fence: 0.6,
    'restore master': 5,
    reinitialize: 6,
    unfence: 4,
    converge: 2,
  };
  const figures = {
    wallS: 20,
    peakRssBytes: 150 * 1048576,
    phaseWallS,
    criticalS: 16,
    masterS: 4.8,
    exportS: 1.5,
    replicaInitS: [4, 5],
    unfenceGreenS: 3.5,
    proofContentS: 1.2,
    proofAuditS: 0.4,
  };

  it('derives the outside-the-steps time, wall/floor, per-entry times and the replica averages', () => {
    const c = cellResult(cell, figures, lab);
    assert.equal(c.phasesS[OUTSIDE], 2.2); // 20 − 17.8
    assert.equal(c.wallOverFloor, 1.25);
    assert.equal(c.perEntryUs, 1000);
    assert.equal(c.perEntryPhaseUs['restore master'], 250);
    assert.equal(c.replicaInitAvgS, 4.5);
    assert.equal(c.replicaInitMaxS, 5);
    assert.equal(c.labUpS, 30);
    assert.deepEqual(Object.keys(c.phasesS), [...PHASES, OUTSIDE]);
  });

  it('a phase the run never reached counts 0, and a run with no server time has no ratio', () => {
    const c = cellResult(cell, { ...figures, phaseWallS: { preflight: 1 }, criticalS: 0, replicaInitS: [] }, lab);
    assert.equal(c.phasesS.converge, 0);
    assert.equal(c.wallOverFloor, 0);
    assert.equal(c.replicaInitAvgS, 0);
  });

  it('the Markdown table has a row per cell, as many columns as its header', () => {
    const results: ScaleResults = {
      bench: 'scale',
      startedAt: '',
      finishedAt: '',
      machine: { cores: 2, cpu: 'x', memoryBytes: 1, node: 'v20', directoryServer: '389', load: [1, 1, 1] },
      labs: [lab],
      cells: [cellResult(cell, figures, lab)],
      failures: [],
    };
    const lines = markdownTable(results).split('\n');
    assert.equal(lines.length, 3);
    const columns = (l: string): number => l.split('|').length;
    assert.equal(columns(lines[1]!), columns(lines[0]!));
    assert.equal(columns(lines[2]!), columns(lines[0]!));
    assert.match(lines[2]!, /^\| 3 \| chain \| 20000 \| ldif \| 20\.0 \|.*\| 6\.0 \(5\.0\) \|$/);
  });
});
