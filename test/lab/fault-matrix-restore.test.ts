// The restore fault matrix on the real lab: every phase of a whole-deployment restore (fence, master
// import, BFS level 1, BFS level 2, unfence, verify) × every fault (SSH connections dropped, ns-slapd
// killed on the target, the target powered off, the controller SIGKILLed).
//
// Each cell: the fault is injected as the journal shows the phase's task starting. The run must end
// cleanly (exit 1 or 4 with one error line, or — the controller killed — with a journal that says
// where it stopped) or, better, ride the fault out and finish. The fault is then healed (`lab start`)
// and `restore --resume` continues. Per fault the cells are chained: the resume after one cell's fault
// is the run the next cell's fault hits, a phase later, so one restore carries six faults; the last
// resume runs without a fault and must end in the converged deployment equal to the snapshot (every
// host the backup's users, one generation per suffix, every agreement on). A run that rode a fault
// out is checked the same way at once.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FAULTS, printMatrix, type Cell, type Fault } from './fault-matrix.js';
import {
  attribute,
  bringUpLab,
  cleanError,
  dropSshConnectionsWhen,
  exitOf,
  killDirectoryServer,
  labDirectory,
  makeKeys,
  readJournal,
  sleep,
  stoppedAt,
  waitFor,
  when,
  type CliChild,
  type JournalLine,
  type LabDirectory,
  type TestLab,
} from './fixture.js';

const HOSTS = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'] as const;
type HostName = (typeof HOSTS)[number];
const MASTER: HostName = 'a.ipa.test';
const DOMAIN = 'dc=ipa,dc=test';
const CA = 'o=ipaca';
const PEOPLE = `ou=people,${DOMAIN}`;
const SUFFIX_HOSTS: Record<string, HostName[]> = { [DOMAIN]: [...HOSTS], [CA]: ['a.ipa.test', 'b.ipa.test'] };
const RUV_FILTER = '(&(nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff)(objectclass=nstombstone))';

/** Chain a-b-c, online init: b is BFS level 1 of the domain tree, c level 2. */
const PHASES: Array<{ phase: string; task: RegExp; target: HostName }> = [
  { phase: 'fence', task: /^02-fence:c\.ipa\.test$/, target: 'c.ipa.test' },
  { phase: 'master import', task: /^03-[a-z-]+:a\.ipa\.test$/, target: 'a.ipa.test' },
  { phase: 'BFS level 1', task: /^04-reinitialize:domain:b\.ipa\.test$/, target: 'b.ipa.test' },
  { phase: 'BFS level 2', task: /^04-reinitialize:domain:c\.ipa\.test$/, target: 'c.ipa.test' },
  { phase: 'unfence', task: /^05-unfence:/, target: 'c.ipa.test' },
  { phase: 'verify', task: /^06-converge:/, target: 'c.ipa.test' },
];

describe('restore fault matrix', { timeout: 2_400_000 }, () => {
  let lab: TestLab;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  let snapshot: string;
  let dir: LabDirectory;
  let baseline: string[];
  const cells: Cell[] = [];
  const runsDir = (): string => join(lab.tmp, 'state', 'ipa-fleet', 'runs');

  const uidsOn = (host: HostName): Promise<string[]> =>
    dir.withLdap(host, async (c) =>
      (await c.search(PEOPLE, { scope: 'one', filter: '(uid=*)', attributes: ['uid'], paged: true })).searchEntries
        .flatMap((e) => attribute(e, 'uid'))
        .sort(),
    );

  /** Why the deployment is not the converged snapshot, or undefined when it is. */
  async function notRestored(): Promise<string | undefined> {
    try {
      for (const host of HOSTS) {
        const uids = await uidsOn(host);
        if (uids.join() !== baseline.join())
          return `${host} holds ${uids.length} users, the snapshot ${baseline.length}`;
        const agreements = await dir.withLdap(
          host,
          async (c) =>
            (
              await c.search('cn=mapping tree,cn=config', {
                scope: 'sub',
                filter: '(objectClass=nsds5ReplicationAgreement)',
                attributes: ['cn', 'nsds5ReplicaEnabled'],
              })
            ).searchEntries,
        );
        const off = agreements.filter((a) => (attribute(a, 'nsds5ReplicaEnabled')[0] ?? 'on').toLowerCase() !== 'on');
        if (off.length)
          return `${host}: agreement(s) left disabled: ${off.map((a) => attribute(a, 'cn')[0]).join(', ')}`;
      }
      for (const [suffix, hosts] of Object.entries(SUFFIX_HOSTS)) {
        const gens = new Set<string | undefined>();
        for (const h of hosts) {
          gens.add(
            await dir.withLdap(h, async (c) =>
              (await c.search(suffix, { scope: 'sub', filter: RUV_FILTER, attributes: ['nsds50ruv'] })).searchEntries
                .flatMap((e) => attribute(e, 'nsds50ruv'))
                .map((v) => /^\{replicageneration\}\s+(\S+)/i.exec(v)?.[1])
                .find(Boolean),
            ),
          );
        }
        if (gens.size !== 1 || gens.has(undefined)) return `${suffix}: generations ${[...gens].join(' / ')}`;
      }
      return undefined;
    } catch (err) {
      return `cannot read the deployment: ${(err as Error).message}`;
    }
  }

  const ldapUp = (h: HostName): Promise<boolean> => dir.withLdap(h, async () => true).catch(() => false);

  /** Every host powered on and its directory answering. */
  async function heal(): Promise<string> {
    const done: string[] = [];
    for (const host of HOSTS) {
      // A host stopped mid-way can need a second start (its sshd or ns-slapd still going down).
      for (let attempt = 1; attempt <= 3 && !(await ldapUp(host)); attempt++) {
        const r = await lab.fleet(['lab', 'start', host, '--dir', lab.paths.root], { timeoutMs: 180_000 });
        done.push(`lab start ${host}: ${r.code}${r.code ? ` ${r.stderr.trim()}` : ''}`);
        await waitFor(`${host} to answer`, 60_000, async () => ((await ldapUp(host)) ? true : undefined)).catch(
          () => undefined,
        );
      }
      if (!(await ldapUp(host))) throw new Error(`${host} does not answer after lab start: ${done.join('; ')}`);
    }
    return done.join('; ') || 'nothing to heal';
  }

  /** Adds a user on the master that the restore must take away again. */
  async function damage(tag: string): Promise<void> {
    await dir.withLdap(MASTER, (c) => c.add(`uid=${tag},${PEOPLE}`, { objectClass: ['top', 'account'], uid: tag }));
  }

  async function inject(fault: Fault, target: HostName, handle: CliChild): Promise<string> {
    switch (fault) {
      case 'ssh-drop': {
        const killed = await dropSshConnectionsWhen(await lab.sshdPid(target), handle, async () => true, 20_000);
        return `${killed.length} connection process(es) of ${target} killed`;
      }
      case 'ds-kill': {
        const r = await killDirectoryServer(lab, target);
        return `kill-ds ${target}: ${r.code}`;
      }
      case 'power-off': {
        const r = await lab.fleet(['lab', 'stop', target, '--dir', lab.paths.root], { timeoutMs: 60_000 });
        return `lab stop ${target}: ${r.code}`;
      }
      case 'controller-kill':
        handle.child.kill('SIGKILL');
        return 'controller SIGKILLed';
    }
  }

  function startRestore(): CliChild {
    return lab.startFleet([
      'restore',
      '-i',
      lab.paths.inventory,
      '--master',
      MASTER,
      '--backup',
      snapshot,
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--store',
      store,
      '--init',
      'online',
      '--yes',
    ]);
  }

  async function newRunId(before: Set<string>, handle: CliChild): Promise<string> {
    return waitFor('the restore run folder', 120_000, async () => {
      const fresh = (await readdir(runsDir()).catch(() => [] as string[])).find(
        (d) => !before.has(d) && d.includes('restore-deployment'),
      );
      if (fresh) return fresh;
      if (handle.child.exitCode !== null)
        throw new Error(`restore exited ${handle.child.exitCode} before its run started: ${handle.output.stderr}`);
      return undefined;
    });
  }

  before(async () => {
    lab = await bringUpLab(['--hosts', '3', '--topology', 'chain', '--ca', 'a,b']);
    keys = await makeKeys(lab.tmp);
    dir = await labDirectory(lab, HOSTS.length);
    store = join(lab.tmp, 'store');
    const made = await lab.fleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', keys.pub, '--store', store]);
    assert.equal(made.code, 0, made.stderr + made.stdout);
    const listing = await lab.fleet(['--json', 'backups', 'list', '--store', store]);
    snapshot = (JSON.parse(listing.stdout) as { snapshots: Array<{ id: string; host: string }> }).snapshots.find(
      (s) => s.host === MASTER,
    )!.id;
    baseline = await uidsOn(MASTER);
  });

  after(async () => {
    if (cells.length) console.log(printMatrix('restore fault matrix (chain a-b-c, CA a,b, --init online)', cells));
    await lab?.down();
  });

  for (const fault of FAULTS) {
    it(`${fault} in every phase: each run stops cleanly or rides it out, and the last resume converges to the snapshot`, {
      timeout: 900_000,
    }, async (t) => {
      await heal();
      if (await notRestored()) {
        const repair = await lab.fleet([
          'restore',
          '-i',
          lab.paths.inventory,
          '--master',
          MASTER,
          '--backup',
          snapshot,
          '--key',
          keys.sec,
          '--passphrase',
          `file:${keys.pass}`,
          '--store',
          store,
          '--yes',
        ]);
        t.diagnostic(`repair restore before the chain: exit ${repair.code} ${repair.stderr.trim()}`);
      }
      let runId: string | undefined;
      const chain: Cell[] = [];
      for (const [i, p] of PHASES.entries()) {
        const cell: Cell = {
          operation: 'restore',
          phase: p.phase,
          fault,
          injectedAt: '-',
          exit: '-',
          stoppedAt: '-',
          message: '',
          healed: '',
          result: 'FAIL',
          why: '',
        };
        chain.push(cell);
        cells.push(cell);
        let handle!: CliChild;
        let from = 0;
        let id = '';
        let injected = '';
        let task = '';
        let hit = false;
        let code: number | null = null;
        // A resume may have nothing left to do in this phase (the last fault surfaced a phase later):
        // then a fresh restore carries the fault.
        for (const fresh of runId ? [false, true] : [true]) {
          if (!fresh) {
            from = (await readJournal(runsDir(), runId!)).length;
            handle = lab.startFleet(['restore', '--resume', runId!, '--yes']);
          } else {
            await damage(`matrix-${fault}-${i}`);
            const before = new Set(await readdir(runsDir()).catch(() => [] as string[]));
            from = 0;
            handle = startRestore();
            runId = await newRunId(before, handle);
          }
          id = runId!;
          const h = handle;
          hit = await when(
            h,
            async () => {
              const started = (await readJournal(runsDir(), id))
                .slice(from)
                .find((l) => l.type === 'task.started' && p.task.test(l.taskId ?? ''));
              if (started) task = started.taskId!;
              return started !== undefined;
            },
            async () => {
              injected = await inject(fault, p.target, h);
            },
          );
          code = await exitOf(h);
          if (hit || code !== 0) break;
          t.diagnostic(`${p.phase}: the resume finished without reaching it; a fresh restore carries the fault`);
          runId = undefined;
        }
        const lines: JournalLine[] = (await readJournal(runsDir(), id)).slice(from);
        cell.injectedAt = hit ? task : 'never reached';
        cell.exit = code === null ? String(handle.child.signalCode) : String(code);
        cell.stoppedAt = stoppedAt(lines) ?? (lines.some((l) => l.type === 'run.finished') ? 'finished' : '?');
        t.diagnostic(
          `${p.phase}: ${injected || 'no fault injected'}; exit ${cell.exit}; stopped at ${cell.stoppedAt}; ${handle.output.stderr.trim().split('\n').pop() ?? ''}`,
        );
        if (!hit) {
          cell.why = `the run ended (exit ${cell.exit}) before ${p.phase} started: ${handle.output.stderr.trim().split('\n').pop() ?? ''}`;
          if (code === 0) runId = undefined;
          cell.healed = await heal();
          continue;
        }
        cell.healed = await heal();
        if (/^0 connection/.test(injected)) {
          cell.why = `no SSH connection of ${p.target} to drop while ${p.phase} ran`;
          if (code === 0) runId = undefined;
          continue;
        }
        if (code === 0) {
          // Rode the fault out: the finished run must have restored everything.
          const problem = await notRestored();
          cell.result = problem ? 'FAIL' : 'pass';
          cell.message = `recovered: finished with exit 0 (${injected})`;
          cell.why = problem ?? '';
          runId = undefined;
          continue;
        }
        if (fault === 'controller-kill') {
          if (handle.child.signalCode !== 'SIGKILL') cell.why = `exit ${code}, not killed`;
          else if (!lines.some((l) => l.type === 'task.started') || lines.some((l) => l.type === 'run.finished'))
            cell.why = 'the journal does not show the run stopped mid-way';
          else cell.message = `killed; journal stops at ${cell.stoppedAt}`;
          // What the servers were doing when the controller died finishes before the resume.
          await sleep(3000);
        } else {
          const line = cleanError(handle.output.stderr);
          if (code !== 1 && code !== 4) cell.why = `exit ${code} (a restore fails with 1 or 4)`;
          else if (!line) cell.why = `not one clean error line: ${handle.output.stderr.slice(-500)}`;
          else if (cell.stoppedAt === '?') cell.why = 'the journal does not say where it stopped';
          else cell.message = line.replace('ipa-fleet: error: ', '');
        }
        // Pending until the chain's last resume proves convergence.
        if (!cell.why) cell.result = 'pass';
      }
      if (runId) {
        const last = await lab.fleet(['restore', '--resume', runId, '--yes']);
        t.diagnostic(`final resume of ${runId}: exit ${last.code} ${last.stderr.trim()}`);
        const problem =
          last.code === 0
            ? await notRestored()
            : `the final resume exited ${last.code}: ${last.stderr.trim().split('\n').pop()}`;
        if (problem)
          for (const c of chain.filter((x) => x.result === 'pass' && !x.message.startsWith('recovered')))
            Object.assign(c, { result: 'FAIL', why: `after the chain: ${problem}` });
      }
      const failed = chain.filter((c) => c.result !== 'pass');
      assert.deepEqual(
        failed.map((c) => `${c.phase}: ${c.why}`),
        [],
      );
    });
  }
});
