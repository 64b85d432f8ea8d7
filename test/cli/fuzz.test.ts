// A sample of the fuzzer's rejected cases (test/unit/fuzz-cases.ts), the nastiest first, and
// hand-made ones through the real CLI: exit 2, one stderr line naming the file, no stack.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  cleanUpFuzz,
  makeCase,
  prepareFuzz,
  rejectedForCli,
  Rng,
  runFuzz,
  SEED,
  seeds,
  stats,
  type Target,
  TEXT_MUTATIONS,
  tmp,
} from '../unit/fuzz-cases.js';
import { textOfLines } from '../unit/located-error.js';
import { type CliRun, runCli } from './run-cli.js';

before(prepareFuzz);
after(cleanUpFuzz);

// ---------------------------------------------------------------------------------------------
// The real CLI

const cli = (args: string[]): Promise<CliRun> =>
  runCli(['--log-file', join(tmp, 'cli.log'), ...args], {
    cwd: tmp,
    timeoutMs: 60_000,
    env: { XDG_STATE_HOME: join(tmp, 'state'), HOME: join(tmp, 'home') },
  });

function argsFor(target: Target, file: string): string[] {
  if (target === 'inventory') return ['-i', file, 'inventory', 'check'];
  if (target === 'playbook') return ['plan', file, '-i', join(tmp, 'valid.yaml')];
  return ['schedule', 'status', '-c', file];
}

/** Exit 2, exactly one stderr line `ipa-fleet: error: …` naming the file, no stack. Returns the problems. */
function cliProblems(r: CliRun, file: string): string[] {
  const problems: string[] = [];
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  if (r.code !== 2) problems.push(`exit ${r.code}`);
  if (lines.length !== 1) problems.push(`${lines.length} stderr lines`);
  if (!lines[0]!.startsWith('ipa-fleet: error: ')) problems.push('no "ipa-fleet: error:" prefix');
  if (r.stderr.includes('internal error')) problems.push('internal error');
  if (/^ {4}at /m.test(r.stderr)) problems.push('stack trace');
  if (!lines[0]!.includes(file)) problems.push('the file is not named');
  return problems;
}

const BILLION_LAUGHS = TEXT_MUTATIONS.find(([n]) => n === 'billion-laughs')![2]('', new Rng(1)) as string;

/** Hand-made nasties, besides the sample of fuzz cases. */
function handMade(dir: string): Array<{ name: string; target: Target; file: string }> {
  const w = (name: string, content: string | Buffer): string => {
    const f = join(dir, name);
    writeFileSync(f, content);
    return f;
  };
  mkdirSync(join(dir, 'a-directory.yaml'));
  return [
    { name: 'missing inventory', target: 'inventory', file: join(dir, 'no such; $(id).yaml') },
    { name: 'inventory is a directory', target: 'inventory', file: join(dir, 'a-directory.yaml') },
    { name: 'empty inventory', target: 'inventory', file: w('empty.yaml', '') },
    {
      name: 'binary inventory',
      target: 'inventory',
      file: w('binary.yaml', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256))),
    },
    { name: 'billion laughs', target: 'inventory', file: w('laughs.yaml', BILLION_LAUGHS) },
    {
      name: '20 000 nested flow lists',
      target: 'inventory',
      file: w('deep.yaml', `all: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`),
    },
    {
      name: 'NUL, RTL override and $(id) in a host name',
      target: 'inventory',
      file: w('nul.yaml', 'all:\n  hosts:\n    "a\\0b$(id)\\u202e`id`":\n'),
    },
    {
      name: 'host name with ; and quotes',
      target: 'inventory',
      file: w(
        'semi.yaml',
        `all:\n  vars:\n    ldap: {instance: X, password: env:P}\n    suffixes: {domain: dc=x}\n  hosts:\n    "h1; rm -rf / 'x' \\"y\\"":\n`,
      ),
    },
    {
      name: 'instance name with $(touch …)',
      target: 'inventory',
      file: w(
        'inst.yaml',
        'all:\n  vars:\n    ldap: {instance: "$(touch /tmp/ipa-fleet-pwned)", password: env:P}\n    suffixes: {domain: dc=x}\n  hosts:\n    h1:\n',
      ),
    },
    {
      name: '1500 nested block mappings',
      target: 'playbook',
      file: w('deep-block.yaml', `${Array.from({ length: 1500 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`),
    },
    {
      name: 'BOM, CRLF and tabs',
      target: 'playbook',
      file: w('crlf.yaml', '\ufeffname: x\r\nsteps:\r\n\t- action: exec\r\n'),
    },
    { name: 'missing playbook', target: 'playbook', file: join(dir, 'missing `id`.yaml') },
    {
      name: 'schedule job name with ; rm -rf /',
      target: 'schedule',
      file: w(
        'sched.yaml',
        'jobs:\n  - name: "; rm -rf /"\n    inventory: i.yml\n    cron: "0 3 * * *"\n    no_encrypt: true\n',
      ),
    },
    { name: 'missing schedule', target: 'schedule', file: join(dir, "missing 'quote'.yaml") },
  ];
}

describe('fuzz: a sample through the real CLI (bin/ipa-fleet.js)', () => {
  it('~40 rejected cases, the nastiest first, and hand-made ones: exit 2, one stderr line naming the file, no stack', async () => {
    if (stats.cases === 0) await runFuzz(600); // run on its own: pick the sample from the first cases
    const pool = seeds();
    const dir = join(tmp, 'cli');
    mkdirSync(dir, { recursive: true });
    const picked: Array<{ name: string; target: Target; file: string }> = [];
    for (const target of ['inventory', 'playbook', 'schedule'] as const) {
      const mine = rejectedForCli.filter((r) => r.target === target);
      const nasty = [...mine].sort((a, b) => b.score - a.score || a.index - b.index).slice(0, 5);
      const rest = mine.filter((r) => !nasty.includes(r));
      const spread = Array.from({ length: 4 }, (_, k) => rest[Math.floor((k * rest.length) / 4)]).filter(
        (r): r is NonNullable<typeof r> => r !== undefined,
      );
      for (const r of [...nasty, ...spread]) {
        const c = makeCase(SEED, r.index, pool);
        const file = join(dir, `${target}-${r.index}.yaml`);
        writeFileSync(file, c.bytes ?? c.text);
        picked.push({ name: `case ${r.index} (${c.steps.join(', ')})`, target, file });
      }
    }
    picked.push(...handMade(dir));
    assert.ok(picked.length >= 40, `${picked.length} CLI cases`);

    const started = Date.now();
    const failures: string[] = [];
    const queue = [...picked];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const r = await cli(argsFor(next.target, next.file));
          const problems = cliProblems(r, next.file);
          if (problems.length)
            failures.push(
              `${next.target} ${next.name}: ${problems.join(', ')}: ${JSON.stringify(r.stderr.slice(0, 300))}`,
            );
        }
      }),
    );
    console.log(`fuzz: CLI sample: ${picked.length} runs, ${failures.length} failed, ${Date.now() - started} ms`);
    assert.deepEqual(failures, []);
  });
});

describe('fuzz: src bugs found, through the CLI', () => {
  it('raw-value-linebreak: a playbook value with a line break gives one stderr line from the CLI', async () => {
    const file = join(tmp, 'action-newline.yaml');
    writeFileSync(file, textOfLines('name: x', 'steps:', '  - action: "ex\\nec"', '    hosts: all'));
    const r = await cli(argsFor('playbook', file));
    assert.deepEqual(cliProblems(r, file), [], r.stderr);
  });
});
