// The wire-level paged search of content comparisons, against a scripted server: answers encoded
// with ldapts' own BER writer (as a server would send them), delivered whole or split anywhere.
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { BerReader, BerWriter } from 'ldapts';
import { WireClient } from '../../src/transport/ldap-wire.js';

const PAGED = '1.2.840.113556.1.4.319';

type Attr = [string, Array<string | Buffer>];

function message(id: number, body: (w: BerWriter) => void, cookie?: Buffer): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(id);
  body(w);
  if (cookie) {
    const value = new BerWriter();
    value.startSequence();
    value.writeInt(0);
    value.writeBuffer(cookie, 0x04);
    value.endSequence();
    w.startSequence(0xa0);
    w.startSequence();
    w.writeString(PAGED);
    w.writeBuffer(value.buffer, 0x04);
    w.endSequence();
    w.endSequence();
  }
  w.endSequence();
  return w.buffer;
}

const result =
  (tag: number, code: number, text = '') =>
  (w: BerWriter) => {
    w.startSequence(tag);
    w.writeEnumeration(code);
    w.writeString('');
    w.writeString(text);
    w.endSequence();
  };

const entry = (dn: string, attrs: Attr[]) => (w: BerWriter) => {
  w.startSequence(0x64);
  w.writeString(dn);
  w.startSequence();
  for (const [type, values] of attrs) {
    w.startSequence();
    w.writeString(type);
    w.startSequence(0x31);
    for (const v of values) w.writeBuffer(Buffer.isBuffer(v) ? v : Buffer.from(v), 0x04);
    w.endSequence();
    w.endSequence();
  }
  w.endSequence();
  w.endSequence();
};

/** A server that answers the n-th request with answers[n](its message id), cut into `split`-byte pieces. */
function server(answers: Array<(id: number) => Buffer[]>, split = 0): { stream: Duplex; requests: number[] } {
  const requests: number[] = [];
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      const r = new BerReader(chunk);
      r.readSequence();
      const id = r.readInt() ?? 0;
      const answer = answers[requests.length];
      requests.push(id);
      if (answer) {
        const bytes = Buffer.concat(answer(id));
        const step = split || bytes.length || 1;
        for (let i = 0; i < bytes.length; i += step) stream.push(bytes.subarray(i, i + step));
      }
      done();
    },
  });
  return { stream, requests };
}

const BIND_OK = (id: number) => [message(id, result(0x61, 0))];
const search = { base: 'dc=ipa,dc=test', filter: '(objectClass=*)', attributes: ['*', '+'], pageSize: 2 };
const keepAll = { ...search, keep: (_description: string) => true };

async function collect(client: WireClient, s = keepAll) {
  const pages = [];
  for await (const page of client.pages(s)) pages.push(page);
  return pages;
}

describe('wire search', () => {
  for (const split of [0, 1, 7]) {
    test(`pages follow the cookie and decode entries exactly (answers in ${split || 'whole'}-byte pieces)`, async () => {
      const big = Buffer.alloc(70_000, 0xab); // a value with a 3-byte BER length
      const key = Buffer.from([0, 0xff, 0x80, 0x30, 0x84]);
      const { stream, requests } = server(
        [
          BIND_OK,
          (id) => [
            message(
              id,
              entry('uid=jörg,ou=people,dc=ipa,dc=test', [
                ['cn', ['Jörg']],
                ['krbPrincipalKey', [key]],
              ]),
            ),
            message(
              id,
              entry('cn=g,dc=ipa,dc=test', [
                ['member', ['uid=a,dc=x', 'uid=b,dc=x']],
                ['jpegPhoto', [big]],
              ]),
            ),
            message(id, result(0x65, 0), Buffer.from('next')),
          ],
          (id) => [message(id, entry('cn=last,dc=ipa,dc=test', [])), message(id, result(0x65, 0), Buffer.alloc(0))],
        ],
        split,
      );
      const client = new WireClient(stream, 5_000);
      await client.bind('cn=Directory Manager', 'secret');
      const pages = await collect(client);
      assert.deepEqual(
        pages.map((p) => p.map((e) => e.dn)),
        [['uid=jörg,ou=people,dc=ipa,dc=test', 'cn=g,dc=ipa,dc=test'], ['cn=last,dc=ipa,dc=test']],
      );
      const [jorg, group] = pages[0]!;
      assert.equal(jorg!.attributes[0]![1][0]!.toString('utf8'), 'Jörg');
      assert.deepEqual(jorg!.attributes[1]![1][0], key);
      assert.deepEqual(
        group!.attributes[0]![1].map((v) => v.toString()),
        ['uid=a,dc=x', 'uid=b,dc=x'],
      );
      assert.ok(group!.attributes[1]![1][0]!.equals(big));
      assert.deepEqual(requests, [1, 2, 3]);
    });
  }

  test('the next page is asked for before the current one is handed out', async () => {
    const { stream, requests } = server([
      BIND_OK,
      (id) => [message(id, entry('cn=a,dc=ipa,dc=test', [])), message(id, result(0x65, 0), Buffer.from('c'))],
      (id) => [message(id, result(0x65, 0))],
    ]);
    const client = new WireClient(stream, 5_000);
    await client.bind('cn=dm', 'pw');
    for await (const page of client.pages(keepAll)) {
      if (page.length === 1) assert.equal(requests.length, 3, 'page 2 was requested while page 1 is digested');
    }
  });

  test('attributes the caller does not keep are skipped', async () => {
    const { stream } = server([
      BIND_OK,
      (id) => [
        message(
          id,
          entry('cn=a,dc=ipa,dc=test', [
            ['cn', ['a']],
            ['entryid', ['7']],
            ['nsUniqueId', ['x']],
          ]),
        ),
        message(id, result(0x65, 0)),
      ],
    ]);
    const client = new WireClient(stream, 5_000);
    await client.bind('cn=dm', 'pw');
    const pages = await collect(client, { ...search, keep: (d: string) => d === 'cn' });
    assert.deepEqual(pages[0]![0]!.attributes, [['cn', [Buffer.from('a')]]]);
  });

  test('a refused bind carries its result code and the server text', async () => {
    const { stream } = server([(id) => [message(id, result(0x61, 49, 'Invalid credentials'))]]);
    const client = new WireClient(stream, 5_000);
    await assert.rejects(client.bind('cn=dm', 'wrong'), { code: 49, message: /Invalid credentials \(49\)/ });
  });

  test('a failed search is an error with its code, not an empty result', async () => {
    const { stream } = server([BIND_OK, (id) => [message(id, result(0x65, 32, 'No such object'))]]);
    const client = new WireClient(stream, 5_000);
    await client.bind('cn=dm', 'pw');
    await assert.rejects(collect(client), { code: 32, message: /No such object/ });
  });

  test('silence longer than the timeout is reported as a timeout', async () => {
    const { stream } = server([BIND_OK]);
    const client = new WireClient(stream, 50);
    await client.bind('cn=dm', 'pw');
    await assert.rejects(collect(client), /timed out/);
  });

  test('a connection that ends inside a message is an error', async () => {
    const { stream } = server([
      BIND_OK,
      (id) => {
        setImmediate(() => stream.push(null));
        return [message(id, entry('cn=a,dc=ipa,dc=test', [['cn', ['a']]])).subarray(0, 10)];
      },
    ]);
    const client = new WireClient(stream, 5_000);
    await client.bind('cn=dm', 'pw');
    await assert.rejects(collect(client), /connection closed/);
  });
});
