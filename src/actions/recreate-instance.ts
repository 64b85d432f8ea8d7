// recreate-preflight and recreate-instance: a rebuilt host's 389-DS instance back from its FULL
// snapshot (see src/restore/rebuild.ts), before the restore brings the data. Facts are not asked
// for: a host without its instance has none to give.
import { FleetError } from '../errors.js';
import type { JsonValue } from '../json.js';
import { verifyArchiveHash } from '../backup/verify.js';
import { dseLdifPath, instanceLayout } from '../directory/instance.js';
import { ldifBytes } from '../restore/compatibility.js';
import {
  configFilesOf,
  probeRebuild,
  rebuildProblems,
  readSnapshotFile,
  recreateInstance,
} from '../restore/rebuild.js';
import { openRestoreSource } from '../restore/source.js';
import { defineAction, paramSchema, type ParamsOf, type TaskDraft } from '../playbook/action.js';
import { formatBytes } from '../format.js';

const recreateParams = paramSchema({
  snapshots: {
    type: 'list',
    required: true,
    description: 'HOST=SNAPSHOT_ID: the FULL snapshot each host is recreated from',
  },
  master: { type: 'string', default: '', description: "the restore's master (its snapshot's data must fit too)" },
  store: { type: 'string', default: '', description: "store folder (default: the state dir's store)" },
  key: { type: 'string', default: '', description: 'OpenPGP private key file that decrypts the snapshots' },
  passphrase: { type: 'string', default: '', description: "the key's passphrase: file:PATH, env:NAME or prompt" },
  force_version: { type: 'boolean', default: false, description: 'recreate under another 389-DS major.minor' },
});

const taskParams = paramSchema({
  backup: { type: 'string', required: true, description: 'the FULL snapshot of this host' },
  master: { type: 'string', default: '', description: "the restore's master" },
  store: { type: 'string', default: '', description: 'store folder' },
  key: { type: 'string', default: '', description: 'private key file' },
  passphrase: { type: 'string', default: '', description: 'passphrase source' },
  force_version: { type: 'boolean', default: false, description: 'recreate under another 389-DS major.minor' },
});

type RecreateTask = TaskDraft<ParamsOf<typeof taskParams>>;

/** One task per host the operation found without its instance, each with its own snapshot. */
function planRecreate(
  hosts: Array<{ name: string }>,
  params: ParamsOf<typeof recreateParams>,
  title: (host: string, id: string) => string,
): RecreateTask[] {
  const byHost = new Map(
    params.snapshots.map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1)] as const;
    }),
  );
  return hosts.map((h) => {
    const backup = byHost.get(h.name);
    if (!backup) throw new FleetError('usage', `snapshots: no snapshot named for ${h.name}`);
    return {
      key: h.name,
      host: h.name,
      title: title(h.name, backup),
      params: {
        backup,
        master: params.master ?? '',
        store: params.store ?? '',
        key: params.key ?? '',
        passphrase: params.passphrase ?? '',
        force_version: params.force_version,
      },
    };
  });
}

function sourceParams(params: ParamsOf<typeof taskParams>) {
  return {
    backup: params.backup,
    store: params.store ?? '',
    key: params.key ?? '',
    passphrase: params.passphrase ?? '',
  };
}

export const recreatePreflightAction = defineAction({
  name: 'recreate-preflight',
  description:
    "check what recreating a missing instance needs: the host's FULL snapshot (its FQDN, instance, hash), " +
    '389-DS installed, its user, free space; changes nothing',
  destructive: false,
  needsFacts: false,
  params: recreateParams,
  taskParams,
  plan({ hosts, withFor }) {
    return planRecreate(
      hosts,
      withFor(hosts[0]!),
      (host, id) => `check FULL snapshot ${id} and ${host} for recreating its instance`,
    );
  },
  async run(ctx, params) {
    const source = await openRestoreSource(ctx.run, ctx.inventory.deployment, sourceParams(params));
    const m = source.snapshot.manifest;
    const instance = ctx.host.ldap.instance;
    ctx.progress({ message: 'checking the archive hash' });
    const hash = await verifyArchiveHash(source.snapshot.archive, m.archive);
    if (!hash.ok)
      throw new FleetError(
        'failure',
        `recreate preflight refused (nothing was changed): snapshot ${m.id}: the archive's size or SHA-256 ` +
          'differs from its manifest (damaged or replaced)',
        { host: ctx.host.name },
      );
    const archivedDse = dseLdifPath(instance).replace(/^\/+/, '');
    const dse =
      m.type === 'FULL' ? await readSnapshotFile(source.snapshot, source.key, archivedDse, ctx.signal) : undefined;
    const layout = dse === undefined ? undefined : instanceLayout(instance, dse);
    const probe = await probeRebuild(await ctx.transport.ssh(ctx.host), instance, layout?.user ?? 'dirsrv');
    const config = configFilesOf(m, instance).reduce((n, f) => n + f.size, 0);
    const data = params.master === ctx.host.name ? 2 * (ldifBytes(m, 'domain') + ldifBytes(m, 'ca')) : 0;
    const problems = probe.instancePresent
      ? [`${ctx.host.name}: instance ${instance} exists now (${dseLdifPath(instance)}); run the restore again`]
      : rebuildProblems({
          host: ctx.host,
          deployment: ctx.inventory.deployment,
          manifest: m,
          layout,
          probe,
          spaceNeeded: 2 * config + data,
          forceVersion: params.force_version,
        });
    if (problems.length > 0)
      throw new FleetError('usage', `recreate preflight refused (nothing was changed): ${problems.join('; ')}`, {
        host: ctx.host.name,
      });
    return {
      status: 'ok',
      message:
        `snapshot ${m.id} of ${m.fqdn} (FULL, ${m.time}): ${configFilesOf(m, instance).length} configuration ` +
        `file(s), ${formatBytes(config)}; ${ctx.host.name} has ${probe.dsVersion ?? probe.nsSlapd}, ` +
        `user ${layout?.user}, ` +
        `${formatBytes(probe.freeBytes ?? 0)} free`,
    };
  },
});

export const recreateInstanceAction = defineAction({
  name: 'recreate-instance',
  description:
    "recreate a missing 389-DS instance from the host's FULL snapshot: folders, dse.ldif (agreements off), " +
    'schema, certificate database; started with empty backends (the restore brings the data)',
  destructive: true,
  needsFacts: false,
  params: recreateParams,
  taskParams,
  plan({ hosts, withFor }) {
    return planRecreate(
      hosts,
      withFor(hosts[0]!),
      (host, id) => `recreate instance on ${host} from FULL snapshot ${id} (configuration, schema, certificates)`,
    );
  },
  async run(ctx, params) {
    const source = await openRestoreSource(ctx.run, ctx.inventory.deployment, sourceParams(params));
    const result = await recreateInstance(ctx.transport, ctx.host, ctx.run, {
      snapshot: source.snapshot,
      key: source.key,
      signal: ctx.signal,
      onProgress: (message) => ctx.progress({ message }),
    });
    return {
      status: 'changed',
      message:
        `instance ${ctx.host.ldap.instance} recreated from ${source.snapshot.id}: ` +
        `${result.folders.length} folder(s), ` +
        `${result.files} configuration file(s), ${result.agreementsOff} agreement(s) off until the unfence`,
      changes: result.folders as JsonValue[],
      data: result as unknown as JsonValue,
    };
  },
});
