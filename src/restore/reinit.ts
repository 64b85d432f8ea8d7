// Re-initializing a replica from a supplier that already holds the restored data, two ways:
//  - online: the supplier's agreement sends a total update (upstream's `re-initialize --from`);
//  - ldif: the supplier exports the suffix with replication data once, the file is streamed to the
//    consumer through the controller and imported there. Same entries, same generation, and the
//    supplier is not held busy for each consumer in turn.
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Host } from '../inventory/model.js';
import { initializeConsumer, listAgreements, type Agreement } from '../directory/agreements.js';
import { readRuv } from '../directory/ruv.js';
import { ldifDir } from '../directory/instance.js';
import { ensureInstanceRunning } from '../directory/service.js';
import { runTask } from '../directory/tasks.js';
import { copyBetweenHosts } from '../transport/files.js';
import { shellQuote } from '../transport/shell.js';
import type { Transport } from '../transport/transport.js';
import { formatBytes } from '../format.js';

export interface InitTimeouts {
  exportMs: number;
  importMs: number;
  initMs: number;
}

export const DEFAULT_INIT_TIMEOUTS: InitTimeouts = { exportMs: 3_600_000, importMs: 3_600_000, initMs: 3_600_000 };

/** Where the supplier's export for an ldif init lives (in its instance's ldif/ folder). */
export function initExportPath(host: Host, tag: string, backend: string): string {
  return `${ldifDir(host.ldap.instance)}/ipa-fleet-init-${tag}-${backend}.ldif`;
}

/** Export with replication data (db2ldif -r): the RUV goes along, so the consumer takes the supplier's generation. */
export async function exportForInit(
  transport: Transport,
  supplier: Host,
  backend: string,
  path: string,
  opts: { signal: AbortSignal; timeoutMs: number },
): Promise<number> {
  const ldap = await transport.ldap(supplier);
  const task = await runTask(
    ldap,
    'export',
    { nsInstance: backend, nsFilename: path, nsExportReplica: 'true', nsUseOneFile: 'true' },
    { timeoutMs: opts.timeoutMs, signal: opts.signal },
  );
  return task.durationMs;
}

export async function removeRemoteFile(transport: Transport, host: Host, path: string, ctx: RunContext): Promise<void> {
  await transport
    .ssh(host)
    .then((ssh) => ssh.exec(`rm -f ${shellQuote(path)}`))
    .catch((err: Error) => ctx.log.warn(`${host.name}: could not remove ${path}: ${err.message}`));
}

export interface LdifImportResult {
  bytes: number;
  copyMs: number;
  importMs: number;
  restarted: boolean;
}

/** Streams the supplier's export to the consumer and imports it; the consumer's copy is removed in a finally. */
export async function importFromSupplier(
  transport: Transport,
  ctx: RunContext,
  p: {
    supplier: Host;
    supplierPath: string;
    consumer: Host;
    backend: string;
    signal: AbortSignal;
    timeoutMs: number;
    onProgress?: (m: string) => void;
  },
): Promise<LdifImportResult> {
  // A server that died in an earlier attempt (mid-import, say) is started: its data is replaced anyway.
  const restarted = await ensureInstanceRunning(transport, p.consumer, ctx);
  const fromSsh = await transport.ssh(p.supplier);
  const toSsh = await transport.ssh(p.consumer);
  const exists = await fromSsh.exec(`test -s ${shellQuote(p.supplierPath)}`);
  if (!exists.ok) {
    throw new FleetError(
      'failure',
      `${p.supplier.name}: the export ${p.supplierPath} ` +
        'is missing; run the export task again (ipa-fleet restore --resume replays it only when it did not finish)',
      { host: p.supplier.name },
    );
  }
  const folder = ldifDir(p.consumer.ldap.instance);
  const target = `${folder}/ipa-fleet-init-${p.supplier.name}-${p.backend}.ldif`;
  try {
    const copyStarted = Date.now();
    const bytes = await copyBetweenHosts(fromSsh, p.supplierPath, toSsh, target, {
      ownerLike: folder,
      display: `write ${target}`,
      onProgress: (n) => p.onProgress?.(`copy ${formatBytes(n)}`),
    });
    const copyMs = Date.now() - copyStarted;
    const ldap = await transport.ldap(p.consumer);
    const task = await runTask(
      ldap,
      'import',
      { nsInstance: p.backend, nsFilename: target },
      {
        timeoutMs: p.timeoutMs,
        signal: p.signal,
        onProgress: (done) => p.onProgress?.(`import${done !== undefined ? ` ${done} entries` : ''}`),
      },
    );
    return { bytes, copyMs, importMs: task.durationMs, restarted };
  } finally {
    await removeRemoteFile(transport, p.consumer, target, ctx);
  }
}

/** The supplier's agreement of `suffix` that points at `consumer` (by name first, then by target). */
async function agreementTo(
  transport: Transport,
  supplier: Host,
  consumer: Host,
  suffix: string,
  name: string | undefined,
): Promise<Agreement> {
  const ldap = await transport.ldap(supplier);
  const agreements = await listAgreements(ldap, suffix);
  const byName = name ? agreements.find((a) => a.name === name) : undefined;
  const consumerFqdn = await transport
    .ssh(consumer)
    .then((s) => s.run('hostname -f 2>/dev/null || hostname'))
    .then((t) => t.trim().toLowerCase())
    .catch(() => undefined);
  const found =
    byName ??
    agreements.find((a) => {
      const t = a.targetHost.toLowerCase().replace(/\.$/, '');
      return t === consumer.name.toLowerCase() || t === consumer.address.toLowerCase() || t === consumerFqdn;
    });
  if (!found)
    throw new FleetError('failure', `${supplier.name}: no agreement of ${suffix} to ${consumer.name}`, {
      host: supplier.name,
    });
  return found;
}

/** Online total update of `consumer` through the supplier's agreement. */
export async function onlineInit(
  transport: Transport,
  p: {
    supplier: Host;
    consumer: Host;
    suffix: string;
    agreement: string | undefined;
    signal: AbortSignal;
    timeoutMs: number;
    onProgress?: (m: string) => void;
  },
): Promise<{ initMs: number }> {
  const agreement = await agreementTo(transport, p.supplier, p.consumer, p.suffix, p.agreement);
  const started = Date.now();
  await initializeConsumer(() => transport.ldap(p.supplier), agreement.dn, {
    timeoutMs: p.timeoutMs,
    signal: p.signal,
    onProgress: (status) => p.onProgress?.(`${Math.round((Date.now() - started) / 1000)} s ${status}`.trim()),
  });
  return { initMs: Date.now() - started };
}

/**
 * The `{replicageneration}` of a suffix on a host, waiting up to `waitMs` for a just-imported RUV:
 * until there is one, and (with `unlike`) until it differs from that one. The server reloads the
 * RUV just after an import ends, so the old value can still show for a few seconds.
 */
export async function generationOf(
  transport: Transport,
  host: Host,
  suffix: string,
  waitMs = 10_000,
  unlike?: string,
): Promise<string | undefined> {
  const until = Date.now() + waitMs;
  for (;;) {
    const ldap = await transport.ldap(host);
    const generation = (await readRuv(ldap, suffix))?.ruv.generation;
    if ((generation && generation !== unlike) || Date.now() >= until) return generation;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Fails unless `consumer` now holds the generation of `supplier`. */
export async function expectSameGeneration(
  transport: Transport,
  supplier: Host,
  consumer: Host,
  suffix: string,
): Promise<string> {
  const want = await generationOf(transport, supplier, suffix);
  if (!want)
    throw new FleetError('failure', `${supplier.name}: ${suffix} has no replica generation`, { host: supplier.name });
  // Just after an import the server reloads its RUV: the old generation can show for a moment.
  let got = await generationOf(transport, consumer, suffix);
  for (let i = 0; got !== want && i < 60; i++) {
    await new Promise((r) => setTimeout(r, 250));
    got = await generationOf(transport, consumer, suffix, 0);
  }
  if (got !== want) {
    throw new FleetError(
      'failure',
      `${consumer.name}: ${suffix} has generation ${got ?? 'none'} after its re-initialization, ` +
        `${supplier.name} has ${want}`,
      { host: consumer.name },
    );
  }
  return want;
}
