import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Agreement, initializeConsumer, initOutcome, parseAgreement } from '../../src/directory/agreements.js';
import { DirEntry, type LdapSession, LdapTimeoutError } from '../../src/transport/ldap.js';

const GREEN = JSON.stringify({
  state: 'green',
  ldap_rc: '0',
  ldap_rc_text: 'Success',
  repl_rc: '0',
  repl_rc_text: 'replica acquired',
  date: '2025-01-16T10:00:05Z',
  message: 'Error (0) Total update succeeded',
});
const RED = JSON.stringify({
  state: 'red',
  ldap_rc: '-1',
  ldap_rc_text: "Can't contact LDAP server",
  repl_rc: '16',
  repl_rc_text: 'connection error',
  date: '2025-01-16T10:00:05Z',
  message: 'Error (-1) Total update aborted',
});

/** The agreement as read just before the refresh was started: initialized once, a while ago. */
function before(over: Partial<Agreement> = {}): Agreement {
  return {
    dn: 'cn=meTob.ipa.test,cn=replica,cn=dc\\3Dipa\\2Cdc\\3Dtest,cn=mapping tree,cn=config',
    name: 'meTob.ipa.test',
    suffix: 'dc=ipa,dc=test',
    targetHost: 'b.ipa.test',
    targetPort: 389,
    enabled: true,
    schedule: undefined,
    updateInProgress: false,
    refreshPending: false,
    lastUpdateStatus: 'Error (0) Replica acquired successfully: Incremental update succeeded',
    lastUpdateStatusJson: undefined,
    lastInitStatus: 'Error (0) Total update succeeded',
    lastInitStatusJson: GREEN,
    lastInitStart: '20250115090000Z',
    lastInitEnd: '20250115090003Z',
    ...over,
  };
}

/** A later poll: a new init started at 10:00:00 and (unless overridden) ended at 10:00:05. */
function later(base: Agreement, over: Partial<Agreement> = {}): Agreement {
  return { ...base, lastInitStart: '20250116100000Z', lastInitEnd: '20250116100005Z', ...over };
}

describe('initOutcome', () => {
  it('running while the refresh attribute is still there, whatever the status says', () => {
    const b = before();
    assert.equal(
      initOutcome(
        b,
        later(b, {
          refreshPending: true,
          lastInitEnd: '19700101000000Z',
          lastInitStatus: 'Total update in progress',
          lastInitStatusJson: undefined,
        }),
      ),
      'running',
    );
    // Even a fresh green status does not count while the refresh is pending.
    assert.equal(initOutcome(b, later(b, { refreshPending: true })), 'running');
    assert.equal(
      initOutcome(
        b,
        later(b, { refreshPending: true, lastInitStatusJson: RED, lastInitStatus: 'Error (-1) Total update aborted' }),
      ),
      'running',
    );
  });

  it('done when the refresh is gone, LastInitEnd moved and the JSON state is green', () => {
    const b = before();
    assert.equal(
      initOutcome(b, later(b, { lastInitStatus: 'something unexpected', lastInitStatusJson: GREEN })),
      'done',
    );
  });

  it('done on the text "Total update succeeded" without any JSON (older servers)', () => {
    const b = before({ lastInitStatusJson: undefined, lastInitStatus: 'Error (0) Total update succeeded' });
    assert.equal(
      initOutcome(b, later(b, { lastInitStatusJson: undefined, lastInitStatus: 'Error (0) Total update succeeded' })),
      'done',
    );
    const b2 = before({
      lastInitStatusJson: undefined,
      lastInitStatus: undefined,
      lastInitStart: undefined,
      lastInitEnd: undefined,
    });
    assert.equal(initOutcome(b2, later(b2, { lastInitStatus: 'Total update succeeded' })), 'done');
  });

  it('not done while LastInitEnd has not moved, even with a green status', () => {
    const b = before();
    // A new start but the old end: the init started and has not finished.
    assert.equal(initOutcome(b, { ...b, lastInitStart: '20250116100000Z' }), 'running');
    // End missing altogether.
    assert.equal(initOutcome(b, later(b, { lastInitEnd: undefined })), 'running');
  });

  it('not done when nothing changed since before: the old success says nothing about this init', () => {
    const b = before();
    assert.equal(initOutcome(b, { ...b }), 'running');
  });

  it('a stale failure from an earlier init (same start, end and status) stays running', () => {
    const b = before({
      lastInitStatus: "Error (-1) Total update aborted: LDAP error: Can't contact LDAP server (connection error)",
      lastInitStatusJson: RED,
    });
    assert.equal(initOutcome(b, { ...b }), 'running');
    const busy = before({
      lastInitStatus: 'Error (1) Replication error acquiring replica: Replica busy',
      lastInitStatusJson: undefined,
    });
    assert.equal(initOutcome(busy, { ...busy }), 'running');
  });

  it('fresh red JSON → failed', () => {
    const b = before();
    assert.equal(
      initOutcome(b, later(b, { lastInitStatusJson: RED, lastInitStatus: 'Error (-1) Problem connecting to replica' })),
      'failed',
    );
    // Red is a failure even before LastInitEnd moved, once anything is fresh.
    assert.equal(
      initOutcome(b, { ...b, lastInitStart: '20250116100000Z', lastInitStatusJson: RED, lastInitStatus: 'x' }),
      'failed',
    );
  });

  it('"Replica busy" → busy (even with a red JSON state)', () => {
    const b = before();
    const text = 'Error (1) Replication error acquiring replica: Replica busy (Unable to acquire replica)';
    assert.equal(initOutcome(b, later(b, { lastInitStatus: text, lastInitStatusJson: undefined })), 'busy');
    assert.equal(initOutcome(b, later(b, { lastInitStatus: text, lastInitStatusJson: RED })), 'busy');
  });

  it('aborted and connection errors in the text → failed', () => {
    const b = before({ lastInitStatusJson: undefined });
    for (const text of [
      "Error (-1) Total update aborted: LDAP error: Can't contact LDAP server",
      'Error (32) Total update ABORTED: no such object',
      'Error (-11) connection error: Unknown error',
      'Error (2) Replication error acquiring replica: unknown error',
    ]) {
      assert.equal(initOutcome(b, later(b, { lastInitStatus: text, lastInitStatusJson: undefined })), 'failed', text);
    }
  });

  it('a fresh status with an unknown text and no JSON keeps running (no guess)', () => {
    const b = before({ lastInitStatusJson: undefined });
    assert.equal(
      initOutcome(b, later(b, { lastInitStatus: 'Total update in progress', lastInitStatusJson: undefined })),
      'running',
    );
    assert.equal(initOutcome(b, later(b, { lastInitStatus: 'x', lastInitStatusJson: '{not json' })), 'running');
  });
});

function entry(attrs: Record<string, string | string[]>): DirEntry {
  return new DirEntry(
    'cn=meTob.ipa.test,cn=replica,cn=dc\\3Dipa\\2Cdc\\3Dtest,cn=mapping tree,cn=config',
    new Map(Object.entries(attrs).map(([k, v]): [string, string[]] => [k.toLowerCase(), Array.isArray(v) ? v : [v]])),
  );
}

describe('parseAgreement', () => {
  it('reads every field, attribute names in any case', () => {
    const a = parseAgreement(
      entry({
        cn: 'meTob.ipa.test',
        nsDS5ReplicaRoot: 'dc=ipa,dc=test',
        nsDS5ReplicaHost: 'b.ipa.test',
        nsDS5ReplicaPort: '1389',
        nsds5ReplicaEnabled: 'on',
        nsDS5ReplicaUpdateSchedule: '0000-2359 0123456',
        nsds5replicaUpdateInProgress: 'TRUE',
        nsds5replicaLastUpdateStatus: 'Error (0) Replica acquired successfully',
        nsds5replicaLastUpdateStatusJSON: '{"state":"green"}',
        nsds5replicaLastInitStatus: 'Error (0) Total update succeeded',
        nsds5replicaLastInitStatusJSON: GREEN,
        nsds5replicaLastInitStart: '20250116100000Z',
        nsds5replicaLastInitEnd: '20250116100005Z',
      }),
    );
    assert.deepEqual(a, {
      dn: 'cn=meTob.ipa.test,cn=replica,cn=dc\\3Dipa\\2Cdc\\3Dtest,cn=mapping tree,cn=config',
      name: 'meTob.ipa.test',
      suffix: 'dc=ipa,dc=test',
      targetHost: 'b.ipa.test',
      targetPort: 1389,
      enabled: true,
      schedule: '0000-2359 0123456',
      updateInProgress: true,
      refreshPending: false,
      lastUpdateStatus: 'Error (0) Replica acquired successfully',
      lastUpdateStatusJson: '{"state":"green"}',
      lastInitStatus: 'Error (0) Total update succeeded',
      lastInitStatusJson: GREEN,
      lastInitStart: '20250116100000Z',
      lastInitEnd: '20250116100005Z',
    });
  });

  it('enabled defaults to true when nsds5ReplicaEnabled is absent', () => {
    const a = parseAgreement(entry({ cn: 'x' }));
    assert.equal(a.enabled, true);
    assert.equal(a.targetPort, 389, 'port defaults to 389');
    assert.equal(a.refreshPending, false);
    assert.equal(a.updateInProgress, false);
    assert.equal(a.name, 'x');
  });

  it("'off' in any case → disabled; 'on' in any case → enabled", () => {
    for (const v of ['off', 'OFF', 'Off', 'oFf'])
      assert.equal(parseAgreement(entry({ nsds5ReplicaEnabled: v })).enabled, false, v);
    for (const v of ['on', 'ON', 'On'])
      assert.equal(parseAgreement(entry({ nsds5ReplicaEnabled: v })).enabled, true, v);
  });

  it('refreshPending follows the presence of nsds5BeginReplicaRefresh', () => {
    assert.equal(parseAgreement(entry({ nsds5BeginReplicaRefresh: 'start' })).refreshPending, true);
    assert.equal(parseAgreement(entry({ nsds5beginreplicarefresh: 'start' })).refreshPending, true);
    assert.equal(parseAgreement(entry({ nsds5replicaLastInitStatus: 'x' })).refreshPending, false);
  });

  it('without cn, the name is the DN', () => {
    const a = parseAgreement(entry({}));
    assert.equal(a.name, a.dn);
  });
});

describe('initializeConsumer when the supplier answers late', () => {
  const DN = before().dn;
  const entry = (attrs: Record<string, string>): DirEntry =>
    new DirEntry(
      DN,
      new Map(Object.entries({ cn: 'meTob.ipa.test', ...attrs }).map(([k, v]) => [k.toLowerCase(), [v]])),
    );
  const OLD = {
    nsds5replicaLastInitEnd: '20250101000000Z',
    nsds5replicaLastInitStatus: 'Error (0) Total update succeeded',
  };
  const DONE = {
    nsds5replicaLastInitStart: '20250116100000Z',
    nsds5replicaLastInitEnd: '20250116100500Z',
    nsds5replicaLastInitStatus: 'Error (0) Total update succeeded',
    nsds5replicaLastInitStatusJSON: GREEN,
  };

  /** Sessions handed out in turn: each times out where its script says, and counts how often it was asked for. */
  function supplier(script: Array<'timeout' | Record<string, string>>, modify: 'ok' | 'timeout') {
    let asked = 0;
    const timeout = () => new LdapTimeoutError('a.ipa.test', 'read', new Error('Operation timed out'));
    const session = {
      host: { name: 'a.ipa.test' },
      read: async () => {
        const next = script.shift() ?? DONE;
        if (next === 'timeout') throw timeout();
        return entry(next);
      },
      modify: async () => {
        if (modify === 'timeout') throw timeout();
      },
    } as unknown as LdapSession;
    return {
      session: async () => {
        asked++;
        return session;
      },
      asked: () => asked,
    };
  }

  it('a timed-out refresh modify counts once a fresh read shows the init started', async () => {
    const s = supplier([OLD, { ...OLD, nsds5BeginReplicaRefresh: 'start' }, DONE], 'timeout');
    const done = await initializeConsumer(s.session, DN, { timeoutMs: 10_000, pollMs: 1 });
    assert.equal(done.lastInitEnd, '20250116100500Z');
    assert.ok(s.asked() >= 4, 'every request asked for the session again (a timeout closes it)');
  });

  it('a poll left unanswered while the total update runs does not end the wait', async () => {
    const s = supplier([OLD, 'timeout', 'timeout', DONE], 'ok');
    const done = await initializeConsumer(s.session, DN, { timeoutMs: 10_000, pollMs: 1 });
    assert.equal(done.lastInitStatus, 'Error (0) Total update succeeded');
  });

  it('past the init timeout a poll timeout is the error', async () => {
    const s = supplier([OLD, 'timeout'], 'ok');
    await assert.rejects(initializeConsumer(s.session, DN, { timeoutMs: 0, pollMs: 1 }), LdapTimeoutError);
  });
});
