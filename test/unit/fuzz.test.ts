// Hostile inventories, playbooks and schedule files, in process (the cases: fuzz-cases.ts; a sample
// through the real CLI: test/cli/fuzz.test.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRegistry } from '../../src/actions/index.js';
import { FleetError } from '../../src/errors.js';
import { LocatedError } from '../../src/located/located-error.js';
import { loadInventory } from '../../src/inventory/load.js';
import { parsePlaybook } from '../../src/playbook/load.js';
import { buildPlan } from '../../src/playbook/planner.js';
import { parseSchedule } from '../../src/schedule/config.js';

import {
  allViolations,
  CASES,
  cleanUpFuzz,
  HOME,
  MAX_MESSAGE,
  planInventory,
  prepareFuzz,
  profile,
  runFuzz,
  SEED,
  seeds,
  slowest,
  softControl,
  stats,
  tmp,
  VERBOSE,
  type Violation,
} from './fuzz-cases.js';

before(prepareFuzz);
after(cleanUpFuzz);

describe('fuzz: hostile inventories, playbooks and schedules (in process)', () => {
  it('the seeds themselves are valid', async () => {
    const pool = seeds();
    const registry = defaultRegistry();
    for (const s of pool.inventory) {
      const f = join(tmp, 'seed.yaml');
      writeFileSync(f, s.text);
      await loadInventory(f);
    }
    for (const s of pool.playbook) parsePlaybook(s.text, `/seed/${s.name}`, registry);
    for (const s of pool.schedule) parseSchedule(s.text, '/seed/schedule.yaml', HOME);
  });

  it(`${CASES} mutated files: every rejection is one short located line of kind usage, never a stack trace`, async () => {
    console.log(
      `fuzz: seed ${SEED} (0x${SEED.toString(16)}; override with FUZZ_SEED=…), ${CASES} cases (FUZZ_CASES=…)`,
    );
    await runFuzz(CASES);

    console.log(`fuzz: ${stats.cases} cases, ${stats.rejected} rejected, ${stats.stackTraces} stack traces`);
    console.log(`fuzz: ${stats.accepted} accepted (${stats.planned} of them also planned), ${stats.ms} ms`);
    for (const [t, n] of Object.entries(stats.byTarget))
      console.log(`fuzz:   ${t}: ${n.cases} cases, ${n.rejected} rejected`);
    console.log(
      `fuzz: ${allViolations.length} violation(s); raw control/bidi characters in ${softControl.length} message(s) (reported, not failed)`,
    );
    const groups = new Map<string, Violation[]>();
    for (const v of allViolations) {
      const k = `${v.cls} ${v.target}/${v.stage} ${v.signature}`;
      groups.set(k, [...(groups.get(k) ?? []), v]);
    }
    for (const [k, vs] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
      console.log(`fuzz:   ${String(vs.length).padStart(4)} × ${k}`);
      console.log(
        `fuzz:          e.g. case ${vs[0]!.index} (${vs[0]!.steps.join(', ')}): ${JSON.stringify(vs[0]!.message.slice(0, 240))}`,
      );
      if (vs[0]!.cls === 'stack-trace')
        console.log(
          String((vs[0]!.err as Error)?.stack ?? vs[0]!.err)
            .split('\n')
            .slice(0, 8)
            .join('\n'),
        );
    }
    if (VERBOSE) {
      slowest.sort((a, b) => b.ms - a.ms);
      for (const x of slowest.slice(0, 20)) console.log(`fuzz: slow ${x.ms.toFixed(0)} ms ${x.what}`);
      for (const [k, p] of Object.entries(profile).sort((a, b) => b[1].make + b[1].run - a[1].make - a[1].run)) {
        console.log(
          `fuzz: profile ${k.padEnd(16)} ${String(p.n).padStart(5)} × make ${p.make.toFixed(0).padStart(6)} ms, run ${p.run.toFixed(0).padStart(6)} ms`,
        );
      }
      for (const x of softControl.slice(0, 10))
        console.log(`fuzz: control chars, case ${x.index} ${x.target}: ${JSON.stringify(x.message)}`);
    }
    assert.ok(stats.cases >= 3000);
    assert.ok(stats.rejected > stats.cases / 3, 'most mutations are rejected');
    assert.ok(stats.accepted > 0, 'some mutations are harmless');
    assert.equal(stats.stackTraces, 0, 'no stack traces');
    assert.deepEqual(
      allViolations.map((v) => `case ${v.index} ${v.cls} ${v.target}/${v.stage}: ${v.message.slice(0, 200)}`),
      [],
      'no violation',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The src bugs the fuzzer found, one minimal reproducer each (all fixed now), kept as a
// regression test.

const FILE = '/fuzz/minimal.yaml';

function rejection(fn: () => unknown): FleetError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FleetError, `a FleetError, got ${String(err)}`);
    return err;
  }
  assert.fail('accepted');
}

const pb = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('fuzz: src bugs found (minimal reproducers)', () => {
  it('echo-unbounded: a huge key or value is not echoed in full (message ≤ 500 chars)', async () => {
    const { parseInventory } = await import('../../src/inventory/load.js');
    const big = 'a;'.repeat(50_000);
    const longKeys = Array.from({ length: 1500 }, (_, i) => `${' '.repeat(i + 2)}${'k'.repeat(50)}${i}:`).join('\n');
    const messages = [
      rejection(() => parseInventory(`all:\n  vars:\n    ldap: {bind_dn: "${big}"}\n`, FILE)).message,
      rejection(() => parseInventory(`all:\n  vars:\n    roles: ["${big}"]\n`, FILE)).message,
      rejection(() => parseInventory(`all:\n${longKeys} 1\n`, FILE)).message, // nesting the yaml library cannot parse: located by 100 keys
      rejection(() => parseInventory(`all:\n  hosts:\n    "${big}":\n`, FILE)).message, // host name: in the key path and in the problem
      rejection(() => parseInventory(`all:\n  vars:\n    "${big}": 1\n`, FILE)).message, // unknown key
      rejection(() =>
        parsePlaybook(
          pb(
            'name: x',
            'params: {a: {}}',
            'steps:',
            '  - action: exec',
            '    hosts: all',
            `    when: "${big}"`,
            '    with: {command: a}',
          ),
          FILE,
          defaultRegistry(),
        ),
      ).message,
      rejection(() =>
        parseSchedule(
          pb('jobs:', '  - name: a', '    inventory: i', `    cron: "${big}"`, '    no_encrypt: true'),
          FILE,
          HOME,
        ),
      ).message,
    ];
    for (const m of messages) assert.ok(m.length <= MAX_MESSAGE, `${m.length} chars: ${m.slice(0, 120)}…`);
  });

  it('raw-key-linebreak: a key with a line break is escaped in the location, as the inventory does', async () => {
    const { parseInventory } = await import('../../src/inventory/load.js');
    const top = rejection(() => parseInventory('"al\\nl": {}\n', FILE));
    assert.doesNotMatch(top.message, /[\r\n]/, JSON.stringify(top.message));
    const a = rejection(() =>
      parsePlaybook(
        pb('name: x', 'steps:', '  - action: exec', '    hosts: all', '    "with\\nx": 1'),
        FILE,
        defaultRegistry(),
      ),
    );
    const b = rejection(() => parseSchedule(pb('jobs:', '  - "na\\rme": x'), FILE, HOME));
    for (const e of [a, b]) assert.doesNotMatch(e.message, /[\r\n]/, JSON.stringify(e.message));
  });

  it('raw-value-linebreak: a value with a line break is quoted/escaped in the problem (one line)', () => {
    const registry = defaultRegistry();
    const cases = [
      rejection(() =>
        parsePlaybook(pb('name: x', 'steps:', '  - action: "ex\\nec"', '    hosts: all'), FILE, registry),
      ),
      rejection(() =>
        parsePlaybook(
          pb(
            'name: x',
            'params: {a: {type: "str\\ning"}}',
            'steps:',
            '  - action: exec',
            '    hosts: all',
            '    with: {command: a}',
          ),
          FILE,
          registry,
        ),
      ),
      rejection(() =>
        parseSchedule(
          pb('jobs:', '  - name: a', '    inventory: i', '    cron: "1 2\\n3"', '    no_encrypt: true'),
          FILE,
          HOME,
        ),
      ),
      rejection(() =>
        parseSchedule(
          pb(
            'jobs:',
            '  - name: a',
            '    inventory: i',
            '    cron: "0 3 * * *"',
            '    timezone: "UTC\\nx"',
            '    no_encrypt: true',
          ),
          FILE,
          HOME,
        ),
      ),
    ];
    for (const e of cases) assert.doesNotMatch(e.message, /[\r\n]/, JSON.stringify(e.message));
    // Through the CLI: test/cli/fuzz.test.ts.
  });

  it('plan-raw-linebreak: a step whose hosts: has a line break fails plan on one line (and does not blame --limit)', () => {
    const playbook = parsePlaybook(
      pb('name: x', 'steps:', '  - action: exec', '    hosts: "a\\nb"', '    with: {command: a}'),
      FILE,
      defaultRegistry(),
    );
    const e = rejection(() =>
      buildPlan({
        playbook,
        inventory: planInventory,
        registry: defaultRegistry(),
        params: {},
        limit: undefined,
        facts: new Map(),
        createdAt: '2024-01-01T00:00:00Z',
      }),
    );
    assert.doesNotMatch(e.message, /[\r\n]/, JSON.stringify(e.message));
    assert.doesNotMatch(e.message, /--limit/, e.message);
    // The step's name, repeated in every plan error.
    const named = parsePlaybook(
      pb(
        'name: x',
        'steps:',
        '  - name: "two\\nlines"',
        '    action: exec',
        '    hosts: nomatch',
        '    with: {command: a}',
      ),
      FILE,
      defaultRegistry(),
    );
    const n = rejection(() =>
      buildPlan({
        playbook: named,
        inventory: planInventory,
        registry: defaultRegistry(),
        params: {},
        limit: undefined,
        facts: new Map(),
        createdAt: '2024-01-01T00:00:00Z',
      }),
    );
    assert.doesNotMatch(n.message, /[\r\n]/, JSON.stringify(n.message));
  });

  it('default-unlocated (fixed in 24d3983): a parameter default of the wrong type is refused by the loader with file:line', () => {
    const e = rejection(() =>
      parsePlaybook(
        pb(
          'name: x',
          'params:',
          '  n: {type: number, default: abc}',
          'steps:',
          '  - action: pause',
          '    hosts: all',
          '    with: {seconds: "{{ n }}"}',
        ),
        FILE,
        defaultRegistry(),
      ),
    );
    assert.ok(e instanceof LocatedError);
    assert.match(e.message, /^\/fuzz\/minimal\.yaml:3: params\.n\.default: /);
  });

  it('proto-keys (fixed in 24d3983): Object.prototype names are not parameters: {{ constructor }} and with: {valueOf: …} are refused', () => {
    const registry = defaultRegistry();
    const refs = rejection(() =>
      parsePlaybook(
        pb('name: x', 'steps:', '  - action: exec', '    hosts: all', '    with: {command: "echo {{ constructor }}"}'),
        FILE,
        registry,
      ),
    );
    assert.match(refs.message, /unknown parameter '\{\{ constructor \}\}'/);
    const withKey = rejection(() =>
      parsePlaybook(
        pb('name: x', 'steps:', '  - action: exec', '    hosts: all', '    with: {command: a, valueOf: 1}'),
        FILE,
        registry,
      ),
    );
    assert.match(withKey.message, /'exec' has no parameter 'valueOf'/);
    const when = rejection(() =>
      parsePlaybook(
        pb('name: x', 'steps:', '  - action: exec', '    hosts: all', '    when: toString', '    with: {command: a}'),
        FILE,
        registry,
      ),
    );
    assert.match(when.message, /unknown parameter 'toString'/);
  });
});
