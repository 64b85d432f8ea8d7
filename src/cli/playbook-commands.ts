// plan, run, runs list/show, facts: options → one operation → output → exit code.
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { FleetError, UsageError } from '../errors.js';
import { planPlaybook, resumePlaybook, runPlaybook, type PlaybookRunResult } from '../operations/run-playbook.js';
import { listRuns, readSummary, RunJournal } from '../playbook/journal.js';
import type { Plan } from '../playbook/model.js';
import { EventStream } from '../report/events.js';
import { stateDir } from '../state-dir.js';
import type { HostFacts } from '../topology/facts.js';
import { gatherHostFacts } from '../operations/facts.js';
import { collect, type CommandEnv, type Wrap } from './command-env.js';
import { mostSpecific, runFailure } from './exit-codes.js';
import { requireInventory, targetHosts } from './inventory-command.js';
import { table, type Output } from './output.js';
import { attachRenderers } from './renderers.js';

/** --forks: a whole number ≥ 1 (run, restore, rejoin). */
export function forks(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return Number(value);
}

export function registerPlaybookCommands(program: Command, wrap: Wrap): void {
  registerPlan(program, wrap);
  registerRun(program, wrap);
  const runs = program.command('runs').description('recorded runs (state dir)');
  registerRunsList(runs, wrap);
  registerRunsShow(runs, wrap);
  registerFacts(program, wrap);
}

function registerPlan(program: Command, wrap: Wrap): void {
  program
    .command('plan')
    .argument('<playbook>', 'playbook file, or the name of a built-in playbook (playbooks/<name>.yaml)')
    .description(
      'print the concrete tasks the playbook would run, per step and host, with their dependencies (changes nothing)',
    )
    .option('--set <name=value>', 'playbook parameter (repeatable)', collect, [])
    .addHelpText(
      'after',
      '\nExit code: 0 plan printed; 2 bad playbook, parameter or inventory; 4 or 12 a host unreachable or ' +
        'refusing\nauthentication while its facts are gathered (playbooks whose steps need facts).',
    )
    .action(
      wrap(async (env, playbook: string, opts: { set: string[] }) => {
        const events = new EventStream();
        attachRenderers(events, env, { live: false });
        const inventory = await requireInventory(env.globals);
        const plan = await planPlaybook(inventory, env.ctx, {
          playbook,
          sets: opts.set,
          limit: env.globals.limit,
          events,
        });
        if (env.globals.json) env.out.json(plan);
        else printPlan(env.out, plan);
      }),
    );
}

interface RunOpts {
  set: string[];
  yes: boolean;
  forks: number;
  resume?: string;
}

function registerRun(program: Command, wrap: Wrap): void {
  program
    .command('run')
    .argument('[playbook]', 'playbook file or built-in name (not with --resume)')
    .description('execute the playbook: the same plan `plan` prints, journalled in the state dir')
    .option('--set <name=value>', 'playbook parameter (repeatable)', collect, [])
    .option('--yes', 'do not ask before a plan that changes the deployment (required without a terminal)', false)
    .option('--forks <n>', 'tasks running at once, over all hosts', forks, 10)
    .option('--resume <run-id>', 'continue a run that stopped: tasks its journal records as done are skipped')
    .addHelpText(
      'after',
      '\nExit code: 0 all tasks done; 4 a host unreachable; 12 authentication failed; 3 some hosts failed; 1 failed ' +
        'or interrupted; 11 another run holds the deployment lock.',
    )
    .action(wrap(runAction));
}

async function runAction(env: CommandEnv, playbook: string | undefined, opts: RunOpts): Promise<void> {
  const events = new EventStream();
  attachRenderers(events, env, { live: true });
  const common = {
    events,
    stateDir: stateDir(),
    forks: opts.forks,
    confirm: (plan: Plan) => confirm(env.out, plan, opts.yes),
  };
  let result: PlaybookRunResult;
  if (opts.resume) {
    if (playbook) throw new UsageError('--resume continues a recorded run: give no playbook');
    if (opts.set.length) throw new UsageError('--resume uses the recorded parameters: drop --set');
    const inventory = env.globals.inventory ? await requireInventory(env.globals) : undefined;
    result = await resumePlaybook(opts.resume, env.ctx, { ...common, ...(inventory ? { inventory } : {}) });
  } else {
    if (!playbook) throw new UsageError('run: name a playbook, or --resume RUN_ID');
    const inventory = await requireInventory(env.globals);
    result = await runPlaybook(inventory, env.ctx, { ...common, playbook, sets: opts.set, limit: env.globals.limit });
  }
  // In the journal's words: a run in which some hosts failed is a failed run.
  const state = result.state === 'partial' ? 'failed' : result.state;
  env.out.line(`run ${result.runId}: ${state} (journal: ${result.runDir})`);
  if (result.state === 'succeeded') return;
  if (result.state === 'interrupted') {
    throw new FleetError(
      'failure',
      `run ${result.runId} interrupted; continue it with: ipa-fleet run --resume ${result.runId}`,
    );
  }
  const hint = ` (fix it, then: ipa-fleet run --resume ${result.runId})`;
  if (result.failures.length === 0) throw new FleetError('failure', `run ${result.runId} did not finish${hint}`);
  throw runFailure(result.failures, result.hosts.length, { message: (e) => `${e.message}${hint}` });
}

function registerRunsList(runs: Command, wrap: Wrap): void {
  runs
    .command('list')
    .description('every recorded run: id, playbook, deployment, started, state')
    .addHelpText('after', '\nStates: running, succeeded, failed, interrupted, crashed. Exit code: 0.')
    .action(
      wrap(async (env) => {
        const list = await listRuns(stateDir());
        if (env.globals.json) return env.out.json(list);
        if (list.length === 0) return env.out.line('no runs recorded');
        env.out.line(
          table([
            ['RUN', 'PLAYBOOK', 'DEPLOYMENT', 'STARTED', 'STATE'],
            ...list.map((r) => [r.runId, r.playbook, r.deployment, r.startedAt, r.state]),
          ]),
        );
      }),
    );
}

function registerRunsShow(runs: Command, wrap: Wrap): void {
  runs
    .command('show')
    .argument('<run-id>', 'the run id (ipa-fleet runs list)')
    .description("a run's plan, journal and summary")
    .addHelpText('after', '\nExit code: 0; 2 no such run.')
    .action(
      wrap(async (env, runId: string) => {
        const { plan, entries, journal } = await RunJournal.open(stateDir(), runId);
        const summary = await readSummary(stateDir(), runId);
        if (env.globals.json) return env.out.json({ runId, dir: journal.dir, summary, plan, journal: entries });
        env.out.line(
          `run ${runId}: ${summary?.state ?? 'unknown'}, playbook ${plan.playbook.name}, ` +
            `deployment ${plan.inventory.deployment}, started ${summary?.startedAt ?? '?'}`,
        );
        env.out.line(`folder ${journal.dir}`);
        const last = new Map<string, string>();
        for (const e of entries) {
          if (e.type === 'task.started') last.set(e.taskId, 'started (not finished)');
          if (e.type === 'task.finished')
            last.set(e.taskId, e.status + (e.error ? `: ${e.error}` : e.message ? `: ${e.message}` : ''));
          if (e.type === 'task.interrupted') last.set(e.taskId, 'interrupted');
        }
        env.out.line(
          table([['TASK', 'HOST', 'STATE'], ...plan.tasks.map((t) => [t.id, t.host, last.get(t.id) ?? 'not run'])]),
        );
      }),
    );
}

function registerFacts(program: Command, wrap: Wrap): void {
  program
    .command('facts')
    .description(
      'gather facts from every host (after --limit): hostname, OS, 389-DS, suffixes, replicas, agreements, RUV, ' +
        'free space; read-only',
    )
    .option('--count-entries', "also count each suffix's live entries (a search of every entry; slow on big suffixes)")
    .addHelpText(
      'after',
      '\nExit code: 0 every host; 4 a host unreachable, else 12 authentication failed, else 3 some hosts failed / 1 ' +
        'all.',
    )
    .action(
      wrap(async (env, flags: { countEntries?: boolean }) => {
        const { inventory } = await targetHosts(env.globals);
        const { hosts: gathered, hostCount } = await gatherHostFacts(inventory, env.ctx, {
          limit: env.globals.limit,
          countEntries: flags.countEntries === true,
        });
        const errors = [...gathered.values()].filter((v): v is FleetError => v instanceof FleetError);
        if (env.globals.json)
          env.out.json(
            Object.fromEntries([...gathered].map(([k, v]) => [k, v instanceof FleetError ? { error: v.message } : v])),
          );
        else env.out.line(factsTable(env.out, gathered));
        if (errors.length) throw mostSpecific(errors, hostCount);
      }),
    );
}

function factsTable(out: Output, gathered: Map<string, HostFacts | FleetError>): string {
  const rows = [['HOST', 'FQDN', 'DS', 'SUFFIX', 'RID', 'AGREEMENTS', 'GENERATION']];
  for (const [name, f] of gathered) {
    if (f instanceof FleetError) {
      rows.push([name, out.bad('FAILED'), f.message, '', '', '', '']);
      continue;
    }
    for (const s of [f.suffixes.domain, f.suffixes.ca]) {
      if (!s) continue;
      rows.push([
        name,
        f.fqdn,
        (f.dsVersion ?? '?').replace(/^389-Directory\//, ''),
        s.suffix,
        s.replica ? String(s.replica.rid) : '-',
        s.agreements.map((a) => `${a.targetHost}${a.enabled ? '' : '(off)'}`).join(',') || '-',
        s.ruv?.generation ?? '-',
      ]);
    }
  }
  return table(rows);
}
export function printPlan(out: Output, plan: Plan): void {
  out.line(
    `playbook ${plan.playbook.name} (${plan.playbook.file}) on deployment ${plan.inventory.deployment}` +
      (plan.limit ? `, --limit ${plan.limit}` : ''),
  );
  const params = Object.entries(plan.params);
  if (params.length) out.line(`parameters: ${params.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
  const steps = [...new Set(plan.tasks.map((t) => t.step))];
  for (const step of steps) {
    const tasks = plan.tasks.filter((t) => t.step === step);
    const first = tasks[0]!;
    out.line('');
    out.line(
      `step ${step + 1}: ${first.stepName} [${first.action}]` +
        (first.destructive ? ' (changes the deployment)' : '') +
        (first.concurrency ? `, at most ${first.concurrency} at once` : ''),
    );
    out.line(
      table([
        ['TASK', 'HOST', 'WHAT', 'AFTER'],
        ...tasks.map((t) => [t.id, t.host, t.title + describeParams(t.params), describeDeps(t.dependsOn, plan)]),
      ]),
    );
  }
  for (const s of plan.skippedSteps) out.line(`\nstep ${s.step + 1}: ${s.name}: left out (${s.reason})`);
  out.line('');
  out.line(
    `${plan.tasks.length} task(s) on ${new Set(plan.tasks.map((t) => t.host)).size} host(s)${
      plan.destructive ? '; ' + 'changes the deployment: run asks for confirmation (or --yes)' : ''
    }`,
  );
}

function describeParams(params: Record<string, unknown>): string {
  const parts = Object.entries(params).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return parts.length ? `: ${parts.join(' ')}` : '';
}

/** "all of step 2" when a task waits for a whole step, else the task ids. */
function describeDeps(deps: string[], plan: Plan): string {
  if (deps.length === 0) return '-';
  const depSteps = new Set(plan.tasks.filter((t) => deps.includes(t.id)).map((t) => t.step));
  if (depSteps.size === 1) {
    const [step] = [...depSteps] as [number];
    const all = plan.tasks.filter((t) => t.step === step);
    if (all.length === deps.length && all.length > 1) return `all of step ${step + 1}`;
  }
  return deps.join(', ');
}

export async function confirm(out: Output, plan: Plan, yes: boolean): Promise<boolean> {
  if (yes) return true;
  const hosts = new Set(plan.tasks.filter((t) => t.destructive).map((t) => t.host));
  if (!process.stdin.isTTY) {
    throw new UsageError(
      `playbook '${plan.playbook.name}' changes ${hosts.size} ` +
        "host(s) and there is no terminal to confirm on; review 'ipa-fleet plan' and pass --yes",
    );
  }
  out.warn(
    `${plan.playbook.name} will change ${[...hosts].join(', ')} ` +
      `(${plan.tasks.filter((t) => t.destructive).length} task(s)); review it with 'ipa-fleet plan'.`,
  );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => rl.question("Type 'yes' to go on: ", resolve));
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}
