// unfence, converge and release: the end of a restore or a rejoin. Each runs as one task on the
// master because each is a gate over the whole deployment (every host must agree first).
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import type { JsonValue } from '../json.js';
import { proveConvergence, requireGeneration } from '../restore/converge.js';
import { unfenceSuffix } from '../restore/unfence.js';
import { hostsNamed, restoreLayout } from '../restore/layout.js';
import { readQuarantine, releaseHost } from '../restore/quarantine.js';
import { openRestoreSource } from '../restore/source.js';
import { snapshotEntries } from '../content/snapshot-entries.js';
import {
  defineAction,
  paramSchema,
  planned,
  type PlanInput,
  type TaskContext,
  type TaskDraft,
} from '../playbook/action.js';
import { formatSeconds } from '../format.js';

const quarantinedParam = {
  type: 'list' as const,
  default: [],
  description: 'hosts being rejoined: no longer treated as quarantined',
};

type PlannedSuffix = { kind: 'domain' | 'ca'; suffix: string; hosts: string[] };

const suffixesParam = planned<PlannedSuffix[]>('the suffixes and their hosts, from the restore layout');

/** One task on the master, over the whole restore layout. */
function layoutTask(name: string) {
  return <P extends { master: string }>({
    inventory,
    hosts,
    withFor,
    facts,
    offline,
  }: PlanInput<P>): TaskDraft<P & { suffixes: PlannedSuffix[] }>[] => {
    const params = withFor(hosts[0]!);
    const layout = restoreLayout(inventory, facts, offline, params.master);
    const suffixes = layout.suffixes.map((s) => ({ kind: s.kind, suffix: s.suffix, hosts: s.hosts }));
    const where = layout.suffixes.map((s) => `${s.kind} on ${s.hosts.join(', ')}`).join('; ');
    const apart = layout.offline.length ? ` (quarantined stay apart: ${layout.offline.join(', ')})` : '';
    return [
      { key: layout.master, host: layout.master, title: `${name} ${where}${apart}`, params: { ...params, suffixes } },
    ];
  };
}

function keptOffTargets(keptOff: Array<{ target: string }>): string {
  return [...new Set(keptOff.map((k) => k.target))].join(', ');
}

/** Hosts quarantined now, except those this run rejoins. */
async function quarantinedHosts(ctx: TaskContext, rejoining: string[]): Promise<Host[]> {
  if (!ctx.stateDir) return [];
  const records = await readQuarantine(ctx.stateDir, ctx.inventory.deployment);
  return ctx.inventory.hosts.filter((h) => h.name in records && !rejoining.includes(h.name));
}

const unfenceParams = paramSchema({
  master: { type: 'string', required: true, description: 'the restored master' },
  rejoining: quarantinedParam,
  timeout: { type: 'duration', default: 300, description: 'how long agreements may take to turn green' },
});

export const unfenceAction = defineAction({
  name: 'unfence',
  description:
    "once every host holds the master's generation: re-enable every agreement (mesh edges too) " +
    'and wait until all are green',
  destructive: true,
  needsFacts: true,
  params: unfenceParams,
  taskParams: { ...unfenceParams, suffixes: suffixesParam },
  plan: layoutTask('re-enable every agreement of'),
  async run(ctx, params) {
    const quarantined = await quarantinedHosts(ctx, params.rejoining);
    const changes: JsonValue[] = [];
    const parts: string[] = [];
    const waits: JsonValue[] = [];
    for (const s of params.suffixes) {
      const hosts = hostsNamed(ctx.inventory, s.hosts).filter((h) => !quarantined.includes(h));
      await requireGeneration(ctx.transport, ctx.host, hosts, s.suffix);
      const r = await unfenceSuffix(ctx.transport, {
        hosts,
        quarantined,
        suffix: s.suffix,
        timeoutMs: params.timeout * 1000,
        signal: ctx.signal,
        onProgress: (message) => ctx.progress({ message: `${s.kind}: ${message}` }),
      });
      changes.push(...r.toggles.map((t) => ({ host: t.host, agreement: t.dn, before: t.before, after: t.after })));
      waits.push({ kind: s.kind, greenMs: r.greenMs, rounds: r.rounds, restarts: r.restarts.slice(0, 20) });
      parts.push(
        `${s.kind}: ${r.toggles.length} agreement(s) on in ${r.rounds} round(s), green after ` +
          `${formatSeconds(r.greenMs)}` +
          (r.restarts.length ? ` (${r.restarts.length} session(s) restarted past a busy consumer)` : '') +
          (r.keptOff.length ? `, ${r.keptOff.length} kept off (to quarantined ${keptOffTargets(r.keptOff)})` : ''),
      );
    }
    return { status: 'changed', message: parts.join('; '), changes, data: { suffixes: waits } };
  },
});

const convergeParams = paramSchema({
  master: { type: 'string', required: true, description: 'the restored master' },
  backup: {
    type: 'string',
    default: '',
    description: 'the snapshot whose content every host must hold (default: the same content on every host)',
  },
  store: { type: 'string', default: '', description: 'store folder' },
  key: { type: 'string', default: '', description: 'OpenPGP private key file that decrypts the snapshot' },
  passphrase: { type: 'string', default: '', description: "the key's passphrase: file:PATH, env:NAME or prompt" },
  rejoining: quarantinedParam,
  canary_timeout: { type: 'duration', default: 120, description: 'how long the canary may take to reach every host' },
});

export const convergeAction = defineAction({
  name: 'converge',
  description:
    "prove convergence: one generation, the snapshot's content on every host, a canary on every host, " +
    'an audit without errors',
  destructive: false,
  needsFacts: true,
  params: convergeParams,
  taskParams: { ...convergeParams, suffixes: suffixesParam },
  plan: layoutTask('prove convergence of'),
  async run(ctx, params) {
    const quarantined = await quarantinedHosts(ctx, params.rejoining);
    // With a snapshot, every host must hold its content; the key that restored it decrypts it again.
    const source = params.backup
      ? await openRestoreSource(ctx.run, ctx.inventory.deployment, {
          backup: params.backup,
          store: params.store ?? '',
          key: params.key ?? '',
          passphrase: params.passphrase ?? '',
          type: '',
        })
      : undefined;
    const suffixes = params.suffixes.map((s) => {
      const inSnapshot = source?.snapshot.manifest.suffixes.find((m) => m.kind === s.kind);
      return {
        kind: s.kind,
        suffix: s.suffix,
        snapshot:
          source && inSnapshot
            ? {
                host: `snapshot ${source.snapshot.id}`,
                entries: snapshotEntries(source.snapshot, source.key, inSnapshot),
              }
            : undefined,
        hosts: hostsNamed(ctx.inventory, s.hosts).filter((h) => !quarantined.includes(h)),
      };
    });
    const all = [...new Set(suffixes.flatMap((s) => s.hosts))];
    const report = await proveConvergence(ctx.transport, ctx.run, {
      inventory: ctx.inventory,
      master: ctx.host,
      hosts: all,
      quarantined,
      suffixes,
      canaryTimeoutMs: params.canary_timeout * 1000,
      signal: ctx.signal,
      onProgress: (message) => ctx.progress({ message }),
    });
    const slowest = (r: Record<string, number>): number => Math.max(0, ...Object.values(r));
    return {
      status: 'ok',
      message:
        report.suffixes
          .map(
            (s) =>
              `${s.kind}: ${Object.keys(s.entries).length} host(s) on generation ${s.generation}, ` +
              `${Object.values(s.entries)[0]} entries each, ` +
              `the same content${params.backup ? ' as the snapshot' : ''}, ` +
              `canary everywhere in ${formatSeconds(slowest(s.canaryMs))}, ` +
              `deleted everywhere in ${formatSeconds(slowest(s.canaryDeleteMs))}`,
          )
          .join('; ') +
        (quarantined.length
          ? `; quarantined: ${quarantined.map((h) => h.name).join(', ')} (run ipa-fleet rejoin)`
          : '') +
        (report.findings.length ? `; audit: ${report.findings.length} warning/info finding(s)` : '; audit clean'),
      data: report as unknown as JsonValue,
    };
  },
});

export const releaseAction = defineAction({
  name: 'release',
  description: "end a host's quarantine (after it rejoined)",
  destructive: false,
  needsFacts: false,
  params: {},
  async run(ctx) {
    if (!ctx.stateDir) throw new FleetError('failure', 'release needs the state folder');
    const released = await releaseHost(ctx.stateDir, ctx.inventory.deployment, ctx.host.name);
    return {
      status: released ? 'changed' : 'ok',
      message: released ? `${ctx.host.name} is no longer quarantined` : `${ctx.host.name} was not quarantined`,
    };
  },
});
