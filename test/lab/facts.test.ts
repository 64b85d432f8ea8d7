// Host facts against the real lab: 3 hosts, domain chain a-b-c, CA on a and b.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { compareCsn } from '../../src/directory/csn.js';
import { readRuv, ruvElement } from '../../src/directory/ruv.js';
import { FleetError } from '../../src/errors.js';
import { loadInventory, type Host, type Inventory } from '../../src/inventory/index.js';
import { gatherAllFacts, gatherFacts, type HostFacts, type HostFactsResult } from '../../src/topology/facts.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, testContext, waitFor, type TestLab } from './fixture.js';

const DOMAIN = 'dc=ipa,dc=test';
const CA = 'o=ipaca';

/** Agreement targets per host, as `lab up` builds the default topology. */
const TOPOLOGY: Record<string, { domain: string[]; ca: string[] | undefined }> = {
  'a.ipa.test': { domain: ['b.ipa.test'], ca: ['b.ipa.test'] },
  'b.ipa.test': { domain: ['a.ipa.test', 'c.ipa.test'], ca: ['a.ipa.test'] },
  'c.ipa.test': { domain: ['b.ipa.test'], ca: undefined },
};

/** Agreement attributes the server computes on every read (status, counters): not configuration. */
const RUNTIME_ATTRIBUTE = /^nsds5replica(last|changessent|changesskipped|updateinprogress|reapactive)/i;

describe('host facts (3 hosts, chain a-b-c, CA a-b)', () => {
  let lab: TestLab;
  let inventory: Inventory;
  let transport: Transport;
  let facts: Map<string, HostFacts>;
  let snapshotBefore: string;
  let snapshotAfter: string;
  let callbacks: string[];

  before(async () => {
    lab = await bringUpLab();
    inventory = await loadInventory(lab.paths.inventory);
    transport = new Transport(inventory, testContext(join(lab.tmp, 'library.log')));

    // A change made on a, replicated over two hops to c, so every RUV has a CSN of rid 1.
    const [a, , c] = inventory.hosts;
    const uid = `facts-${Date.now()}`;
    const dn = `uid=${uid},ou=people,${DOMAIN}`;
    await (await transport.ldap(a!)).add(dn, {
      objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
      uid,
      cn: 'Facts',
      sn: 'Test',
    });
    const ldapC = await transport.ldap(c!);
    await waitFor(`${dn} on c`, 60_000, () => ldapC.read(dn, ['1.1']));

    snapshotBefore = await snapshot(transport, inventory.hosts);
    callbacks = [];
    const all = await gatherAllFacts(transport, inventory.hosts, (host, result) => {
      callbacks.push(`${host.name}:${result.ok}`);
    });
    snapshotAfter = await snapshot(transport, inventory.hosts);
    facts = new Map();
    for (const [name, value] of all) {
      if (value instanceof FleetError) throw value;
      facts.set(name, value);
    }
  });

  after(async () => {
    await transport?.close();
    await lab?.down();
  });

  const of = (name: string): HostFacts => facts.get(name)!;

  it('gathers every host, in inventory order, and tells the callback about each', () => {
    assert.deepEqual([...facts.keys()], ['a.ipa.test', 'b.ipa.test', 'c.ipa.test']);
    assert.deepEqual([...callbacks].sort(), ['a.ipa.test:true', 'b.ipa.test:true', 'c.ipa.test:true']);
  });

  it('reads name, OS, clock, 389-DS version and instances of each host', () => {
    for (const host of inventory.hosts) {
      const f = of(host.name);
      assert.equal(f.host, host.name);
      assert.equal(f.fqdn, host.name);
      assert.ok(f.os && f.os.length > 0, `${host.name}: os`);
      assert.match(f.dsVersion ?? '', /^389-Directory\/2\./);
      assert.deepEqual(f.instances, ['IPA-TEST']);
      // All lab hosts share this machine's clock.
      assert.ok(Math.abs(f.clock.skewSeconds) < 5, `${host.name}: skew ${f.clock.skewSeconds}`);
      assert.ok(Math.abs(f.clock.remoteEpochSeconds - Date.now() / 1000) < 600);
      assert.ok(f.clock.roundTripMs >= 0);
      assert.ok(!Number.isNaN(Date.parse(f.gatheredAt)));
    }
  });

  it('lists the backends with their suffixes', () => {
    for (const host of inventory.hosts) {
      const backends = of(host.name)
        .backends.map((b) => `${b.name.toLowerCase()}=>${b.suffix}`)
        .sort();
      assert.deepEqual(backends, [`ipaca=>${CA}`, `userroot=>${DOMAIN}`], host.name);
    }
  });

  it('reads the replica of each suffix: domain rid = host index, CA rid = 1000 + index, none for CA on c', () => {
    inventory.hosts.forEach((host, i) => {
      const f = of(host.name);
      assert.equal(f.suffixes.domain.suffix, DOMAIN);
      assert.equal(f.suffixes.domain.backend?.toLowerCase(), 'userroot');
      assert.deepEqual(f.suffixes.domain.replica, { rid: i + 1, type: 3, flags: 1 });
      assert.equal(f.suffixes.domain.changelogMaxAge, '7d');
      assert.equal(f.suffixes.domain.instance, 'IPA-TEST');
      assert.equal(f.suffixes.domain.port, 389);
    });
    for (const [name, rid] of [
      ['a.ipa.test', 1001],
      ['b.ipa.test', 1002],
    ] as const) {
      const ca = of(name).suffixes.ca;
      assert.ok(ca, `${name}: CA suffix facts`);
      assert.equal(ca.suffix, CA);
      assert.equal(ca.backend, 'ipaca');
      assert.deepEqual(ca.replica, { rid, type: 3, flags: 1 });
      assert.equal(ca.changelogMaxAge, '7d');
    }
    // c has no ca role, but its server does hold an (empty, unreplicated) ipaca backend.
    const caOnC = of('c.ipa.test').suffixes.ca;
    assert.equal(caOnC?.backend, 'ipaca');
    assert.equal(caOnC?.replica, undefined, 'c has no CA replica');
    assert.equal(caOnC?.ruv, undefined);
    assert.deepEqual(caOnC?.agreements, []);
    assert.deepEqual(caOnC?.agmtMaxCsns, []);
  });

  it('reads the agreements of the lab topology', () => {
    for (const host of inventory.hosts) {
      const f = of(host.name);
      const want = TOPOLOGY[host.name]!;
      assert.deepEqual(
        f.suffixes.domain.agreements.map((a) => a.targetHost).sort(),
        want.domain,
        `${host.name} domain`,
      );
      if (want.ca)
        assert.deepEqual(f.suffixes.ca!.agreements.map((a) => a.targetHost).sort(), want.ca, `${host.name} CA`);
      for (const a of [...f.suffixes.domain.agreements, ...(f.suffixes.ca?.agreements ?? [])]) {
        assert.equal(a.enabled, true);
        assert.equal(a.suffix, a.name.startsWith('ca') ? CA : DOMAIN);
      }
    }
  });

  it('counts no entries unless asked (a search of every entry); asked, as ldapsearch counts them, alike everywhere', async () => {
    for (const f of facts.values()) {
      assert.equal(f.suffixes.domain.entryCount, undefined, f.host);
      assert.equal(f.suffixes.ca?.entryCount, undefined, f.host);
      assert.ok(!('entryCount' in JSON.parse(JSON.stringify(f.suffixes.domain))), `${f.host}: no entryCount in JSON`);
    }
    const counted = new Map<string, HostFacts>();
    for (const [name, value] of await gatherAllFacts(transport, inventory.hosts, undefined, { countEntries: true })) {
      if (value instanceof FleetError) throw value;
      counted.set(name, value);
    }
    const counts = inventory.hosts.map((h) => counted.get(h.name)!.suffixes.domain.entryCount);
    assert.ok((counts[0] ?? 0) > 200, `domain entries: ${counts[0]}`);
    assert.deepEqual(counts, [counts[0], counts[0], counts[0]]);
    const caCount = (name: string): number | undefined => counted.get(name)!.suffixes.ca!.entryCount;
    assert.equal(caCount('a.ipa.test'), caCount('b.ipa.test'));
    assert.equal(caCount('c.ipa.test'), 1, 'just the o=ipaca entry');
    // ldap-utils, not our LDAP code, judges the number: entries and LDAP subentries, paged.
    const pwFile = join(lab.tmp, 'dm-password-plain');
    await writeFile(pwFile, (await readFile(lab.paths.dmPassword, 'utf8')).trim(), { mode: 0o600 });
    const { stdout } = await promisify(execFile)(
      'ldapsearch',
      [
        ...['-x', '-LLL', '-H', `ldap://${lab.net}.1`, '-D', 'cn=Directory Manager', '-y', pwFile],
        ...['-E', 'pr=500/noprompt', '-b', DOMAIN, '(|(objectClass=*)(objectClass=ldapSubEntry))', '1.1'],
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    assert.equal(counts[0], (stdout.match(/^dn:/gm) ?? []).length);
  });

  it('reads the RUVs: one generation per suffix everywhere, an element for every supplier', () => {
    const generations = inventory.hosts.map((h) => of(h.name).suffixes.domain.ruv?.generation);
    assert.ok(generations[0], 'domain generation');
    assert.deepEqual(generations, [generations[0], generations[0], generations[0]]);
    const caGenerations = ['a.ipa.test', 'b.ipa.test'].map((n) => of(n).suffixes.ca?.ruv?.generation);
    assert.ok(caGenerations[0]);
    assert.equal(caGenerations[1], caGenerations[0]);
    assert.notEqual(caGenerations[0], generations[0]);

    for (const host of inventory.hosts) {
      const ruv = of(host.name).suffixes.domain.ruv!;
      assert.deepEqual(ruv.elements.map((e) => e.rid).sort(), [1, 2, 3], host.name);
      for (const e of ruv.elements) assert.equal(e.url, `ldap://${String.fromCharCode(96 + e.rid)}.ipa.test:389`);
      // The local replica comes first in the server's RUV.
      assert.equal(ruv.elements[0]!.rid, of(host.name).suffixes.domain.replica!.rid);
    }
    // The change made on a reached c: c holds a CSN of rid 1 (before the change it held none).
    const onC = ruvElement(of('c.ipa.test').suffixes.domain.ruv!, 1)!;
    const onA = ruvElement(of('a.ipa.test').suffixes.domain.ruv!, 1)!;
    assert.ok(onC.maxCsn, 'c has a max CSN for rid 1');
    assert.ok(compareCsn(onC.maxCsn, onA.maxCsn) <= 0, "c is not ahead of a for a's own changes");
    assert.ok(compareCsn(onA.minCsn, onA.maxCsn) <= 0);

    // nsds5agmtmaxcsn: one per agreement, naming the consumer.
    const agmt = of('a.ipa.test').suffixes.domain.agmtMaxCsns;
    assert.deepEqual(
      agmt.map((m) => [m.suffix, m.agreement, m.host, m.port]),
      [[DOMAIN, 'meTob.ipa.test', 'b.ipa.test', 389]],
    );
    assert.ok(agmt[0]!.maxCsn);
    assert.deepEqual(
      of('b.ipa.test')
        .suffixes.domain.agmtMaxCsns.map((m) => m.host)
        .sort(),
      ['a.ipa.test', 'c.ipa.test'],
    );
  });

  it('reports free space of the instance ldif and bak folders', () => {
    for (const host of inventory.hosts) {
      const space = of(host.name).freeSpace['IPA-TEST'];
      assert.ok(space, host.name);
      for (const [kind, d] of [
        ['ldif', space.ldif],
        ['bak', space.bak],
      ] as const) {
        assert.equal(d.path, `/var/lib/dirsrv/slapd-IPA-TEST/${kind}`);
        assert.equal(d.measuredPath, d.path);
        assert.ok(d.availableBytes > 0, `${host.name} ${kind}: ${d.availableBytes}`);
        assert.ok(d.totalBytes >= d.availableBytes);
        assert.match(d.mountPoint, /^\//);
      }
    }
  });

  it('measures a missing folder at its nearest existing parent', async () => {
    const host = inventory.hosts[2]!;
    const odd = { ...host, ldap: { ...host.ldap, instance: "NO SUCH 'INSTANCE'" } };
    const f = await gatherFacts(transport, odd);
    const space = f.freeSpace["NO SUCH 'INSTANCE'"]!;
    assert.equal(space.ldif.path, "/var/lib/dirsrv/slapd-NO SUCH 'INSTANCE'/ldif");
    assert.equal(space.ldif.measuredPath, '/var/lib/dirsrv');
    assert.ok(space.ldif.availableBytes > 0);
    assert.equal(space.bak.measuredPath, '/var/lib/dirsrv');
  });

  it('facts survive a JSON round trip unchanged', () => {
    for (const f of facts.values()) {
      const text = JSON.stringify(f);
      assert.equal(JSON.stringify(JSON.parse(text)), text);
      assertPlainData(f, f.host);
    }
  });

  it('changes nothing: cn=config, agreements and data are the same before and after', () => {
    assert.ok(snapshotBefore.length > 1000);
    assert.equal(snapshotAfter, snapshotBefore);
  });

  it('readRuv: undefined for a suffix without replica or without entry', async () => {
    const c = inventory.hosts[2]!;
    const ldap = await transport.ldap(c);
    assert.equal(await readRuv(ldap, CA), undefined, 'ipaca on c is not replicated');
    assert.equal(await readRuv(ldap, 'o=no-such-suffix'), undefined);
    const reading = await readRuv(ldap, DOMAIN);
    assert.equal(reading?.ruv.generation, of('a.ipa.test').suffixes.domain.ruv?.generation);
  });

  it('gatherAllFacts reports an unreachable host as its error and still gathers the others', async () => {
    const c = inventory.hosts[2]!;
    const ghost: Host = {
      ...c,
      name: 'ghost.ipa.test',
      address: `${lab.net}.9`,
      ssh: { ...c.ssh, connectTimeoutMs: 2000, connectRetries: 0 },
    };
    const seen: Array<[string, HostFactsResult]> = [];
    const all = await gatherAllFacts(transport, [ghost, c], (h, r) => seen.push([h.name, r]));
    assert.deepEqual([...all.keys()], ['ghost.ipa.test', 'c.ipa.test']);
    const err = all.get('ghost.ipa.test');
    assert.ok(err instanceof FleetError, 'an error for the ghost');
    assert.equal(err.kind, 'unreachable');
    assert.equal(err.host, 'ghost.ipa.test');
    assert.equal((all.get('c.ipa.test') as HostFacts).fqdn, 'c.ipa.test');
    assert.deepEqual(seen.map(([n, r]) => `${n}:${r.ok}`).sort(), ['c.ipa.test:true', 'ghost.ipa.test:false']);
  });
});

/** Only strings, finite numbers, booleans, undefined, arrays and plain objects (what JSON keeps as is). */
function assertPlainData(value: unknown, path: string): void {
  if (value === undefined || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    assert.ok(Number.isFinite(value), `${path} is ${value}`);
    return;
  }
  assert.ok(value !== null && typeof value === 'object', `${path} is ${String(value)}`);
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) assertPlainData(v, `${path}[${i}]`);
    return;
  }
  assert.equal(Object.getPrototypeOf(value), Object.prototype, `${path} is a plain object`);
  for (const [k, v] of Object.entries(value)) assertPlainData(v, `${path}.${k}`);
}

/** What gathering facts must not change, as text: cn=config DNs, agreement configuration, data. */
async function snapshot(transport: Transport, hosts: Host[]): Promise<string> {
  const parts: string[] = [];
  for (const host of hosts) {
    const ldap = await transport.ldap(host);
    const config = await ldap.search('cn=config', { attributes: ['1.1'], paged: true });
    parts.push(`${host.name} cn=config: ${config.length} entries`, ...config.map((e) => e.dn.toLowerCase()).sort());
    const agreements = await ldap.search('cn=mapping tree,cn=config', {
      filter: '(objectClass=nsds5replicationAgreement)',
      attributes: ['*', 'modifyTimestamp', 'modifiersName'],
    });
    for (const e of agreements) {
      const attrs = e
        .names()
        .filter((n) => !RUNTIME_ATTRIBUTE.test(n))
        .sort();
      parts.push(`${host.name} agreement ${e.dn}`, ...attrs.map((n) => `  ${n}: ${e.getAll(n).join(' | ')}`));
    }
    for (const suffix of [DOMAIN, CA]) {
      // Plain entries only: the server itself updates the replication keep-alive subentries.
      const entries = await ldap.search(suffix, { attributes: ['modifyTimestamp'], paged: true });
      parts.push(
        `${host.name} ${suffix}: ${entries.length} entries`,
        ...entries.map((e) => `${e.dn} ${e.get('modifyTimestamp')}`).sort(),
      );
    }
  }
  return parts.join('\n');
}
