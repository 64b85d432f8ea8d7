// The backup fault matrix on the real lab: each phase of a host's backup (the export on the server,
// the tar stream over SSH, the controller writing the store) × each fault (SSH connections dropped,
// ns-slapd killed, the host powered off, the controller SIGKILLed).
//
// Each cell: the fault is injected the moment the phase is seen (the export file appears on the host,
// the host's tar starts, the archive in the store's staging folder grows). The run must end cleanly:
// exit 1 or 4 with one error line and a journal naming the failed task (or, the controller killed,
// a journal that stops at the task). After healing (`lab start`), a re-run must back the host up,
// the new snapshot must pass `backups verify --read-data`, and nothing partial may be left: no
// staging folder in the store, no export file on the host.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FAULTS, printMatrix, type Cell, type Fault } from './fault-matrix.js';
import {
  bringUpLab,
  cleanError,
  dropSshConnectionsWhen,
  exitOf,
  killDirectoryServer,
  makeKeys,
  processMatching,
  readJournal,
  stoppedAt,
  waitFor,
  when,
  type CliChild,
  type TestLab,
} from './fixture.js';

const HOST = 'a.ipa.test';
const DEPLOYMENT = 'ipa-lab';

describe('backup fault matrix', { timeout: 1_200_000 }, () => {
  let lab: TestLab;
  let keys: { pub: string; sec: string; pass: string };
  let store: string;
  const cells: Cell[] = [];
  const runsDir = (): string => join(lab.tmp, 'state', 'ipa-fleet', 'runs');
  const ldifDir = (): string => join(lab.paths.hostDir(HOST), 'var-lib-dirsrv', 'slapd-IPA-TEST', 'ldif');
  const hostStore = (): string => join(store, DEPLOYMENT, HOST);

  const exportFiles = async (): Promise<string[]> =>
    (await readdir(ldifDir()).catch(() => [] as string[])).filter((f) => f.startsWith('ipa-fleet-'));
  const stagingDirs = async (): Promise<string[]> =>
    (await readdir(hostStore()).catch(() => [] as string[])).filter((f) => f.startsWith('.'));
  async function stagingBytes(): Promise<number> {
    let bytes = 0;
    for (const dir of await stagingDirs()) {
      for (const f of await readdir(join(hostStore(), dir)).catch(() => [] as string[])) {
        if (f.startsWith('archive')) bytes += (await stat(join(hostStore(), dir, f)).catch(() => ({ size: 0 }))).size;
      }
    }
    return bytes;
  }
  const snapshots = async (): Promise<string[]> =>
    (await readdir(hostStore()).catch(() => [] as string[])).filter((f) => /^\d{8}T/.test(f)).sort();
  const hostUp = async (): Promise<boolean> =>
    (await lab.fleet(['-i', lab.paths.inventory, 'ping'], { timeoutMs: 60_000 })).code === 0;

  const PHASES: Array<{ phase: string; seen: () => Promise<boolean> }> = [
    { phase: 'export', seen: async () => (await exportFiles()).length > 0 },
    { phase: 'stream', seen: async () => (await processMatching(/^tar --create --file=- /)) !== undefined },
    { phase: 'store write', seen: async () => (await stagingBytes()) > 0 },
  ];

  async function inject(fault: Fault, handle: CliChild): Promise<string> {
    switch (fault) {
      case 'ssh-drop': {
        const killed = await dropSshConnectionsWhen(await lab.sshdPid(HOST), handle, async () => true, 20_000);
        return `${killed.length} connection process(es) killed`;
      }
      case 'ds-kill':
        return `kill-ds: ${(await killDirectoryServer(lab, HOST)).code}`;
      case 'power-off':
        return `lab stop: ${(await lab.fleet(['lab', 'stop', HOST, '--dir', lab.paths.root], { timeoutMs: 60_000 })).code}`;
      case 'controller-kill':
        handle.child.kill('SIGKILL');
        return 'controller SIGKILLed';
    }
  }

  async function heal(): Promise<string> {
    if (await hostUp()) return 'nothing to heal';
    const done: string[] = [];
    for (let attempt = 1; attempt <= 3 && !(await hostUp()); attempt++) {
      const r = await lab.fleet(['lab', 'start', HOST, '--dir', lab.paths.root], { timeoutMs: 180_000 });
      done.push(`lab start: ${r.code}${r.code ? ` ${r.stderr.trim()}` : ''}`);
      await waitFor(`${HOST} to answer`, 60_000, async () => ((await hostUp()) ? true : undefined)).catch(
        () => undefined,
      );
    }
    if (!(await hostUp())) throw new Error(`${HOST} does not answer after lab start: ${done.join('; ')}`);
    return done.join('; ');
  }

  before(async () => {
    // 20 000 entries: each phase lasts long enough (about a second) to be hit.
    lab = await bringUpLab(['--hosts', '1', '--ca', 'a', '--entries', '20000']);
    keys = await makeKeys(lab.tmp);
    store = join(lab.tmp, 'store');
  });

  after(async () => {
    if (cells.length) console.log(printMatrix('backup fault matrix (one host, 20 000 entries, DATA)', cells));
    await lab?.down();
  });

  for (const fault of FAULTS) {
    for (const p of PHASES) {
      it(`${fault} during ${p.phase}: a clean failure, then a re-run leaves a verified snapshot and nothing partial`, {
        timeout: 300_000,
      }, async (t) => {
        const cell: Cell = {
          operation: 'backup',
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
        cells.push(cell);
        // A phase of a few hundred ms can pass between two polls on a loaded machine: a run in which the
        // fault never fired changed nothing worth judging, so it is tried again (at most 3 runs).
        let attempt = 0;
        let before: string[];
        let runsBefore: Set<string>;
        let handle: CliChild;
        let injected: string;
        let hit: boolean;
        let code: number | null;
        do {
          attempt++;
          await heal();
          before = await snapshots();
          runsBefore = new Set(await readdir(runsDir()).catch(() => [] as string[]));
          handle = lab.startFleet(['backup', '-i', lab.paths.inventory, '--encrypt-to', keys.pub, '--store', store]);
          injected = '';
          const child = handle;
          hit = await when(
            child,
            p.seen,
            async () => {
              injected = await inject(fault, child);
            },
            120_000,
          );
          code = await exitOf(handle, 300_000);
        } while (!hit && attempt < 3);
        const runId = (await readdir(runsDir())).find((d) => !runsBefore.has(d));
        const lines = runId ? await readJournal(runsDir(), runId) : [];
        cell.injectedAt = hit ? p.phase : 'never seen';
        cell.exit = code === null ? String(handle.child.signalCode) : String(code);
        cell.stoppedAt = stoppedAt(lines) ?? (lines.some((l) => l.type === 'run.finished') ? 'finished' : '?');
        cell.healed = await heal();
        t.diagnostic(
          `run ${attempt}: ${injected || 'no fault'}; exit ${cell.exit}; stopped at ${cell.stoppedAt}; ${handle.output.stderr.trim().split('\n').pop() ?? ''}`,
        );
        const problems: string[] = [];
        if (!hit) problems.push(`the backup ended (exit ${cell.exit}) before ${p.phase} was seen`);
        else if (/^0 connection/.test(injected)) problems.push(`no SSH connection to drop during ${p.phase}`);
        else if (code === 0) cell.message = `recovered: the backup finished (${injected})`;
        else if (fault === 'controller-kill') {
          if (cell.stoppedAt === '?') problems.push('the journal does not show where the run stopped');
          cell.message = `killed; journal stops at ${cell.stoppedAt}`;
        } else {
          const line = cleanError(handle.output.stderr);
          if (code !== 1 && code !== 4) problems.push(`exit ${code} (expected 1 or 4)`);
          if (!line) problems.push(`not one clean error line: ${handle.output.stderr.slice(-400)}`);
          if (cell.stoppedAt === '?') problems.push('the journal does not name the failed task');
          cell.message = line?.replace('ipa-fleet: error: ', '') ?? '';
          // A failed backup cleans up after itself at once.
          if ((await stagingDirs()).length)
            problems.push(`staging left in the store by the failed run: ${(await stagingDirs()).join(', ')}`);
        }
        if (code !== 0 && (await snapshots()).length !== before.length)
          problems.push('a failed run committed a snapshot');

        // The re-run: a good snapshot, nothing partial anywhere.
        const again = await lab.fleet([
          'backup',
          '-i',
          lab.paths.inventory,
          '--encrypt-to',
          keys.pub,
          '--store',
          store,
        ]);
        if (again.code !== 0) problems.push(`re-run exited ${again.code}: ${again.stderr.trim()}`);
        const after = await snapshots();
        const newest = after.at(-1);
        if (again.code === 0 && newest && !before.includes(newest)) {
          const verify = await lab.fleet([
            'backups',
            'verify',
            '--read-data',
            '--key',
            keys.sec,
            '--passphrase',
            `file:${keys.pass}`,
            '--store',
            store,
            newest,
          ]);
          if (verify.code !== 0) problems.push(`verify of ${newest}: ${verify.stdout}${verify.stderr}`);
        } else if (again.code === 0) problems.push('the re-run made no new snapshot');
        const staging = await stagingDirs();
        if (staging.length) problems.push(`partial snapshot left in the store: ${staging.join(', ')}`);
        const exports = await exportFiles();
        if (exports.length) problems.push(`export files left on the host: ${exports.join(', ')}`);
        cell.why = problems.join('; ');
        cell.result = problems.length ? 'FAIL' : 'pass';
        assert.deepEqual(problems, []);
      });
    }
  }
});
