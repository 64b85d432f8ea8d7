// `ipa-fleet plan`: a bad playbook or --set is one usage error line (exit 2); a plan is printed,
// for people and as JSON, without connecting to any host.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plan } from '../../src/playbook/model.js';
import { lineOf } from '../unit/located-error.js';
import { cliIn, type CliRun, ROOT } from './run-cli.js';

const FIXTURES = join(ROOT, 'test/fixtures/playbooks');
const y = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('cli: plan', () => {
  let tmp: string;
  let inventory: string;
  let logFile: string;

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-plan-'));
    logFile = join(tmp, 'logs', 'ipa-fleet.log');
    inventory = join(tmp, 'inventory.yml');
    writeFileSync(join(tmp, 'known_hosts'), '');
    writeFileSync(
      inventory,
      y(
        'all:',
        '  vars:',
        '    deployment: plan-test',
        '    ldap:',
        '      instance: EXAMPLE-TEST',
        '      password: env:PLAN_TEST_DM_PASSWORD',
        '    suffixes:',
        '      domain: dc=example,dc=test',
        '  hosts:',
        '    h1.example.test: {address: 192.0.2.1}',
        '    h2.example.test: {address: 192.0.2.2}',
        '    h3.example.test: {address: 192.0.2.3}',
      ),
    );
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const cli = (...args: string[]): Promise<CliRun> => cliIn(tmp, { logFile })(...args);

  it('a bad playbook exits 2 with exactly one stderr line and no stack trace', async () => {
    const bad = join(FIXTURES, 'unknown-action.yaml');
    const line = lineOf(readFileSync(bad, 'utf8'), 'exek');
    const r = await cli('plan', bad, '-i', inventory);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.equal(
      lines[0],
      `ipa-fleet: error: ${bad}:${line}: steps[1].action: unknown action 'exek' (did you mean exec?); actions: audit, backup, converge, entries-prove, entries-restore, entries-undo, exec, facts, fence, pause, recreate-instance, recreate-preflight, reinitialize, release, restore-master, restore-preflight, unfence`,
    );
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.equal(r.stdout, '');
  });

  it('a bad --set exits 2 with one line', async () => {
    const r = await cli('plan', join(FIXTURES, 'local-pause.yaml'), '-i', inventory, '--set', 'wait=soon');
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      "ipa-fleet: error: --set wait: expected a duration like 30s, 5m, 2h or 7d, got 'soon'",
    ]);
  });

  it('plan hello-fleet --json: 15 tasks for 3 hosts, without connecting to any host', async () => {
    const r = await cli('plan', 'hello-fleet', '-i', inventory, '--json');
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as Plan;
    assert.equal(plan.version, 1);
    assert.equal(plan.playbook.name, 'hello-fleet');
    assert.equal(plan.inventory.deployment, 'plan-test');
    assert.equal(plan.needsFacts, false);
    assert.equal(plan.destructive, false);
    assert.equal(plan.tasks.length, 15);
    assert.deepEqual(
      [...new Set(plan.tasks.map((t) => t.host))],
      ['h1.example.test', 'h2.example.test', 'h3.example.test'],
    );
    assert.deepEqual(
      [...new Set(plan.tasks.map((t) => t.stepName))],
      ['gather facts', 'write marker', 'wait for marker', 'one host at a time', 'clean up'],
    );
    assert.deepEqual(plan.params, { marker_dir: '/tmp/ipa-fleet-hello', keep: false });
    // Every template is rendered; the marker folder is the default one.
    const write = plan.tasks.find((t) => t.id === '02-write-marker:h2.example.test')!;
    assert.equal(write.action, 'exec');
    assert.match(String(write.params.command), /^mkdir -p \/tmp\/ipa-fleet-hello && /);
    assert.equal(write.params.timeout, 600);
    for (const t of plan.tasks) assert.doesNotMatch(JSON.stringify(t.params), /\{\{/, `${t.id}: rendered`);
    // serial: 1 chains the hosts of step 4.
    assert.deepEqual(
      plan.tasks.filter((t) => t.step === 3).map((t) => t.dependsOn),
      [
        [
          '03-wait-for-marker:h1.example.test',
          '03-wait-for-marker:h2.example.test',
          '03-wait-for-marker:h3.example.test',
        ],
        ['04-one-host-at-a-time:h1.example.test'],
        ['04-one-host-at-a-time:h2.example.test'],
      ],
    );
  });

  it('plan hello-fleet --set keep=true leaves out the clean-up step; --limit narrows the hosts', async () => {
    const r = await cli(
      'plan',
      'hello-fleet',
      '-i',
      inventory,
      '--json',
      '--set',
      'keep=true',
      '--set',
      'marker_dir=/var/tmp/my markers',
      '--limit',
      'h2.example.test',
    );
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as Plan;
    assert.equal(plan.tasks.length, 4);
    assert.deepEqual(plan.skippedSteps, [{ step: 4, name: 'clean up', reason: 'when: not keep is false' }]);
    assert.equal(plan.limit, 'h2.example.test');
    assert.ok(
      String(plan.tasks[1]!.params.command).startsWith("mkdir -p '/var/tmp/my markers' && "),
      String(plan.tasks[1]!.params.command),
    );
    assert.deepEqual(
      plan.tasks.map((t) => t.host),
      ['h2.example.test', 'h2.example.test', 'h2.example.test', 'h2.example.test'],
    );
  });

  it('plan prints the steps and tasks for people', async () => {
    const r = await cli('plan', 'hello-fleet', '-i', inventory);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^playbook hello-fleet \(.*hello-fleet\.yaml\) on deployment plan-test$/m);
    assert.match(r.stdout, /^step 4: one host at a time \[exec\]$/m);
    assert.match(
      r.stdout,
      /^04-one-host-at-a-time:h2\.example\.test\s+h2\.example\.test\s+.*04-one-host-at-a-time:h1\.example\.test$/m,
    );
    assert.match(r.stdout, /^15 task\(s\) on 3 host\(s\)$/m);
  });
});
