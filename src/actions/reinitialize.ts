// reinitialize: bring every replica to the master's data, per suffix.
//   init: online — breadth-first over that suffix's agreements: level 1 from the master, level 2
//         from level 1, …; consumers of one supplier in parallel; a host sends only after it received.
//   init: ldif   — the master exports the suffix with replication data once; every replica gets the
//         file streamed and imports it, all in parallel.
// `targets` limits the hops to some consumers (rejoin).
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import type { JsonValue } from '../json.js';
import { hostsNamed, restoreLayout, type SuffixLayout } from '../restore/layout.js';
import {
  DEFAULT_INIT_TIMEOUTS,
  expectSameGeneration,
  exportForInit,
  importFromSupplier,
  initExportPath,
  onlineInit,
  removeRemoteFile,
} from '../restore/reinit.js';
import { describeTree } from '../topology/trees.js';
import { defineAction, paramSchema, type ParamsOf, type TaskDraft, type TaskOutcome } from '../playbook/action.js';
import { formatBytes, formatSeconds } from '../format.js';

// One hop of the plan: an online total update, or an LDIF export, import or clean-up.
const hopParams = paramSchema({
  op: { type: 'string', required: true, description: 'online, export, import or cleanup' },
  suffix: { type: 'string', required: true, description: 'the suffix' },
  kind: { type: 'string', description: 'domain or ca' },
  consumer: { type: 'string', description: 'the host that receives the total update (online)' },
  agreement: { type: 'string', description: 'the agreement the total update goes through (online)' },
  level: { type: 'number', description: 'breadth-first level of the hop (online)' },
  tree: { type: 'list', description: 'the init tree, for people (online)' },
  backend: { type: 'string', description: 'the backend exported or imported (ldif)' },
  supplier: { type: 'string', description: 'the host the LDIF is streamed from (import)' },
  file: { type: 'string', description: 'the export file on its host (ldif)' },
  timeout: { type: 'duration', description: 'per export, import or total update' },
});
type Hop = TaskDraft<ParamsOf<typeof hopParams>>;

export const reinitializeAction = defineAction({
  name: 'reinitialize',
  description:
    'total update of every replica from the master: breadth-first online init, or one LDIF export imported everywhere',
  destructive: true,
  needsFacts: true,
  params: {
    master: { type: 'string', required: true, description: 'the host that holds the data to spread' },
    init: {
      type: 'string',
      default: 'ldif',
      description: 'ldif (export once, import everywhere) or online (agreement total updates)',
    },
    tag: { type: 'string', default: 'init', description: 'names the export files (the snapshot id)' },
    targets: { type: 'list', default: [], description: 'only these consumers (rejoin); default every replica' },
    timeout: { type: 'duration', default: 3600, description: 'per export, import or total update' },
  },
  taskParams: hopParams,
  plan({ inventory, hosts, withFor, facts, offline }) {
    const params = withFor(hosts[0]!);
    const layout = restoreLayout(inventory, facts, offline, params.master);
    const targets = params.targets;
    const mode = params.init;
    if (mode !== 'ldif' && mode !== 'online') throw new FleetError('usage', `init: ldif or online, not '${mode}'`);
    const timeout = params.timeout;
    const drafts: Hop[] = [];
    for (const s of layout.suffixes) {
      const hops = s.tree.hops.filter((h) => targets.length === 0 || targets.includes(h.consumer));
      if (hops.length === 0) continue;
      if (mode === 'online') drafts.push(...onlineDrafts(s, hops, timeout, drafts));
      else
        drafts.push(
          ...ldifDrafts(s, hops, params.tag, timeout, drafts, inventory.hosts, layout.master, targets.length > 0),
        );
    }
    return drafts;
  },
  async run(ctx, params): Promise<TaskOutcome> {
    const host = (name: string | undefined): typeof ctx.host => hostsNamed(ctx.inventory, [name ?? ''])[0]!;
    const timeoutMs = (params.timeout ?? DEFAULT_INIT_TIMEOUTS.initMs / 1000) * 1000;
    const suffix = params.suffix;
    switch (params.op) {
      case 'online': {
        const supplier = ctx.host;
        const consumer = host(params.consumer);
        const r = await onlineInit(ctx.transport, {
          supplier,
          consumer,
          suffix,
          agreement: params.agreement,
          signal: ctx.signal,
          timeoutMs,
          onProgress: (message) => ctx.progress({ message }),
        });
        const generation = await expectSameGeneration(ctx.transport, supplier, consumer, suffix);
        return {
          status: 'changed',
          message:
            `${consumer.name} initialized from ${supplier.name} in ${formatSeconds(r.initMs)}, ` +
            `generation ${generation}`,
          data: { ...r, generation } as JsonValue,
        };
      }
      case 'export': {
        const ms = await exportForInit(ctx.transport, ctx.host, params.backend ?? '', params.file ?? '', {
          signal: ctx.signal,
          timeoutMs,
        });
        return {
          status: 'changed',
          message: `exported ${params.backend} with replication data in ${formatSeconds(ms)}`,
          changes: [{ file: params.file ?? '' }],
          data: { exportMs: ms },
        };
      }
      case 'import': {
        const supplier = host(params.supplier);
        const r = await importFromSupplier(ctx.transport, ctx.run, {
          supplier,
          supplierPath: params.file ?? '',
          consumer: ctx.host,
          backend: params.backend ?? '',
          signal: ctx.signal,
          timeoutMs,
          onProgress: (message) => ctx.progress({ message }),
        });
        const generation = await expectSameGeneration(ctx.transport, supplier, ctx.host, suffix);
        return {
          status: 'changed',
          message:
            `${formatBytes(r.bytes)} from ${supplier.name} in ${formatSeconds(r.copyMs)}, ` +
            `imported in ${formatSeconds(r.importMs)}` +
            `${r.restarted ? ' (the instance was down and was started)' : ''}, generation ${generation}`,
          data: { ...r, generation } as JsonValue,
        };
      }
      case 'cleanup':
        await removeRemoteFile(ctx.transport, ctx.host, params.file ?? '', ctx.run);
        return { status: 'changed', message: `removed ${params.file}` };
      default:
        throw new FleetError('usage', `reinitialize: unknown operation '${params.op}' in the plan`);
    }
  },
});

function onlineDrafts(s: SuffixLayout, hops: SuffixLayout['tree']['hops'], timeout: number, earlier: Hop[]): Hop[] {
  const keys = new Set(hops.map((h) => `${s.kind}:${h.consumer}`));
  return hops.map((h) => ({
    key: `${s.kind}:${h.consumer}`,
    host: h.supplier,
    title: `${s.kind} L${h.level}: ${h.supplier} → ${h.consumer} (total update through ${h.agreement})`,
    params: {
      op: 'online',
      suffix: s.suffix,
      kind: s.kind,
      consumer: h.consumer,
      agreement: h.agreement,
      level: h.level,
      timeout,
      tree: describeTree(s.tree),
    },
    // The supplier sends only once it holds the data itself; the CA tree waits for the domain
    // hop of the same consumer (one total update per host at a time).
    after: [`${s.kind}:${h.supplier}`, ...sameHost(earlier, h.consumer)].filter(
      (k) => keys.has(k) || earlier.some((d) => d.key === k),
    ),
  }));
}

function ldifDrafts(
  s: SuffixLayout,
  hops: SuffixLayout['tree']['hops'],
  tag: string,
  timeout: number,
  earlier: Hop[],
  hosts: Host[],
  master: string,
  rejoin: boolean,
): Hop[] {
  // A rejoin takes the data from the consumer's BFS parent, a restore from the master.
  const suppliers = rejoin ? [...new Set(hops.map((h) => h.supplier))] : [master];
  const out: Hop[] = [];
  for (const supplierName of suppliers) {
    const file = initExportPath(hosts.find((h) => h.name === supplierName)!, tag, s.backend);
    const exportKey = `${s.kind}:export@${supplierName}`;
    const mine = hops.filter((h) => !rejoin || h.supplier === supplierName);
    out.push({
      key: exportKey,
      host: supplierName,
      title: `${s.kind}: export ${s.backend} with replication data on ${supplierName}`,
      params: { op: 'export', suffix: s.suffix, backend: s.backend, file, timeout },
    });
    for (const h of mine) {
      out.push({
        key: `${s.kind}:${h.consumer}`,
        host: h.consumer,
        title:
          `${s.kind}: stream the LDIF ${supplierName} → ${h.consumer} ` +
          'and import it (in parallel with the other replicas)',
        params: { op: 'import', suffix: s.suffix, backend: s.backend, supplier: supplierName, file, timeout },
        after: [exportKey, ...sameHost(earlier, h.consumer)],
      });
    }
    out.push({
      key: `${s.kind}:cleanup@${supplierName}`,
      host: supplierName,
      title: `${s.kind}: remove the export on ${supplierName}`,
      params: { op: 'cleanup', suffix: s.suffix, file },
      after: mine.map((h) => `${s.kind}:${h.consumer}`),
    });
  }
  return out;
}

/** The earlier suffix's task for the same consumer, if any (one import / total update per host at a time). */
function sameHost(earlier: Hop[], consumer: string): string[] {
  return earlier.filter((d) => d.key === `domain:${consumer}`).map((d) => d.key);
}
