// `ipa-fleet audit` against real healthy labs of 4 hosts: star, mesh and the default chain, one
// after the other on the same loopback net (each lab is torn down before the next comes up).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { bringUpLab, cli, type TestLab } from './fixture.js';

const HOSTS = ['a.ipa.test', 'b.ipa.test', 'c.ipa.test', 'd.ipa.test'];
/** Right after `lab up` replication may still settle (keep-alive entries, busy replicas): poll this long. */
const SETTLE_MS = 60_000;

interface AuditFinding {
  id: string;
  severity: 'error' | 'warning' | 'info';
  hosts: string[];
  suffix: string | null;
  message: string;
}
interface AuditAgreement {
  from: string;
  to: string;
  name: string;
  enabled: boolean;
  state: string;
  hasReverse: boolean;
}
interface AuditDoc {
  schema: string;
  deployment: string;
  summary: { errors: number; warnings: number; infos: number };
  findings: AuditFinding[];
  topology: Record<
    'domain' | 'ca',
    { suffix: string; hosts: Array<{ name: string; rid?: number }>; agreements: AuditAgreement[] }
  >;
}

const describeFindings = (findings: AuditFinding[]): string =>
  findings.map((f) => `${f.severity} ${f.id} ${f.suffix ?? '-'} [${f.hosts.join(',')}] ${f.message}`).join('\n  ') ||
  '(none)';

/** Undirected edges the lab builds for a shape over a,b,c,d, as sorted "x-y" pairs of FQDNs. */
const SHAPES: Record<string, { args: string[]; edges: string[] }> = {
  star: { args: ['--topology', 'star'], edges: ['a-b', 'a-c', 'a-d'] },
  mesh: { args: ['--topology', 'mesh'], edges: ['a-b', 'a-c', 'a-d', 'b-c', 'b-d', 'c-d'] },
  chain: { args: [], edges: ['a-b', 'b-c', 'c-d'] },
};

const report: string[] = [];
after(() => {
  // For the record: what each healthy lab took to audit clean.
  console.log(`audit-topologies summary:\n  ${report.join('\n  ')}`);
});

describe('audit of healthy 4-host labs (star, mesh, chain; CA on a,b)', () => {
  for (const [shape, { args, edges }] of Object.entries(SHAPES)) {
    it(`${shape}: audit --json reports no finding (exit 0) once replication has settled`, async () => {
      const t0 = Date.now();
      const lab: TestLab = await bringUpLab(['--hosts', '4', '--entries', '100', ...args]);
      const upSeconds = (Date.now() - t0) / 1000;
      try {
        const audit = async (): Promise<{ code: number; doc: AuditDoc; ms: number; stderr: string }> => {
          const res = await cli(['--log-file', lab.logFile, '--json', 'audit', '-i', lab.paths.inventory]);
          let doc: AuditDoc;
          try {
            doc = JSON.parse(res.stdout) as AuditDoc;
          } catch {
            throw new Error(`audit printed no JSON (exit ${res.code}):\n${res.stdout}\n${res.stderr}`);
          }
          return { code: res.code, doc, ms: res.ms, stderr: res.stderr };
        };

        // Poll until clean; remember what was transient on the way.
        const transient = new Set<string>();
        const deadline = Date.now() + SETTLE_MS;
        let last = await audit();
        let polls = 1;
        while (!(last.code === 0 && last.doc.findings.every((f) => f.severity === 'info')) && Date.now() < deadline) {
          for (const f of last.doc.findings)
            transient.add(`${f.severity} ${f.id} ${f.suffix ?? '-'} [${f.hosts.join(',')}]`);
          await new Promise((r) => setTimeout(r, 1000));
          last = await audit();
          polls++;
        }
        const { code, doc } = last;
        assert.equal(
          code,
          0,
          `${shape}: audit exit ${code} after ${polls} poll(s) (${SETTLE_MS / 1000} s); findings:\n  ${describeFindings(doc.findings)}\n${last.stderr}`,
        );
        assert.deepEqual(
          doc.findings.filter((f) => f.severity !== 'info'),
          [],
        );
        assert.equal(doc.schema, 'ipa-fleet/audit/v1');
        assert.deepEqual(doc.summary, { errors: 0, warnings: 0, infos: doc.findings.length });

        // The audit saw the topology the lab built: every edge both ways, every agreement ok.
        const short = (fqdn: string): string => fqdn.split('.')[0]!;
        const domain = doc.topology.domain;
        assert.deepEqual(
          domain.hosts.map((h) => [h.name, h.rid]),
          HOSTS.map((h, i) => [h, i + 1]),
        );
        const seen = [...new Set(domain.agreements.map((a) => [short(a.from), short(a.to)].sort().join('-')))].sort();
        assert.deepEqual(seen, edges, `${shape}: domain edges`);
        assert.equal(domain.agreements.length, edges.length * 2, `${shape}: one agreement each way per edge`);
        for (const a of domain.agreements) {
          assert.deepEqual([a.enabled, a.state, a.hasReverse], [true, 'ok', true], `${a.from} → ${a.to}`);
          assert.equal(a.name, `meTo${a.to}`);
        }
        const ca = doc.topology.ca;
        assert.deepEqual(
          ca.hosts.map((h) => [h.name, h.rid]),
          [
            ['a.ipa.test', 1001],
            ['b.ipa.test', 1002],
          ],
        );
        assert.deepEqual(ca.agreements.map((a) => `${a.name}:${a.from}>${a.to}:${a.state}`).sort(), [
          'caToa.ipa.test:b.ipa.test>a.ipa.test:ok',
          'caTob.ipa.test:a.ipa.test>b.ipa.test:ok',
        ]);

        // The human form agrees.
        const text = await cli(['--log-file', lab.logFile, 'audit', '-i', lab.paths.inventory]);
        assert.equal(text.code, 0, text.stdout + text.stderr);
        assert.match(text.stdout, /audit of ipa-lab: 4 host\(s\), domain \+ ca suffixes/);
        assert.match(text.stdout, /clean: no findings/);

        report.push(
          `${shape}: lab up ${upSeconds.toFixed(1)} s, clean after ${polls} audit(s) (${((Date.now() - t0) / 1000 - upSeconds).toFixed(1)} s incl. checks; one audit ≈ ${(last.ms / 1000).toFixed(1)} s)` +
            `${transient.size ? `; transient on the way: ${[...transient].join('; ')}` : ''}`,
        );
      } catch (err) {
        report.push(`${shape}: FAILED: ${(err as Error).message.split('\n')[0]}`);
        throw err;
      } finally {
        await lab.down();
      }
    });
  }
});
