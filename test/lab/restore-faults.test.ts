// Whole-deployment restore under faults, on the real lab: the SSH connection to a replica dropped
// while it is re-initialized, a replica's ns-slapd killed mid-import, the controller SIGKILLed after
// fencing and mid-re-init. Each time `restore --resume` must finish the job: every host holds
// exactly the backup's users, every agreement is on, every host of a suffix has one generation.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  attribute,
  bringUpLab,
  CA,
  DOMAIN,
  dropSshConnectionsWhen,
  exitOf,
  generation,
  killDirectoryServer,
  labDirectory,
  makeKeys,
  readJournal,
  sleep,
  uids,
  waitFor,
  when,
  type CliChild,
  type JournalLine,
  type LabDirectory,
  type TestLab,
} from './fixture.js';

const HOSTS = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'] as const;
type HostName = (typeof HOSTS)[number];
const MASTER = 'a.ipa.test';
const PEOPLE = `ou=people,${DOMAIN}`;
const SUFFIX_HOSTS: Record<string, HostName[]> = {
  [DOMAIN]: ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'],
  [CA]: ['a.ipa.test', 'b.ipa.test'],
};
/** Chain a-b-c, CA on a and b: the agreements each host must have (name → suffix). */
const AGREEMENTS: Record<HostName, Record<string, string>> = {
  'a.ipa.test': { 'meTob.ipa.test': DOMAIN, 'caTob.ipa.test': CA },
  'b.ipa.test': { 'meToa.ipa.test': DOMAIN, 'meToc.ipa.test': DOMAIN, 'caToa.ipa.test': CA },
  'c.ipa.test': { 'meTob.ipa.test': DOMAIN },
};
const INIT_FILE = 'ipa-fleet-init-a.ipa.test-userroot.ldif';

const sameSet = (a: Set<string>, b: Set<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x));
function setDiff(got: Set<string>, want: Set<string>): string {
  const missing = [...want].filter((x) => !got.has(x));
  const extra = [...got].filter((x) => !want.has(x));
  return `${got.size} uids; missing ${missing.length} [${missing.slice(0, 8).join(' ')}]; extra ${extra.length} [${extra.slice(0, 8).join(' ')}]`;
}

describe('restore under faults', { timeout: 3_600_000 }, () => {
  let lab: TestLab;
  let keys: string;
  let sec: string;
  let passFile: string;
  let store: string;
  let snapshot: string;
  let dir: LabDirectory;
  /** The uids at backup time (the same on every host). */
  let baseline: Set<string>;
  const t0 = Date.now();
  const stamp = (what: string): void =>
    console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s since start`);

  const runsDir = (): string => join(lab.tmp, 'state', 'ipa-fleet', 'runs');
  const ldifDir = (fqdn: string): string => join(lab.paths.hostDir(fqdn), 'var-lib-dirsrv', 'slapd-IPA-TEST', 'ldif');

  const uidsOn = async (host: HostName): Promise<Set<string>> => new Set(await uids(dir, host));
  const agreementsOn = (
    host: HostName,
  ): Promise<Array<{ name: string; suffix: string; enabled: string | undefined; refresh: boolean }>> =>
    dir.withLdap(host, async (c) => {
      const { searchEntries } = await c.search('cn=mapping tree,cn=config', {
        scope: 'sub',
        filter: '(objectClass=nsds5ReplicationAgreement)',
        attributes: ['cn', 'nsDS5ReplicaRoot', 'nsds5ReplicaEnabled', 'nsds5BeginReplicaRefresh'],
      });
      return searchEntries.map((e) => ({
        name: attribute(e, 'cn')[0]!,
        suffix: attribute(e, 'nsDS5ReplicaRoot')[0]!.toLowerCase(),
        enabled: attribute(e, 'nsds5ReplicaEnabled')[0],
        refresh: attribute(e, 'nsds5BeginReplicaRefresh').length > 0,
      }));
    });

  /** Server tasks still running (no exit code) and total updates still pending, on every host that answers. */
  async function busyWork(): Promise<string[]> {
    const busy: string[] = [];
    for (const host of HOSTS) {
      await dir
        .withLdap(host, async (c) => {
          const { searchEntries } = await c.search('cn=tasks,cn=config', {
            scope: 'sub',
            filter: '(!(nsTaskExitCode=*))',
            attributes: ['cn'],
          });
          for (const e of searchEntries) if (e.dn.split(',').length >= 4) busy.push(`${host}: task ${e.dn}`);
        })
        .catch((err: Error) => busy.push(`${host}: ${err.message}`));
      for (const a of await agreementsOn(host).catch(() => []))
        if (a.refresh) busy.push(`${host}: total update through ${a.name} pending`);
      // A consumer receiving a total update answers with a referral (10) while its backend is offline.
      for (const [suffix, hosts] of Object.entries(SUFFIX_HOSTS)) {
        if (!hosts.includes(host)) continue;
        await dir
          .withLdap(host, (c) => c.search(suffix, { scope: 'base', attributes: ['1.1'] }))
          .catch((err: Error & { code?: unknown }) =>
            busy.push(`${host}: ${suffix}: ${err.name} ${String(err.code ?? '')} ${err.message}`),
          );
      }
    }
    return busy;
  }

  const journal = (runId: string): Promise<JournalLine[]> => readJournal(runsDir(), runId);
  const started = async (runId: string, taskId: string): Promise<boolean> =>
    (await journal(runId)).some((l) => l.type === 'task.started' && l.taskId === taskId);
  const finished = async (runId: string, taskId: string): Promise<JournalLine | undefined> =>
    (await journal(runId)).find((l) => l.type === 'task.finished' && l.taskId === taskId);
  const journalTail = async (runId: string): Promise<string> =>
    (await journal(runId))
      .filter((l) => l.type !== 'task.started')
      .map((l) => `${l.type} ${l.taskId ?? ''} ${l.status ?? ''} ${(l.error ?? l.message ?? '').slice(0, 300)}`)
      .slice(-8)
      .join('\n');

  /** Adds three users on a and deletes three backup-time users on b; waits until every host shows both. */
  async function damage(n: number): Promise<{ added: string[]; deleted: string[]; damaged: Set<string> }> {
    const added = [1, 2, 3].map((i) => `fault${n}-added-${i}`);
    const deleted = [1, 2, 3].map((i) => `user${String(n * 100 + i).padStart(6, '0')}`);
    await dir.withLdap(MASTER, async (c) => {
      for (const uid of added) {
        await c.add(`uid=${uid},${PEOPLE}`, {
          objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
          uid,
          cn: `Fault ${n} ${uid}`,
          sn: uid,
        });
      }
    });
    await dir.withLdap('b.ipa.test', async (c) => {
      for (const uid of deleted) await c.del(`uid=${uid},${PEOPLE}`);
    });
    const damaged = new Set([...baseline, ...added].filter((u) => !deleted.includes(u)));
    await waitFor('the damage to replicate to every host', 180_000, async () => {
      for (const host of HOSTS)
        if (!sameSet(await uidsOn(host).catch(() => new Set<string>()), damaged)) return undefined;
      return true;
    });
    return { added, deleted, damaged };
  }

  /** Starts `restore` as a child; resolves once its run folder exists. */
  async function startRestore(init: 'ldif' | 'online'): Promise<{ handle: CliChild; runId: string }> {
    const before = new Set(await readdir(runsDir()).catch(() => [] as string[]));
    const handle = lab.startFleet([
      'restore',
      '-i',
      lab.paths.inventory,
      '--master',
      MASTER,
      '--backup',
      snapshot,
      '--key',
      sec,
      '--passphrase',
      `file:${passFile}`,
      '--store',
      store,
      '--init',
      init,
      '--yes',
    ]);
    const runId = await waitFor('the restore run folder', 300_000, async () => {
      const fresh = (await readdir(runsDir()).catch(() => [] as string[])).find(
        (d) => !before.has(d) && d.includes('restore-deployment'),
      );
      if (fresh) return fresh;
      if (handle.child.exitCode !== null)
        throw new Error(
          `restore exited ${handle.child.exitCode} before its run started:\n${handle.output.stdout}\n${handle.output.stderr}`,
        );
      return undefined;
    });
    return { handle, runId };
  }

  async function resume(runId: string, onFailure?: () => Promise<void>): Promise<void> {
    const r = await lab.fleet(['restore', '--resume', runId, '--yes']);
    stamp(`resume of ${runId} ended with ${r.code} after ${(r.ms / 1000).toFixed(1)} s`);
    if (r.code !== 0) await onFailure?.();
    assert.equal(
      r.code,
      0,
      `restore --resume ${runId} exited ${r.code}\nstderr: ${r.stderr}\nstdout tail: ${r.stdout.slice(-4000)}\njournal tail:\n${await journalTail(runId)}`,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at .+\(.+:\d+:\d+\)/, `a stack trace on stderr: ${r.stderr}`);
  }

  /** Files ipa-fleet left in the hosts' ldif/ folders (reported, not asserted). */
  async function leftovers(): Promise<string[]> {
    const out: string[] = [];
    for (const host of HOSTS)
      for (const f of await readdir(ldifDir(host)).catch(() => [] as string[]))
        if (f.startsWith('ipa-fleet-')) out.push(`${host}:${f}`);
    return out;
  }

  /** The state every restore must end in. */
  async function assertRestored(label: string): Promise<void> {
    for (const host of HOSTS) {
      const uids = await uidsOn(host);
      assert.ok(
        sameSet(uids, baseline),
        `${label}: ${host} does not hold exactly the backup's users: ${setDiff(uids, baseline)}`,
      );
      const agreements = await agreementsOn(host);
      assert.deepEqual(
        Object.fromEntries(agreements.map((a) => [a.name, a.suffix])),
        AGREEMENTS[host],
        `${label}: ${host}'s agreements`,
      );
      // No nsds5ReplicaEnabled at all is 389-DS's default: on (a lab's agreements before any fence).
      for (const a of agreements)
        assert.equal(
          (a.enabled ?? 'on').toLowerCase(),
          'on',
          `${label}: ${host}: agreement ${a.name} (${a.suffix}) has nsds5ReplicaEnabled ${a.enabled}`,
        );
    }
    for (const [suffix, hosts] of Object.entries(SUFFIX_HOSTS)) {
      const generations = await Promise.all(hosts.map(async (h) => [h, await generation(dir, h, suffix)] as const));
      assert.ok(generations[0]![1], `${label}: ${generations[0]![0]} has no generation for ${suffix}`);
      assert.equal(
        new Set(generations.map(([, g]) => g)).size,
        1,
        `${label}: ${suffix} generations differ: ${JSON.stringify(generations)}`,
      );
    }
  }

  /**
   * After a controller crash: once what the servers were still doing has finished, every host holds a
   * whole data set (the damaged one it had, or the backup's). Returns the hosts' data and agreement
   * states for the test's diagnostics.
   */
  async function assertNothingHalfChanged(label: string, damaged: Set<string>): Promise<string> {
    await sleep(3000); // requests the controller sent just before it died land
    let quiet = 0;
    await waitFor('the servers to finish what the killed controller started', 300_000, async () => {
      quiet = (await busyWork()).length === 0 ? quiet + 1 : 0;
      if (quiet < 2) await sleep(1000);
      return quiet >= 2 ? true : undefined;
    }).catch(async (err: Error) => {
      throw new Error(`${label}: ${err.message}: ${(await busyWork()).join('; ')}`);
    });
    const state: string[] = [];
    for (const host of HOSTS) {
      const uids = await uidsOn(host);
      const which = sameSet(uids, baseline) ? 'backup' : sameSet(uids, damaged) ? 'damaged' : undefined;
      assert.ok(
        which,
        `${label}: ${host} holds neither its data before the restore nor the backup's: vs backup ${setDiff(uids, baseline)}; vs before ${setDiff(uids, damaged)}`,
      );
      state.push(`${host}=${which}`);
    }
    const gens = new Map<string, string | undefined>();
    for (const [suffix, hosts] of Object.entries(SUFFIX_HOSTS))
      for (const h of hosts) gens.set(`${h} ${suffix}`, await generation(dir, h, suffix));
    for (const host of HOSTS) {
      for (const a of await agreementsOn(host)) {
        const enabled = (a.enabled ?? 'on').toLowerCase() === 'on';
        state.push(`${host}:${a.name}=${enabled ? 'on' : 'off'}`);
        if (!enabled) continue;
        const peer = a.name.replace(/^(me|ca)To/, '');
        const mine = gens.get(`${host} ${a.suffix}`);
        const theirs = gens.get(`${peer} ${a.suffix}`);
        // Not data loss (389-DS refuses to replicate across generations), but worth seeing.
        if (mine !== theirs) state.push(`(${host}:${a.name} on across generations ${mine} / ${theirs})`);
      }
    }
    return state.join(' ');
  }

  /**
   * Each fault starts from a restored, replicating deployment, also when an earlier fault left it
   * broken (a product bug is then reported by that earlier test, not by every later one): a host
   * whose ns-slapd is down is started, and the deployment restored once without a fault.
   */
  async function healthy(t: { diagnostic(m: string): void }): Promise<void> {
    try {
      await assertRestored('before the fault');
      return;
    } catch (err) {
      t.diagnostic(
        `the deployment is not in the restored state, repairing it: ${(err as Error).message.split('\n')[0]}`,
      );
    }
    for (const host of HOSTS) {
      if (await dir.withLdap(host, async () => true).catch(() => false)) continue;
      const r = await lab.fleet(['lab', 'start', host, '--dir', lab.paths.root], { timeoutMs: 120_000 });
      t.diagnostic(`lab start ${host}: exit ${r.code} ${r.stderr.trim()}`);
    }
    const r = await lab.fleet([
      'restore',
      '-i',
      lab.paths.inventory,
      '--master',
      MASTER,
      '--backup',
      snapshot,
      '--key',
      sec,
      '--passphrase',
      `file:${passFile}`,
      '--store',
      store,
      '--yes',
    ]);
    assert.equal(r.code, 0, `repair restore exited ${r.code}: ${r.stderr}\n${r.stdout.slice(-3000)}`);
    await assertRestored('after the repair');
  }

  before(async () => {
    keys = await mkdtemp('/tmp/ipa-fleet-restore-faults-keys-');
    const [labUp, keyFiles] = await Promise.all([
      bringUpLab(['--hosts', '3', '--topology', 'chain', '--ca', 'a,b', '--entries', '2000']),
      makeKeys(keys),
    ]);
    lab = labUp;
    const { pub } = keyFiles;
    ({ sec, pass: passFile } = keyFiles);
    dir = await labDirectory(lab, HOSTS.length, 60_000);
    store = join(lab.tmp, 'store');
    stamp('lab up');

    const made = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', pub, '--store', store]);
    assert.equal(made.code, 0, made.stderr + made.stdout);
    const listing = await lab.fleet(['--json', 'backups', 'list', '--store', store]);
    assert.equal(listing.code, 0, listing.stderr);
    const snaps = (JSON.parse(listing.stdout) as { snapshots: Array<{ id: string; host: string; type: string }> })
      .snapshots;
    snapshot = snaps.find((s) => s.host === MASTER && s.type === 'data')!.id;
    baseline = await uidsOn(MASTER);
    assert.ok(baseline.size >= 2000, `only ${baseline.size} users on ${MASTER}`);
    for (const host of HOSTS)
      assert.ok(sameSet(await uidsOn(host), baseline), `${host} differs from ${MASTER} at backup time`);
    stamp(`backup ${snapshot} taken (${baseline.size} users)`);
  });

  after(async () => {
    await lab?.down();
    if (keys) await rm(keys, { recursive: true, force: true });
    stamp('lab down');
  });

  it('1. the SSH connection to b dropped while b is re-initialized (ldif): the run fails, --resume restores', {
    timeout: 1_200_000,
  }, async (t) => {
    await healthy(t);
    await damage(1);
    const sshdPid = await lab.sshdPid('b.ipa.test');
    const { handle, runId } = await startRestore('ldif');
    const task = '04-reinitialize:domain:b.ipa.test';
    const killed = await dropSshConnectionsWhen(sshdPid, handle, () => started(runId, task));
    const code = await exitOf(handle);
    t.diagnostic(`run ${runId}: killed ${JSON.stringify(killed)}; exit ${code}; ${handle.output.stderr.trim()}`);
    assert.ok(
      killed.length > 0,
      `no SSH session of b was killed while ${task} ran (exit ${code}):\n${await journalTail(runId)}`,
    );
    assert.notEqual(
      code,
      0,
      `the run succeeded although b's connection was killed during its re-initialization:\n${handle.output.stdout.slice(-3000)}`,
    );
    assert.doesNotMatch(handle.output.stderr, /\n\s+at .+\(.+:\d+:\d+\)/, 'a stack trace');
    stamp(`fault 1: run ended ${code}`);
    await resume(runId);
    await assertRestored('fault 1');
    t.diagnostic(`files left in ldif/: ${JSON.stringify(await leftovers())}`);
  });

  it('2. ns-slapd on c killed mid-import (ldif): the run fails, --resume starts c again and restores', {
    timeout: 1_200_000,
  }, async (t) => {
    await healthy(t);
    await damage(2);
    const { handle, runId } = await startRestore('ldif');
    const task = '04-reinitialize:domain:c.ipa.test';
    let killOutput = '';
    let finishedBeforeKill: JournalLine | undefined;
    const hit = await when(
      handle,
      async () => (await started(runId, task)) && existsSync(join(ldifDir('c.ipa.test'), INIT_FILE)),
      async () => {
        const k = await killDirectoryServer(lab, 'c.ipa.test');
        killOutput = `kill-ds exit ${k.code} in ${k.ms} ms: ${k.stdout.trim()} ${k.stderr.trim()}`;
        finishedBeforeKill = await finished(runId, task);
      },
    );
    const code = await exitOf(handle);
    t.diagnostic(`run ${runId}: ${killOutput}; exit ${code}; ${handle.output.stderr.trim()}`);
    assert.ok(hit, `c's import never started with ${INIT_FILE} in place (exit ${code}):\n${await journalTail(runId)}`);
    assert.match(killOutput, /^kill-ds exit 0/, killOutput);
    assert.equal(
      finishedBeforeKill,
      undefined,
      `c's import had already finished when ns-slapd was killed: ${JSON.stringify(finishedBeforeKill)}`,
    );
    assert.notEqual(
      code,
      0,
      `the run succeeded although c's ns-slapd was killed mid-import:\n${handle.output.stdout.slice(-3000)}`,
    );
    assert.doesNotMatch(handle.output.stderr, /\n\s+at .+\(.+:\d+:\d+\)/, 'a stack trace');
    stamp(`fault 2: run ended ${code}`);
    await resume(runId, async () => {
      // Only to tell what the failure was about: does it go through once c is started by hand?
      const s = await lab.fleet(['lab', 'start', 'c.ipa.test', '--dir', lab.paths.root], { timeoutMs: 120_000 });
      const again = await lab.fleet(['restore', '--resume', runId, '--yes']);
      t.diagnostic(
        `after 'lab start c.ipa.test' (exit ${s.code}) a second resume exits ${again.code}: ${again.stderr.trim()}`,
      );
    });
    await assertRestored('fault 2');
    t.diagnostic(`files left in ldif/: ${JSON.stringify(await leftovers())}`);
  });

  it('3. the controller SIGKILLed right after fencing: nothing half-changed, --resume restores', {
    timeout: 1_200_000,
  }, async (t) => {
    await healthy(t);
    const { damaged } = await damage(3);
    const { handle, runId } = await startRestore('ldif');
    const plan = JSON.parse(await readFile(join(runsDir(), runId, 'plan.json'), 'utf8')) as {
      tasks: Array<{ id: string }>;
    };
    const fences = plan.tasks.map((x) => x.id).filter((id) => id.startsWith('02-fence:'));
    assert.equal(fences.length, 3, `fence tasks: ${fences.join(', ')}`);
    const hit = await when(
      handle,
      async () => {
        const lines = await journal(runId);
        return fences.every((id) => lines.some((l) => l.type === 'task.finished' && l.taskId === id));
      },
      () => {
        handle.child.kill('SIGKILL');
      },
    );
    const code = await exitOf(handle);
    const lines = await journal(runId);
    t.diagnostic(
      `run ${runId}: killed=${hit}; exit ${code}; journal after the kill: ${lines
        .slice(-4)
        .map((l) => `${l.type} ${l.taskId ?? ''} ${l.status ?? ''}`)
        .join(' | ')}`,
    );
    assert.ok(
      hit,
      `the fence never finished before the run ended (exit ${code}):\n${await journalTail(runId)}\n${handle.output.stderr}`,
    );
    assert.equal(handle.child.signalCode, 'SIGKILL');
    assert.ok(!lines.some((l) => l.type === 'run.finished'), 'the run had finished before the kill');
    for (const id of fences) assert.notEqual((await finished(runId, id))?.status, 'failed', `${id} failed`);
    const state = await assertNothingHalfChanged('fault 3, after the kill', damaged);
    t.diagnostic(`between the kill and the resume: ${state}`);
    stamp('fault 3: controller killed after fencing');
    await resume(runId);
    await assertRestored('fault 3');
    t.diagnostic(`files left in ldif/: ${JSON.stringify(await leftovers())}`);
  });

  it('4. the controller SIGKILLed mid-re-init (online): nothing half-changed, --resume restores', {
    timeout: 1_200_000,
  }, async (t) => {
    await healthy(t);
    const { damaged } = await damage(4);
    const { handle, runId } = await startRestore('online');
    // Killed once the first total update is under way: the task started and the controller turned
    // a's agreement to b on for it (or, if that was too quick to see, once that hop finished).
    let killedAt = '';
    const hop = '04-reinitialize:domain:b.ipa.test';
    // One connection to the master for all the polling: a fresh one every few ms would lag behind.
    const hit = await dir.withLdap(MASTER, (master) =>
      when(
        handle,
        async () => {
          const lines = await journal(runId);
          if (!lines.some((l) => l.type === 'task.started' && l.taskId === hop)) return false;
          if (lines.some((l) => l.type === 'task.finished' && l.taskId === hop)) {
            killedAt = `after ${hop} finished`;
            return true;
          }
          const { searchEntries } = await master.search('cn=mapping tree,cn=config', {
            scope: 'sub',
            filter: '(&(objectClass=nsds5ReplicationAgreement)(cn=meTob.ipa.test))',
            attributes: ['nsds5ReplicaEnabled', 'nsds5BeginReplicaRefresh'],
          });
          const e = searchEntries[0];
          const on = e !== undefined && (attribute(e, 'nsds5ReplicaEnabled')[0] ?? 'on').toLowerCase() === 'on';
          if (on)
            killedAt = `during ${hop}: meTob.ipa.test on, refresh ${attribute(e, 'nsds5BeginReplicaRefresh').length > 0 ? 'pending' : 'not pending'}`;
          return on;
        },
        () => {
          handle.child.kill('SIGKILL');
        },
      ),
    );
    const code = await exitOf(handle);
    t.diagnostic(`run ${runId}: killed ${killedAt}; exit ${code}`);
    assert.ok(
      hit,
      `no re-initialization task started before the run ended (exit ${code}):\n${await journalTail(runId)}\n${handle.output.stderr}`,
    );
    assert.equal(handle.child.signalCode, 'SIGKILL');
    assert.ok(!(await journal(runId)).some((l) => l.type === 'run.finished'), 'the run had finished before the kill');
    const state = await assertNothingHalfChanged('fault 4, after the kill', damaged);
    t.diagnostic(`between the kill and the resume: ${state}`);
    stamp('fault 4: controller killed mid-re-init');
    await resume(runId);
    await assertRestored('fault 4');
    t.diagnostic(`files left in ldif/: ${JSON.stringify(await leftovers())}`);
  });
});
