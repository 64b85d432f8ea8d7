// stripRuvTombstone on LDIF exports as 389-DS writes them (db2ldif -r: version line, `# entry-id`
// comments, the RUV tombstone among the entries), fed in every chunking we can think of.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isRuvTombstoneDn, stripRuvTombstone } from '../../src/directory/ldif.js';

interface Filtered {
  out: Buffer;
  removed: number;
}

/** Run `input` through the filter, cut at `cuts` (offsets), and collect what comes out. */
async function filter(input: Buffer | string, cuts: number[] = []): Promise<Filtered> {
  const data = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    chunks.push(data.subarray(from, cut));
    from = cut;
  }
  const out: Buffer[] = [];
  const strip = stripRuvTombstone();
  await pipeline(
    Readable.from(chunks.filter((c) => c.length > 0)),
    strip,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return { out: Buffer.concat(out), removed: strip.removed() };
}

const lines = (...l: string[]): string => l.map((line) => `${line}\n`).join('');
const crlf = (text: string): string => text.replace(/\n/g, '\r\n');

const VERSION = lines('version: 1', '');
const SUFFIX = lines(
  '# entry-id: 1',
  'dn: dc=example,dc=test',
  'objectClass: top',
  'objectClass: domain',
  'dc: example',
  'nsUniqueId: 0b1a3c01-1dd211b2-8001c6e4-8d2a1f00',
  '',
);
const RUV = lines(
  '# entry-id: 2',
  'dn: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=example,dc=test',
  'objectClass: top',
  'objectClass: nsTombstone',
  'objectClass: extensibleobject',
  'nsds50ruv: {replicageneration} 65a1b2c3000000010000',
  'nsds50ruv: {replica 1 ldap://ds1.example.test:389} 65a1b2c4000000010000 65a1b2d0000500010000',
  'nsruvReplicaLastModified: {replica 1 ldap://ds1.example.test:389} 65a1b2d0',
  'nsUniqueId: ffffffff-ffffffff-ffffffff-ffffffff',
  '',
);
const USERS = lines(
  '# entry-id: 3',
  'dn: ou=people,dc=example,dc=test',
  'objectClass: top',
  'objectClass: organizationalUnit',
  'ou: people',
  '',
);
const ALICE = lines(
  '# entry-id: 4',
  'dn: uid=alice,ou=people,dc=example,dc=test',
  'objectClass: top',
  'objectClass: inetOrgPerson',
  'uid: alice',
  'cn: Alice Example',
  'sn: Example',
  // Mentions of the RUV's DN that are not its DN.
  'seeAlso: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=example,dc=test',
  'description: a folded value that goes on for a while so that it needs a second line and',
  '  mentions dn: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff on the continuation',
  '',
);

/** Every split of `text` into two chunks, and into single bytes. */
async function assertAllChunkings(text: string, expected: string, removed: number): Promise<void> {
  const data = Buffer.from(text);
  for (let cut = 0; cut <= data.length; cut++) {
    const result = await filter(data, [cut]);
    assert.equal(result.out.toString(), expected, `split at ${cut}`);
    assert.equal(result.removed, removed, `split at ${cut}`);
  }
  const bytes = await filter(
    data,
    Array.from({ length: data.length }, (_, i) => i),
  );
  assert.equal(bytes.out.toString(), expected, 'one byte per chunk');
  assert.equal(bytes.removed, removed);
}

describe('stripRuvTombstone', () => {
  test('an LDIF without a RUV tombstone passes byte for byte', async () => {
    for (const text of [
      VERSION + SUFFIX + USERS + ALICE,
      crlf(VERSION + SUFFIX + USERS + ALICE),
      SUFFIX + ALICE.trimEnd(),
      '',
      '\n\n',
      lines('# just a comment'),
    ]) {
      assert.deepEqual(await filter(text), { out: Buffer.from(text), removed: 0 });
    }
  });

  test('the RUV tombstone first, in the middle, last', async () => {
    assert.deepEqual(await filter(VERSION + RUV + SUFFIX + USERS), {
      out: Buffer.from(VERSION + SUFFIX + USERS),
      removed: 1,
    });
    assert.deepEqual(await filter(VERSION + SUFFIX + RUV + USERS), {
      out: Buffer.from(VERSION + SUFFIX + USERS),
      removed: 1,
    });
    assert.deepEqual(await filter(VERSION + SUFFIX + USERS + RUV), {
      out: Buffer.from(VERSION + SUFFIX + USERS),
      removed: 1,
    });
    // No version line, no comment, the very first bytes.
    const bare = RUV.replace('# entry-id: 2\n', '');
    assert.deepEqual(await filter(bare + SUFFIX), { out: Buffer.from(SUFFIX), removed: 1 });
  });

  test('the RUV tombstone last, without a trailing line break or blank line', async () => {
    const last = RUV.trimEnd();
    assert.deepEqual(await filter(SUFFIX + USERS + last), { out: Buffer.from(SUFFIX + USERS), removed: 1 });
    // The dn line is the very last line.
    assert.deepEqual(await filter(`${SUFFIX}dn: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=example,dc=test`), {
      out: Buffer.from(SUFFIX),
      removed: 1,
    });
  });

  test('blank lines: several between entries, those after the tombstone go with it', async () => {
    const text = `${VERSION}\n${SUFFIX}\n\n${RUV}\n\n${USERS}`;
    assert.deepEqual(await filter(text), { out: Buffer.from(`${VERSION}\n${SUFFIX}\n\n${USERS}`), removed: 1 });
  });

  test('version: 1 directly followed by the tombstone stays', async () => {
    const text = lines('version: 1') + RUV + SUFFIX;
    assert.deepEqual(await filter(text), { out: Buffer.from(lines('version: 1') + SUFFIX), removed: 1 });
  });

  test('a folded dn line', async () => {
    const folded = RUV.replace(
      'dn: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=example,dc=test\n',
      'dn: nsunique\n id=ffffffff-ffff\n ffff-ffffffff-ffffffff,dc=exa\n mple,dc=test\n',
    );
    assert.deepEqual(await filter(SUFFIX + folded + USERS), { out: Buffer.from(SUFFIX + USERS), removed: 1 });
    // Folded right after the first RDN: the rest of the DN does not matter.
    const atComma = RUV.replace('ffffffff,dc=example,dc=test\n', 'ffffffff\n ,dc=example,dc=test\n');
    assert.deepEqual(await filter(SUFFIX + atComma + USERS), { out: Buffer.from(SUFFIX + USERS), removed: 1 });
    // A folded dn that is not the RUV's, folded inside the value that looks like it.
    const lookalike = lines(
      'dn: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff',
      ' 0,dc=example,dc=test',
      'objectClass: top',
      '',
    );
    assert.deepEqual(await filter(SUFFIX + lookalike), { out: Buffer.from(SUFFIX + lookalike), removed: 0 });
  });

  test('a base64 dn (dn::), folded or not', async () => {
    const b64 = Buffer.from('nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=exämple,dc=test').toString('base64');
    const plain = RUV.replace(/^dn: .*$/m, `dn:: ${b64}`);
    assert.deepEqual(await filter(SUFFIX + plain + USERS), { out: Buffer.from(SUFFIX + USERS), removed: 1 });
    const folded = RUV.replace(/^dn: .*$/m, `dn::${b64.slice(0, 20)}\n ${b64.slice(20, 50)}\n ${b64.slice(50)}`);
    assert.deepEqual(await filter(SUFFIX + folded + USERS), { out: Buffer.from(SUFFIX + USERS), removed: 1 });
    const other = lines(
      `dn:: ${Buffer.from('uid=bob,ou=people,dc=example,dc=test').toString('base64')}`,
      'uid: bob',
      '',
    );
    assert.deepEqual(await filter(SUFFIX + other), { out: Buffer.from(SUFFIX + other), removed: 0 });
  });

  test('CRLF line breaks', async () => {
    const folded = RUV.replace('ffffffff-ffffffff,dc=example', 'ffffffff-ffff\n ffff,dc=example');
    const text = crlf(`${VERSION + SUFFIX + folded}\n${USERS}${ALICE}`);
    assert.deepEqual(await filter(text), { out: Buffer.from(crlf(VERSION + SUFFIX + USERS + ALICE)), removed: 1 });
    assert.deepEqual(await filter(crlf(SUFFIX + RUV).trimEnd()), { out: Buffer.from(crlf(SUFFIX)), removed: 1 });
  });

  test('case does not matter; other RDNs and other tombstones stay', async () => {
    const upper = RUV.replace(
      /^dn: .*$/m,
      'DN:  NSUniqueID = FFFFFFFF-FFFFFFFF-FFFFFFFF-FFFFFFFF , dc=example,dc=test',
    );
    assert.deepEqual(await filter(SUFFIX + upper + USERS), { out: Buffer.from(SUFFIX + USERS), removed: 1 });
    const kept = [
      lines(
        'dn: nsuniqueid=0b1a3c05-1dd211b2-8001c6e4-8d2a1f00,uid=gone,ou=people,dc=example,dc=test',
        'objectClass: nsTombstone',
        '',
      ),
      lines('dn: cn=x,nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=example,dc=test', 'cn: x', ''),
      lines('dn: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff+cn=x,dc=example,dc=test', 'cn: x', ''),
      lines('dn: cn=nsuniqueid\\=ffffffff-ffffffff-ffffffff-ffffffff\\,x,dc=example,dc=test', 'cn: x', ''),
      lines('dn:< file:///tmp/nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff', 'cn: x', ''),
      lines('dnQualifier: nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff', 'cn: x', ''),
    ].join('');
    assert.deepEqual(await filter(SUFFIX + kept), { out: Buffer.from(SUFFIX + kept), removed: 0 });
  });

  test('two tombstones (two suffixes in one file) are both removed', async () => {
    const ca = RUV.replace(/dc=example,dc=test/g, 'o=ipaca');
    assert.deepEqual(await filter(SUFFIX + RUV + USERS + ca + ALICE), {
      out: Buffer.from(SUFFIX + USERS + ALICE),
      removed: 2,
    });
  });

  test('every chunk split: RUV in the middle, folded, CRLF, no trailing line break', async () => {
    const small = lines(
      'version: 1',
      '',
      'dn: dc=t',
      'dc: t',
      '',
      '# id 2',
      'dn: nsuniqueid=ffffffff-ffffffff-ff',
      ' ffffff-ffffffff,dc=t',
      'x: y',
      '',
      'dn: cn=a,dc=t',
      'cn: a',
    );
    const kept = lines('version: 1', '', 'dn: dc=t', 'dc: t', '', 'dn: cn=a,dc=t', 'cn: a');
    await assertAllChunkings(small, kept, 1);
    await assertAllChunkings(crlf(small), crlf(kept), 1);
    await assertAllChunkings(small.trimEnd(), kept.trimEnd(), 1);
    await assertAllChunkings(crlf(small).trimEnd(), crlf(kept).trimEnd(), 1);
    const last = lines(
      'dn: dc=t',
      '',
      `dn:: ${Buffer.from('nsUniqueId=ffffffff-ffffffff-ffffffff-ffffffff,dc=t').toString('base64')}`,
      'a: b',
    );
    await assertAllChunkings(crlf(last), crlf(lines('dn: dc=t', '')), 1);
    await assertAllChunkings(crlf(kept), crlf(kept), 0);
  });

  test('every pair of cuts through a small LDIF', async () => {
    const text = crlf(
      lines('dn: dc=t', '', 'dn: nsuniqueid=ffffffff-ffffffff-ffffffff-', ' ffffffff,dc=t', '', 'dn: cn=a,dc=t'),
    );
    const expected = crlf(lines('dn: dc=t', '', 'dn: cn=a,dc=t'));
    for (let a = 0; a <= text.length; a++) {
      for (let b = a; b <= text.length; b++) {
        const result = await filter(text, [a, b]);
        assert.equal(result.out.toString(), expected, `cuts at ${a}, ${b}`);
        assert.equal(result.removed, 1);
      }
    }
  });

  test('random chunking of a larger export', async () => {
    const entries: string[] = [VERSION, SUFFIX];
    for (let i = 0; i < 300; i++)
      entries.push(ALICE.replace(/alice/g, `user${i}`).replace('entry-id: 4', `entry-id: ${i + 5}`));
    const withRuv = crlf([...entries.slice(0, 150), RUV, ...entries.slice(150)].join(''));
    const expected = Buffer.from(crlf(entries.join('')));
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let round = 0; round < 50; round++) {
      const cuts: number[] = [];
      for (let at = 0; at < withRuv.length; ) {
        at += 1 + Math.floor(random() * (round % 2 === 0 ? 16 : 2000));
        if (at < withRuv.length) cuts.push(at);
      }
      const result = await filter(withRuv, cuts);
      assert.ok(result.out.equals(expected), `round ${round}`);
      assert.equal(result.removed, 1);
    }
  });

  test('a long unfolded value streams through (db2ldif -U)', async () => {
    const photo = `jpegPhoto:: ${Buffer.alloc(3 * 1024 * 1024, 7).toString('base64')}`;
    const text = SUFFIX + RUV + lines('dn: uid=p,dc=example,dc=test', photo, 'uid: p', '');
    const cuts = Array.from({ length: Math.floor(text.length / 65536) }, (_, i) => (i + 1) * 65536);
    const result = await filter(text, cuts);
    assert.equal(result.removed, 1);
    assert.ok(result.out.equals(Buffer.from(SUFFIX + lines('dn: uid=p,dc=example,dc=test', photo, 'uid: p', ''))));
  });
});

describe('isRuvTombstoneDn', () => {
  const dn = (value: string): boolean => isRuvTombstoneDn([Buffer.from(value)]);
  test('plain, base64 and folded values', () => {
    assert.equal(dn(' nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,dc=example,dc=test'), true);
    assert.equal(dn('nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff'), true);
    assert.equal(
      dn(`: ${Buffer.from('nsuniqueid=ffffffff-ffffffff-ffffffff-ffffffff,o=ipaca').toString('base64')}`),
      true,
    );
    assert.equal(
      isRuvTombstoneDn([Buffer.from(' nsuniqueid=ffff'), Buffer.from('ffff-ffffffff-ffffffff-ffffffff,o=ipaca')]),
      true,
    );
    assert.equal(dn(' nsuniqueid=ffffffff-ffffffff-ffffffff-fffffffe,dc=example,dc=test'), false);
    assert.equal(dn(' uid=ffffffff-ffffffff-ffffffff-ffffffff,dc=example,dc=test'), false);
    assert.equal(dn(''), false);
  });
});
