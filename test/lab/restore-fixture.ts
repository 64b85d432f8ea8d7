// Shared by the restore lab tests: what the directories of a lab actually hold, read over plain
// LDAP from the controller (the hosts' addresses are local), and how to damage them.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'ldapts';
import * as openpgp from 'openpgp';
import type { TestLab } from './fixture.js';

export const DOMAIN = 'dc=ipa,dc=test';
export const CA = 'o=ipaca';
const PEOPLE = `ou=people,${DOMAIN}`;
const RUV = '(&(nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff)(objectclass=nstombstone))';

export interface LabDirectory {
  hosts: string[];
  address(host: string): string;
  withLdap<T>(host: string, fn: (c: Client) => Promise<T>): Promise<T>;
}

export async function labDirectory(lab: TestLab, net: string, count: number): Promise<LabDirectory> {
  const password = (await readFile(lab.paths.dmPassword, 'utf8')).trim();
  const hosts = Array.from({ length: count }, (_, i) => `${String.fromCharCode(97 + i)}.ipa.test`);
  const address = (host: string): string => `${net}.${host.charCodeAt(0) - 96}`;
  return {
    hosts,
    address,
    async withLdap(host, fn) {
      const client = new Client({ url: `ldap://${address(host)}:389`, timeout: 30_000, connectTimeout: 10_000 });
      await client.bind('cn=Directory Manager', password);
      try {
        return await fn(client);
      } finally {
        await client.unbind();
      }
    },
  };
}

export async function uids(dir: LabDirectory, host: string): Promise<string[]> {
  return dir.withLdap(host, async (c) => {
    const { searchEntries } = await c.search(PEOPLE, {
      scope: 'one',
      filter: '(uid=*)',
      attributes: ['uid'],
      paged: true,
    });
    return searchEntries.map((e) => String(e.uid)).sort();
  });
}

export async function countUnder(dir: LabDirectory, host: string, base: string): Promise<number> {
  return dir.withLdap(
    host,
    async (c) =>
      (await c.search(base, { scope: 'sub', filter: '(objectClass=*)', attributes: ['1.1'], paged: true }))
        .searchEntries.length,
  );
}

export async function addUsers(dir: LabDirectory, host: string, names: string[]): Promise<void> {
  await dir.withLdap(host, async (c) => {
    for (const uid of names) await c.add(`uid=${uid},${PEOPLE}`, { objectClass: ['top', 'account'], uid });
  });
}

export async function deleteUsers(dir: LabDirectory, host: string, names: string[]): Promise<void> {
  await dir.withLdap(host, async (c) => {
    for (const uid of names) await c.del(`uid=${uid},${PEOPLE}`);
  });
}

export async function generation(dir: LabDirectory, host: string, suffix: string): Promise<string | undefined> {
  return dir.withLdap(host, async (c) => {
    const { searchEntries } = await c.search(suffix, { scope: 'sub', filter: RUV, attributes: ['nsds50ruv'] });
    const values = searchEntries.flatMap((e) => [e.nsds50ruv ?? []].flat().map(String));
    return /\{replicageneration\}\s*(\S+)/i.exec(values.find((v) => /replicageneration/i.test(v)) ?? '')?.[1];
  });
}

export interface AgreementState {
  host: string;
  name: string;
  suffix: string;
  enabled: string;
  status: string;
}

export async function agreements(dir: LabDirectory, host: string): Promise<AgreementState[]> {
  return dir.withLdap(host, async (c) => {
    const { searchEntries } = await c.search('cn=mapping tree,cn=config', {
      scope: 'sub',
      filter: '(objectClass=nsds5replicationagreement)',
      attributes: ['cn', 'nsDS5ReplicaRoot', 'nsds5ReplicaEnabled', 'nsds5replicaLastUpdateStatusJSON'],
    });
    return searchEntries.map((e) => ({
      host,
      name: String(e.cn),
      suffix: String(e.nsDS5ReplicaRoot),
      enabled: String(e.nsds5ReplicaEnabled ?? 'on').toLowerCase(),
      status: String(e.nsds5replicaLastUpdateStatusJSON ?? ''),
    }));
  });
}

/** Waits until every host lists exactly `want` users (replication settled). */
export async function waitForUsers(
  dir: LabDirectory,
  want: string[],
  timeoutMs = 60_000,
  hosts = dir.hosts,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(hosts.map((h) => uids(dir, h)));
    if (all.every((u) => u.length === want.length && u.every((x, i) => x === want[i]))) return;
    if (Date.now() > deadline)
      assert.fail(
        `users did not settle on every host: ${all.map((u, i) => `${hosts[i]} ${u.length}`).join(', ')} (want ${want.length})`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A converged deployment: the expected users everywhere, one generation per suffix, every agreement on. */
export async function assertConverged(dir: LabDirectory, want: string[], caHosts: string[]): Promise<void> {
  for (const h of dir.hosts) assert.deepEqual(await uids(dir, h), want, `${h}: users differ from the snapshot's`);
  for (const [suffix, hosts] of [
    [DOMAIN, dir.hosts],
    [CA, caHosts],
  ] as const) {
    const gens = await Promise.all(hosts.map((h) => generation(dir, h, suffix)));
    assert.ok(gens[0], `${suffix}: no generation on ${hosts[0]}`);
    assert.deepEqual(new Set(gens).size, 1, `${suffix}: generations differ: ${gens.join(', ')}`);
  }
  // Every agreement on; green once any transient "replica busy" (amber) has passed.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const all = (await Promise.all(dir.hosts.map((h) => agreements(dir, h)))).flat();
    for (const a of all) assert.equal(a.enabled, 'on', `${a.host} ${a.name} is not enabled`);
    const notGreen = all.filter((a) => !/"state": ?"green"/.test(a.status));
    if (notGreen.length === 0) return;
    if (Date.now() > deadline || notGreen.some((a) => /"state": ?"red"/.test(a.status))) {
      assert.fail(`agreements not green: ${notGreen.map((a) => `${a.host} ${a.name}: ${a.status}`).join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function makeKeys(dir: string): Promise<{ pub: string; sec: string; pass: string }> {
  const k = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'Restore test' }],
    passphrase: 'restore pass',
    format: 'armored',
  });
  const pub = join(dir, 'pub.asc');
  const sec = join(dir, 'sec.asc');
  const pass = join(dir, 'pass');
  await writeFile(pub, k.publicKey);
  await writeFile(sec, k.privateKey, { mode: 0o600 });
  await writeFile(pass, 'restore pass\n', { mode: 0o600 });
  return { pub, sec, pass };
}

/** Every live DN of a suffix on a host (lower-cased, sorted): what "the same entries" means. */
export async function dnsOf(dir: LabDirectory, host: string, base: string): Promise<string[]> {
  return dir.withLdap(host, async (c) =>
    (await c.search(base, { scope: 'sub', filter: '(objectClass=*)', attributes: ['1.1'], paged: true })).searchEntries
      .map((e) => e.dn.toLowerCase())
      .filter((dn) => !dn.startsWith('cn=repl keep alive'))
      .sort(),
  );
}
