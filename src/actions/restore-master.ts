// restore-preflight and restore-master: check everything before the first change, then restore the
// master from the snapshot (see src/restore/master.ts).
import { FleetError } from '../errors.js';
import type { JsonValue } from '../json.js';
import { verifyArchiveData, verifyArchiveHash } from '../backup/verify.js';
import { compatibilityProblems, ldifBytes, spaceNeeded, type SuffixKind } from '../restore/compatibility.js';
import { restoreLayout } from '../restore/layout.js';
import { restoreMaster } from '../restore/master.js';
import { openRestoreSource } from '../restore/source.js';
import { defineAction, paramSchema, planned, type ParamsOf } from '../playbook/action.js';
import { formatBytes, formatSeconds } from '../format.js';

export const SOURCE_PARAMS = paramSchema({
  backup: { type: 'string', required: true, description: 'snapshot id (ipa-fleet backups list)' },
  store: { type: 'string', default: '', description: "store folder (default: the state dir's store)" },
  key: { type: 'string', default: '', description: 'OpenPGP private key file that decrypts the snapshot' },
  passphrase: { type: 'string', default: '', description: "the key's passphrase: file:PATH, env:NAME or prompt" },
  type: { type: 'string', default: '', description: "data or full (default: the snapshot's type)" },
});

/** The snapshot, store and key as openRestoreSource reads them (absent: empty). */
function sourceOf(params: ParamsOf<typeof SOURCE_PARAMS>) {
  const { backup, store = '', key = '', passphrase = '', type = '' } = params;
  return { backup, store, key, passphrase, type };
}

const preflightParams = paramSchema({
  ...SOURCE_PARAMS,
  init: {
    type: 'string',
    default: 'ldif',
    description: 'ldif or online (ldif needs room for the LDIF on every replica)',
  },
  force_version: {
    type: 'boolean',
    default: false,
    description: 'restore across 389-DS / FreeIPA major.minor versions',
  },
});

export const restorePreflightAction = defineAction({
  name: 'restore-preflight',
  description:
    'check the snapshot (hash, decryption, manifest), its compatibility with the master and free space; ' +
    'changes nothing',
  destructive: false,
  needsFacts: true,
  params: preflightParams,
  taskParams: {
    ...preflightParams,
    suffixes: planned<Array<{ kind: SuffixKind; hosts: string[] }>>('the suffixes and the hosts that hold them'),
  },
  plan({ inventory, hosts, withFor, facts, offline }) {
    const master = hosts[0]!;
    const layout = restoreLayout(inventory, facts, offline, master.name);
    const params = withFor(master);
    if (params.init !== 'ldif' && params.init !== 'online')
      throw new FleetError('usage', `--init: ldif or online, not '${params.init}'`);
    return [
      {
        key: master.name,
        host: master.name,
        title:
          `check snapshot ${params.backup} for ${master.name}: ${layout.suffixes.map((s) => s.suffix).join(' + ')}` +
          (layout.offline.length ? `; offline: ${layout.offline.join(', ')}` : ''),
        params: { ...params, suffixes: layout.suffixes.map((s) => ({ kind: s.kind, hosts: s.hosts })) },
      },
    ];
  },
  async run(ctx, params) {
    const source = await openRestoreSource(ctx.run, ctx.inventory.deployment, sourceOf(params));
    const m = source.snapshot.manifest;
    const masterFacts = ctx.facts.get(ctx.host.name);
    if (!masterFacts) throw new FleetError('failure', `${ctx.host.name}: no facts for the master`);
    const layout = params.suffixes;
    const problems = compatibilityProblems({
      manifest: m,
      deployment: ctx.inventory.deployment,
      type: source.type,
      master: ctx.host,
      masterFacts,
      suffixes: layout.map((s) => s.kind),
      forceVersion: params.force_version,
    });
    for (const s of layout) {
      const need = spaceNeeded(ldifBytes(m, s.kind));
      const hosts = params.init === 'ldif' ? s.hosts : [ctx.host.name];
      for (const name of hosts) {
        const f = ctx.facts.get(name);
        const space = f?.freeSpace[f.suffixes[s.kind === 'domain' ? 'domain' : 'ca']?.instance ?? ''];
        if (space && space.ldif.availableBytes < need) {
          const free = formatBytes(space.ldif.availableBytes);
          problems.push(
            `${name}: ${space.ldif.measuredPath} has ${free} free, the ${s.kind} restore needs ${formatBytes(need)}`,
          );
        }
      }
    }
    // A snapshot that does not fit is bad input (exit 2); a damaged one is a failure (exit 1).
    if (problems.length > 0) {
      throw new FleetError('usage', `preflight refused the restore (nothing was changed): ${problems.join('; ')}`, {
        host: ctx.host.name,
      });
    }
    ctx.progress({ message: 'checking the archive hash' });
    const damaged: string[] = [];
    const hash = await verifyArchiveHash(source.snapshot.archive, m.archive);
    if (!hash.ok)
      damaged.push(`snapshot ${m.id}: the archive's size or SHA-256 differs from its manifest (damaged or replaced)`);
    else {
      ctx.progress({ message: 'decrypting and checking every file' });
      const data = await verifyArchiveData(source.snapshot.archive, m, source.key);
      damaged.push(...data.problems.map((p) => `snapshot ${m.id}: ${p}`));
    }
    if (damaged.length > 0) {
      throw new FleetError('failure', `preflight refused the restore (nothing was changed): ${damaged.join('; ')}`, {
        host: ctx.host.name,
      });
    }
    return {
      status: 'ok',
      message:
        `snapshot ${m.id} of ${m.hostName} (${m.type}, ${m.time}) verified: ` +
        `${m.files.length} file(s), ${formatBytes(m.archive.size)}; ` +
        `${source.type.toUpperCase()} restore onto ${ctx.host.name}`,
      data: { snapshot: m.id, type: source.type } as JsonValue,
    };
  },
});

export const restoreMasterAction = defineAction({
  name: 'restore-master',
  description: 'restore the master from the snapshot with a new replica generation (its agreements stay off)',
  destructive: true,
  needsFacts: true,
  params: SOURCE_PARAMS,
  taskParams: { ...SOURCE_PARAMS, suffixes: planned<SuffixKind[]>('the suffixes to restore') },
  plan({ inventory, hosts, withFor, facts, offline }) {
    const master = hosts[0]!;
    const layout = restoreLayout(inventory, facts, offline, master.name);
    const params = withFor(master);
    return [
      {
        key: master.name,
        host: master.name,
        title:
          `restore ${layout.suffixes.map((s) => s.backend).join(' + ')} on ${master.name} ` +
          `from ${params.backup} (new replica generation)`,
        params: { ...params, suffixes: layout.suffixes.map((s) => s.kind) },
      },
    ];
  },
  async run(ctx, params) {
    const source = await openRestoreSource(ctx.run, ctx.inventory.deployment, sourceOf(params));
    const suffixes = params.suffixes;
    const result = await restoreMaster(ctx.transport, ctx.host, ctx.run, {
      snapshot: source.snapshot,
      key: source.key,
      type: source.type,
      suffixes,
      signal: ctx.signal,
      onProgress: (message) => ctx.progress({ message }),
    });
    return {
      status: 'changed',
      message:
        result.suffixes
          .map((s) => `${s.backend}: ${s.entries} entries, generation ${s.generation} (${formatSeconds(s.importMs)})`)
          .join('; ') + (result.configFiles ? `; ${result.configFiles} configuration file(s)` : ''),
      changes: result.suffixes.map((s) => ({
        suffix: s.suffix,
        generation: s.generation,
        snapshotGeneration: s.snapshotGeneration ?? null,
      })) as JsonValue[],
      data: result as unknown as JsonValue,
    };
  },
});
