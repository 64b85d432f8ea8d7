// `ipa-fleet run`: a run resumed from another directory than it started in finds its inventory.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plan } from '../../src/playbook/model.js';
import { cliIn, type CliRun } from './run-cli.js';

const INVENTORY_TEXT = [
  'all:',
  '  vars:',
  '    deployment: bugs',
  '    ldap: {instance: B, password: env:BUGS_DM}',
  '    suffixes: {domain: "dc=b"}',
  '  hosts:',
  '    a.b.test: {}',
  '    b.b.test: {}',
  '    c.b.test: {}',
  '',
].join('\n');

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-run-cli-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('run --resume', () => {
  // src/playbook/planner.ts buildPlan() once stored `inventory.file` as given on the command line (a
  // relative path), and src/playbook/run.ts resumeRun() loaded `opened.plan.inventory.file` when no
  // -i is given. `ipa-fleet run --resume ID` from another directory then failed with
  // "inv.yml: cannot read the inventory: no such file" (exit 2).
  it('run --resume without -i works from another directory', async () => {
    const dir = join(tmp, 'resume');
    const elsewhere = join(tmp, 'elsewhere');
    mkdirSync(dir);
    mkdirSync(elsewhere);
    writeFileSync(join(dir, 'inv.yml'), INVENTORY_TEXT);
    writeFileSync(join(dir, 'wait.yaml'), 'name: wait\nsteps:\n  - {action: pause, hosts: all, with: {seconds: 0}}\n');
    const cli = (cwd: string, ...args: string[]): Promise<CliRun> =>
      cliIn(cwd, { logFile: join(tmp, 'resume-log', 'ipa-fleet.log'), stateDir: join(tmp, 'resume-state') })(...args);
    const first = await cli(dir, 'run', 'wait.yaml', '-i', 'inv.yml', '--yes');
    assert.equal(first.code, 0, first.stderr);
    const runId = /^run (\S+): succeeded/m.exec(first.stdout)?.[1];
    assert.ok(runId, first.stdout);
    const planFile = JSON.parse(
      readFileSync(join(tmp, 'resume-state', 'ipa-fleet', 'runs', runId, 'plan.json'), 'utf8'),
    ) as Plan;
    assert.ok(planFile.inventory.file.length > 0);
    const again = await cli(elsewhere, 'run', '--resume', runId);
    // Exit 0: every task already done (not exit 2, "inv.yml: cannot read the inventory: no such file").
    assert.equal(again.code, 0, again.stderr);
  });
});
