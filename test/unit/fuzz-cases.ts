import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  isMap,
  isScalar,
  isSeq,
  Pair,
  parseDocument,
  type Scalar,
  type Document,
  type Node as YamlNode,
  YAMLMap,
  YAMLSeq,
} from 'yaml';
import { defaultRegistry } from '../../src/actions/index.js';
import { FleetError } from '../../src/errors.js';
import { LocatedError } from '../../src/located/located-error.js';
import { loadInventory } from '../../src/inventory/load.js';
import type { Inventory } from '../../src/inventory/model.js';
import { checkAddress, checkHostName, checkInstanceName, checkUser } from '../../src/inventory/names.js';
import { parsePlaybook, templateRefs } from '../../src/playbook/load.js';
import type { Playbook } from '../../src/playbook/model.js';
import { resolveParams } from '../../src/playbook/params.js';
import { buildPlan, playbookNeedsFacts } from '../../src/playbook/planner.js';
import { parseSchedule } from '../../src/schedule/config.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const HOME = '/home/fuzz';

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

const DEFAULT_SEED = 0x1f1ee7;
export const SEED = process.env.FUZZ_SEED ? parseSeed(process.env.FUZZ_SEED) : DEFAULT_SEED;
export const CASES = Math.max(3000, Number(process.env.FUZZ_CASES) || 3200);
export const VERBOSE = !!process.env.FUZZ_VERBOSE;

function parseSeed(text: string): number {
  return /^\d+$/.test(text)
    ? Number(text) >>> 0
    : /^0x[0-9a-f]+$/i.test(text)
      ? Number.parseInt(text, 16) >>> 0
      : hash32(text);
}

function hash32(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0);
}

/** mulberry32: small, fast, good enough to pick mutations. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds: valid files of each kind

export type Target = 'inventory' | 'playbook' | 'schedule';

/** A third inventory: nested groups, per-host overrides, ldaps, IPv6, every ssh and ldap setting. */
const INVENTORY_FULL = `all:
  vars:
    deployment: fuzz-deploy
    profile: 389ds
    roles: [ca]
    ssh:
      user: fleet
      port: 2222
      identity_file: keys/id_ed25519
      identity_passphrase: env:FLEET_PASS
      known_hosts: ~/.ssh/known_hosts_fuzz
      host_key_policy: accept-new
      connect_timeout: 7.5
      connect_retries: 3
      keepalive_interval: 20
    ldap:
      instance: FUZZ-TEST
      port: 3389
      bind_dn: cn=Directory Manager
      password: file:/etc/ipa-fleet/dm
      timeout: 45
    suffixes:
      domain: dc=fuzz,dc=test
      ca: o=ipaca
  children:
    east:
      vars:
        ssh: {proxy_jump: "jump@[2001:db8::1]:22"}
      hosts:
        e1.fuzz.test: {address: 10.0.0.1, roles: [ca, kra]}
        e2.fuzz.test:
          address: "[2001:db8::2]"
          ldap: {direct: ldaps, ca_file: /etc/ipa/ca.crt}
    west:
      children:
        west-old:
          vars:
            suffixes: {ca_instance: PKI-IPA, ca_port: 7389}
          hosts:
            w1.fuzz.test:
              ssh: {proxy_jump: none}
      hosts:
        w2.fuzz.test:
          address: w2.internal
          profile: freeipa
`;

const SCHEDULE_FULL = `metrics: ../prom/ipa-fleet.prom
state: state/nightly.json
jobs:
  - name: prod-data
    inventory: inventories/prod.yml
    cron: '30 2 * * *'
    timezone: Europe/Berlin
    type: full
    binary: true
    compress: false
    store: /srv/ipa-store
    encrypt_to: keys/ops.asc
    limit: 'ipa1*'
    forks: 3
    jitter: 5m
    retention:
      keep_last: 3
      keep_hourly: 24
      keep_daily: 7
      keep_weekly: 4
      keep_monthly: 12
      keep_yearly: 2
    verify:
      every: 7d
      read_data: true
      key: ~/keys/ops-private.asc
      passphrase: file:secrets/ops-pass
    hooks:
      on_failure: mail -s "backup failed" root
      on_success: 'curl -fsS https://hc.example/ping'
      timeout: 2m
  - name: stage
    inventory: /etc/ipa-fleet/stage.yml
    cron: '*/30 * * * * *'
    encrypt_to: [k1.asc, /abs/k2.asc]
`;

const SCHEDULE_MIN = `jobs:
  - name: nightly
    inventory: fleet.yml
    cron: '0 3 * * *'
    no_encrypt: true
`;

export function seeds(): Record<Target, Array<{ name: string; text: string }>> {
  const read = (rel: string): { name: string; text: string } => ({
    name: rel,
    text: readFileSync(join(ROOT, rel), 'utf8'),
  });
  const playbooks = readdirSync(join(ROOT, 'playbooks'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => read(`playbooks/${f}`));
  return {
    inventory: [
      read('inventory/example.yaml'),
      read('test/fixtures/inventory/site.yml'),
      { name: 'INVENTORY_FULL', text: INVENTORY_FULL },
    ],
    playbook: [
      ...playbooks,
      read('test/fixtures/playbooks/markers.yaml'),
      read('test/fixtures/playbooks/local-pause.yaml'),
    ],
    schedule: [
      { name: 'SCHEDULE_FULL', text: SCHEDULE_FULL },
      { name: 'SCHEDULE_MIN', text: SCHEDULE_MIN },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Hostile material

const SHELL = [
  '; rm -rf /',
  '$(id)',
  '`id`',
  "it's",
  'say "hi"',
  'two words',
  'line\nbreak',
  '$(touch /tmp/ipa-fleet-pwned)',
  "'; touch /tmp/ipa-fleet-pwned; '",
  '"; touch /tmp/ipa-fleet-pwned; "',
  '*',
  '../../../../etc/shadow',
  '-rf',
  '--help',
  '|| true',
  '&& reboot',
  '> /etc/passwd',
  '${IFS}x',
  'a\\',
  '~root/.ssh/id_rsa',
  'tab\there',
  'cr\rhere',
  '#comment',
  'a|b',
  'x&',
  '<(id)',
  '!!',
  '{a,b}',
  '\\$(id)',
  '%s%n',
  "$'\\x41'",
];

const UNICODE = [
  '\u200f',
  '\u202e',
  '\u200b',
  '\u200d',
  '\ufeff',
  '🔥',
  '👩‍👩‍👧',
  'e\u0301\u0301\u0301',
  '\u0000',
  '\u0007',
  '\u0008',
  '\u001b[31m',
  '\u007f',
  '\u0085',
  '\u2028',
  '\u2029',
  '\ud800',
  '\udfff',
  'ａｌｌ',
  'аll' /* Cyrillic а */,
  'ß',
  'İ',
  '\u00a0',
  '\r',
  '\t',
  '\v',
  '\f',
  '\r\n',
  '𝕒𝕝𝕝',
];

const PROTO = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

/** Keys whose values (or, under hosts, the keys themselves) reach remote shells or the file system. */
const SENSITIVE = new Set([
  'instance',
  'ca_instance',
  'identity_file',
  'known_hosts',
  'ca_file',
  'domain',
  'ca',
  'bind_dn',
  'address',
  'user',
  'proxy_jump',
  'deployment',
  'store',
  'inventory',
  'metrics',
  'state',
  'encrypt_to',
  'key',
  'name',
  'command',
  'creates',
  'unless',
  'until',
  'marker_dir',
  'dir',
  'default',
  'hosts',
  'cron',
  'timezone',
  'limit',
  'on_failure',
  'on_success',
  'passphrase',
  'password',
  'tag',
]);

function nearMiss(rng: Rng, key: string): string {
  const k = key.length ? key : 'x';
  switch (rng.int(12)) {
    case 0:
      return k.toUpperCase();
    case 1:
      return k.includes('_') ? k.replace(/_/g, '-') : `${k}_`;
    case 2:
      return `${k}s`;
    case 3:
      return k.length > 1 ? k.slice(0, -1) : `${k}${k}`;
    case 4: {
      const i = rng.int(k.length);
      return k.slice(0, i) + k.slice(i + 1, i + 2) + k.slice(i, i + 1) + k.slice(i + 2);
    }
    case 5:
      return ` ${k}`;
    case 6:
      return `${k} `;
    case 7:
      return `ansible_${k}`;
    case 8:
      return k.replace(/a/, 'а'); // Cyrillic
    case 9:
      return rng.pick(PROTO);
    case 10:
      return `${k}.${k}`;
    default:
      return k.replace(/[aeiou]/, (c) => c.toUpperCase());
  }
}

/**
 * Huge values, as YAML text (JSON is YAML flow syntax). They are spliced into the stringified
 * document through a placeholder: stringifying a 10 000-item tree through the yaml library would
 * cost the harness more than the loaders.
 */
const HUGE: Array<() => string> = [
  () => 'x'.repeat(100 * 1024),
  () => JSON.stringify(`${SHELL[7]}${'é;$(id)`id`'.repeat(10_000)}`),
  () => JSON.stringify(Array.from({ length: 10_000 }, (_, i) => (i % 3 === 0 ? `h${i}` : i % 3 === 1 ? i : { k: i }))),
  () => JSON.stringify(Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`key${i}`, i]))),
  () => '1'.repeat(400),
  () => JSON.stringify('\n'.repeat(20_000)),
];
const hugeCache = new Map<number, string>();

function hugeText(rng: Rng): string {
  const kind = rng.int(HUGE.length + 1);
  if (kind === HUGE.length) {
    // Deep nesting, a different depth every time.
    const d = rng.range(50, 400);
    return rng.chance(0.5) ? `${'['.repeat(d)}1${']'.repeat(d)}` : `${'{k: '.repeat(d)}1${'}'.repeat(d)}`;
  }
  let text = hugeCache.get(kind);
  if (text === undefined) hugeCache.set(kind, (text = HUGE[kind]!()));
  return text;
}

/** Placeholders stand in for huge texts until the document is a string. */
interface Splices {
  texts: string[];
}

function placeholder(doc: Document, splices: Splices, text: string): Scalar {
  splices.texts.push(text);
  return doc.createNode(`HUGEPLACEHOLDER${splices.texts.length - 1}X`) as Scalar;
}

function otherType(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => 0,
    () => -1,
    () => 1.5,
    () => 65536,
    () => 2 ** 53 + 1,
    () => 1e308,
    () => -0,
    () => true,
    () => false,
    () => null,
    () => [],
    () => ({}),
    () => '',
    () => ' ',
    () => [1, 'two', null],
    () => ({ nested: { deeper: [true] } }),
    () => 'true',
    () => '22',
    () => '0x1F',
    () => '1e3',
    () => 'null',
    () => '~',
    () => 'none',
    () => 'prompt',
    () => 'env:',
    () => 'file:',
    () => Number.NaN,
    () => Number.POSITIVE_INFINITY,
  ])();
}

// ---------------------------------------------------------------------------------------------
// The mutator: the YAML document tree, then the raw text

interface Slot {
  /** Replaces the value in place. */
  set(value: YamlNode | null): void;
  get(): unknown;
  /** The mapping key, when the slot is a mapping value. */
  key: string | undefined;
  pair: Pair | undefined;
  parent: YAMLMap | YAMLSeq;
  depth: number;
}

function slotsOf(doc: Document): Slot[] {
  const out: Slot[] = [];
  const walk = (node: unknown, depth: number): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        out.push({
          set: (v) => {
            pair.value = v;
          },
          get: () => pair.value,
          key,
          pair,
          parent: node,
          depth,
        });
        walk(pair.value, depth + 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        out.push({
          set: (v) => {
            node.items[i] = v;
          },
          get: () => node.items[i],
          key: undefined,
          pair: undefined,
          parent: node,
          depth,
        });
        walk(item, depth + 1);
      });
    }
  };
  walk(doc.contents, 0);
  return out;
}

function scalarString(doc: Document, value: string): Scalar {
  return doc.createNode(value) as Scalar;
}

function insertAt(text: string, rng: Rng, piece: string): string {
  const i = rng.int(text.length + 1);
  return text.slice(0, i) + piece + text.slice(i);
}

type TreeMutation = (doc: Document, rng: Rng, splices: Splices) => string;

const TREE_MUTATIONS: Array<[string, number, TreeMutation]> = [
  [
    'drop-key',
    12,
    (doc, rng) => {
      const maps = slotsOf(doc)
        .filter((s) => s.pair)
        .map((s) => s.parent as YAMLMap);
      if (isMap(doc.contents)) maps.push(doc.contents);
      const map = rng.pick(maps);
      if (map.items.length) map.items.splice(rng.int(map.items.length), 1);
      return 'drop-key';
    },
  ],
  [
    'duplicate-key',
    6,
    (doc, rng) => {
      const pairs = slotsOf(doc).filter((s) => s.pair);
      if (!pairs.length) return 'duplicate-key(none)';
      const s = rng.pick(pairs);
      const map = s.parent as YAMLMap;
      const copy = new Pair(doc.createNode(s.key ?? 'k'), doc.createNode(rng.chance(0.5) ? otherType(rng) : 'dup'));
      map.items.splice(rng.int(map.items.length + 1), 0, copy);
      return `duplicate-key ${s.key}`;
    },
  ],
  [
    'retype',
    15,
    (doc, rng) => {
      const s = rng.pick(slotsOf(doc));
      s.set(doc.createNode(otherType(rng)) as YamlNode);
      return `retype ${s.key ?? '[i]'}`;
    },
  ],
  [
    'unicode',
    9,
    (doc, rng) => {
      const s = rng.pick(slotsOf(doc));
      const u = rng.pick(UNICODE);
      if (s.pair && rng.chance(0.4)) {
        s.pair.key = scalarString(doc, insertAt(s.key ?? 'k', rng, u));
        return 'unicode key';
      }
      const v = s.get();
      const text = isScalar(v) && v.value !== null ? String(v.value) : 'value';
      s.set(scalarString(doc, insertAt(text, rng, u)));
      return 'unicode value';
    },
  ],
  [
    'huge',
    2,
    (doc, rng, splices) => {
      const s = rng.pick(slotsOf(doc));
      s.set(placeholder(doc, splices, hugeText(rng)));
      return `huge ${s.key ?? '[i]'}`;
    },
  ],
  [
    'huge-key',
    1,
    (doc, rng, splices) => {
      const s = rng.pick(slotsOf(doc).filter((x) => x.pair));
      if (!s) return 'huge-key(none)';
      s.pair!.key = placeholder(
        doc,
        splices,
        JSON.stringify(`${s.key ?? ''}${rng.pick(SHELL)}`.repeat(rng.chance(0.5) ? 4000 : 20)),
      );
      return 'huge-key';
    },
  ],
  [
    'shell',
    18,
    (doc, rng) => {
      const all = slotsOf(doc);
      // Host names are keys under `hosts`; most other sensitive things are values of known keys.
      const hostKeys = all.filter(
        (s) => s.pair && s.parent !== undefined && all.some((p) => p.key === 'hosts' && p.get() === s.parent),
      );
      const values = all.filter((s) => s.key !== undefined && SENSITIVE.has(s.key));
      const evil = rng.pick(SHELL);
      const mix = (base: string): string =>
        rng.chance(0.5) ? evil : rng.chance(0.5) ? `${base}${evil}` : insertAt(base, rng, evil);
      if (hostKeys.length && rng.chance(0.4)) {
        const s = rng.pick(hostKeys);
        s.pair!.key = scalarString(doc, mix(s.key ?? 'h'));
        return `shell host-name ${JSON.stringify(evil)}`;
      }
      const s = values.length ? rng.pick(values) : rng.pick(all);
      const v = s.get();
      s.set(scalarString(doc, mix(isScalar(v) && v.value !== null ? String(v.value) : '')));
      return `shell ${s.key ?? '[i]'} ${JSON.stringify(evil)}`;
    },
  ],
  [
    'rename',
    12,
    (doc, rng) => {
      const s = rng.pick(slotsOf(doc).filter((x) => x.pair));
      if (!s) return 'rename(none)';
      const to = nearMiss(rng, s.key ?? '');
      s.pair!.key = scalarString(doc, to);
      return `rename ${s.key} -> ${JSON.stringify(to)}`;
    },
  ],
  [
    'move',
    3,
    (doc, rng) => {
      const all = slotsOf(doc);
      const from = rng.pick(all);
      const to = rng.pick(all);
      const v = from.get();
      if (v && typeof v === 'object' && 'clone' in v) to.set((v as YamlNode).clone() as YamlNode);
      return `move ${from.key ?? '[i]'} -> ${to.key ?? '[i]'}`;
    },
  ],
  [
    'empty-container',
    3,
    (doc, rng) => {
      const s = rng.pick(slotsOf(doc));
      s.set(rng.chance(0.5) ? new YAMLMap() : new YAMLSeq());
      return 'empty-container';
    },
  ],
];

/** A Buffer result is written as is: invalid UTF-8, stray bytes. */
type TextMutation = (text: string, rng: Rng) => string | Buffer;

export function lines(text: string): string[] {
  return text.split('\n');
}

export const TEXT_MUTATIONS: Array<[string, number, TextMutation]> = [
  ['truncate', 12, (t, rng) => t.slice(0, rng.int(t.length))],
  [
    'flip-bytes',
    12,
    (t, rng) => {
      const b = Buffer.from(t, 'utf8');
      for (let n = rng.range(1, 6); n > 0 && b.length; n--) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    },
  ],
  [
    'indent',
    12,
    (t, rng) => {
      const ls = lines(t);
      const i = rng.int(ls.length);
      ls[i] = rng.chance(0.5) ? ' '.repeat(rng.range(1, 3)) + ls[i] : ls[i]!.replace(/^ {1,3}/, '');
      return ls.join('\n');
    },
  ],
  [
    'tabs',
    8,
    (t, rng) => {
      const ls = lines(t);
      const i = rng.int(ls.length);
      ls[i] = ls[i]!.replace(/^( +)/, (m) => '\t'.repeat(Math.max(1, m.length >> 1)));
      return rng.chance(0.3) ? t.replace(/ {2}/g, '\t') : ls.join('\n');
    },
  ],
  [
    'anchor-alias',
    8,
    (t, rng) => {
      const ls = lines(t);
      const i = rng.int(ls.length);
      const m = /^(\s*[^\s#:][^:]*:)(\s+)(\S.*)$/.exec(ls[i]!);
      if (m) ls[i] = `${m[1]} &a ${m[3]}`;
      const j = rng.int(ls.length);
      ls[j] = ls[j]!.replace(
        /:\s+\S.*$/,
        rng.pick([
          ': *a',
          ': *nope',
          ': &a [*a]',
          ': !!binary aGVsbG8=',
          ': !vault |',
          ': !!python/object:os.system "id"',
        ]),
      );
      return ls.join('\n');
    },
  ],
  [
    'merge-key',
    4,
    (t, rng) => {
      const ls = lines(t);
      const i = rng.int(ls.length);
      const indent = /^\s*/.exec(ls[i]!)![0];
      ls.splice(i, 0, `${indent}<<: *a`);
      return `x: &a {k: 1}\n${ls.join('\n')}`;
    },
  ],
  [
    'billion-laughs',
    1,
    () =>
      [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
        'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
        'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
        'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
        'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
        'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
        'all: *g',
        '',
      ].join('\n'),
  ],
  [
    'multi-doc',
    8,
    (t, rng) =>
      rng.pick([
        `${t}\n---\n${t}`,
        `---\n${t}`,
        `${t}\n...\n`,
        `${t}\n---\n`,
        `%YAML 1.1\n---\n${t}`,
        `%TAG ! tag:x,2000:\n---\n${t}`,
      ]),
  ],
  [
    'deep-nesting',
    4,
    (t, rng) => {
      const ls = lines(t);
      const i = rng.int(ls.length);
      const d = rng.pick([100, 1000, 5000, 20000]);
      const nested = rng.chance(0.5) ? `${'['.repeat(d)}${']'.repeat(d)}` : `${'{a: '.repeat(d)}1${'}'.repeat(d)}`;
      ls[i] = ls[i]!.replace(/:(\s.*)?$/, `: ${nested}`);
      return ls.join('\n');
    },
  ],
  [
    'deep-block',
    4,
    (t, rng) => {
      const d = rng.pick([200, 2000]);
      return `${t}\n${Array.from({ length: d }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`;
    },
  ],
  [
    'line-ops',
    12,
    (t, rng) => {
      const ls = lines(t);
      const i = rng.int(ls.length);
      const j = rng.int(ls.length);
      switch (rng.int(3)) {
        case 0:
          ls.splice(i, 1);
          break;
        case 1:
          ls.splice(i, 0, ls[j]!);
          break;
        default:
          [ls[i], ls[j]] = [ls[j]!, ls[i]!];
      }
      return ls.join('\n');
    },
  ],
  [
    'junk',
    12,
    (t, rng) =>
      insertAt(
        t,
        rng,
        rng.pick([
          '{',
          '[',
          '"',
          "'",
          '? ',
          '- ',
          ': ',
          '@',
          '`',
          '%',
          '&',
          '*',
          '!',
          '|',
          '>',
          '#',
          '\0',
          '\ufeff',
          '\r',
          '\u2028',
          '\x1b',
          '\t',
          '{{ x }}',
          ':::',
          '- - -',
          '\n  - ',
          ' #',
          '"\\x"',
          '"\\uD800"',
          '"\\U0010FFFF"',
          '\\',
        ]),
      ),
  ],
  ['crlf-bom', 4, (t, rng) => (rng.chance(0.5) ? `\ufeff${t}` : t.replace(/\n/g, '\r\n'))],
  ['binary', 4, (_t, rng) => Buffer.from(Array.from({ length: rng.range(1, 400) }, () => rng.int(256)))],
  [
    'empty',
    4,
    (_t, rng) =>
      rng.pick(['', '\n', '# just a comment\n', '---\n', '~\n', 'null\n', '[]\n', '{}\n', '0\n', '"all"\n', '- all\n']),
  ],
];

function weighted<T extends [string, number, unknown]>(rng: Rng, table: T[]): T {
  const total = table.reduce((n, t) => n + t[1], 0);
  let r = rng.int(total);
  for (const t of table) {
    if ((r -= t[1]) < 0) return t;
  }
  return table[0]!;
}

interface Case {
  index: number;
  target: Target;
  seedName: string;
  steps: string[];
  /** What the file holds, as the loaders read it (UTF-8, bad bytes as U+FFFD). */
  text: string;
  /** The exact bytes, when a mutation made bytes rather than text. */
  bytes?: Buffer;
}

/** Case `index` of the run with `seed`: a pure function, so a case can be rebuilt for the CLI sample. */
export function makeCase(
  seed: number,
  index: number,
  pool: Record<Target, Array<{ name: string; text: string }>>,
): Case {
  const rng = new Rng(hash32(`${seed}:${index}`));
  const target: Target = index % 10 < 4 ? 'inventory' : index % 10 < 7 ? 'playbook' : 'schedule';
  const base = rng.pick(pool[target]);
  const steps: string[] = [];
  let text = base.text;
  const treeRounds = rng.chance(0.1) ? 0 : rng.range(1, 3);
  if (treeRounds) {
    const doc = parseDocument(base.text, { uniqueKeys: false });
    const splices: Splices = { texts: [] };
    for (let n = 0; n < treeRounds; n++) {
      const [, , mutate] = weighted(rng, TREE_MUTATIONS);
      try {
        steps.push(mutate(doc, rng, splices));
      } catch (err) {
        steps.push(`tree-mutation-failed: ${(err as Error).message}`);
      }
    }
    try {
      text = doc
        .toString({ lineWidth: 0 })
        .replace(/HUGEPLACEHOLDER(\d+)X/g, (_m, n: string) => splices.texts[Number(n)]!);
    } catch (err) {
      steps.push(`stringify-failed: ${(err as Error).message}`);
    }
  }
  if (!treeRounds || rng.chance(0.35)) {
    const [name, , mutate] = weighted(rng, TEXT_MUTATIONS);
    const out = mutate(text, rng);
    steps.push(name);
    if (Buffer.isBuffer(out))
      return { index, target, seedName: base.name, steps, text: out.toString('utf8'), bytes: out };
    text = out;
  }
  return { index, target, seedName: base.name, steps, text };
}

// ---------------------------------------------------------------------------------------------
// Running one case and judging the outcome

export const MAX_MESSAGE = 500;
/** Not failed on, but reported: C0/C1 controls, line separators and bidi overrides printed raw. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
export const softControl: Array<{ index: number; target: Target; message: string }> = [];

type ViolationClass =
  | 'stack-trace' // not a FleetError: a TypeError, RangeError, … (the CLI says "internal error")
  | 'wrong-kind' // a FleetError, but not kind usage (exit code not 2)
  | 'multi-line' // the message has a line break (LF or CR)
  | 'overlong' // the message is longer than MAX_MESSAGE (a huge value echoed)
  | 'no-location' // the message does not start with file:line
  | 'unsafe-accept'; // accepted, but a value that reaches a shell is not safe

export interface Violation {
  cls: ViolationClass;
  target: Target;
  stage: 'parse' | 'plan';
  index: number;
  steps: string[];
  message: string;
  /** Groups violations: the class, the error type and the message without the location and values. */
  signature: string;
  err: unknown;
}

function signatureOf(message: string, file: string): string {
  const rest = message.startsWith(file)
    ? message
        .slice(file.length)
        .replace(/^:\d+/, '')
        .replace(/^: [^:]*: /, ': ')
        .replace(/^: /, '')
    : message;
  return rest
    .replace(/'[^']*'|"(?:[^"\\]|\\.)*"/gs, "'…'")
    .replace(/\d+/g, 'N')
    .slice(0, 70);
}

/** The oracle for accepted inventories: what reaches a remote shell or ssh must be plain. */
function unsafeInventory(inv: Inventory): string | undefined {
  for (const h of inv.hosts) {
    const checks: Array<[string, string | undefined, ((v: string) => string | undefined) | undefined]> = [
      ['name', h.name, checkHostName],
      ['address', h.address.includes(':') ? undefined : h.address, checkAddress],
      ['ssh.user', h.ssh.user, checkUser],
      ['ldap.instance', h.ldap.instance, checkInstanceName],
      ['suffixes.ca_instance', h.suffixes.ca.instance, checkInstanceName],
    ];
    for (const [what, value, check] of checks) {
      if (value === undefined) continue;
      if (check?.(value) || !/^[A-Za-z0-9._:@[\]-]+$/.test(value)) return `${what} ${JSON.stringify(value)} accepted`;
    }
    if (!/^[A-Za-z0-9._-]+$/.test(inv.deployment)) return `deployment ${JSON.stringify(inv.deployment)} accepted`;
  }
  return undefined;
}

/** The oracle for accepted playbooks: every with: key is the action's own parameter, every {{ ref }} a declared one. */
function unsafePlaybook(pb: Playbook): string | undefined {
  const registry = defaultRegistry();
  for (const p of Object.keys(pb.params)) {
    if (PROTO.includes(p)) return `parameter named ${p} accepted`;
  }
  if (Object.getPrototypeOf(pb.params) !== Object.prototype) return 'params got a new prototype (__proto__ key)';
  for (const step of pb.steps) {
    const def = registry.action(step.action)!;
    for (const key of Object.keys(step.with)) {
      if (!Object.hasOwn(def.params, key))
        return `steps[${step.index}].with.${key}: not a parameter of ${step.action}, accepted`;
    }
    if (Object.getPrototypeOf(step.with) !== Object.prototype)
      return `steps[${step.index}].with got a new prototype (__proto__ key)`;
    const texts = [
      step.hosts.kind === 'pattern' ? step.hosts.pattern : step.hosts.argument,
      ...(JSON.stringify(step.with).match(/\{\{[^}]*\}\}/g) ?? []),
    ];
    for (const t of texts) {
      for (const ref of templateRefs(t)) {
        if (ref !== 'host.name' && ref !== 'host.address' && !Object.hasOwn(pb.params, ref))
          return `{{ ${ref} }}: not a declared parameter, accepted`;
      }
    }
  }
  return undefined;
}

interface Outcome {
  accepted: boolean;
  violations: Violation[];
  planned: boolean;
}

export let planInventory: Inventory;

/** A value for every required parameter, so plan errors come from the file, not a missing --set. */
function setsFor(pb: Playbook): string[] {
  const sets: string[] = [];
  for (const [name, spec] of Object.entries(pb.params)) {
    if (!spec.required) continue;
    const value =
      {
        string: 'x',
        number: '1',
        boolean: 'true',
        host: planInventory.hosts[0]!.name,
        hosts: 'all',
        duration: '1s',
        list: 'a',
      }[spec.type] ?? 'x';
    sets.push(`${name}=${value}`);
  }
  return sets;
}

function judge(err: unknown, c: Case, file: string, stage: 'parse' | 'plan'): Violation[] {
  const base = { target: c.target, stage, index: c.index, steps: c.steps, err };
  if (!(err instanceof FleetError)) {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return [
      {
        ...base,
        cls: 'stack-trace',
        message,
        signature: `${err instanceof Error ? err.name : typeof err}: ${signatureOf(message, file)}`,
      },
    ];
  }
  const { message } = err;
  const sig = `${err.name}: ${signatureOf(message, file)}`;
  const out: Violation[] = [];
  const v = (cls: ViolationClass): void => {
    out.push({ ...base, cls, message: message.slice(0, 400), signature: sig });
  };
  if (err.kind !== 'usage') v('wrong-kind');
  if (/[\n\r]/.test(message)) v('multi-line');
  if (CONTROL.test(message)) softControl.push({ index: c.index, target: c.target, message: message.slice(0, 200) });
  if (message.length > MAX_MESSAGE) v('overlong');
  const lineCount = c.text.split('\n').length;
  const located =
    err instanceof LocatedError &&
    err.file === file &&
    err.line !== undefined &&
    err.line >= 1 &&
    err.line <= lineCount + 1 &&
    message.startsWith(`${file}:${err.line}`);
  // Plan errors name the step as `file:line: steps[i] (name): …` without being LocatedErrors.
  const planLocated =
    stage === 'plan' && new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: `).test(message);
  if (!located && !planLocated) v('no-location');
  return out;
}

async function runCase(c: Case, dir: string): Promise<Outcome> {
  const registry = defaultRegistry();
  const file = join(
    dir,
    c.target === 'inventory'
      ? 'fuzz-inventory.yaml'
      : c.target === 'playbook'
        ? 'fuzz-playbook.yaml'
        : 'fuzz-schedule.yaml',
  );
  writeFileSync(file, c.bytes ?? c.text);
  // As the loaders read it: a lone surrogate or a broken byte becomes U+FFFD.
  const text = readFileSync(file, 'utf8');
  try {
    if (c.target === 'inventory') {
      const inv = await loadInventory(file);
      const unsafe = unsafeInventory(inv);
      return {
        accepted: true,
        planned: false,
        violations: unsafe
          ? [
              {
                cls: 'unsafe-accept',
                target: c.target,
                stage: 'parse',
                index: c.index,
                steps: c.steps,
                message: unsafe,
                signature: unsafe.replace(/".*"/, '…'),
                err: undefined,
              },
            ]
          : [],
      };
    }
    if (c.target === 'schedule') {
      parseSchedule(text, file, HOME);
      return { accepted: true, planned: false, violations: [] };
    }
    const pb = parsePlaybook(text, file, registry);
    const unsafe = unsafePlaybook(pb);
    const violations: Violation[] = unsafe
      ? [
          {
            cls: 'unsafe-accept',
            target: c.target,
            stage: 'parse',
            index: c.index,
            steps: c.steps,
            message: unsafe,
            signature: unsafe.replace(/^steps\[\d+\]/, 'steps[N]').replace(/\{\{ .* \}\}/, '{{ … }}'),
            err: undefined,
          },
        ]
      : [];
    // What `ipa-fleet plan` does next, for playbooks that plan without facts from the hosts.
    if (playbookNeedsFacts(pb, registry)) return { accepted: true, planned: false, violations };
    try {
      const params = resolveParams(pb, setsFor(pb), planInventory);
      buildPlan({
        playbook: pb,
        inventory: planInventory,
        registry,
        params,
        limit: undefined,
        facts: new Map(),
        createdAt: '2024-01-01T00:00:00.000Z',
      });
    } catch (err) {
      violations.push(...judge(err, c, file, 'plan'));
    }
    return { accepted: true, planned: true, violations };
  } catch (err) {
    return { accepted: false, planned: false, violations: judge(err, c, file, 'parse') };
  }
}

// ---------------------------------------------------------------------------------------------

export let tmp: string;
export const stats = {
  cases: 0,
  rejected: 0,
  accepted: 0,
  planned: 0,
  stackTraces: 0,
  ms: 0,
  byTarget: {} as Record<string, { cases: number; rejected: number }>,
};
export const allViolations: Violation[] = [];
export const slowest: Array<{ ms: number; what: string }> = [];
export const profile: Record<string, { n: number; make: number; run: number }> = {};
/** Cleanly rejected cases (or only overlong: still one line), candidates for the CLI sample. */
export const rejectedForCli: Array<{ index: number; target: Target; score: number }> = [];

/** Makes the fuzz folder (`tmp`) with a valid inventory for plans; a test file's before() calls it. */
export async function prepareFuzz(): Promise<void> {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-fuzz-'));
  mkdirSync(join(tmp, 'cases'));
  writeFileSync(
    join(tmp, 'valid.yaml'),
    INVENTORY_FULL.replace(/^ +ldap: \{direct: ldaps, ca_file: \/etc\/ipa\/ca.crt\}\n/m, ''),
  );
  planInventory = await loadInventory(join(tmp, 'valid.yaml'));
}

export function cleanUpFuzz(): void {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

function nastiness(c: Case): number {
  let score = Math.min(c.text.length / 20_000, 10);
  if (/[\0\u001b\u202e\u2028]/.test(c.text)) score += 3;
  if (/\$\(|`|; rm/.test(c.text)) score += 2;
  if (c.steps.some((s) => /huge|billion|deep|binary|flip/.test(s))) score += 3;
  return score;
}

export async function runFuzz(cases: number): Promise<void> {
  const pool = seeds();
  const started = Date.now();
  for (let i = 0; i < cases; i++) {
    const t0 = performance.now();
    const c = makeCase(SEED, i, pool);
    const t1 = performance.now();
    const outcome = await runCase(c, join(tmp, 'cases'));
    const t2 = performance.now();
    for (const step of c.steps) {
      const p = (profile[step.split(' ')[0]!] ??= { n: 0, make: 0, run: 0 });
      p.n++;
      p.make += t1 - t0;
      p.run += t2 - t1;
    }
    slowest.push({ ms: t2 - t0, what: `case ${i} ${c.target} ${c.text.length} B: ${c.steps.join(', ')}` });
    if (slowest.length > 40) {
      slowest.sort((a, b) => b.ms - a.ms);
      slowest.length = 20;
    }
    stats.cases++;
    const t = (stats.byTarget[c.target] ??= { cases: 0, rejected: 0 });
    t.cases++;
    if (outcome.accepted) stats.accepted++;
    else {
      stats.rejected++;
      t.rejected++;
    }
    if (outcome.planned) stats.planned++;
    if (outcome.violations.some((v) => v.cls === 'stack-trace')) stats.stackTraces++;
    allViolations.push(...outcome.violations);
    if (!outcome.accepted && outcome.violations.every((v) => v.cls === 'overlong')) {
      rejectedForCli.push({ index: i, target: c.target, score: nastiness(c) });
    }
  }
  stats.ms = Date.now() - started;
}
