// `ipa-fleet audit` against a real 3-host lab (domain chain a-b-c, CA a-b): each scenario breaks
// something for real (LDAP through the project's own sessions, or the lab CLI), checks what
// `audit --json` says and its exit code, and puts things right so the next one starts healthy.
// The generation scenario leaves the lab broken: it runs last.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAgreement, initializeConsumer, listAgreements, type Agreement } from '../../src/directory/agreements.js';
import { replicaDn } from '../../src/directory/dn.js';
import { enableSupplier } from '../../src/directory/replica.js';
import { readRuv } from '../../src/directory/ruv.js';
import { runTask } from '../../src/directory/tasks.js';
import { loadInventory, type Host, type Inventory } from '../../src/inventory/index.js';
import type { LdapSession } from '../../src/transport/ldap.js';
import { Transport } from '../../src/transport/transport.js';
import { bringUpLab, cli, testContext, waitFor, type TestLab } from './fixture.js';

const DOMAIN = 'dc=ipa,dc=test';
const A = 'a.ipa.test';
const B = 'b.ipa.test';
const C = 'c.ipa.test';
/** How long replication may take to settle after a scenario is put right. */
const SETTLE_MS = 60_000;
const CONFLICT_FILTER = '(&(nsds5ReplConflict=*)(|(objectclass=ldapsubentry)(objectclass=*)))';
/** Findings that come and go on a healthy lab (a replica busy with another supplier for a moment). */
const TRANSIENT = new Set(['update-status-amber']);

interface AuditFinding {
  id: string;
  severity: 'error' | 'warning' | 'info';
  hosts: string[];
  suffix: 'domain' | 'ca' | null;
  message: string;
  fix: string;
  details?: unknown;
}
interface AuditDoc {
  summary: { errors: number; warnings: number; infos: number };
  findings: AuditFinding[];
}
interface AuditRun {
  code: number;
  doc: AuditDoc;
  ms: number;
  polls?: number;
  onTheWay?: string[];
}

const line = (f: AuditFinding): string =>
  `${f.severity} ${f.id} ${f.suffix ?? '-'} [${f.hosts.join(',')}] ${f.message}`;
const describeFindings = (findings: AuditFinding[]): string => findings.map(line).join('\n  ') || '(none)';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const person = (uid: string, cn: string): Record<string, string | string[]> => ({
  objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
  uid,
  cn,
  sn: cn.split(' ').pop()!,
});

describe('audit scenarios on a real lab (3 hosts, chain a-b-c, CA a-b)', () => {
  let lab: TestLab;
  let inventory: Inventory;
  let transport: Transport;
  let replPassword: string;
  const results: string[] = [];

  before(async () => {
    lab = await bringUpLab();
    inventory = await loadInventory(lab.paths.inventory);
    transport = new Transport(inventory, testContext(join(lab.tmp, 'library.log')));
    replPassword = (await readFile(lab.paths.replPassword, 'utf8')).trim();
  });

  after(async () => {
    console.log(`audit scenarios:\n  ${results.join('\n  ')}`);
    await transport?.close();
    await lab?.down();
  });

  const host = (name: string): Host => inventory.hosts.find((h) => h.name === name)!;
  const ldap = (name: string): Promise<LdapSession> => transport.ldap(host(name));
  const agreementTo = async (from: string, to: string): Promise<Agreement> => {
    const found = (await listAgreements(await ldap(from), DOMAIN)).find((a) => a.targetHost === to);
    assert.ok(found, `${from} has an agreement to ${to}`);
    return found;
  };
  const setEnabled = async (from: string, to: string, on: boolean): Promise<void> => {
    const a = await agreementTo(from, to);
    await (await ldap(from)).modify(a.dn, [
      { op: 'replace', attr: 'nsds5ReplicaEnabled', values: [on ? 'on' : 'off'] },
    ]);
  };

  async function audit(inventoryFile = lab.paths.inventory): Promise<AuditRun> {
    const res = await cli(['--log-file', lab.logFile, '--json', 'audit', '-i', inventoryFile]);
    try {
      return { code: res.code, doc: JSON.parse(res.stdout) as AuditDoc, ms: res.ms };
    } catch {
      throw new Error(`audit printed no JSON (exit ${res.code}):\n${res.stdout}\n${res.stderr}`);
    }
  }

  /** Audits every second until `done` holds; fails with the last findings after `timeoutMs`. */
  async function auditUntil(
    what: string,
    done: (r: AuditRun) => boolean,
    opts: { timeoutMs?: number; inventoryFile?: string; between?: () => Promise<void> } = {},
  ): Promise<AuditRun> {
    const deadline = Date.now() + (opts.timeoutMs ?? SETTLE_MS);
    const onTheWay = new Set<string>();
    for (let polls = 1; ; polls++) {
      const run = await audit(opts.inventoryFile);
      if (done(run)) return { ...run, polls, onTheWay: [...onTheWay] };
      for (const f of run.doc.findings)
        onTheWay.add(
          `${f.severity} ${f.id} ${f.suffix ?? '-'} [${f.hosts.map((h) => h[0]).join(',')}]: ${f.message.slice(0, 140)}`,
        );
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}; last audit (exit ${run.code}):\n  ${describeFindings(run.doc.findings)}`,
        );
      await opts.between?.();
      await sleep(1000);
    }
  }

  const isClean = (r: AuditRun): boolean => r.code === 0 && r.doc.findings.every((f) => f.severity === 'info');
  const waitClean = (why: string): Promise<AuditRun> => auditUntil(`a clean audit ${why}`, isClean);
  const has = (r: AuditRun, id: string, pred: (f: AuditFinding) => boolean = () => true): AuditFinding | undefined =>
    r.doc.findings.find((f) => f.id === id && pred(f));
  /** Every finding is an expected one or a known transient. */
  const assertOnly = (r: AuditRun, expected: (f: AuditFinding) => boolean): void => {
    const other = r.doc.findings.filter((f) => !expected(f) && !TRANSIENT.has(f.id));
    assert.deepEqual(other.map(line), [], 'no other findings');
  };

  /** Runs one scenario, recording the outcome and how long it took for the report. */
  async function scenario(name: string, body: () => Promise<string | undefined>): Promise<void> {
    const t0 = Date.now();
    try {
      const note = await body();
      results.push(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${note ? `: ${note}` : ''}`);
    } catch (err) {
      results.push(
        `FAIL ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${(err as Error).message.split('\n').slice(0, 3).join(' | ')}`,
      );
      throw err;
    }
  }

  it('starts clean', () =>
    scenario('healthy lab audits clean', async () => {
      const r = await waitClean('right after lab up');
      assert.equal(r.code, 0);
      return `one audit ≈ ${(r.ms / 1000).toFixed(1)} s`;
    }));

  it('audit --limit: the hosts left out are not reported (no island, no stale RID)', () =>
    scenario('--limit a / --limit c on the healthy lab', async () => {
      for (const limit of [A, C]) {
        const res = await cli([
          '--log-file',
          lab.logFile,
          '--json',
          '--limit',
          limit,
          'audit',
          '-i',
          lab.paths.inventory,
        ]);
        const doc = JSON.parse(res.stdout) as AuditDoc;
        assert.deepEqual(doc.findings.filter((f) => f.severity !== 'info').map(line), [], `--limit ${limit}`);
        assert.equal(res.code, 0, `--limit ${limit}: ${res.stderr}`);
      }
    }));

  it("a. b's meToc disabled: agreement-disabled on domain [b, c], exit 1", () =>
    scenario('a. agreement-disabled', async () => {
      await waitClean('before a');
      await setEnabled(B, C, false);
      try {
        const r = await auditUntil('agreement-disabled', (x) => !!has(x, 'agreement-disabled'));
        const f = has(r, 'agreement-disabled')!;
        assert.deepEqual([f.severity, f.suffix, f.hosts], ['error', 'domain', [B, C]]);
        assert.match(f.message, /agreement meToc\.ipa\.test \(b\.ipa\.test → c\.ipa\.test\) is disabled/);
        assertOnly(r, (x) => x.id === 'agreement-disabled');
        assert.equal(r.code, 1, describeFindings(r.doc.findings));
      } finally {
        await setEnabled(B, C, true);
      }
      await waitClean('after re-enabling meToc');
    }));

  it("b. c's meTob deleted: agreement-one-way b → c, exit 1; re-created with createAgreement", () =>
    scenario('b. agreement-one-way', async () => {
      await waitClean('before b');
      const back = await agreementTo(C, B);
      await (await ldap(C)).delete(back.dn);
      try {
        const r = await auditUntil('agreement-one-way', (x) => !!has(x, 'agreement-one-way'));
        const f = has(r, 'agreement-one-way')!;
        assert.deepEqual([f.severity, f.suffix, f.hosts], ['error', 'domain', [B, C]]);
        assert.match(
          f.message,
          /b\.ipa\.test replicates the domain suffix to c\.ipa\.test \(meToc\.ipa\.test\), but c\.ipa\.test has no agreement back/,
        );
        assertOnly(r, (x) => x.id === 'agreement-one-way');
        assert.equal(r.code, 1, describeFindings(r.doc.findings));
      } finally {
        await createAgreement(await ldap(C), {
          name: back.name,
          suffix: DOMAIN,
          targetHost: B,
          targetPort: 389,
          credentials: replPassword,
        });
      }
      // The re-created agreement really carries changes: a write on c reaches a (through b).
      const uid = `one-way-${Date.now()}`;
      await (await ldap(C)).add(`uid=${uid},ou=people,${DOMAIN}`, person(uid, 'One Way'));
      const ldapA = await ldap(A);
      await waitFor(`${uid} on a`, 30_000, () => ldapA.read(`uid=${uid},ou=people,${DOMAIN}`, ['1.1']));
      await waitClean('after re-creating meTob on c');
    }));

  it('c. lab stop c: host-unreachable for c, exit 1; lab start c', () =>
    scenario('c. host-unreachable', async () => {
      await waitClean('before c');
      const stop = await cli(['--log-file', lab.logFile, 'lab', 'stop', 'c', '--dir', lab.paths.root]);
      assert.equal(stop.code, 0, stop.stderr);
      let note = '';
      try {
        await transport.forget(host(C));
        const r = await audit();
        const f = has(r, 'host-unreachable');
        assert.ok(f, describeFindings(r.doc.findings));
        assert.deepEqual([f.severity, f.suffix, f.hosts], ['error', null, [C]]);
        assert.ok(f.message.startsWith(`c.ipa.test: cannot reach ssh at ${lab.net}.3:22`), f.message);
        // What else may show: b's agreement to c failing to connect (red), a stale-RID hint (info).
        assertOnly(
          r,
          (x) =>
            x.id === 'host-unreachable' ||
            (x.id === 'update-status-red' && x.hosts.join() === `${B},${C}` && /connect/i.test(x.message)) ||
            x.severity === 'info',
        );
        assert.equal(r.code, 1, describeFindings(r.doc.findings));
        note = `with c down: ${r.doc.findings.map((x) => `${x.severity} ${x.id} [${x.hosts.map((h) => h[0]).join(',')}]`).join('; ')}`;
      } finally {
        const start = await cli(['--log-file', lab.logFile, 'lab', 'start', 'c', '--dir', lab.paths.root]);
        assert.equal(start.code, 0, start.stderr);
        await transport.forget(host(C));
      }
      // b retries c with a back-off; a change on b makes it try again sooner.
      const ldapB = await ldap(B);
      let n = 0;
      await auditUntil('a clean audit after lab start c', isClean, {
        timeoutMs: 90_000,
        between: async () => {
          if (n++ % 5 === 0) {
            const uid = `wake-${Date.now()}`;
            await ldapB.add(`uid=${uid},ou=people,${DOMAIN}`, person(uid, 'Wake Up'));
          }
        },
      });
      return note;
    }));

  it('d. the same DN added on a and on b while they are cut off: conflict-entries on domain, exit 3', () =>
    scenario('d. conflict-entries', async () => {
      await waitClean('before d');
      const dn = `uid=clash,ou=people,${DOMAIN}`;
      const [ldapA, ldapB] = [await ldap(A), await ldap(B)];
      await setEnabled(A, B, false);
      await setEnabled(B, A, false);
      let note = '';
      try {
        await ldapA.add(dn, person('clash', 'Clash Alpha'));
        await sleep(1100); // different CSN seconds: b's entry is the newer one
        await ldapB.add(dn, { ...person('clash', 'Clash Bravo'), description: 'added on b' });
      } finally {
        await setEnabled(A, B, true);
        await setEnabled(B, A, true);
      }
      try {
        // While the suppliers catch up an agreement may fail for a moment: wait for the conflicts alone.
        const r = await auditUntil('conflict-entries', (x) => !!has(x, 'conflict-entries') && x.code !== 1, {
          timeoutMs: 60_000,
        });
        const found = r.doc.findings.filter((f) => f.id === 'conflict-entries');
        for (const f of found) {
          assert.deepEqual([f.severity, f.suffix, f.hosts.length], ['warning', 'domain', 1]);
          assert.match(
            f.message,
            /holds 1 replication conflict entry: nsuniqueid=[0-9a-f-]+\+uid=clash,ou=people,dc=ipa,dc=test/,
          );
        }
        assertOnly(r, (x) => x.id === 'conflict-entries');
        assert.equal(r.code, 3);
        note =
          `conflict entries reported on ${found.map((f) => f.hosts[0]).join(', ')} after ${r.polls} audit(s)` +
          `${r.onTheWay!.length ? `; on the way: ${r.onTheWay!.join(' / ')}` : ''}`;
      } finally {
        // Clean up on a: the conflict entry and the entry itself; the deletes replicate.
        for (const e of await ldapA.search(DOMAIN, { filter: CONFLICT_FILTER, attributes: ['1.1'] }))
          await ldapA.delete(e.dn);
        if (await ldapA.read(dn, ['1.1'])) await ldapA.delete(dn);
        for (const name of [A, B, C]) {
          const l = await ldap(name);
          await waitFor(`no clash entries on ${name}`, 30_000, async () => {
            const left = await l.search(DOMAIN, { filter: `(|(uid=clash)${CONFLICT_FILTER})`, attributes: ['1.1'] });
            return left.length === 0 ? true : undefined;
          });
        }
      }
      await waitClean('after removing the conflict');
      return note;
    }));

  it('g. c given role ca in a copy of the inventory (ipaca backend, no CA replica): ca-host-without-ca-agreements, exit 1', () =>
    scenario('g. ca-host-without-ca-agreements', async () => {
      await waitClean('before g');
      const text = await readFile(lab.paths.inventory, 'utf8');
      const changed = text.replace(/(\n {4}c\.ipa\.test:\n {6}address: [\d.]+\n {6}roles: )\[\]/, '$1[ca]');
      assert.notEqual(changed, text, 'the lab inventory lists c with roles: []');
      const file = join(lab.paths.root, 'inventory-c-ca.yaml'); // next to the original: its relative paths still work
      await writeFile(file, changed);
      const r = await audit(file);
      const f = has(r, 'ca-host-without-ca-agreements');
      assert.ok(f, describeFindings(r.doc.findings));
      assert.deepEqual([f.severity, f.suffix, f.hosts], ['error', 'ca', [C]]);
      assert.match(f.message, /c\.ipa\.test has role ca but no CA replica/);
      // Everything else it reports is about c on the CA suffix.
      assertOnly(r, (x) => x.suffix === 'ca' && x.hosts.includes(C));
      assert.equal(r.code, 1, describeFindings(r.doc.findings));
      const untouched = await audit();
      assert.ok(
        isClean(untouched),
        `the real inventory still audits clean:\n  ${describeFindings(untouched.doc.findings)}`,
      );
      return `findings with the copy: ${r.doc.findings.map((x) => `${x.severity} ${x.id} ${x.suffix} [${x.hosts.map((h) => h[0]).join(',')}]`).join('; ')}`;
    }));

  it('e. c re-created as replica ID 33 and re-initialized from b: stale-rid 3 where it appears, exit 3; CleanAllRUV', () =>
    scenario('e. stale-rid', async () => {
      await waitClean('before e');
      const [ldapA, ldapB, ldapC] = [await ldap(A), await ldap(B), await ldap(C)];
      // c drops its replica (agreements first: they live under it) and comes back as rid 33.
      for (const a of await listAgreements(ldapC, DOMAIN)) await ldapC.delete(a.dn);
      await ldapC.delete(replicaDn(DOMAIN));
      await enableSupplier(ldapC, DOMAIN, 'userroot', 33);
      await createAgreement(ldapC, {
        name: `meTo${B}`,
        suffix: DOMAIN,
        targetHost: B,
        targetPort: 389,
        credentials: replPassword,
      });
      await initializeConsumer(async () => ldapB, (await agreementTo(B, C)).dn, { timeoutMs: 60_000 });

      const withRid3: string[] = [];
      for (const [name, l] of [
        [A, ldapA],
        [B, ldapB],
        [C, ldapC],
      ] as const) {
        if ((await readRuv(l, DOMAIN))?.ruv.elements.some((e) => e.rid === 3)) withRid3.push(name);
      }
      assert.ok(
        withRid3.includes(A) && withRid3.includes(B),
        `rid 3 stays in the RUVs of a and b (has it: ${withRid3.join(', ')})`,
      );
      const r = await auditUntil('stale-rid', (x) => !!has(x, 'stale-rid') && x.code !== 1);
      const f = has(r, 'stale-rid')!;
      assert.deepEqual([f.severity, f.suffix], ['warning', 'domain']);
      assert.deepEqual(f.hosts, withRid3, 'named where rid 3 appears');
      assert.match(f.message, /^replica ID 3 appears in the domain suffix RUV of /);
      assert.match(f.fix, /cleanallruv --suffix dc=ipa,dc=test --replica-id 3/);
      assertOnly(r, (x) => x.id === 'stale-rid' && /replica ID 3 /.test(x.message));
      assert.equal(r.code, 3, describeFindings(r.doc.findings));

      // Put right the way the finding says: CleanAllRUV of rid 3.
      await runTask(
        ldapA,
        'cleanallruv',
        { 'replica-base-dn': DOMAIN, 'replica-id': '3', 'replica-force-cleaning': 'yes' },
        { timeoutMs: 120_000 },
      );
      await waitClean('after CleanAllRUV of rid 3');
      return `rid 3 was in the RUV of ${withRid3.join(', ')}`;
    }));

  it('f. c re-imported without its RUV (new generation): generation-mismatch naming c and update-status-red b → c, exit 1', () =>
    scenario('f. generation-mismatch', async () => {
      await waitClean('before f');
      const [ldapB, ldapC] = [await ldap(B), await ldap(C)];
      const sshC = await transport.ssh(host(C));
      const file = '/var/lib/dirsrv/slapd-IPA-TEST/ldif/audit-generation.ldif';
      await runTask(
        ldapC,
        'export',
        { nsInstance: 'userroot', nsFilename: file, nsExportReplica: 'false', nsUseOneFile: 'true', nsNoWrap: 'true' },
        { timeoutMs: 120_000 },
      );
      // Strip the RUV tombstone entry, if the export has it (what ipa-restore does), then import.
      await sshC.run(
        `perl -00 -ne 'print unless /^nsuniqueid:\\s*ffffffff-ffffffff-ffffffff-ffffffff\\s*$/mi' ${file} > ${file}.new && mv ${file}.new ${file} && chown dirsrv:dirsrv ${file}`,
      );
      assert.equal((await sshC.run(`grep -ci 'ffffffff-ffffffff-ffffffff-ffffffff' ${file} || true`)).trim(), '0');
      await runTask(ldapC, 'import', { nsInstance: 'userroot', nsFilename: file }, { timeoutMs: 120_000 });
      await sshC.run(`rm -f ${file}`);

      // A change on b makes b's agreement talk to c (and meet the other generation).
      let n = 0;
      const wake = async (): Promise<void> => {
        if (n++ % 4 !== 0) return;
        const uid = `generation-${Date.now()}`;
        await ldapB.add(`uid=${uid},ou=people,${DOMAIN}`, person(uid, 'New Generation'));
      };
      await wake();
      const toC = (f: AuditFinding): boolean =>
        f.hosts.join() === `${B},${C}` && /different database generation/i.test(f.message);
      const r = await auditUntil(
        'generation-mismatch and update-status-red b → c',
        (x) => !!has(x, 'generation-mismatch') && !!has(x, 'update-status-red', toC),
        { timeoutMs: 90_000, between: wake },
      );
      const gen = has(r, 'generation-mismatch')!;
      assert.deepEqual([gen.severity, gen.suffix], ['error', 'domain']);
      assert.deepEqual(gen.hosts, [A, B, C], 'the larger group (a, b) first, then c');
      const groups = Object.values(gen.details as Record<string, string[]>);
      assert.deepEqual(groups.map((g) => [...g].sort()).sort(), [[A, B], [C]], 'c alone in its generation');
      const red = has(r, 'update-status-red', toC)!;
      assert.equal(red.severity, 'error');
      assert.equal(red.suffix, 'domain');
      assert.match(
        red.message,
        /^b\.ipa\.test → c\.ipa\.test \(meToc\.ipa\.test\): Error \(19\) .*Replica has different database generation ID/,
      );
      assert.match(red.fix, /re-initialize it from b\.ipa\.test/);
      // c's own agreement to b meets the same wall; nothing else.
      assertOnly(
        r,
        (x) =>
          x.id === 'generation-mismatch' ||
          (x.id === 'update-status-red' && /different database generation/i.test(x.message)),
      );
      assert.equal(r.code, 1, describeFindings(r.doc.findings));
      return `findings: ${r.doc.findings.map((x) => `${x.severity} ${x.id} [${x.hosts.map((h) => h[0]).join(',')}]`).join('; ')}`;
    }));
});
