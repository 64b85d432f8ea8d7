// The snapshot store (staging → commit, list, find, remove, manifest validation, leftovers) and the
// store locks (shared / exclusive, dead and stale holders, unlock, races).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetError, UsageError } from '../../src/errors.js';
import type { Manifest } from '../../src/backup/manifest.js';
import {
  defaultStoreDir,
  newSnapshotId,
  parseManifestTime,
  SnapshotStore,
  validateManifest,
} from '../../src/backup/store.js';
import {
  acquireStoreLock,
  breakStoreLocks,
  listStoreLocks,
  StoreLockHeldError,
  type StoreLockInfo,
} from '../../src/backup/store-lock.js';
import { processAlive } from '../../src/process-liveness.js';

let tmp: string;
let counter = 0;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-store-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function freshRoot(): string {
  const dir = join(tmp, `store-${++counter}`);
  mkdirSync(dir);
  return dir;
}

function deadPid(): number {
  for (let pid = 999_999; pid < 1_100_000; pid++) if (!processAlive(pid)) return pid;
  throw new Error('no free pid found');
}

const ARCHIVE = Buffer.from('not really a tar, but bytes all the same\n');

function manifest(over: {
  id: string;
  deployment?: string;
  hostName?: string;
  time?: string;
  type?: 'DATA' | 'FULL';
}): Manifest {
  return {
    schema: 'ipa-fleet/snapshot/v1',
    id: over.id,
    deployment: over.deployment ?? 'prod',
    hostName: over.hostName ?? 'ipa1',
    fqdn: 'ipa1.example.test',
    toolVersion: '0.1.0',
    dsVersion: '2.4.5',
    instance: 'EXAMPLE-TEST',
    profile: 'freeipa',
    roles: ['ca'],
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
    missingPaths: ['/etc/does-not-exist'],
    files: [{ path: 'ldif/userRoot.ldif', size: 1234, sha256: 'a'.repeat(64) }],
    archive: {
      name: 'archive.tar.gz.pgp',
      size: ARCHIVE.length,
      sha256: 'b'.repeat(64),
      compression: 'gzip',
      encrypted: true,
      recipients: ['C'.repeat(40)],
    },
    type: over.type ?? 'DATA',
    time: over.time ?? '2026-11-26T10:15:00.000Z',
    host: 'ipa1.example.test',
    ipa_version: '4.12.2',
    version: '1',
    services: ['ipactl'],
  };
}

/** A committed snapshot, as a backup would leave it. */
async function snapshot(
  store: SnapshotStore,
  o: { deployment?: string; host?: string; id?: string; time?: string } = {},
): Promise<string> {
  const deployment = o.deployment ?? 'prod';
  const host = o.host ?? 'ipa1';
  const time = o.time ?? '2026-11-26T10:15:00.000Z';
  const id = o.id ?? newSnapshotId(new Date(time));
  const pending = await store.beginSnapshot(deployment, host, id);
  writeFileSync(pending.archivePath('archive.tar.gz.pgp'), ARCHIVE);
  await pending.commit(manifest({ id, deployment, hostName: host, time }));
  return id;
}

describe('snapshot ids and the default store', () => {
  it('are UTC time to the second plus 6 hex digits, and sort by time', () => {
    const a = newSnapshotId(new Date('2026-11-26T10:15:00.123Z'));
    assert.match(a, /^20261126T101500Z-[0-9a-f]{6}$/);
    const b = newSnapshotId(new Date('2026-11-26T10:15:01Z'));
    assert.ok(a < b);
    assert.notEqual(newSnapshotId(), newSnapshotId());
  });

  it('lives in the state dir', () => {
    assert.equal(defaultStoreDir({ XDG_STATE_HOME: '/x/state' }), '/x/state/ipa-fleet/store');
  });

  it('reads manifest times with a zone, and without one as UTC', () => {
    assert.equal(parseManifestTime('2026-11-26T10:15:00')?.toISOString(), '2026-11-26T10:15:00.000Z');
    assert.equal(parseManifestTime('2026-11-26T11:15:00+01:00')?.toISOString(), '2026-11-26T10:15:00.000Z');
    assert.equal(parseManifestTime('yesterday'), undefined);
  });
});

describe('staging and commit', () => {
  it('shows nothing of a snapshot before commit, and all of it after', async () => {
    const root = freshRoot();
    const store = new SnapshotStore(root);
    const id = newSnapshotId(new Date('2026-11-26T10:15:00Z'));
    const pending = await store.beginSnapshot('prod', 'ipa1', id);
    assert.equal(pending.dir, join(root, 'prod', 'ipa1', `.${id}.partial`));
    assert.equal(statSync(pending.dir).mode & 0o777, 0o700);
    writeFileSync(pending.archivePath('archive.tar.gz.pgp'), ARCHIVE);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual((await store.scan()).problems, []);

    const dir = await pending.commit(manifest({ id }));
    assert.equal(dir, store.snapshotDir('prod', 'ipa1', id));
    assert.equal(existsSync(pending.dir), false);
    assert.equal(statSync(join(dir, 'manifest.json')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir).sort(), ['archive.tar.gz.pgp', 'manifest.json']);

    const [entry, ...rest] = await store.list();
    assert.equal(rest.length, 0);
    assert.equal(entry!.id, id);
    assert.equal(entry!.deployment, 'prod');
    assert.equal(entry!.host, 'ipa1');
    assert.equal(entry!.type, 'data');
    assert.equal(entry!.time, '2026-11-26T10:15:00.000Z');
    assert.equal(entry!.size, ARCHIVE.length);
    assert.equal(entry!.dir, dir);
    assert.equal(entry!.archive, join(dir, 'archive.tar.gz.pgp'));
    assert.deepEqual(entry!.manifest, manifest({ id }));

    await pending.abort(); // after commit: a no-op, so it can sit in a finally
    assert.equal((await store.list()).length, 1);
    await assert.rejects(pending.commit(manifest({ id })), /already committed/);
  });

  it('abort removes the staging folder, twice is fine', async () => {
    const store = new SnapshotStore(freshRoot());
    const pending = await store.beginSnapshot('prod', 'ipa1', newSnapshotId());
    writeFileSync(pending.archivePath('archive.tar.gz.pgp'), ARCHIVE);
    await pending.abort();
    await pending.abort();
    assert.equal(existsSync(pending.dir), false);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await store.staleStaging(0), []);
  });

  it('commit refuses a manifest that does not match the snapshot or its archive', async () => {
    const store = new SnapshotStore(freshRoot());
    const id = newSnapshotId();
    const pending = await store.beginSnapshot('prod', 'ipa1', id);
    await assert.rejects(pending.commit(manifest({ id })), /archive .* is missing/);
    writeFileSync(pending.archivePath('archive.tar.gz.pgp'), ARCHIVE);
    await assert.rejects(pending.commit(manifest({ id: newSnapshotId(new Date(0)) })), /manifest\.id/);
    await assert.rejects(pending.commit(manifest({ id, hostName: 'ipa2' })), /manifest\.hostName/);
    await assert.rejects(
      pending.commit({ ...manifest({ id }), archive: { ...manifest({ id }).archive, size: 1 } }),
      /is \d+ bytes, the manifest says 1/,
    );
    await assert.rejects(
      pending.commit({ ...manifest({ id }), files: [{ path: '../x', size: 1, sha256: 'a'.repeat(64) }] }),
      /manifest\.files\[0\]\.path/,
    );
    assert.deepEqual(await store.list(), []);
    await pending.commit(manifest({ id }));
    assert.equal((await store.list()).length, 1);
  });

  it('refuses names that would leave the store, and ids that exist', async () => {
    const store = new SnapshotStore(freshRoot());
    const id = newSnapshotId();
    await assert.rejects(store.beginSnapshot('../etc', 'ipa1', id), UsageError);
    await assert.rejects(store.beginSnapshot('prod', '.hidden', id), UsageError);
    await assert.rejects(store.beginSnapshot('prod', 'a/b', id), UsageError);
    await assert.rejects(store.beginSnapshot('prod', 'ipa1', '../../x'), UsageError);
    const pending = await store.beginSnapshot('prod', 'ipa1', id);
    assert.throws(() => pending.archivePath('../escape'), /plain file name/);
    assert.throws(() => pending.archivePath('manifest.json'), /must not be manifest.json/);
    await assert.rejects(store.beginSnapshot('prod', 'ipa1', id), /already being written/);
    writeFileSync(pending.archivePath('archive.tar.gz.pgp'), ARCHIVE);
    await pending.commit(manifest({ id }));
    await assert.rejects(store.beginSnapshot('prod', 'ipa1', id), /already exists/);
  });

  it("removeOrphanedStaging: a staging folder whose writer died goes; a live writer's and an ownerless one stay", async () => {
    const store = new SnapshotStore(freshRoot());
    const dead = await store.beginSnapshot('prod', 'ipa1', newSnapshotId(new Date(Date.now() - 3000)));
    writeFileSync(join(dead.dir, '.owner'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
    const live = await store.beginSnapshot('prod', 'ipa1', newSnapshotId(new Date(Date.now() - 2000)));
    const ownerless = await store.beginSnapshot('prod', 'ipa1', newSnapshotId(new Date(Date.now() - 1000)));
    rmSync(join(ownerless.dir, '.owner'));
    const elsewhere = await store.beginSnapshot('prod', 'ipa1', newSnapshotId());
    writeFileSync(join(elsewhere.dir, '.owner'), JSON.stringify({ pid: 2 ** 22 + 12345, host: 'another-controller' }));
    assert.deepEqual(await store.removeOrphanedStaging('prod', 'ipa1'), [dead.dir]);
    assert.equal(existsSync(dead.dir), false);
    for (const p of [live, ownerless, elsewhere]) assert.equal(existsSync(p.dir), true);
    // The owner file does not travel into the committed snapshot.
    writeFileSync(live.archivePath('archive.tar.gz.pgp'), ARCHIVE);
    const dir = await live.commit(manifest({ id: live.id }));
    assert.deepEqual(readdirSync(dir).sort(), ['archive.tar.gz.pgp', 'manifest.json']);
  });

  it('a crashed backup leaves only a staging folder: never listed, reported by staleStaging once old', async () => {
    const root = freshRoot();
    const store = new SnapshotStore(root);
    await snapshot(store);
    const id = newSnapshotId();
    const pending = await store.beginSnapshot('prod', 'ipa1', id);
    writeFileSync(pending.archivePath('archive.tar.gz.pgp'), ARCHIVE);
    writeFileSync(join(pending.dir, 'manifest.json'), JSON.stringify(manifest({ id }))); // even with a manifest
    // … and the process dies here.
    assert.deepEqual((await store.list()).map((e) => e.id).includes(id), false);
    assert.deepEqual((await store.scan()).problems, []);
    assert.deepEqual(await store.staleStaging(60 * 60 * 1000), [], 'a young staging folder may be a running backup');

    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const f of [...readdirSync(pending.dir).map((n) => join(pending.dir, n)), pending.dir])
      utimesSync(f, old, old);
    const stale = await store.staleStaging(60 * 60 * 1000);
    assert.equal(stale.length, 1);
    assert.equal(stale[0]!.id, id);
    assert.equal(stale[0]!.kind, 'partial');
    assert.equal(stale[0]!.dir, pending.dir);
    assert.equal(stale[0]!.deployment, 'prod');
    assert.equal(stale[0]!.host, 'ipa1');
    assert.ok(stale[0]!.ageMs >= 2 * 60 * 60 * 1000 - 1000);

    await store.removeStaging(stale[0]!);
    assert.equal(existsSync(pending.dir), false);
    await assert.rejects(
      store.removeStaging({ deployment: 'prod', host: 'ipa1', dir: join(root, 'prod', 'ipa1', stale[0]!.id) }),
      /not a staging folder/,
    );
    assert.equal((await store.list()).length, 1);
  });
});

describe('list, find and remove', () => {
  it('sorts by deployment, host, time and filters', async () => {
    const store = new SnapshotStore(freshRoot());
    await snapshot(store, { deployment: 'prod', host: 'ipa2', time: '2026-01-01T00:00:00Z' });
    await snapshot(store, { deployment: 'prod', host: 'ipa1', time: '2026-03-01T00:00:00Z' });
    await snapshot(store, { deployment: 'prod', host: 'ipa1', time: '2026-02-01T00:00:00Z' });
    await snapshot(store, { deployment: 'lab', host: 'ipa1', time: '2026-04-01T00:00:00Z' });
    const all = await store.list();
    assert.deepEqual(
      all.map((e) => `${e.deployment}/${e.host}/${e.time.slice(0, 7)}`),
      ['lab/ipa1/2026-04', 'prod/ipa1/2026-02', 'prod/ipa1/2026-03', 'prod/ipa2/2026-01'],
    );
    assert.equal((await store.list({ deployment: 'prod' })).length, 3);
    assert.equal((await store.list({ deployment: 'prod', host: 'ipa1' })).length, 2);
    assert.deepEqual(await store.list({ deployment: 'nothing' }), []);
    assert.deepEqual(await new SnapshotStore(join(tmp, 'no-such-store')).list(), []);
  });

  it('reports unreadable, invalid and misplaced manifests as problems instead of failing', async () => {
    const root = freshRoot();
    const store = new SnapshotStore(root);
    const good = await snapshot(store);
    const hostDir = join(root, 'prod', 'ipa1');

    const edited = newSnapshotId(new Date('2026-05-01T00:00:00Z'));
    mkdirSync(join(hostDir, edited));
    writeFileSync(join(hostDir, edited, 'archive.tar.gz.pgp'), ARCHIVE);
    writeFileSync(
      join(hostDir, edited, 'manifest.json'),
      JSON.stringify({
        ...manifest({ id: edited }),
        files: [{ path: '/etc/shadow', size: 1, sha256: 'a'.repeat(64) }],
      }),
    );

    const noJson = newSnapshotId(new Date('2026-05-02T00:00:00Z'));
    mkdirSync(join(hostDir, noJson));
    writeFileSync(join(hostDir, noJson, 'manifest.json'), '{"schema": "ipa-fleet/snap');

    const missing = newSnapshotId(new Date('2026-05-03T00:00:00Z'));
    mkdirSync(join(hostDir, missing));

    const moved = newSnapshotId(new Date('2026-05-04T00:00:00Z'));
    mkdirSync(join(hostDir, moved));
    writeFileSync(join(hostDir, moved, 'archive.tar.gz.pgp'), ARCHIVE);
    writeFileSync(join(hostDir, moved, 'manifest.json'), JSON.stringify(manifest({ id: moved, hostName: 'ipa9' })));

    const truncated = newSnapshotId(new Date('2026-05-05T00:00:00Z'));
    mkdirSync(join(hostDir, truncated));
    writeFileSync(join(hostDir, truncated, 'archive.tar.gz.pgp'), ARCHIVE.subarray(0, 5));
    writeFileSync(join(hostDir, truncated, 'manifest.json'), JSON.stringify(manifest({ id: truncated })));

    mkdirSync(join(hostDir, 'not-a-snapshot'));

    const { snapshots, problems } = await store.scan();
    assert.deepEqual(
      snapshots.map((e) => e.id),
      [good],
    );
    assert.deepEqual(
      (await store.list()).map((e) => e.id),
      [good],
    );
    const byId = new Map(problems.map((p) => [p.id, p.problem]));
    assert.equal(problems.length, 6);
    assert.match(byId.get(edited)!, /manifest\.files\[0\]\.path: must be relative/);
    assert.match(byId.get(noJson)!, /not valid JSON/);
    assert.match(byId.get(missing)!, /no manifest\.json/);
    assert.match(byId.get(moved)!, /manifest\.hostName: is 'ipa9' but the snapshot belongs to host 'ipa1'/);
    assert.match(byId.get(truncated)!, /is 5 bytes, the manifest says \d+/);
    assert.match(byId.get('not-a-snapshot')!, /not a snapshot folder/);
    assert.ok(problems.every((p) => p.deployment === 'prod' && p.host === 'ipa1' && p.dir === join(hostDir, p.id)));
  });

  it('finds by id, unique prefix or deployment/host/id; none and ambiguous are usage errors', async () => {
    const store = new SnapshotStore(freshRoot());
    const a = await snapshot(store, { host: 'ipa1', id: '20261126T101500Z-aaaaaa' });
    const b = await snapshot(store, { host: 'ipa2', id: '20261126T101500Z-aabbbb' });
    await snapshot(store, { host: 'ipa1', id: '20261127T000000Z-cccccc' });
    assert.equal((await store.find(a)).id, a);
    assert.equal((await store.find('20261126T101500Z-aab')).id, b);
    assert.equal((await store.find('20261127')).host, 'ipa1');
    assert.equal((await store.find('prod/ipa1/20261126')).id, a);

    const ambiguous = await store.find('20261126T101500Z-aa').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(ambiguous instanceof UsageError);
    assert.match(
      ambiguous.message,
      /ambiguous: it matches 2 snapshots \(prod\/ipa1\/20261126T101500Z-aaaaaa, prod\/ipa2\/20261126T101500Z-aabbbb\)/,
    );
    await assert.rejects(
      store.find('2030'),
      (e: unknown) => e instanceof UsageError && /no snapshot '2030'/.test(e.message),
    );
    await assert.rejects(store.find(''), UsageError);
    await assert.rejects(store.find('a/b'), UsageError);
  });

  it('remove deletes one snapshot and leaves the others', async () => {
    const store = new SnapshotStore(freshRoot());
    const a = await snapshot(store, { time: '2026-01-01T00:00:00Z' });
    const b = await snapshot(store, { time: '2026-01-02T00:00:00Z' });
    const entry = await store.find(a);
    await store.remove(entry);
    assert.equal(existsSync(entry.dir), false);
    assert.deepEqual(
      (await store.list()).map((e) => e.id),
      [b],
    );
    assert.deepEqual(readdirSync(join(store.root, 'prod', 'ipa1')), [b]);
    await store.remove(entry); // already gone: fine
  });
});

describe('manifest validation', () => {
  const id = '20261126T101500Z-abcdef';
  type Edit = [string, (m: Record<string, any>) => void, RegExp];
  const edits: Edit[] = [
    [
      'wrong schema',
      (m) => {
        m.schema = 'ipa-fleet/snapshot/v9';
      },
      /manifest\.schema: must be 'ipa-fleet\/snapshot\/v1'/,
    ],
    [
      'id with a path',
      (m) => {
        m.id = '../../etc';
      },
      /manifest\.id: .* is not a snapshot id/,
    ],
    [
      'deployment with a slash',
      (m) => {
        m.deployment = 'a/b';
      },
      /manifest\.deployment: .*not a valid deployment name/,
    ],
    [
      'hostName missing',
      (m) => {
        delete m.hostName;
      },
      /manifest\.hostName: must be a string, not undefined/,
    ],
    [
      'fqdn a number',
      (m) => {
        m.fqdn = 7;
      },
      /manifest\.fqdn: must be a string, not number 7/,
    ],
    [
      'profile unknown',
      (m) => {
        m.profile = 'ad';
      },
      /manifest\.profile: must be one of '389ds', 'freeipa'/,
    ],
    [
      'roles not strings',
      (m) => {
        m.roles = ['ca', 3];
      },
      /manifest\.roles\[1\]: must be a string/,
    ],
    [
      'suffix kind',
      (m) => {
        m.suffixes[0].kind = 'other';
      },
      /manifest\.suffixes\[0\]\.kind/,
    ],
    [
      'suffix rid 0',
      (m) => {
        m.suffixes[0].rid = 0;
      },
      /manifest\.suffixes\[0\]\.rid: must be between 1 and 65535/,
    ],
    [
      'entry count fractional',
      (m) => {
        m.suffixes[0].entryCount = 1.5;
      },
      /manifest\.suffixes\[0\]\.entryCount: must be a non-negative integer/,
    ],
    [
      'exported entries negative',
      (m) => {
        m.suffixes[0].exportedEntries = -1;
      },
      /manifest\.suffixes\[0\]\.exportedEntries: must be a non-negative integer, not number -1/,
    ],
    [
      'exported entries a string',
      (m) => {
        (m.suffixes[0] as unknown as Record<string, unknown>).exportedEntries = '2207';
      },
      /manifest\.suffixes\[0\]\.exportedEntries: must be a non-negative integer/,
    ],
    [
      'ldif path escaping',
      (m) => {
        m.suffixes[0].ldif = 'ldif/../../x';
      },
      /manifest\.suffixes\[0\]\.ldif: must not contain '\.\.'/,
    ],
    [
      'file path absolute',
      (m) => {
        m.files[0].path = '/etc/shadow';
      },
      /manifest\.files\[0\]\.path: must be relative/,
    ],
    [
      'file path with ..',
      (m) => {
        m.files[0].path = '../outside';
      },
      /manifest\.files\[0\]\.path: must not contain '\.\.'/,
    ],
    [
      'file path with NUL',
      (m) => {
        m.files[0].path = 'a\0b';
      },
      /manifest\.files\[0\]\.path: contains a control character/,
    ],
    [
      'file listed twice',
      (m) => {
        m.files.push({ ...m.files[0] });
      },
      /manifest\.files\[1\]\.path: .* is listed twice/,
    ],
    [
      'file size negative',
      (m) => {
        m.files[0].size = -1;
      },
      /manifest\.files\[0\]\.size: must be a non-negative integer, not number -1/,
    ],
    [
      'file size a string',
      (m) => {
        m.files[0].size = '12';
      },
      /manifest\.files\[0\]\.size: must be a non-negative integer/,
    ],
    [
      'file sha256 short',
      (m) => {
        m.files[0].sha256 = 'abc';
      },
      /manifest\.files\[0\]\.sha256: must be 64 lowercase hex digits/,
    ],
    [
      'files not an array',
      (m) => {
        m.files = {};
      },
      /manifest\.files: must be an array, not an object/,
    ],
    [
      'archive name with a path',
      (m) => {
        m.archive.name = '../../.bashrc';
      },
      /manifest\.archive\.name: must be a plain file name/,
    ],
    [
      'archive name hidden',
      (m) => {
        m.archive.name = '.x';
      },
      /manifest\.archive\.name: must not start with '\.'/,
    ],
    [
      'archive name manifest.json',
      (m) => {
        m.archive.name = 'manifest.json';
      },
      /manifest\.archive\.name: must not be manifest\.json/,
    ],
    [
      'archive sha256 not hex',
      (m) => {
        m.archive.sha256 = 'z'.repeat(64);
      },
      /manifest\.archive\.sha256/,
    ],
    [
      'archive size huge',
      (m) => {
        m.archive.size = 2 ** 60;
      },
      /manifest\.archive\.size: must be a non-negative integer/,
    ],
    [
      'archive compression',
      (m) => {
        m.archive.compression = 'xz';
      },
      /manifest\.archive\.compression/,
    ],
    [
      'encrypted without recipients',
      (m) => {
        m.archive.recipients = [];
      },
      /manifest\.archive\.recipients: is empty but the archive is encrypted/,
    ],
    [
      'recipient not a fingerprint',
      (m) => {
        m.archive.recipients = ['alice@example.test'];
      },
      /manifest\.archive\.recipients\[0\]: must be an OpenPGP fingerprint/,
    ],
    [
      'encrypted not boolean',
      (m) => {
        m.archive.encrypted = 'yes';
      },
      /manifest\.archive\.encrypted: must be true or false/,
    ],
    [
      'archive missing',
      (m) => {
        delete m.archive;
      },
      /manifest\.archive: must be an object, not undefined/,
    ],
    [
      'type',
      (m) => {
        m.type = 'INCREMENTAL';
      },
      /manifest\.type: must be one of 'DATA', 'FULL'/,
    ],
    [
      'time',
      (m) => {
        m.time = 'last tuesday';
      },
      /manifest\.time: .* is not an ISO 8601 time/,
    ],
    [
      'services',
      (m) => {
        m.services = 'ipactl';
      },
      /manifest\.services: must be an array/,
    ],
  ];
  for (const [what, edit, expected] of edits) {
    it(`rejects: ${what}`, () => {
      const json = JSON.parse(JSON.stringify(manifest({ id }))) as Record<string, any>;
      edit(json);
      assert.throws(
        () => validateManifest(json, '/store/x/manifest.json'),
        (err: unknown) => {
          assert.ok(err instanceof FleetError);
          assert.equal(err.kind, 'failure');
          assert.ok(err.message.startsWith('/store/x/manifest.json: manifest.'), err.message);
          assert.match(err.message, expected);
          return true;
        },
      );
    });
  }

  it('rejects a manifest that is not an object', () => {
    assert.throws(() => validateManifest([], 'm.json'), /m\.json: manifest\.\(root\): must be an object, not an array/);
    assert.throws(() => validateManifest(null, 'm.json'), /must be an object, not null/);
  });

  it('accepts a good manifest, keeps optional fields optional and drops unknown fields', () => {
    const json = JSON.parse(
      JSON.stringify({ ...manifest({ id }), extra: 'ignored', dsVersion: undefined, ipa_version: null }),
    ) as unknown;
    const m = validateManifest(json, 'm.json');
    assert.equal(m.dsVersion, undefined);
    assert.equal(m.ipa_version, undefined);
    assert.equal((m as unknown as Record<string, unknown>).extra, undefined);
    assert.deepEqual(
      validateManifest(JSON.parse(JSON.stringify(manifest({ id }))) as unknown, 'm.json'),
      manifest({ id }),
    );
    const plain = { ...manifest({ id }), archive: { ...manifest({ id }).archive, encrypted: false, recipients: [] } };
    assert.equal(validateManifest(plain, 'm.json').archive.encrypted, false);
  });

  it("reads the export's count of a new manifest; an older one (a live entryCount) stays without it", () => {
    const older = validateManifest(JSON.parse(JSON.stringify(manifest({ id }))) as unknown, 'm.json');
    assert.equal(older.suffixes[0]!.entryCount, 42);
    assert.ok(!('exportedEntries' in older.suffixes[0]!), 'no exportedEntries key in an older manifest');
    const fresh = manifest({ id });
    fresh.suffixes[0] = { ...fresh.suffixes[0]!, exportedEntries: 2207, entryCount: undefined };
    const read = validateManifest(JSON.parse(JSON.stringify(fresh)) as unknown, 'm.json');
    assert.equal(read.suffixes[0]!.exportedEntries, 2207);
    assert.equal(read.suffixes[0]!.entryCount, undefined);
  });
});

describe('the manifest topology (what a restore drill rebuilds)', () => {
  const id = newSnapshotId(new Date('2026-11-26T10:15:00Z'));
  const topology = {
    fqdn: 'ipa1.example.test',
    instance: 'EXAMPLE-TEST',
    port: 389,
    roles: ['ca'],
    backends: [
      { name: 'userRoot', suffix: 'dc=example,dc=test' },
      { name: 'ipaca', suffix: 'o=ipaca' },
    ],
    suffixes: [
      {
        kind: 'domain' as const,
        suffix: 'dc=example,dc=test',
        backend: 'userRoot',
        rid: 4,
        agreements: [{ host: 'ipa2.example.test', port: 389, enabled: true }],
      },
      { kind: 'ca' as const, suffix: 'o=ipaca', backend: 'ipaca', rid: 1004, agreements: [] },
    ],
  };

  it('is kept when present and optional (an older manifest without it stays valid)', () => {
    const m = validateManifest(JSON.parse(JSON.stringify({ ...manifest({ id }), topology })) as unknown, 'm.json');
    assert.deepEqual(m.topology, topology);
    assert.equal(
      validateManifest(JSON.parse(JSON.stringify(manifest({ id }))) as unknown, 'm.json').topology,
      undefined,
    );
  });

  it('is checked like the rest of the manifest', () => {
    const bad = JSON.parse(JSON.stringify({ ...manifest({ id }), topology })) as Record<string, any>;
    bad.topology.suffixes[0].agreements[0].enabled = 'yes';
    assert.throws(
      () => validateManifest(bad, 'm.json'),
      /manifest\.topology\.suffixes\[0\]\.agreements\[0\]\.enabled: must be true or false/,
    );
    bad.topology.suffixes[0].agreements[0].enabled = true;
    bad.topology.port = 0;
    assert.throws(() => validateManifest(bad, 'm.json'), /manifest\.topology\.port: must be a TCP port/);
  });
});

describe('store locks', () => {
  const collect = (): { warnings: string[]; warn: (m: string, l: StoreLockInfo) => void } => {
    const warnings: string[] = [];
    return {
      warnings,
      warn: (m) => {
        warnings.push(m);
      },
    };
  };

  it('lets several shared holders in, and releases them', async () => {
    const root = freshRoot();
    const r1 = await acquireStoreLock(root, 'prod', 'shared', 'backup ipa1');
    const r2 = await acquireStoreLock(root, 'prod', 'shared', 'verify');
    const locks = await listStoreLocks(root);
    assert.equal(locks.length, 2);
    assert.ok(
      locks.every(
        (l) => l.kind === 'shared' && l.pid === process.pid && l.host === hostname() && l.stale === undefined,
      ),
    );
    assert.deepEqual(locks.map((l) => l.command).sort(), ['backup ipa1', 'verify']);
    const file = JSON.parse(readFileSync(locks[0]!.file, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(file).sort(), ['command', 'host', 'kind', 'pid', 'time', 'token']);
    await r1();
    await r1();
    await r2();
    assert.deepEqual(await listStoreLocks(root), []);
  });

  it('refuses exclusive while shared is held, and shared while exclusive is held, naming the holder', async () => {
    const root = freshRoot();
    const shared = await acquireStoreLock(root, 'prod', 'shared', 'backup ipa1');
    const err1 = await acquireStoreLock(root, 'prod', 'exclusive', 'prune').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err1 instanceof StoreLockHeldError);
    assert.equal(err1.kind, 'lock');
    assert.match(
      err1.message,
      new RegExp(
        `cannot take the exclusive store lock of deployment 'prod': shared lock by 'backup ipa1' \\(pid ${process.pid} on ${hostname()}, since \\d{4}-`,
      ),
    );
    assert.match(err1.message, /lock files in .*prod\/\.locks/);
    assert.equal(err1.holders.length, 1);
    // Another deployment is not affected.
    await (await acquireStoreLock(root, 'lab', 'exclusive', 'prune'))();
    await shared();

    const exclusive = await acquireStoreLock(root, 'prod', 'exclusive', 'prune --keep-daily 7');
    const err2 = await acquireStoreLock(root, 'prod', 'shared', 'backup ipa1').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err2 instanceof FleetError);
    assert.equal(err2.kind, 'lock');
    assert.match(err2.message, /exclusive lock by 'prune --keep-daily 7' \(pid \d+ on .*, since /);
    await assert.rejects(acquireStoreLock(root, 'prod', 'exclusive', 'prune'), StoreLockHeldError);
    await exclusive();
    await (await acquireStoreLock(root, 'prod', 'shared', 'backup ipa1'))();
  });

  it('removes a lock of a dead process on this host, with a warning', async () => {
    const root = freshRoot();
    const dir = join(root, 'prod', '.locks');
    mkdirSync(dir, { recursive: true });
    const pid = deadPid();
    writeFileSync(
      join(dir, `shared-${pid}-abcd.json`),
      JSON.stringify({ kind: 'shared', pid, host: hostname(), command: 'backup ipa1', time: new Date().toISOString() }),
    );
    writeFileSync(
      join(dir, 'exclusive.json'),
      JSON.stringify({ kind: 'exclusive', pid, host: hostname(), command: 'prune', time: new Date().toISOString() }),
    );
    assert.deepEqual(
      (await listStoreLocks(root)).map((l) => l.stale),
      ['dead', 'dead'],
    );
    const { warnings, warn } = collect();
    const release = await acquireStoreLock(root, 'prod', 'exclusive', 'prune', { warn });
    assert.equal(warnings.length, 2);
    assert.ok(
      warnings.every((w) => w.includes(`pid ${pid} on ${hostname()} is gone`)),
      warnings.join('\n'),
    );
    assert.deepEqual(readdirSync(dir), ['exclusive.json']);
    assert.equal((JSON.parse(readFileSync(join(dir, 'exclusive.json'), 'utf8')) as { pid: number }).pid, process.pid);
    await release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('reports an old lock as stale but keeps it; a dead pid on another host is only judged by age', async () => {
    const root = freshRoot();
    const dir = join(root, 'prod', '.locks');
    mkdirSync(dir, { recursive: true });
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000).toISOString();
    writeFileSync(
      join(dir, 'exclusive.json'),
      JSON.stringify({
        kind: 'exclusive',
        pid: deadPid(),
        host: 'other-controller',
        command: 'prune',
        time: twoDaysAgo,
      }),
    );
    const { warnings, warn } = collect();
    const err = await acquireStoreLock(root, 'prod', 'shared', 'backup ipa1', warn).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof StoreLockHeldError);
    assert.match(
      err.message,
      /exclusive lock by 'prune' \(pid \d+ on other-controller, since .*\), stale: held for 2 days by another machine/,
    );
    assert.match(err.message, /ipa-fleet backups unlock prod/);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /looks stale.*it is kept/);
    assert.ok(existsSync(join(dir, 'exclusive.json')));

    // A fresh lock from another machine is live, whatever its pid means here.
    writeFileSync(
      join(dir, 'exclusive.json'),
      JSON.stringify({
        kind: 'exclusive',
        pid: deadPid(),
        host: 'other-controller',
        command: 'prune',
        time: new Date().toISOString(),
      }),
    );
    const quiet = collect();
    await assert.rejects(acquireStoreLock(root, 'prod', 'shared', 'backup', quiet.warn), StoreLockHeldError);
    assert.deepEqual(quiet.warnings, []);
    // staleAfterMs is configurable.
    const [info] = await listStoreLocks(root, { staleAfterMs: 0, now: () => new Date(Date.now() + 1000) });
    assert.equal(info!.stale, 'old');
  });

  it('treats an unreadable lock file as held, and says so', async () => {
    const root = freshRoot();
    const dir = join(root, 'prod', '.locks');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'shared-123-ab.json'), 'garbage');
    const { warnings, warn } = collect();
    await assert.rejects(
      acquireStoreLock(root, 'prod', 'exclusive', 'prune', { warn }),
      /shared lock with an unreadable file .*shared-123-ab\.json/,
    );
    assert.equal(warnings.length, 1);
    await (await acquireStoreLock(root, 'prod', 'shared', 'backup'))(); // shared does not conflict with shared
  });

  it('breakStoreLocks removes every lock of the deployment and returns them; a broken holder releases nothing of others', async () => {
    const root = freshRoot();
    const exclusive = await acquireStoreLock(root, 'prod', 'exclusive', 'prune');
    await acquireStoreLock(root, 'lab', 'shared', 'backup ipa1');
    const removed = await breakStoreLocks(root, 'prod');
    assert.equal(removed.length, 1);
    assert.equal(removed[0]!.kind, 'exclusive');
    assert.equal(removed[0]!.command, 'prune');
    assert.deepEqual(
      (await listStoreLocks(root)).map((l) => l.deployment),
      ['lab'],
    );
    const next = await acquireStoreLock(root, 'prod', 'exclusive', 'prune again');
    await exclusive(); // the broken holder's release must not remove the new holder's file
    assert.deepEqual(
      (await listStoreLocks(root, { deployment: 'prod' })).map((l) => l.command),
      ['prune again'],
    );
    await next();
    assert.deepEqual(await breakStoreLocks(root, 'prod'), []);
    await assert.rejects(breakStoreLocks(root, '../x'), UsageError);
  });

  it('of several concurrent exclusive takers exactly one wins', async () => {
    const root = freshRoot();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => acquireStoreLock(root, 'prod', 'exclusive', `prune ${i}`)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 7);
    assert.ok(
      lost.every((r) => r.reason instanceof FleetError && r.reason.kind === 'lock'),
      String(lost[0]?.reason),
    );
    assert.equal((await listStoreLocks(root)).length, 1);
    await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
    assert.deepEqual(await listStoreLocks(root), []);
  });

  it('concurrent shared and exclusive takers never both win', async () => {
    for (let round = 0; round < 20; round++) {
      const root = freshRoot();
      const takers = [
        acquireStoreLock(root, 'prod', 'shared', 'backup a'),
        acquireStoreLock(root, 'prod', 'exclusive', 'prune'),
        acquireStoreLock(root, 'prod', 'shared', 'backup b'),
      ];
      const results = await Promise.allSettled(takers);
      const exclusiveWon = results[1]!.status === 'fulfilled';
      const sharedWon = results[0]!.status === 'fulfilled' || results[2]!.status === 'fulfilled';
      assert.ok(!(exclusiveWon && sharedWon), `round ${round}: exclusive and shared both held`);
      for (const r of results) if (r.status === 'fulfilled') await r.value();
      assert.deepEqual(await listStoreLocks(root), []);
    }
  });
});
