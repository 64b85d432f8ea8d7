// `ipa-fleet demo`: the whole story on a lab in a few minutes (the demo operation does the work).
import { join } from 'node:path';
import type { Command } from 'commander';
import { FleetError } from '../errors.js';
import { DEMO_NET, DEMO_USERS, DemoPaths, defaultDemoDir } from '../lab/demo.js';
import { demo, type DemoReport } from '../operations/demo.js';
import { phaseRows } from '../operations/phase-report.js';
import { EventStream } from '../report/events.js';
import { stateDir } from '../state-dir.js';
import type { CommandEnv, Wrap } from './command-env.js';
import { table } from './output.js';
import { attachRenderers } from './renderers.js';
import { formatSeconds } from '../format.js';

export function registerDemoCommand(program: Command, wrap: Wrap): void {
  program
    .command('demo')
    .description(
      `on a fresh 3-host lab (a↔b↔c, CA on a and b, ${DEMO_USERS} users): back up, delete users and add junk, ` +
        "restore the whole deployment from a's snapshot, check every host (needs root)",
    )
    .option('--net <a.b.c>', 'loopback network of the lab hosts', DEMO_NET)
    .option('--dir <dir>', `demo folder: lab, keys, store (default: ${defaultDemoDir()})`)
    .option('--keep', 'leave the lab, keys and store in place to explore', false)
    .addHelpText(
      'after',
      [
        '',
        'Exit code: 0 every host converged and passed the check; 1 the demo failed (the report says which stage,',
        'or which host did not come back); 2 bad options, or a lab already in the demo folder; ' +
          '4, 11, 12 as for restore.',
      ].join('\n'),
    )
    .action(
      wrap(async (env, opts: { net: string; dir?: string; keep: boolean }) => {
        const events = new EventStream();
        attachRenderers(events, env, { live: true });
        const report = await demo(env.ctx, {
          events,
          stateDir: stateDir(),
          dir: opts.dir ?? defaultDemoDir(),
          net: opts.net,
          keep: opts.keep,
          onProgress: (line) => env.out.progress(line),
        });
        if (env.globals.json) env.out.json(jsonOf(report));
        else printReport(env, report);
        if (report.teardownError)
          env.out.warn(
            `the lab was not taken down (${report.teardownError}); run: ipa-fleet lab down --dir ${report.labDir}`,
          );
        if (report.failure) {
          const { stage, error } = report.failure;
          throw new FleetError(error.kind, `demo: ${stage} failed: ${error.message}`, {
            host: error.host,
            cause: error,
          });
        }
        if (!report.ok) {
          const bad = report.checks.filter((c) => !c.ok).map((c) => c.host);
          throw new FleetError(
            'failure',
            `demo: ${bad.length} of ${report.hosts.length} host(s) did not come back as backed up: ${bad.join(', ')}`,
          );
        }
      }),
    );
}

function printReport({ out }: CommandEnv, r: DemoReport): void {
  const s = (seconds: number): string => formatSeconds(seconds * 1000);
  out.line('');
  out.line('DEMO');
  out.line(
    table([
      ['STAGE', 'TIME'],
      ...r.timings.map((t) => [t.stage, s(t.seconds)]),
      ['(total)', s(r.timings.reduce((a, t) => a + t.seconds, 0))],
    ]),
  );
  if (r.snapshot) out.line(`\nbackup: run ${r.backupRun}; restoring ${r.snapshot.host} from snapshot ${r.snapshot.id}`);
  if (r.damage) {
    const { deleted } = r.damage;
    out.line(
      `damage: deleted ${deleted.length} users on a.ipa.test (${deleted[0]}, ${deleted[1]}, … ${deleted.at(-1)}), ` +
        `added ${r.damage.junk.length} junk entries on c.ipa.test; ` +
        `on every host after ${s(r.damage.replicatedSeconds)}`,
    );
  }
  if (r.restore) {
    const { state } = r.restore;
    const shown = state === 'succeeded' ? out.ok(state) : out.bad(state);
    out.line(`\nrestore ${r.restore.runId}: ${shown} (seconds per host and phase)`);
    out.line(table(phaseRows(r.restore.phases, r.restore.hostOrder)));
  }
  if (r.checks.length) {
    out.line('\nchecked on every host over LDAP:');
    out.line(
      table([
        ['HOST', 'USERS', 'DELETED USERS BACK', 'JUNK LEFT', 'GENERATION', 'RESULT'],
        ...r.checks.map((c) => [
          c.host,
          c.users === null ? '-' : String(c.users),
          `${c.deletedBack}/${r.damage?.deleted.length ?? '?'}`,
          String(c.junkLeft),
          c.generation ?? '-',
          c.ok ? out.ok('converged') : out.bad(c.error ? `FAILED: ${c.error}` : 'FAILED'),
        ]),
      ]),
    );
  }
  if (r.ok) {
    out.line(
      out.ok(
        `every host converged: ${r.hosts.length} of ${r.hosts.length} hosts hold ${DEMO_USERS} users, ` +
          'the deleted users are back, the junk is gone',
      ),
    );
  }
  out.line('');
  if (r.tornDown) {
    out.line(`The lab was taken down (ipa-fleet demo --keep leaves it to explore).`);
    return;
  }
  const paths = new DemoPaths(r.dir);
  const inv = r.inventory;
  out.line(`The lab is kept in ${r.labDir}. Explore it:`);
  out.line(`  ipa-fleet lab status --dir ${r.labDir}`);
  out.line(`  ipa-fleet audit -i ${inv}`);
  out.line(`  ipa-fleet backups list --store ${paths.store}`);
  if (r.restore) out.line(`  ipa-fleet runs show ${r.restore.runId}`);
  if (r.snapshot) {
    out.line(
      `  ipa-fleet plan restore-deployment -i ${inv} --set master=${r.snapshot.host} --set backup=${r.snapshot.id} ` +
        `--set store=${paths.store} --set key=${paths.privateKey} --set passphrase=file:${paths.passphrase}`,
    );
  }
  out.line(
    `  ssh -i ${join(r.labDir, 'id_ed25519')} -o UserKnownHostsFile=${join(r.labDir, 'known_hosts')} ` +
      `root@${r.net}.1   # a.ipa.test; DM password: ${join(r.labDir, 'dm-password')}`,
  );
  out.line(`Then: ipa-fleet lab down --dir ${r.labDir} && rm -r ${r.dir}`);
}

function jsonOf(r: DemoReport): Record<string, unknown> {
  const { failure, ...rest } = r;
  return {
    ...rest,
    ...(failure ? { failure: { stage: failure.stage, kind: failure.error.kind, message: failure.error.message } } : {}),
  };
}
