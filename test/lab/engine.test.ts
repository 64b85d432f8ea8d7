// Issue 3 against the real lab: plan = run, crash + resume exactly once, Ctrl-C, the lock.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadInventory, type Inventory } from '../../src/inventory/index.js';
import type { JournalEntry } from '../../src/playbook/journal.js';
import type { Plan } from '../../src/playbook/model.js';
import { runPlaybook } from '../../src/playbook/run.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { EventStream } from '../../src/report/events.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, ROOT, testContext, waitFor, type TestLab } from './fixture.js';

const MARKERS = join(ROOT, 'test', 'fixtures', 'playbooks', 'markers.yaml');

describe('playbook engine on the lab', () => {
  let lab: TestLab;
  let inventory: Inventory;
  let transport: Transport;
  let stateDir: string;

  before(async () => {
    lab = await bringUpLab(['--entries', '20']);
    inventory = await loadInventory(lab.paths.inventory);
    transport = new Transport(inventory, testContext(join(lab.tmp, 'library.log')));
    // Runs, journals and locks of these tests live in the lab's temp folder.
    stateDir = join(lab.tmp, 'state', 'ipa-fleet');
  });

  after(async () => {
    await transport?.close();
    await lab?.down();
  });

  const journalOf = async (runId: string): Promise<JournalEntry[]> =>
    (await readFile(join(stateDir, 'runs', runId, 'journal.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JournalEntry);
  const lines = async (host: Inventory['hosts'][number], file: string): Promise<number> => {
    const out = await (await transport.ssh(host)).exec(`cat ${file} 2>/dev/null | wc -l`);
    return Number(out.stdout.trim());
  };

  it('run executes exactly the plan that plan prints, and the hello-fleet sample works', async () => {
    const planned = await lab.fleet([
      '--json',
      'plan',
      'hello-fleet',
      '-i',
      lab.paths.inventory,
      '--set',
      'marker_dir=/tmp/hello test',
    ]);
    assert.equal(planned.code, 0, planned.stderr);
    const plan = JSON.parse(planned.stdout) as Plan;
    assert.equal(plan.tasks.length, 15);

    const ran = await lab.fleet([
      '--json',
      'run',
      'hello-fleet',
      '-i',
      lab.paths.inventory,
      '--set',
      'marker_dir=/tmp/hello test',
    ]);
    assert.equal(ran.code, 0, ran.stderr);
    const events = ran.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; runId?: string; taskId?: string; state?: string });
    const runId = events.find((e) => e.type === 'run.started')!.runId!;
    assert.equal(events.at(-1)!.type, 'run.finished');
    assert.equal(events.at(-1)!.state, 'succeeded');

    const stored = JSON.parse(await readFile(join(stateDir, 'runs', runId, 'plan.json'), 'utf8')) as Plan;
    assert.deepEqual(stored.tasks, plan.tasks, 'the run stored the very plan that plan printed');
    const journal = await journalOf(runId);
    const startedIds = journal.filter((e) => e.type === 'task.started').map((e) => (e as { taskId: string }).taskId);
    assert.deepEqual(
      [...startedIds].sort(),
      plan.tasks.map((t) => t.id).sort(),
      'every planned task ran once, nothing else',
    );
    for (const task of plan.tasks) {
      const started = journal.findIndex((e) => e.type === 'task.started' && e.taskId === task.id);
      for (const dep of task.dependsOn) {
        const depDone = journal.findIndex((e) => e.type === 'task.finished' && e.taskId === dep);
        assert.ok(depDone >= 0 && depDone < started, `${task.id} started after ${dep} finished`);
      }
    }
    // The clean-up step removed the markers again (the folder name had a space: quoted).
    for (const h of inventory.hosts)
      assert.equal((await (await transport.ssh(h)).exec("test -e '/tmp/hello test'")).exitCode, 1);
  });

  it('after the controller is killed mid-run, --resume finishes the remaining tasks exactly once', async () => {
    const dir = `/tmp/ipa-fleet-resume-${process.pid}`;
    const { child } = lab.startFleet(['run', MARKERS, '-i', lab.paths.inventory, '--yes', '--set', `dir=${dir}`]);
    // Kill it (SIGKILL: no clean-up at all) once step 2 is under way on the second host.
    const runId = await waitFor('the run to start', 30_000, async () => {
      const runs = await lab.fleet(['--json', 'runs', 'list']);
      const list = JSON.parse(runs.stdout || '[]') as Array<{ runId: string; playbook: string }>;
      return list.find((r) => r.playbook === 'markers')?.runId;
    });
    await waitFor('step 2 on b', 60_000, async () => {
      const journal = await journalOf(runId).catch(() => []);
      return journal.some((e) => e.type === 'task.started' && e.taskId === '02-second:b.ipa.test') ? true : undefined;
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const before = await journalOf(runId);
    assert.ok(!before.some((e) => e.type === 'run.finished'), 'the killed run never finished');
    const list = JSON.parse((await lab.fleet(['--json', 'runs', 'list'])).stdout) as Array<{
      runId: string;
      state: string;
    }>;
    assert.equal(list.find((r) => r.runId === runId)!.state, 'crashed');

    const resumed = await lab.fleet(['run', '--resume', runId, '--yes']);
    assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
    const journal = await journalOf(runId);
    const resumedAt = journal.findIndex((e) => e.type === 'run.resumed');
    assert.ok(resumedAt > 0);
    const doneBefore = new Set(
      before.filter((e) => e.type === 'task.finished').map((e) => (e as { taskId: string }).taskId),
    );
    for (const e of journal.slice(resumedAt)) {
      if (e.type === 'task.started')
        assert.ok(!doneBefore.has(e.taskId), `${e.taskId} was done before the crash and ran again`);
    }
    assert.ok(journal.slice(resumedAt).some((e) => e.type === 'task.finished' && e.taskId === '03-third:c.ipa.test'));
    for (const h of inventory.hosts) {
      for (const f of ['s1', 's2', 's3'])
        assert.equal(await lines(h, `${dir}/${h.name}.${f}`), 1, `${h.name}: ${f} written exactly once`);
    }
    await (await transport.ssh(inventory.hosts[0]!)).run(`rm -rf ${dir}`);
  });

  it('Ctrl-C stops cleanly (journal says what was running); a second run meanwhile is refused with exit 11', async () => {
    const dir = `/tmp/ipa-fleet-sigint-${process.pid}`;
    const handle = lab.startFleet([
      'run',
      MARKERS,
      '-i',
      lab.paths.inventory,
      '--yes',
      '--set',
      `dir=${dir}`,
      '--set',
      'nap=6',
    ]);
    const { child, output } = handle;
    const runId = await waitFor('the run to reach step 2', 30_000, async () => {
      if (child.exitCode !== null) throw new Error(`the run ended early (exit ${child.exitCode}): ${output.stderr}`);
      const list = JSON.parse((await lab.fleet(['--json', 'runs', 'list'])).stdout || '[]') as Array<{
        runId: string;
        playbook: string;
        state: string;
      }>;
      const current = list.find((r) => r.playbook === 'markers' && r.state === 'running');
      if (!current) return undefined;
      const journal = await journalOf(current.runId).catch(() => []);
      return journal.some((e) => e.type === 'task.started' && e.taskId === '02-second:a.ipa.test')
        ? current.runId
        : undefined;
    });

    const second = await lab.fleet(['run', MARKERS, '-i', lab.paths.inventory, '--yes', '--set', `dir=${dir}-2`]);
    assert.equal(second.code, 11, second.stderr);
    assert.match(second.stderr, new RegExp(`deployment 'ipa-lab' is locked by run ${runId} \\(markers, pid \\d+ on `));

    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 1);
    assert.match(output.stderr, new RegExp(`interrupted; continue it with: ipa-fleet run --resume ${runId}`));
    const journal = await journalOf(runId);
    assert.ok(journal.some((e) => e.type === 'task.interrupted' && e.taskId === '02-second:a.ipa.test'));
    const summary = JSON.parse(await readFile(join(stateDir, 'runs', runId, 'summary.json'), 'utf8')) as {
      state: string;
    };
    assert.equal(summary.state, 'interrupted');
    // The lock was released: the run can be continued at once.
    const resumed = await lab.fleet(['run', '--resume', runId, '--yes']);
    assert.equal(resumed.code, 0, resumed.stderr);
    for (const h of inventory.hosts) assert.equal(await lines(h, `${dir}/${h.name}.s3`), 1);
    await (await transport.ssh(inventory.hosts[0]!)).run(`rm -rf ${dir}`);
  });

  it('two runs through the library in one process do not interfere', async () => {
    // A second deployment name over the same hosts: the lock is per deployment.
    const second = join(lab.tmp, 'second.yaml');
    await writeFile(
      second,
      (await readFile(lab.paths.inventory, 'utf8'))
        .replace('deployment: ipa-lab', 'deployment: ipa-lab-two')
        .replace('identity_file: id_ed25519', `identity_file: ${lab.paths.identity}`)
        .replace('known_hosts: known_hosts', `known_hosts: ${lab.paths.knownHosts}`)
        .replace('password: file:dm-password', `password: file:${lab.paths.dmPassword}`),
    );
    const go = async (inventoryFile: string, dir: string) => {
      const events = new EventStream();
      const seen: string[] = [];
      events.on((e) => {
        if (e.type === 'task.finished') seen.push(e.taskId);
      });
      const ctx = testContext(join(lab.tmp, `${dir.split('/').pop()}.log`));
      return runPlaybook({
        playbook: MARKERS,
        inventory: await loadInventory(inventoryFile),
        registry: defaultRegistry(),
        sets: [`dir=${dir}`, 'nap=0.5'],
        limit: undefined,
        ctx,
        events,
        stateDir,
        forks: 10,
        confirm: async () => true,
      }).then((outcome) => ({ outcome, seen }));
    };
    const [one, two] = await Promise.all([
      go(lab.paths.inventory, '/tmp/ipa-fleet-lib-one'),
      go(second, '/tmp/ipa-fleet-lib-two'),
    ]);
    for (const { outcome, seen } of [one, two]) {
      assert.equal(outcome.state, 'succeeded');
      assert.equal(seen.length, 9, 'each run saw only its own 9 tasks');
      const journal = await journalOf(outcome.runId);
      assert.equal(journal.filter((e) => e.type === 'task.finished').length, 9);
    }
    assert.notEqual(one.outcome.runId, two.outcome.runId);
    for (const h of inventory.hosts) {
      assert.equal(await lines(h, `/tmp/ipa-fleet-lib-one/${h.name}.s3`), 1);
      assert.equal(await lines(h, `/tmp/ipa-fleet-lib-two/${h.name}.s3`), 1);
    }
    await (await transport.ssh(inventory.hosts[0]!)).run('rm -rf /tmp/ipa-fleet-lib-one /tmp/ipa-fleet-lib-two');
  });

  it('a failing task stops the run with a clear error; facts reports every host', async () => {
    const failing = await lab.fleet([
      'run',
      MARKERS,
      '-i',
      lab.paths.inventory,
      '--yes',
      '--set',
      'dir=/proc/not-writable',
    ]);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /a\.ipa\.test|b\.ipa\.test|c\.ipa\.test/);
    assert.match(failing.stderr, /--resume /);
    const facts = await lab.fleet(['--json', 'facts', '-i', lab.paths.inventory]);
    assert.equal(facts.code, 0, facts.stderr);
    const parsed = JSON.parse(facts.stdout) as Record<
      string,
      { fqdn: string; suffixes: { domain: { replica: { rid: number } } } }
    >;
    assert.deepEqual(
      Object.entries(parsed).map(([k, v]) => [k, v.fqdn, v.suffixes.domain.replica.rid]),
      [
        ['a.ipa.test', 'a.ipa.test', 1],
        ['b.ipa.test', 'b.ipa.test', 2],
        ['c.ipa.test', 'c.ipa.test', 3],
      ],
    );
  });
});
