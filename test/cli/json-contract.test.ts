// The documented shapes of `--json` output (docs/json-output.md), asserted against the compiled CLI
// for the commands that need no lab: backups list, verify and prune over a store this test builds,
// and schedule status over a schedule file it writes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Manifest } from '../../src/backup/manifest.js';
import { newSnapshotId, SnapshotStore } from '../../src/backup/store.js';
import { cliIn } from './run-cli.js';

const ARCHIVE = Buffer.from('not really a tar, but bytes all the same\n');

let tmp: string;
let store: string;

async function json(...args: string[]): Promise<{ code: number | null; value: unknown }> {
  const r = await cliIn(tmp)('--json', ...args);
  return { code: r.code, value: JSON.parse(r.stdout) };
}

function manifest(id: string, host: string, time: string, sha256: string): Manifest {
  return {
    schema: 'ipa-fleet/snapshot/v1',
    id,
    deployment: 'prod',
    hostName: host,
    fqdn: `${host}.example.test`,
    toolVersion: '0.1.0',
    dsVersion: '2.4.5',
    instance: 'EXAMPLE-TEST',
    profile: 'freeipa',
    roles: [],
    suffixes: [
      {
        kind: 'domain',
        suffix: 'dc=example,dc=test',
        backend: 'userRoot',
        entryCount: 42,
        rid: 4,
        generation: '5f00aa',
        ruv: ['{replicageneration} 5f00aa'],
        ldif: 'ldif/userRoot.ldif',
      },
    ],
    missingPaths: [],
    files: [{ path: 'ldif/userRoot.ldif', size: 1234, sha256: 'a'.repeat(64) }],
    archive: {
      name: 'archive.tar.gz',
      size: ARCHIVE.length,
      sha256,
      compression: 'gzip',
      encrypted: false,
      recipients: [],
    },
    type: 'DATA',
    time,
    host: `${host}.example.test`,
    ipa_version: '4.12.2',
    version: '1',
    services: ['ipactl'],
  };
}

async function snapshot(host: string, time: string, sha256: string): Promise<string> {
  const id = newSnapshotId(new Date(time));
  const pending = await new SnapshotStore(store).beginSnapshot('prod', host, id);
  writeFileSync(pending.archivePath('archive.tar.gz'), ARCHIVE);
  await pending.commit(manifest(id, host, time, sha256));
  return id;
}

const sortedKeys = (value: unknown): string[] => Object.keys(value as object).sort();

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-json-'));
  store = join(tmp, 'store');
  const good = createHash('sha256').update(ARCHIVE).digest('hex');
  await snapshot('ipa1', '2026-11-25T02:00:00.000Z', good);
  await snapshot('ipa1', '2026-11-26T02:00:00.000Z', good);
  await snapshot('ipa2', '2026-11-26T02:00:00.000Z', 'b'.repeat(64));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const SNAPSHOT_KEYS = ['deployment', 'dir', 'encrypted', 'host', 'id', 'sha256', 'size', 'time', 'type'];

describe('--json output shapes (docs/json-output.md)', () => {
  it('backups list: {store, snapshots, problems, leftovers}', async () => {
    const { code, value } = await json('backups', 'list', '--store', store);
    assert.equal(code, 0);
    const listing = value as { store: string; snapshots: Array<Record<string, unknown>> };
    assert.deepEqual(sortedKeys(listing), ['leftovers', 'problems', 'snapshots', 'store']);
    assert.equal(listing.store, store);
    assert.equal(listing.snapshots.length, 3);
    for (const s of listing.snapshots) assert.deepEqual(sortedKeys(s), SNAPSHOT_KEYS);
    assert.deepEqual(
      listing.snapshots.map((s) => [s.host, s.type, s.encrypted]),
      [
        ['ipa1', 'data', false],
        ['ipa1', 'data', false],
        ['ipa2', 'data', false],
      ],
    );
  });

  it('backups verify: one {id, host, ok, problems[]} per snapshot; exit 1 when one failed', async () => {
    const { code, value } = await json('backups', 'verify', '--all', '--store', store);
    assert.equal(code, 1);
    const results = value as Array<{ id: string; host: string; ok: boolean; problems: string[] }>;
    assert.equal(results.length, 3);
    for (const r of results) assert.deepEqual(sortedKeys(r), ['host', 'id', 'ok', 'problems']);
    assert.deepEqual(
      results.map((r) => [r.host, r.ok, r.problems.length]),
      [
        ['ipa1', true, 0],
        ['ipa1', true, 0],
        ['ipa2', false, 1],
      ],
    );
    assert.match(results[2]!.problems[0]!, /^archive: expected \d+ bytes SHA-256/);
  });

  it('backups prune: one {id, host, time, keep, reasons[], deployment} per snapshot', async () => {
    const { code, value } = await json('backups', 'prune', '--keep-last', '1', '--dry-run', '--store', store);
    assert.equal(code, 0);
    const decisions = value as Array<{ host: string; keep: boolean; reasons: string[]; deployment: string }>;
    assert.equal(decisions.length, 3);
    for (const d of decisions) assert.deepEqual(sortedKeys(d), ['deployment', 'host', 'id', 'keep', 'reasons', 'time']);
    assert.deepEqual(
      decisions.filter((d) => !d.keep).map((d) => d.host),
      ['ipa1'],
    );
    assert.ok(
      decisions.every((d) => d.deployment === 'prod' && (d.keep ? d.reasons.length > 0 : d.reasons.length === 0)),
    );
  });

  it('schedule status: {schedule, daemon, jobs, hosts, drills}', async () => {
    writeFileSync(
      join(tmp, 'inv.yml'),
      [
        'all:',
        '  vars:',
        '    deployment: prod',
        '    ldap:',
        '      instance: EXAMPLE-TEST',
        '      password: env:DM_PASSWORD',
        '    suffixes:',
        '      domain: dc=example,dc=test',
        '  hosts:',
        '    ipa1:',
        '    ipa2:',
        '',
      ].join('\n'),
    );
    const file = join(tmp, 'schedule.yml');
    writeFileSync(
      file,
      [
        'state: state.json',
        'jobs:',
        '  - name: nightly',
        '    inventory: inv.yml',
        "    cron: '0 2 * * *'",
        '    no_encrypt: true',
        `    store: ${store}`,
        '  - name: weekly-drill',
        '    kind: drill',
        '    inventory: inv.yml',
        "    cron: '0 4 * * 0'",
        `    store: ${store}`,
        '',
      ].join('\n'),
    );
    const { code, value } = await json('schedule', 'status', '-c', file);
    assert.equal(code, 0);
    const status = value as { schedule: string; daemon: unknown; jobs: unknown[]; hosts: unknown[]; drills: unknown[] };
    assert.deepEqual(sortedKeys(status), ['daemon', 'drills', 'hosts', 'jobs', 'schedule']);
    assert.equal(status.drills.length, 1);
    assertShape(status.drills[0], DRILL);
    assert.equal((status.drills[0] as { backup: string }).backup, 'latest');
    assert.equal(status.schedule, file);
    assert.equal(status.daemon, null);
    assert.equal(status.jobs.length, 1);
    assertShape(status.jobs[0], JOB);
    assert.equal(status.hosts.length, 2);
    for (const h of status.hosts) assertShape(h, HOST);
    // The store's snapshots show, though the daemon never ran.
    const ipa1 = status.hosts.find((h) => (h as { host: string }).host === 'ipa1') as Record<string, unknown>;
    assert.equal(ipa1.snapshotsKept, 2);
    assert.equal(ipa1.lastSuccess, '2026-11-26T02:00:00.000Z');
  });
});

/** Keys always there, and keys left out while they have no value (JSON has no undefined). */
interface Shape {
  required: string[];
  optional: string[];
}

const JOB: Shape = {
  required: ['job', 'deployment', 'cron', 'type', 'store', 'runs', 'failedRuns', 'skippedOverlaps'],
  optional: ['timezone', 'nextRun', 'lastRun', 'lastVerify'],
};
const DRILL: Shape = {
  required: ['job', 'deployment', 'cron', 'backup', 'store', 'runs', 'failedRuns', 'skippedOverlaps'],
  optional: ['timezone', 'nextRun', 'lastRun', 'lastPassed', 'recoverySeconds'],
};
const HOST: Shape = {
  required: ['deployment', 'host', 'jobs', 'consecutiveFailures', 'snapshotsKept'],
  optional: ['lastSuccess', 'lastAttempt', 'lastDurationSeconds', 'lastSizeBytes', 'newestSnapshot', 'lastError'],
};

function assertShape(value: unknown, shape: Shape): void {
  const keys = Object.keys(value as object);
  for (const k of shape.required) assert.ok(keys.includes(k), `${k} is there: ${JSON.stringify(value)}`);
  const extra = keys.filter((k) => !shape.required.includes(k) && !shape.optional.includes(k));
  assert.deepEqual(extra, [], 'no undocumented key');
}
