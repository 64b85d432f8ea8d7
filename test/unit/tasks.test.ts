// Adding a 389-DS task: a backend still busy with the task before refuses with operationsError (1)
// and no entry is added; the add is tried again. Other refusals are errors at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runTask } from '../../src/directory/tasks.js';
import { FleetError } from '../../src/errors.js';
import { DirEntry, type LdapSession } from '../../src/transport/ldap.js';

function server(refusals: number[]) {
  const added: string[] = [];
  const session = {
    host: { name: 'a.ipa.test' },
    add: async (dn: string) => {
      const code = refusals.shift();
      if (code !== undefined)
        throw new FleetError('failure', `a.ipa.test: ldap add ${dn}: refused (${code})`, { cause: { code } });
      added.push(dn);
    },
    read: async (dn: string) =>
      new DirEntry(
        dn,
        new Map([
          ['nstaskexitcode', ['0']],
          ['nstasklog', ['Import complete.']],
        ]),
      ),
  } as unknown as LdapSession;
  return { session, added };
}

describe('runTask', () => {
  it('a busy backend (operationsError) is asked again, under a new task name', async () => {
    const s = server([1]);
    const result = await runTask(s.session, 'import', { nsInstance: 'userRoot' }, { timeoutMs: 5_000, pollMs: 1 });
    assert.equal(result.exitCode, 0);
    assert.equal(s.added.length, 1);
    assert.match(s.added[0]!, /^cn=ipa-fleet-import-\d{14}-[0-9a-f]{6},cn=import,cn=tasks,cn=config$/);
  });

  it('another refusal (no such backend: 32) is an error at once', async () => {
    const s = server([32]);
    await assert.rejects(
      runTask(s.session, 'export', { nsInstance: 'nosuchbackend' }, { timeoutMs: 5_000, pollMs: 1 }),
      /refused \(32\)/,
    );
    assert.equal(s.added.length, 0);
  });
});
