// compare and audit --content on the default lab (a↔b↔c, CA suffix on a↔b), through the CLI: a healthy
// lab holds the same content everywhere (ds-replcheck agrees on every pair), a lab under write load shows
// no false difference, and real divergence planted three ways is named exactly — a value removed on b by
// re-importing an edited export (replication never sees it), a change on c while b↔c is disabled, and a
// delete on a that c never receives — with ds-replcheck online run on every pair as the judge.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Attribute, Change, type Client } from 'ldapts';
import { bringUpLab, DOMAIN, labDirectory, sleep, waitFor, type LabDirectory, type TestLab } from './fixture.js';

const [A, B, C] = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test'];
const PEOPLE = `ou=people,${DOMAIN}`;
const userDn = (i: number): string => `uid=user${String(i).padStart(6, '0')},${PEOPLE}`;
const LDIF_DIR = '/var/lib/dirsrv/slapd-IPA-TEST/ldif';

interface CompareJson {
  differences: number;
  suffixes: Array<{
    kind: string;
    hosts: string[];
    entries: Record<string, number>;
    differences: Array<{
      dn: string;
      kind: string;
      missingOn: string[];
      variants: string[][];
      attributes: string[];
      unreplicated: Array<{ host: string; csn: string; from: string }>;
    }>;
    lag: Array<{ dn: string }>;
  }>;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The DNs ds-replcheck's report names: missing on either side, or inconsistent (lower-cased). */
function replcheckDns(report: string): string[] {
  const dns = new Set<string>();
  const missing = /Missing Entries\n=+\n([\s\S]*?)(?:\n[A-Z][^\n]*\n=+\n|$)/.exec(report)?.[1] ?? '';
  for (const m of missing.matchAll(/^\s+- (.+?)(?:\s+\(Created on .*\))?$/gm)) dns.add(m[1]!.toLowerCase());
  const inconsistent = /Entry Inconsistencies\n=+\n([\s\S]*?)(?:\nResult\n=+\n|$)/.exec(report)?.[1] ?? '';
  for (const m of inconsistent.matchAll(/^(\S[^\n]*)\n-+$/gm)) dns.add(m[1]!.toLowerCase());
  // Replication's keep-alive entries are not data (compare leaves them out); ds-replcheck compares them.
  return [...dns].filter((dn) => !dn.startsWith('cn=repl keep alive')).sort();
}

describe('compare and audit --content on a↔b↔c', () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let pwFile: string;
  const url = (host: string): string => `ldap://${dir.address(host)}:389`;
  const compare = async (args: string[] = []): Promise<{ code: number; json: CompareJson; raw: string }> => {
    const r = await lab.fleet(['--json', 'compare', '-i', lab.paths.inventory, ...args]);
    const raw = `exit ${r.code}\n${r.stdout.slice(-6000)}\n${r.stderr}`;
    assert.ok(r.stdout.trim().startsWith('{'), raw);
    return { code: r.code, json: JSON.parse(r.stdout) as CompareJson, raw };
  };
  const replcheck = async (supplier: string, replica: string): Promise<string[]> => {
    const r = await run('ds-replcheck', [
      ...['online', '-D', 'cn=Directory Manager', '-y', pwFile],
      ...['-m', url(supplier), '-r', url(replica), '-b', DOMAIN, '-l', '0'],
    ]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return replcheckDns(r.stdout);
  };

  before(async () => {
    lab = await bringUpLab(['--hosts', '3', '--entries', '300']);
    dir = await labDirectory(lab, 3);
    pwFile = join(lab.tmp, 'dm-password-no-newline');
    await writeFile(pwFile, (await readFile(lab.paths.dmPassword, 'utf8')).trim(), { mode: 0o600 });
  });
  after(async () => {
    await lab?.down();
  });

  it('a healthy lab: every host of both suffixes holds the same content, and ds-replcheck agrees', async () => {
    const { code, json, raw } = await compare(['--suffix', 'all']);
    assert.equal(code, 0, raw);
    assert.equal(json.differences, 0, raw);
    const [domain, ca] = json.suffixes;
    assert.deepEqual(domain!.hosts, [A, B, C]);
    assert.deepEqual(ca!.hosts, [A, B], 'the CA suffix on its hosts only');
    const counts = Object.values(domain!.entries);
    assert.ok(counts[0]! > 300 && counts.every((n) => n === counts[0]), raw);
    for (const [m, r] of [
      [A, B],
      [A, C],
      [B, C],
    ] as const)
      assert.deepEqual(await replcheck(m, r), [], `${m}↔${r}`);
  });

  it('under write load on a: no false difference (what is in flight is re-read until it arrives)', async () => {
    let stop = false;
    let writes = 0;
    const load = dir.withLdap(A, async (client) => {
      for (let i = 0; !stop; i++) {
        await client.modify(userDn(100 + (i % 50)), [
          new Change({
            operation: 'replace',
            modification: new Attribute({ type: 'description', values: [`load ${i}`] }),
          }),
        ]);
        await client.add(`cn=load${i},${DOMAIN}`, { objectClass: ['top', 'nsContainer'], cn: `load${i}` });
        if (i % 3 === 0) await client.del(`cn=load${i},${DOMAIN}`);
        writes += 2;
      }
    });
    try {
      await sleep(500);
      const { code, json, raw } = await compare();
      assert.equal(code, 0, raw);
      assert.deepEqual(json.suffixes[0]!.differences, [], raw);
      // What may still be in flight is only what the load writes.
      const written = (dn: string): boolean =>
        /^cn=load\d+,/.test(dn) || Array.from({ length: 50 }, (_, i) => userDn(100 + i)).includes(dn.toLowerCase());
      assert.deepEqual(
        json.suffixes[0]!.lag.filter((l) => !written(l.dn)),
        [],
        raw,
      );
    } finally {
      stop = true;
      await load;
    }
    assert.ok(writes > 20, `the load wrote ${writes} changes`);
  });

  it('planted divergence: exactly the damaged DNs and hosts, as ds-replcheck finds them pair by pair', async () => {
    await waitForSameContent();
    await reimportWithout(B, userDn(9), /^mail: .*$/m);
    await setAgreement(B, C, false);
    await setAgreement(C, B, false);
    await dir.withLdap(C, (c) =>
      c.modify(userDn(5), [
        new Change({ operation: 'replace', modification: new Attribute({ type: 'mail', values: ['moved@c.test'] }) }),
      ]),
    );
    await dir.withLdap(A, (c) => c.del(userDn(7)));
    await waitFor('the delete on b', 30_000, async () =>
      (await dir.withLdap(B, (c) => c.search(PEOPLE, { filter: '(uid=user000007)', attributes: ['1.1'] })))
        .searchEntries.length === 0
        ? true
        : undefined,
    );
    const { code, json, raw } = await compare(['--quiet-window', '3s']);
    assert.equal(code, 3, raw);
    const found = json.suffixes[0]!.differences.map((d) => ({
      dn: d.dn.toLowerCase(),
      kind: d.kind,
      missingOn: d.missingOn,
      variants: d.variants,
      attributes: d.attributes,
      unreplicated: d.unreplicated.map((u) => u.host).sort(),
    }));
    assert.deepEqual(
      found,
      [
        {
          dn: userDn(5),
          kind: 'values',
          missingOn: [],
          variants: [[A, B], [C]],
          attributes: ['mail'],
          unreplicated: [A, B],
        },
        { dn: userDn(7), kind: 'extra', missingOn: [A, B], variants: [[C]], attributes: [], unreplicated: [C] },
        {
          dn: userDn(9),
          kind: 'values',
          missingOn: [],
          variants: [[A, C], [B]],
          attributes: ['mail'],
          unreplicated: [],
        },
      ],
      raw,
    );
    assert.deepEqual(json.suffixes[0]!.lag, [], raw);
    for (const [m, r] of [
      [A, B],
      [A, C],
      [B, C],
    ] as const) {
      const ours: string[] = found.filter((d) => disagree(d, m, r)).map((d) => d.dn);
      assert.deepEqual(await replcheck(m, r), ours, `ds-replcheck ${m}↔${r}`);
    }
    const text = await lab.fleet(['compare', '-i', lab.paths.inventory, '--quiet-window', '3s']);
    assert.match(text.stdout, /3 entries differ/);
    assert.match(text.stdout, new RegExp(`extra\\s+${userDn(7)}\\s+extra on ${C}`));
  });

  it('audit --content names the diverged DNs as an error finding', async () => {
    const r = await lab.fleet(['--json', 'audit', '-i', lab.paths.inventory, '--content', '--quiet-window', '3s']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const findings = (JSON.parse(r.stdout) as { findings: Array<{ id: string; details?: { dns?: string[] } }> })
      .findings;
    const content = findings.filter((f) => f.id === 'content-differs');
    assert.equal(content.length, 1, r.stdout);
    assert.deepEqual(
      content[0]!.details?.dns?.map((d) => d.toLowerCase()),
      [userDn(5), userDn(7), userDn(9)],
      r.stdout,
    );
  });

  /** Whether the difference sets hosts x and y apart (one lacks it, or they hold different versions). */
  function disagree(d: { missingOn: string[]; variants: string[][] }, x: string, y: string): boolean {
    const group = (h: string): number => d.variants.findIndex((g) => g.includes(h));
    return group(x) !== group(y);
  }

  async function waitForSameContent(): Promise<void> {
    await waitFor('the lab to settle', 60_000, async () => ((await compare()).code === 0 ? true : undefined));
  }

  async function setAgreement(host: string, target: string, on: boolean): Promise<void> {
    await dir.withLdap(host, async (c: Client) => {
      const { searchEntries } = await c.search('cn=config', {
        filter: `(&(objectClass=nsds5ReplicationAgreement)(nsDS5ReplicaRoot=${DOMAIN})(nsDS5ReplicaHost=${target}))`,
        attributes: ['1.1'],
      });
      assert.equal(searchEntries.length, 1, `${host}: one agreement to ${target}`);
      await c.modify(searchEntries[0]!.dn, [
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'nsds5ReplicaEnabled', values: [on ? 'on' : 'off'] }),
        }),
      ]);
    });
  }

  /**
   * Changes one entry on `host` behind replication's back: an export with replication data, the entry's
   * `pattern` line removed, the file imported again (the RUV comes back with it, so nothing is pending).
   */
  async function reimportWithout(host: string, dn: string, pattern: RegExp): Promise<void> {
    const name = `plant-${Date.now()}`;
    const file = `${LDIF_DIR}/${name}.ldif`;
    await runTask(host, 'export', name, { nsInstance: 'userRoot', nsFilename: file, nsExportReplica: 'true' });
    const local = join(lab.paths.hostsRoot, host, 'var-lib-dirsrv', 'slapd-IPA-TEST', 'ldif', `${name}.ldif`);
    const text = await readFile(local, 'utf8');
    const start = text.toLowerCase().indexOf(`\ndn: ${dn}\n`);
    assert.ok(start > 0, `${dn} in the export`);
    const end = text.indexOf('\n\n', start + 1);
    const record = text.slice(start, end);
    const edited = record.replace(pattern, '').replace(/\n\n/, '\n');
    assert.notEqual(edited, record, `${pattern} in ${dn}`);
    await writeFile(local, text.slice(0, start) + edited + text.slice(end));
    await runTask(host, 'import', `${name}-in`, { nsInstance: 'userRoot', nsFilename: file });
  }

  async function runTask(host: string, kind: string, cn: string, attrs: Record<string, string>): Promise<void> {
    const dn = `cn=${cn},cn=${kind},cn=tasks,cn=config`;
    await dir.withLdap(host, (c) => c.add(dn, { objectClass: ['top', 'extensibleObject'], cn, ...attrs }));
    const code = await waitFor(`${kind} task on ${host}`, 120_000, () =>
      dir.withLdap(host, async (c) => {
        const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['nsTaskExitCode'] });
        // ldapts lists a requested attribute the entry lacks with no values.
        const v = [searchEntries[0]?.nsTaskExitCode ?? []].flat();
        return v.length === 0 ? undefined : String(v[0]);
      }),
    );
    assert.equal(code, '0', `${kind} task on ${host}`);
  }
});
