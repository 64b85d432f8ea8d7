// The demo's lab side: its folder, its OpenPGP keys, the damage it does to the lab's directories
// and the check that every host came back. The demo operation (src/operations/demo.ts) runs these
// around a fleet backup and a whole-deployment restore.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import type { RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import type { Host, Inventory } from '../inventory/model.js';
import { generationOf } from '../restore/reinit.js';
import { stateDir as userStateDir } from '../state-dir.js';
import type { LdapSession } from '../transport/ldap.js';
import { Transport } from '../transport/transport.js';
import { LabPaths } from './paths.js';
import { LAB_DEFAULTS, LAB_SUFFIX, type LabOptions } from './spec.js';
import { formatSeconds } from '../format.js';

export const DEMO_NET = '127.0.60';
export const DEMO_USERS = 200;
/** The host whose snapshot the demo restores; the damage deletes users on it. */
export const DEMO_MASTER = 'a.ipa.test';
const DELETED_USERS = 20;
const JUNK_ENTRIES = 10;
const JUNK_HOST = 'c.ipa.test';
const PEOPLE = `ou=people,${LAB_SUFFIX}`;
const REPLICATION_TIMEOUT_MS = 5 * 60_000;

/** The demo's lab: a↔b↔c, CA on a and b, DEMO_USERS users. */
export function demoLabOptions(net: string): LabOptions {
  return { ...LAB_DEFAULTS, hosts: 3, topology: 'chain', ca: 'a,b', entries: DEMO_USERS, net };
}

/** What the demo does to the directories: users deleted on the master, junk added on another host. */
export interface DemoDamage {
  deleted: string[];
  junk: string[];
}

export function demoDamage(): DemoDamage {
  return {
    deleted: Array.from(
      { length: DELETED_USERS },
      (_, i) => `user${String(i * (DEMO_USERS / DELETED_USERS) + 1).padStart(6, '0')}`,
    ),
    junk: Array.from({ length: JUNK_ENTRIES }, (_, i) => `demo-junk-${String(i + 1).padStart(2, '0')}`),
  };
}

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

/** A fresh key pair, the private key protected by a random passphrase; every file 0600. */
export async function writeDemoKeys(paths: DemoPaths): Promise<string> {
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

/**
 * Deletes users on the master and adds junk on another host, then waits until every host shows
 * both: the restore must undo changes that had already replicated everywhere. Returns the seconds
 * replication took.
 */
export async function damageDemoLab(
  inventory: Inventory,
  ctx: RunContext,
  { deleted, junk }: DemoDamage,
  say: (l: string) => void,
): Promise<number> {
  const transport = new Transport(inventory, ctx);
  try {
    const master = await transport.ldap(hostNamed(inventory, DEMO_MASTER));
    say(
      `demo: damage: deleting ${deleted.length} users on ${DEMO_MASTER}, ` +
        `adding ${junk.length} junk entries on ${JUNK_HOST}`,
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
          `the damage did not replicate within ${REPLICATION_TIMEOUT_MS / 1000} s: ${pending
            .map(
              (s) =>
                `${s.host} still has ${s.deletedLeft} deleted user(s) and ${s.junkPresent}/${junk.length} junk entries`,
            )
            .join('; ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const ms = Date.now() - started;
    say(`demo: damage replicated to every host in ${formatSeconds(ms)}`);
    return ms / 1000;
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
export async function checkDemoHosts(
  inventory: Inventory,
  ctx: RunContext,
  { deleted, junk }: DemoDamage,
): Promise<HostCheck[]> {
  const transport = new Transport(inventory, ctx);
  try {
    const want = await generationOf(transport, hostNamed(inventory, DEMO_MASTER), LAB_SUFFIX, 0).catch(() => undefined);
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
