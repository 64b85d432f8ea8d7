// The embedded demo: a lab, an encrypted fleet backup, damage that replicates everywhere, a
// whole-deployment restore from one host's snapshot, and a check of every host over LDAP.
// A library function: progress goes to the caller (the runs' EventStream and `onProgress`),
// the result is a report value; nothing is printed here.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as openpgp from 'openpgp';
import { defaultRegistry } from '../actions/index.js';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import type { Host, Inventory } from '../inventory/model.js';
import { RunJournal } from '../playbook/journal.js';
import { runPlaybook, type RunOutcome } from '../playbook/run.js';
import type { EventStream } from '../report/events.js';
import { generationOf } from '../restore/reinit.js';
import { phaseReport, type PhaseReport } from '../restore/report.js';
import { stateDir as userStateDir } from '../state-dir.js';
import type { LdapSession } from '../transport/ldap.js';
import { Transport } from '../transport/transport.js';
import { labDown, labUp } from './lab.js';
import { LabPaths } from './paths.js';
import { LAB_DEFAULTS, LAB_SUFFIX, labSpec } from './spec.js';

export const DEMO_NET = '127.0.60';
export const DEMO_USERS = 200;
const DELETED_USERS = 20;
const JUNK_ENTRIES = 10;
const MASTER = 'a.ipa.test';
const JUNK_HOST = 'c.ipa.test';
const PEOPLE = `ou=people,${LAB_SUFFIX}`;
const REPLICATION_TIMEOUT_MS = 5 * 60_000;

export function defaultDemoDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(userStateDir(env), 'demo');
}

/** What the demo keeps in its folder. */
export class DemoPaths {
  constructor(readonly root: string) {}
  get lab(): LabPaths {
    return new LabPaths(join(this.root, 'lab'));
  }
  get keys(): string {
    return join(this.root, 'keys');
  }
  get publicKey(): string {
    return join(this.keys, 'demo-pub.asc');
  }
  get privateKey(): string {
    return join(this.keys, 'demo-sec.asc');
  }
  get passphrase(): string {
    return join(this.keys, 'passphrase');
  }
  get store(): string {
    return join(this.root, 'store');
  }
}

export interface DemoOptions {
  ctx: RunContext;
  /** The backup and restore runs report through it (terminal, --json, log file). */
  events: EventStream;
  /** Runs, journals and the deployment lock (the user's state folder in the CLI). */
  stateDir: string;
  /** The demo folder: lab/, keys/, store/. */
  dir: string;
  net: string;
  /** Leave the lab (and keys and store) in place to explore. */
  keep: boolean;
  forks?: number;
  /** Stage lines (and the lab's own lines) for people. */
  onProgress?: (line: string) => void;
}

export type DemoStage = 'lab up' | 'keys' | 'backup' | 'damage' | 'restore' | 'check' | 'lab down';

export interface HostCheck {
  host: string;
  /** inetOrgPerson entries under ou=people; null when the host could not be read. */
  users: number | null;
  /** Of the deleted users, how many are there again. */
  deletedBack: number;
  /** Of the junk entries, how many are still there. */
  junkLeft: number;
  /** The domain suffix's replica generation. */
  generation: string | undefined;
  /** Users, deleted users, junk and generation all as they must be. */
  ok: boolean;
  error?: string;
}

export interface DemoReport {
  dir: string;
  labDir: string;
  inventory: string;
  net: string;
  hosts: string[];
  timings: Array<{ stage: DemoStage; seconds: number }>;
  snapshot?: { id: string; host: string };
  backupRun?: string;
  damage?: { deleted: string[]; junk: string[]; replicatedSeconds: number };
  restore?: { runId: string; state: RunOutcome['state']; phases: PhaseReport; hostOrder: string[] };
  checks: HostCheck[];
  /** The first stage that failed, with its error; the stages after it did not run (the check does). */
  failure?: { stage: DemoStage; error: FleetError };
  /** The lab was taken down (else it is kept in labDir). */
  tornDown: boolean;
  teardownError?: string;
  /** Every host converged and passed the check. */
  ok: boolean;
}

export async function runDemo(opts: DemoOptions): Promise<DemoReport> {
  const paths = new DemoPaths(resolve(opts.dir));
  const lab = paths.lab;
  const say = opts.onProgress ?? (() => undefined);
  const report: DemoReport = {
    dir: paths.root,
    labDir: lab.root,
    inventory: lab.inventory,
    net: opts.net,
    hosts: [],
    timings: [],
    checks: [],
    tornDown: false,
    ok: false,
  };
  const timed = async <T>(stage: DemoStage, work: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await work();
    } finally {
      report.timings.push({ stage, seconds: (Date.now() - started) / 1000 });
    }
  };

  const labOptions = { ...LAB_DEFAULTS, hosts: 3, topology: 'chain', ca: 'a,b', entries: DEMO_USERS, net: opts.net };
  labSpec(labOptions); // a bad --net is refused before anything is created
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  say(`demo: lab on ${opts.net}.1-3 in ${lab.root}`);
  // A lab that fails to come up removes itself; there is nothing else to report then.
  await timed('lab up', () => labUp(lab, labOptions, opts.ctx, say));
  const inventory = await loadInventory(resolve(lab.inventory));
  report.hosts = inventory.hosts.map((h) => h.name);
  const deleted = Array.from(
    { length: DELETED_USERS },
    (_, i) => `user${String(i * (DEMO_USERS / DELETED_USERS) + 1).padStart(6, '0')}`,
  );
  const junk = Array.from({ length: JUNK_ENTRIES }, (_, i) => `demo-junk-${String(i + 1).padStart(2, '0')}`);
  const run = {
    ctx: opts.ctx,
    events: opts.events,
    stateDir: opts.stateDir,
    forks: opts.forks ?? 10,
    inventory,
    registry: defaultRegistry(),
    limit: undefined,
  };

  // Each stage needs the one before; the first failure ends the sequence, the check still runs.
  let stage: DemoStage = 'keys';
  try {
    const passphrase = await timed('keys', async () => {
      say('demo: OpenPGP key pair for the backup (curve25519)');
      return writeDemoKeys(paths);
    });
    opts.ctx.redactor.add(passphrase);

    stage = 'backup';
    say(`demo: fleet backup of ${report.hosts.join(', ')} into ${paths.store}, encrypted to ${paths.publicKey}`);
    const backup = await timed('backup', () =>
      runPlaybook({
        ...run,
        playbook: 'backup-fleet',
        confirm: async () => true,
        sets: [`store=${paths.store}`, `encrypt_to=${paths.publicKey}`],
      }),
    );
    report.backupRun = backup.runId;
    if (backup.state !== 'succeeded') throw runFailure('backup', backup);
    report.snapshot = { id: await snapshotOf(opts.stateDir, backup.runId, MASTER), host: MASTER };

    stage = 'damage';
    const replicatedSeconds = await timed('damage', () => damage(inventory, opts.ctx, deleted, junk, say));
    report.damage = { deleted, junk, replicatedSeconds };

    stage = 'restore';
    say(`demo: restore ${MASTER} from its snapshot ${report.snapshot.id}, then every replica from it (init ldif)`);
    const restore = await timed('restore', () =>
      runPlaybook({
        ...run,
        playbook: 'restore-deployment',
        confirm: async () => true,
        sets: [
          `master=${MASTER}`,
          `backup=${report.snapshot!.id}`,
          `store=${paths.store}`,
          `key=${paths.privateKey}`,
          `passphrase=file:${paths.passphrase}`,
          'init=ldif',
        ],
      }),
    );
    const { plan, entries } = await RunJournal.open(opts.stateDir, restore.runId);
    report.restore = {
      runId: restore.runId,
      state: restore.state,
      phases: phaseReport(plan, entries),
      hostOrder: plan.tasks.map((t) => t.host),
    };
    if (restore.state !== 'succeeded') throw runFailure('restore', restore);
  } catch (err) {
    report.failure = { stage, error: asFleetError(err, opts.ctx) };
  }

  try {
    say('demo: checking every host over LDAP');
    report.checks = await timed('check', () => checkHosts(inventory, opts.ctx, deleted, junk));
  } catch (err) {
    report.failure ??= { stage: 'check', error: asFleetError(err, opts.ctx) };
  }
  report.ok =
    report.failure === undefined && report.checks.length === report.hosts.length && report.checks.every((c) => c.ok);

  if (!opts.keep) {
    // Without --keep the demo leaves nothing behind, also when it failed: the lab holds addresses.
    try {
      await timed('lab down', () => labDown(lab, say));
      await rm(paths.keys, { recursive: true, force: true });
      await rm(paths.store, { recursive: true, force: true });
      await rmdir(paths.root).catch(() => undefined); // only when nothing else is in it
      report.tornDown = true;
    } catch (err) {
      report.teardownError = (err as Error).message;
    }
  }
  return report;
}

/** A fresh key pair, the private key protected by a random passphrase; every file 0600. */
async function writeDemoKeys(paths: DemoPaths): Promise<string> {
  await mkdir(paths.keys, { recursive: true, mode: 0o700 });
  await chmod(paths.keys, 0o700);
  const passphrase = randomBytes(18).toString('base64url');
  // curve25519 in its widely supported (v4, "legacy") form, so `gpg --decrypt` reads the snapshots too.
  const key = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'ipa-fleet demo', email: 'demo@ipa.test' }],
    passphrase,
    format: 'armored',
  });
  for (const [file, text] of [
    [paths.passphrase, `${passphrase}\n`],
    [paths.privateKey, key.privateKey],
    [paths.publicKey, key.publicKey],
  ] as const) {
    await writeFile(file, text, { mode: 0o600 });
    await chmod(file, 0o600); // also when the file was there before
  }
  return passphrase;
}

/** The snapshot id the backup run recorded for `host` (its task's data in the journal). */
async function snapshotOf(stateDir: string, runId: string, host: string): Promise<string> {
  const { entries } = await RunJournal.open(stateDir, runId);
  for (const e of entries) {
    if (e.type !== 'task.finished' || e.host !== host) continue;
    const data = e.data as { id?: unknown } | undefined;
    if (typeof data?.id === 'string') return data.id;
  }
  throw new FleetError('failure', `backup run ${runId} recorded no snapshot of ${host}`);
}

/**
 * Deletes users on the master and adds junk on another host, then waits until every host shows
 * both: the restore must undo changes that had already replicated everywhere. Returns the seconds
 * replication took.
 */
async function damage(
  inventory: Inventory,
  ctx: RunContext,
  deleted: string[],
  junk: string[],
  say: (l: string) => void,
): Promise<number> {
  const transport = new Transport(inventory, ctx);
  try {
    const master = await transport.ldap(hostNamed(inventory, MASTER));
    say(
      `demo: damage: deleting ${deleted.length} users on ${MASTER}, adding ${junk.length} junk entries on ${JUNK_HOST}`,
    );
    for (const uid of deleted) await master.delete(`uid=${uid},${PEOPLE}`);
    const other = await transport.ldap(hostNamed(inventory, JUNK_HOST));
    for (const uid of junk) {
      await other.add(`uid=${uid},${PEOPLE}`, {
        objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
        uid,
        cn: `Junk ${uid}`,
        sn: 'Junk',
        description: 'junk added by the ipa-fleet demo',
      });
    }
    const started = Date.now();
    for (;;) {
      const states = await Promise.all(
        inventory.hosts.map(async (h) => ({
          host: h.name,
          ...(await damageState(await transport.ldap(h), deleted, junk)),
        })),
      );
      const pending = states.filter((s) => s.deletedLeft > 0 || s.junkPresent < junk.length);
      if (pending.length === 0) break;
      if (ctx.signal.aborted) throw new FleetError('failure', 'interrupted while waiting for the damage to replicate');
      if (Date.now() - started > REPLICATION_TIMEOUT_MS) {
        throw new FleetError(
          'failure',
          `the damage did not replicate within ${REPLICATION_TIMEOUT_MS / 1000} s: ${pending.map((s) => `${s.host} still has ${s.deletedLeft} deleted user(s) and ${s.junkPresent}/${junk.length} junk entries`).join('; ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const seconds = (Date.now() - started) / 1000;
    say(`demo: damage replicated to every host in ${seconds.toFixed(1)} s`);
    return seconds;
  } finally {
    await transport.close();
  }
}

async function damageState(
  ldap: LdapSession,
  deleted: string[],
  junk: string[],
): Promise<{ deletedLeft: number; junkPresent: number }> {
  const found = new Set(
    (await ldap.search(PEOPLE, { scope: 'one', filter: anyUid([...deleted, ...junk]), attributes: ['uid'] })).map((e) =>
      e.get('uid'),
    ),
  );
  return {
    deletedLeft: deleted.filter((u) => found.has(u)).length,
    junkPresent: junk.filter((u) => found.has(u)).length,
  };
}

/** Each host on its own: the users, the deleted users back, the junk gone, the master's generation. */
async function checkHosts(
  inventory: Inventory,
  ctx: RunContext,
  deleted: string[],
  junk: string[],
): Promise<HostCheck[]> {
  const transport = new Transport(inventory, ctx);
  try {
    const want = await generationOf(transport, hostNamed(inventory, MASTER), LAB_SUFFIX, 0).catch(() => undefined);
    return await Promise.all(
      inventory.hosts.map(async (h): Promise<HostCheck> => {
        try {
          const ldap = await transport.ldap(h);
          const users = (
            await ldap.search(PEOPLE, {
              scope: 'one',
              filter: '(objectClass=inetOrgPerson)',
              attributes: ['1.1'],
              paged: true,
            })
          ).length;
          const { deletedLeft, junkPresent } = await damageState(ldap, deleted, junk);
          const generation = await generationOf(transport, h, LAB_SUFFIX, 0);
          const ok =
            users === DEMO_USERS &&
            deletedLeft === deleted.length &&
            junkPresent === 0 &&
            generation !== undefined &&
            generation === want;
          return { host: h.name, users, deletedBack: deletedLeft, junkLeft: junkPresent, generation, ok };
        } catch (err) {
          return {
            host: h.name,
            users: null,
            deletedBack: 0,
            junkLeft: 0,
            generation: undefined,
            ok: false,
            error: (err as Error).message,
          };
        }
      }),
    );
  } finally {
    await transport.close();
  }
}

function anyUid(uids: string[]): string {
  return `(|${uids.map((u) => `(uid=${u})`).join('')})`;
}

function hostNamed(inventory: Inventory, name: string): Host {
  const host = inventory.hosts.find((h) => h.name === name);
  if (!host) throw new FleetError('failure', `the demo lab has no host ${name} (${inventory.file})`);
  return host;
}

/** The run's own error (its kind decides the exit code), or a plain failure naming the run. */
function runFailure(what: string, outcome: RunOutcome): FleetError {
  const first = outcome.failures[0];
  const text = `${what} run ${outcome.runId} ${outcome.state}`;
  if (!first) return new FleetError('failure', text);
  return new FleetError(first.kind === 'partial' ? 'failure' : first.kind, `${text}: ${first.message}`, {
    host: first.host,
    cause: first,
  });
}

/** A bug is not a user's problem: its stack goes to the log, the report keeps one line. */
function asFleetError(err: unknown, ctx: RunContext): FleetError {
  if (err instanceof FleetError) return err;
  ctx.log.error(ctx.redactor.mask((err as Error)?.stack ?? String(err)));
  return new FleetError(
    'failure',
    `${(err as Error)?.message ?? String(err)} (internal error; details in the log file)`,
    { cause: err },
  );
}
