// `ipa-fleet schedule status|run` with a bad schedule file: exit 2, one error line naming the file,
// line and key, nothing on stdout, nothing started.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { textOfLines as yaml } from '../unit/located-error.js';
import { assertOneErrorLine, cliIn, type CliRun } from './run-cli.js';

/** Lines 1–5: a job that is valid up to here (name, inventory, cron, no_encrypt). */
const JOB = ['jobs:', '  - name: nightly', '    inventory: inv.yml', "    cron: '0 2 * * *'", '    no_encrypt: true'];
/** Lines 1–5: a drill job that is valid up to here. */
const DRILL = ['jobs:', '  - name: weekly', '    kind: drill', '    inventory: inv.yml', "    cron: '0 4 * * 0'"];
const INVENTORY = yaml(
  'all:',
  '  vars:',
  '    deployment: lab-a',
  '    ldap:',
  '      instance: EXAMPLE-COM',
  '      password: env:DM_PASSWORD',
  '    suffixes:',
  '      domain: dc=example,dc=com',
  '  hosts:',
  '    ipa1.example.test:',
);

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-schedule-cli-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh directory under the test's temp dir. */
function dir(name: string): string {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe('schedule: the CLI with a bad schedule exits 2 with one line', () => {
  const cli = (cwd: string, ...args: string[]): Promise<CliRun> =>
    cliIn(cwd, { logFile: join(cwd, 'logs', 'ipa-fleet.log') })(...args);

  const cases: Array<[string, string, RegExp]> = [
    [
      'bad cron',
      yaml('jobs:', '  - name: nightly', '    inventory: inv.yml', "    cron: '61 * * * *'", '    no_encrypt: true'),
      /bad-cron\.yml:4: jobs\.nightly\.cron: '61 \* \* \* \*' is not a cron expression/,
    ],
    [
      'unknown key',
      yaml(...JOB, '    retension:', '      keep_last: 2'),
      /unknown-key\.yml:6: jobs\[0\]\.retension: unknown key \(did you mean retention\?\)/,
    ],
    [
      'missing inventory',
      yaml('jobs:', '  - name: nightly', '    inventory: gone.yml', "    cron: '0 2 * * *'", '    no_encrypt: true'),
      /missing-inventory\.yml:2: jobs\.nightly\.inventory: cannot read .*gone\.yml: no such file/,
    ],
    [
      'drill bad snapshot',
      yaml(...DRILL, '    backup: yesterday'),
      /drill-bad-snapshot\.yml:6: jobs\.weekly\.backup: 'yesterday' is not latest or a snapshot id/,
    ],
    [
      'drill missing inventory',
      yaml('jobs:', '  - name: weekly', '    kind: drill', '    inventory: gone.yml', "    cron: '0 4 * * 0'"),
      /drill-missing-inventory\.yml:2: jobs\.weekly\.inventory: cannot read .*gone\.yml: no such file/,
    ],
  ];

  for (const [what, text, pattern] of cases) {
    for (const command of ['status', 'run']) {
      it(`schedule ${command}: ${what}`, async () => {
        const d = dir(`cli-${command}-${what.replace(/ /g, '-')}`);
        writeFileSync(join(d, 'inv.yml'), INVENTORY);
        const file = join(d, `${what.replace(/ /g, '-')}.yml`);
        writeFileSync(file, text);
        const r = await cli(d, 'schedule', command, '-c', file);
        assert.equal(r.code, 2, `exit 2; stderr:\n${r.stderr}`);
        assertOneErrorLine(r, pattern);
        assert.equal(r.stdout, '');
        assert.ok(!existsSync(join(d, 'state', 'ipa-fleet', 'schedule')), 'nothing started');
      });
    }
  }

  it('schedule run: a drill key that does not open stops the daemon before it starts', async () => {
    const d = dir('cli-run-drill-bad-key');
    writeFileSync(join(d, 'inv.yml'), INVENTORY);
    writeFileSync(join(d, 'bad.asc'), 'not a key\n');
    const file = join(d, 'drill-bad-key.yml');
    writeFileSync(file, yaml(...DRILL, '    key: bad.asc'));
    const r = await cli(d, 'schedule', 'run', '-c', file);
    assert.equal(r.code, 2, `exit 2; stderr:\n${r.stderr}`);
    assertOneErrorLine(r, /bad\.asc is not an OpenPGP private key/);
  });
});
