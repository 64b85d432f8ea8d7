import { FleetError } from '../errors.js';
import { type DirEntry, type LdapSession, LdapTimeoutError, type Modification } from '../transport/ldap.js';
import { agreementFilter, escapeRdnValue, replicaDn } from './dn.js';
import { REPLICATION_MANAGER_DN } from './replica.js';

export interface Agreement {
  dn: string;
  name: string;
  suffix: string;
  /** Consumer host and port as written in the agreement. */
  targetHost: string;
  targetPort: number;
  enabled: boolean;
  schedule: string | undefined;
  updateInProgress: boolean;
  refreshPending: boolean;
  lastUpdateStatus: string | undefined;
  lastUpdateStatusJson: string | undefined;
  lastInitStatus: string | undefined;
  lastInitStatusJson: string | undefined;
  lastInitStart: string | undefined;
  lastInitEnd: string | undefined;
}

export const AGREEMENT_ATTRIBUTES = [
  'cn',
  'nsDS5ReplicaRoot',
  'nsDS5ReplicaHost',
  'nsDS5ReplicaPort',
  'nsds5ReplicaEnabled',
  'nsDS5ReplicaUpdateSchedule',
  'nsds5BeginReplicaRefresh',
  'nsds5replicaUpdateInProgress',
  'nsds5replicaLastUpdateStatus',
  'nsds5replicaLastUpdateStatusJSON',
  'nsds5replicaLastInitStatus',
  'nsds5replicaLastInitStatusJSON',
  'nsds5replicaLastInitStart',
  'nsds5replicaLastInitEnd',
];

export function parseAgreement(entry: DirEntry): Agreement {
  return {
    dn: entry.dn,
    name: entry.get('cn') ?? entry.dn,
    suffix: entry.get('nsDS5ReplicaRoot') ?? '',
    targetHost: entry.get('nsDS5ReplicaHost') ?? '',
    targetPort: Number(entry.get('nsDS5ReplicaPort') ?? 389),
    // An agreement without the attribute is enabled (server default).
    enabled: (entry.get('nsds5ReplicaEnabled') ?? 'on').toLowerCase() !== 'off',
    schedule: entry.get('nsDS5ReplicaUpdateSchedule'),
    updateInProgress: (entry.get('nsds5replicaUpdateInProgress') ?? '').toUpperCase() === 'TRUE',
    refreshPending: entry.has('nsds5BeginReplicaRefresh'),
    lastUpdateStatus: entry.get('nsds5replicaLastUpdateStatus'),
    lastUpdateStatusJson: entry.get('nsds5replicaLastUpdateStatusJSON'),
    lastInitStatus: entry.get('nsds5replicaLastInitStatus'),
    lastInitStatusJson: entry.get('nsds5replicaLastInitStatusJSON'),
    lastInitStart: entry.get('nsds5replicaLastInitStart'),
    lastInitEnd: entry.get('nsds5replicaLastInitEnd'),
  };
}

export async function listAgreements(ldap: LdapSession, suffix: string): Promise<Agreement[]> {
  const entries = await ldap.search('cn=mapping tree,cn=config', {
    filter: agreementFilter(suffix),
    attributes: AGREEMENT_ATTRIBUTES,
  });
  return entries.map(parseAgreement);
}

export interface NewAgreement {
  name: string;
  suffix: string;
  targetHost: string;
  targetPort: number;
  /** The replication manager's password on the consumer; stored in the agreement. */
  credentials: string;
  /** A fractional agreement: attribute lists (incremental, total) and the attributes stripped from empty updates. */
  fractional?: { incremental: string; total: string; strip: string };
}

/** Creates an agreement (what `dsconf repl-agmt create` does), over LDAP. Idempotent by name. */
export async function createAgreement(ldap: LdapSession, a: NewAgreement): Promise<string> {
  const dn = `cn=${escapeRdnValue(a.name)},${replicaDn(a.suffix)}`;
  if (await ldap.read(dn, ['cn'])) return dn;
  await ldap.add(dn, {
    objectClass: ['top', 'nsds5replicationagreement'],
    cn: a.name,
    nsDS5ReplicaRoot: a.suffix,
    nsDS5ReplicaHost: a.targetHost,
    nsDS5ReplicaPort: String(a.targetPort),
    nsDS5ReplicaBindDN: REPLICATION_MANAGER_DN,
    nsDS5ReplicaBindMethod: 'SIMPLE',
    nsDS5ReplicaTransportInfo: 'LDAP',
    nsDS5ReplicaCredentials: a.credentials,
    description: `${a.name} (ipa-fleet)`,
    ...(a.fractional
      ? {
          nsDS5ReplicatedAttributeList: a.fractional.incremental,
          nsDS5ReplicatedAttributeListTotal: a.fractional.total,
          nsds5ReplicaStripAttrs: a.fractional.strip,
        }
      : {}),
  });
  return dn;
}

export interface InitOptions {
  timeoutMs: number;
  pollMs?: number;
  signal?: AbortSignal;
  onProgress?: (status: string) => void;
}

/**
 * Total update ("re-initialize") of the agreement's consumer from this supplier, done the way
 * DIRECTORY-OPS.md describes: enable and start the refresh in two modifies (one combined modify
 * hung ~120 s on 2.3.1), then wait until the refresh attribute is gone, LastInitEnd moved and the
 * status says success. Failure states and "replica busy" are told apart; there is always a timeout.
 */
export async function initializeConsumer(
  session: () => Promise<LdapSession>,
  agreementDn: string,
  opts: InitOptions,
): Promise<Agreement> {
  const read = agreementReader(session, agreementDn);
  const supplier = (await session()).host.name;
  const started = Date.now();
  const pollMs = opts.pollMs ?? 500;
  let before = await read();
  let busyRetries = 0;
  const modifyConfirmed = (mods: Modification[], applied: (a: Agreement) => boolean): Promise<void> =>
    modifyAgreementConfirmed(session, agreementDn, mods, applied, { started, ...opts });
  // A disabled agreement refuses an init (LDAP 53); enabling an enabled one is a needless write.
  if (!before.enabled)
    await modifyConfirmed([{ op: 'replace', attr: 'nsds5ReplicaEnabled', values: ['on'] }], (a) => a.enabled);
  const initStarted = (a: Agreement): boolean =>
    a.refreshPending || a.lastInitStart !== before.lastInitStart || a.lastInitEnd !== before.lastInitEnd;
  await modifyConfirmed([{ op: 'add', attr: 'nsds5BeginReplicaRefresh', values: ['start'] }], initStarted);
  for (;;) {
    await new Promise((r) => setTimeout(r, pollMs));
    if (opts.signal?.aborted)
      throw new FleetError('failure', `${supplier}: initialization through ${before.name} interrupted`);
    // A supplier busy sending a large total update can leave a poll unanswered: the init goes on,
    // and only its own timeout ends the wait.
    const now = await read().catch((err: unknown) => {
      if (err instanceof LdapTimeoutError && Date.now() - started <= opts.timeoutMs) return undefined;
      throw err;
    });
    if (!now) continue;
    const outcome = initOutcome(before, now);
    opts.onProgress?.(now.lastInitStatus ?? '');
    if (outcome === 'done') return now;
    if (outcome === 'busy') {
      // The consumer is sending or receiving another init: back off and start again.
      if (++busyRetries > 20)
        throw new FleetError(
          'failure',
          `${supplier}: ${before.targetHost} stayed busy; initialization through ${before.name} gave up`,
        );
      await new Promise((r) => setTimeout(r, Math.min(1000 * busyRetries, 10_000)));
      before = now;
      if (!now.refreshPending)
        await (await session()).modify(agreementDn, [
          { op: 'add', attr: 'nsds5BeginReplicaRefresh', values: ['start'] },
        ]);
      continue;
    }
    const initOf = `${supplier}: initialization of ${before.targetHost} through ${before.name}`;
    if (outcome === 'failed') {
      throw new FleetError('failure', `${initOf} failed: ${now.lastInitStatus ?? 'no status'}`);
    }
    if (Date.now() - started > opts.timeoutMs) {
      const limit = Math.round(opts.timeoutMs / 1000);
      throw new FleetError(
        'failure',
        `${initOf} did not finish within ${limit} s (status: ${now.lastInitStatus ?? 'none'})`,
      );
    }
  }
}

/**
 * The agreement as the supplier shows it now. Each read asks for the session again: ldapts closes a
 * connection on a timeout, and the transport opens a new one for the next request.
 */
function agreementReader(session: () => Promise<LdapSession>, agreementDn: string): () => Promise<Agreement> {
  return async () => {
    const ldap = await session();
    const entry = await ldap.read(agreementDn, AGREEMENT_ATTRIBUTES);
    if (!entry) throw new FleetError('failure', `${ldap.host.name}: agreement ${agreementDn} not found`);
    return parseAgreement(entry);
  };
}

/**
 * Right after the supplier imported its data, 389-DS 2.3.1 sometimes answers a modify of the
 * agreement only after the LDAP timeout (seen with 20 000 entries) although it applies it: a
 * timed-out modify counts once a read shows it applied, within the init's own timeout.
 */
async function modifyAgreementConfirmed(
  session: () => Promise<LdapSession>,
  agreementDn: string,
  mods: Modification[],
  applied: (a: Agreement) => boolean,
  opts: InitOptions & { started: number },
): Promise<void> {
  try {
    await (await session()).modify(agreementDn, mods);
  } catch (err) {
    if (!(err instanceof LdapTimeoutError)) throw err;
    const read = agreementReader(session, agreementDn);
    for (;;) {
      if (applied(await read())) return;
      if (Date.now() - opts.started > opts.timeoutMs || opts.signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

export type InitOutcome = 'running' | 'done' | 'failed' | 'busy';

/** Pure decision on one poll of a total update (unit-tested with fixtures). */
export function initOutcome(before: Agreement, now: Agreement): InitOutcome {
  const text = (now.lastInitStatus ?? '').toLowerCase();
  const state = jsonState(now.lastInitStatusJson);
  const finished = !now.refreshPending && now.lastInitEnd !== undefined && now.lastInitEnd !== before.lastInitEnd;
  // A status left over from an earlier init says nothing about this one.
  const fresh =
    now.lastInitStart !== before.lastInitStart ||
    now.lastInitEnd !== before.lastInitEnd ||
    now.lastInitStatus !== before.lastInitStatus;
  if (!fresh || now.refreshPending) return 'running';
  if (/replica busy/.test(text)) return 'busy';
  if (state === 'red' || /aborted|ldap error|connection error|error acquiring/.test(text)) return 'failed';
  if (finished && (state === 'green' || /total update succeeded/.test(text))) return 'done';
  return 'running';
}

function jsonState(json: string | undefined): string | undefined {
  if (!json) return undefined;
  try {
    const parsed = JSON.parse(json) as { state?: unknown };
    return typeof parsed.state === 'string' ? parsed.state : undefined;
  } catch {
    return undefined;
  }
}
