// restore-entries' pure parts: the selection's dependencies, the planned writes, their inverses and
// what the proof expects afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContentEntry } from '../../src/content/entry.js';
import { normalizeDn } from '../../src/directory/dn.js';
import { fromValues, inverseOf, putMods, toValues } from '../../src/restore/entry-ops.js';
import { planEntryRestore, type LiveState } from '../../src/restore/entry-plan.js';
import { expectations } from '../../src/restore/entry-proof.js';
import { readSelection } from '../../src/restore/entry-selection.js';
import { undoOps } from '../../src/restore/entry-writes.js';
import { entry } from './content-fixtures.js';

const S = 'dc=ipa,dc=test';
const userDn = `uid=alice,cn=users,cn=accounts,${S}`;
const upgDn = `cn=alice,cn=groups,cn=accounts,${S}`;
const alice = entry(
  userDn,
  { uid: ['alice'], ipauniqueid: ['u-1'], mepmanagedentry: [upgDn], userpassword: ['{PBKDF2}x'] },
  'ns-1',
);
const upg = entry(upgDn, { cn: ['alice'], mepmanagedby: [userDn], gidnumber: ['1001'] });
const devs = entry(`cn=devs,cn=groups,cn=accounts,${S}`, { cn: ['devs'], member: [userDn, `uid=bob,${S}`] });
const rule = entry(`ipaUniqueID=r1,cn=sudorules,cn=sudo,${S}`, { cn: ['all'], memberuser: [userDn] });
const snapshot = [entry(S, { dc: ['ipa'] }), alice, upg, devs, rule];
const visit = async (v: (e: ContentEntry) => void) => snapshot.forEach(v);

function liveOf(entries: ContentEntry[]): LiveState {
  const map = new Map<string, ContentEntry | undefined>();
  for (const e of entries) map.set(e.ndn, e);
  map.set(normalizeDn(`cn=users,cn=accounts,${S}`), entry(`cn=users,cn=accounts,${S}`, { cn: ['users'] }));
  map.set(normalizeDn(`cn=groups,cn=accounts,${S}`), entry(`cn=groups,cn=accounts,${S}`, { cn: ['groups'] }));
  return { entries: map, added: [] };
}

test('readSelection: a user by name brings its private group and the references held to it', async () => {
  const names = [{ kind: 'user' as const, name: 'ALICE', option: '--user' }];
  const sel = await readSelection(visit, S, { dns: [], names }, true);
  assert.deepEqual(
    sel.selected.map((e) => e.dn),
    [userDn],
  );
  assert.deepEqual(
    sel.managed.map((e) => e.dn),
    [upgDn],
  );
  assert.deepEqual(
    sel.references.map((r) => [r.dn, r.attr]),
    [
      [devs.dn, 'member'],
      [rule.dn, 'memberuser'],
    ],
  );
  const none = await readSelection(visit, S, { dns: [], names }, false);
  assert.deepEqual([none.managed.length, none.references.length], [0, 0]);
  await assert.rejects(
    readSelection(visit, S, { dns: [], names: [{ kind: 'group', name: 'nope', option: '--group' }] }, true),
    /--group nope: nothing in the snapshot matches/,
  );
});

test('planEntryRestore: the user, then its private group, then the references; memberships not held', async () => {
  const sel = await readSelection(visit, S, { dns: [userDn], names: [] }, true);
  const devsNow = entry(devs.dn, { cn: ['devs'], member: [`uid=bob,${S}`] });
  const plan = planEntryRestore(sel, liveOf([devsNow, rule]), { replace: false, deleteAdded: false });
  assert.deepEqual(
    plan.ops.map((o) => [o.op, o.dn]),
    [
      ['put', userDn],
      ['put', upgDn],
      ['add-values', devs.dn],
    ],
    'the rule still holds its memberUser value: nothing to write there',
  );
});

test('planEntryRestore: the same DN with another ipaUniqueID is a conflict, replaced only when asked', async () => {
  const sel = await readSelection(visit, S, { dns: [userDn], names: [] }, false);
  const other = entry(userDn, { uid: ['alice'], ipauniqueid: ['u-2'] });
  const skipped = planEntryRestore(sel, liveOf([other]), { replace: false, deleteAdded: false });
  assert.deepEqual(skipped.ops, []);
  assert.match(skipped.conflicts[0]!.reason, /ipaUniqueID u-2 on the host, u-1 in the snapshot/);
  const replaced = planEntryRestore(sel, liveOf([other]), { replace: true, deleteAdded: false });
  assert.deepEqual(
    replaced.ops.map((o) => o.op),
    ['delete', 'put'],
  );
  const same = planEntryRestore(sel, liveOf([alice]), { replace: false, deleteAdded: false });
  assert.deepEqual([same.ops.length, same.unchanged], [0, [userDn]]);
});

test('planEntryRestore: a skipped conflict gets no references; a replaced entry gets all of them back', async () => {
  const sel = await readSelection(visit, S, { dns: [userDn], names: [] }, true);
  const other = entry(userDn, { uid: ['alice'], ipauniqueid: ['u-2'] });
  // The re-created alice is already in devs (same DN): putting references back would tie her to them.
  const skipped = planEntryRestore(sel, liveOf([other, devs, entry(rule.dn, { cn: ['all'] })]), {
    replace: false,
    deleteAdded: false,
  });
  assert.deepEqual(
    skipped.ops.filter((o) => o.op === 'add-values'),
    [],
  );
  // Deleting the other alice makes referential integrity drop her from devs: the value must be added back.
  const replaced = planEntryRestore(sel, liveOf([other, devs, rule]), { replace: true, deleteAdded: false });
  assert.deepEqual(
    replaced.ops.filter((o) => o.op === 'add-values').map((o) => o.dn),
    [devs.dn, rule.dn],
  );
});

test('planEntryRestore: --attrs puts back only those attributes; a parent missing is refused', async () => {
  const sel = await readSelection(visit, S, { dns: [userDn], names: [] }, false);
  const changed = entry(userDn, { uid: ['alice'], ipauniqueid: ['u-1'], userpassword: ['{PBKDF2}y'], title: ['x'] });
  const plan = planEntryRestore(sel, liveOf([changed]), {
    attrs: ['userpassword'],
    replace: false,
    deleteAdded: false,
  });
  assert.equal(plan.ops.length, 1);
  const op = plan.ops[0]!;
  assert.ok(op.op === 'put');
  assert.deepEqual(op.only, ['userpassword']);
  assert.deepEqual(
    putMods(changed, fromValues(op.attrs), op.only).map((m) => m.attr),
    ['userpassword'],
  );
  const orphan = { entries: new Map(), added: [] };
  assert.throws(
    () => planEntryRestore(sel, orphan, { replace: false, deleteAdded: false }),
    /its parent is not on the host/,
  );
});

test('inverses undo each write, last first; the proof expects the last word on each entry', () => {
  const put = { op: 'put' as const, dn: userDn, attrs: toValues(alice.attrs), why: 'selected' };
  const before = entry(userDn, { uid: ['alice'], title: ['x'] });
  assert.deepEqual(inverseOf(put, undefined), { op: 'delete', dn: userDn, why: `undo: put ${userDn}` });
  const inverse = inverseOf(put, before);
  assert.ok(inverse?.op === 'put');
  assert.deepEqual(Object.keys(inverse.attrs), ['uid', 'title']);
  const add = {
    op: 'add-values' as const,
    dn: devs.dn,
    attr: 'member',
    values: [Buffer.from(userDn).toString('base64')],
    why: 'r',
  };
  const records = [
    { host: 'a', kind: 'domain' as const, suffix: S, op: put, inverse: inverseOf(put, undefined)! },
    { host: 'a', kind: 'domain' as const, suffix: S, op: add },
  ];
  assert.equal(inverseOf(add, devs), undefined, 'the value was already there: nothing to undo');
  assert.deepEqual(
    undoOps(records).map((o) => o.op),
    ['delete'],
  );
  assert.deepEqual(
    expectations([
      ...records,
      { host: 'a', kind: 'domain', suffix: S, op: { op: 'delete', dn: userDn, why: 'x' } },
    ]).map((x) => [x.dn, 'absent' in x]),
    [
      [userDn, true],
      [devs.dn, false],
    ],
  );
});
