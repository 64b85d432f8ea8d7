// Playbook parameters: coercion of --set strings and defaults to their types, durations, and
// `{{ name }}` / `{{ name | quote }}` rendering.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import type { Playbook } from '../../src/playbook/model.js';
import type { JsonValue } from '../../src/json.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { parsePlaybook } from '../../src/playbook/load.js';
import { coerce, offlineHostsOf, parseDuration, render, resolveParams } from '../../src/playbook/params.js';
import { buildPlan } from '../../src/playbook/planner.js';

const INVENTORY = parseInventory(
  [
    'all:',
    '  vars:',
    '    deployment: p',
    '    ldap: {instance: P, password: env:P_DM}',
    '    suffixes: {domain: "dc=p"}',
    '  hosts:',
    '    a.p.test: {}',
    '    b.p.test: {}',
    '',
  ].join('\n'),
  '/fixtures/inv.yaml',
  { homeDir: '/home/t', hasLocalKnownHosts: false },
);

/** Asserts a UsageError whose message starts with `what:` and matches `pattern`. */
function rejects(fn: () => unknown, what: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, `a UsageError, got ${String(err)}`);
    assert.equal(err.kind, 'usage');
    assert.ok(err.message.startsWith(`${what}: `), `names the parameter: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('coerce', () => {
  it('string: scalars become text; mappings and lists are refused', () => {
    assert.equal(coerce('abc', 'string', '--set s'), 'abc');
    assert.equal(coerce('  padded  ', 'string', '--set s'), '  padded  ', 'a string keeps its spaces');
    assert.equal(coerce(42, 'string', '--set s'), '42');
    assert.equal(coerce(true, 'string', '--set s'), 'true');
    rejects(() => coerce({ a: 1 }, 'string', '--set s'), '--set s', /expected a string$/);
    rejects(() => coerce(['x'], 'string', 'with.text'), 'with.text', /expected a string$/);
  });

  it('number: numeric text (trimmed) and numbers; anything else is refused', () => {
    assert.equal(coerce('42', 'number', '--set n'), 42);
    assert.equal(coerce(' -1.5 ', 'number', '--set n'), -1.5);
    assert.equal(coerce(7, 'number', '--set n'), 7);
    rejects(() => coerce('forty', 'number', '--set n'), '--set n', /expected a number, got 'forty'$/);
    rejects(() => coerce('', 'number', '--set n'), '--set n', /expected a number, got ''$/);
    rejects(() => coerce('   ', 'number', '--set count'), '--set count', /expected a number/);
    rejects(() => coerce('Infinity', 'number', '--set n'), '--set n', /expected a number/);
    rejects(() => coerce('12abc', 'number', 'parameter n (default)'), 'parameter n (default)', /got '12abc'/);
  });

  it('boolean: true/yes/1 and false/no/0 (trimmed), real booleans; anything else is refused', () => {
    for (const yes of ['true', 'yes', '1', ' true ']) assert.equal(coerce(yes, 'boolean', '--set b'), true, yes);
    for (const no of ['false', 'no', '0', 'no ']) assert.equal(coerce(no, 'boolean', '--set b'), false, no);
    assert.equal(coerce(true, 'boolean', '--set b'), true);
    assert.equal(coerce(false, 'boolean', '--set b'), false);
    rejects(() => coerce('maybe', 'boolean', '--set keep'), '--set keep', /expected true or false, got 'maybe'$/);
    rejects(() => coerce('TRUE!', 'boolean', '--set keep'), '--set keep', /got 'TRUE!'/);
    rejects(() => coerce('', 'boolean', '--set keep'), '--set keep', /expected true or false/);
  });

  it('duration: units s, m, h, d and plain seconds', () => {
    assert.equal(coerce('5m', 'duration', '--set d'), 300);
    assert.equal(coerce(' 2h ', 'duration', '--set d'), 7200);
    assert.equal(coerce(45, 'duration', '--set d'), 45);
    rejects(
      () => coerce('5 weeks', 'duration', '--set wait'),
      '--set wait',
      /expected a duration like 30s, 5m, 2h or 7d, got '5 weeks'$/,
    );
  });

  it('host: must be a host of the inventory when one is given', () => {
    assert.equal(coerce('a.p.test', 'host', '--set master', INVENTORY), 'a.p.test');
    assert.equal(coerce(' b.p.test ', 'host', '--set master', INVENTORY), 'b.p.test', 'trimmed');
    rejects(
      () => coerce('c.p.test', 'host', '--set master', INVENTORY),
      '--set master',
      /'c\.p\.test' is not a host of the inventory \(a\.p\.test, b\.p\.test\)$/,
    );
    rejects(
      () => coerce('a.p', 'host', 'parameter master (default)', INVENTORY),
      'parameter master (default)',
      /not a host/,
    );
    // Without an inventory (action parameters), the name is taken as it is.
    assert.equal(coerce('anything', 'host', 'with.host'), 'anything');
  });

  it('hosts: a pattern, kept as text', () => {
    assert.equal(coerce('dc1,&ca*', 'hosts', '--set target', INVENTORY), 'dc1,&ca*');
    assert.equal(coerce(' all ', 'hosts', '--set target'), 'all');
  });

  it('list: comma-separated text (trimmed, empty items dropped) or a list as it is', () => {
    assert.deepEqual(coerce('a, b,,c ,', 'list', '--set l'), ['a', 'b', 'c']);
    assert.deepEqual(coerce('', 'list', '--set l'), []);
    assert.deepEqual(coerce('one', 'list', '--set l'), ['one']);
    assert.deepEqual(coerce(['x', 2, true], 'list', '--set l'), ['x', 2, true]);
  });

  it('object: a mapping as it is; anything else is refused', () => {
    assert.deepEqual(coerce({ a: [1, { b: 'c' }] }, 'object', 'with.data'), { a: [1, { b: 'c' }] });
    rejects(() => coerce('a=b', 'object', 'with.data'), 'with.data', /expected a mapping$/);
    rejects(() => coerce(['a'], 'object', 'with.data'), 'with.data', /expected a mapping$/);
    rejects(() => coerce(null, 'object', 'with.data'), 'with.data', /expected a mapping$/);
  });
});

describe('parseDuration', () => {
  it('reads seconds, minutes, hours and days, with fractions and a space before the unit', () => {
    const cases: Array<[JsonValue, number]> = [
      ['90', 90],
      ['30s', 30],
      ['5m', 300],
      ['2h', 7200],
      ['7d', 604800],
      ['1.5h', 5400],
      ['0', 0],
      ['10 m', 600],
      [0, 0],
      [12.5, 12.5],
    ];
    for (const [input, seconds] of cases) assert.equal(parseDuration(input, 'x'), seconds, String(input));
  });

  it('refuses negatives, unknown units, upper case units and empty text, naming the value', () => {
    for (const bad of ['-5', -5, '5w', '5M', '', 'm', '1h30m', '5 minutes', true]) {
      assert.throws(
        () => parseDuration(bad, '--set timeout'),
        (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.equal(err.message, `--set timeout: expected a duration like 30s, 5m, 2h or 7d, got '${String(bad)}'`);
          return true;
        },
        String(bad),
      );
    }
  });
});

describe('render', () => {
  const vars: Record<string, JsonValue> = {
    n: 3,
    on: false,
    name: 'web one',
    nasty: "it's; rm -rf / && echo $HOME",
    list: ['a', 'b'],
    map: { k: 'v' },
    empty: '',
    host: { name: 'a.p.test', address: '192.0.2.1' },
  };

  it('a string that is exactly one reference keeps the value type', () => {
    assert.equal(render('{{ n }}', vars), 3);
    assert.equal(render('{{n}}', vars), 3);
    assert.equal(render('{{ on }}', vars), false);
    assert.deepEqual(render('{{ list }}', vars), ['a', 'b']);
    assert.deepEqual(render('{{ map }}', vars), { k: 'v' });
    assert.deepEqual(render('{{ host }}', vars), { name: 'a.p.test', address: '192.0.2.1' });
  });

  it('references inside text become text (lists and mappings as JSON)', () => {
    assert.equal(render('n={{ n }}', vars), 'n=3');
    assert.equal(render(' {{ n }}', vars), ' 3', 'not a whole-string reference when there is text around it');
    assert.equal(render('{{ n }}{{ n }}', vars), '33');
    assert.equal(render('on={{ on }}', vars), 'on=false');
    assert.equal(render('{{ list }}!', vars), '["a","b"]!');
    assert.equal(render('m={{ map }}', vars), 'm={"k":"v"}');
    assert.equal(render('hello {{ name }}', vars), 'hello web one');
    assert.equal(render('no references', vars), 'no references');
  });

  it('host.name and host.address are looked up through the dots', () => {
    assert.equal(render('{{ host.name }}', vars), 'a.p.test');
    assert.equal(render('ssh {{ host.address }}', vars), 'ssh 192.0.2.1');
  });

  it('| quote shell-quotes the text, also when the string is one reference', () => {
    assert.equal(render('echo {{ name | quote }}', vars), "echo 'web one'");
    assert.equal(render('{{ name | quote }}', vars), "'web one'");
    assert.equal(render('{{ nasty|quote }}', vars), `'it'\\''s; rm -rf / && echo $HOME'`);
    assert.equal(render('{{ n | quote }}', vars), '3', 'a whole quoted reference is text');
    assert.equal(render('x {{ empty | quote }} y', vars), "x '' y");
    assert.equal(render('ls {{ host.name | quote }}', vars), 'ls a.p.test', 'safe words stay bare');
    assert.equal(render('f {{ list | quote }}', vars), `f '["a","b"]'`);
  });

  it('an unset reference renders as empty text', () => {
    assert.equal(render('{{ missing }}', vars), '');
    assert.equal(render('a{{ missing }}b', vars), 'ab');
    assert.equal(render('{{ host.port }}', vars), '');
  });

  it('walks nested lists and mappings and leaves non-strings alone', () => {
    const input: JsonValue = {
      count: '{{ n }}',
      nested: {
        label: 'n={{ n }}',
        items: ['{{ on }}', 'x {{ name | quote }}', 7, null, true],
        deeper: [{ v: '{{ list }}' }],
      },
      plain: 12,
    };
    assert.deepEqual(render(input, vars), {
      count: 3,
      nested: { label: 'n=3', items: [false, "x 'web one'", 7, null, true], deeper: [{ v: ['a', 'b'] }] },
      plain: 12,
    });
    // The input is not changed.
    assert.equal((input as { count: string }).count, '{{ n }}');
  });

  it('a reference that is not a template (no closing braces, bad name) is left as it is', () => {
    assert.equal(render('{{ n', vars), '{{ n');
    assert.equal(render('{{ 9n }}', vars), '{{ 9n }}');
    assert.equal(render('{{ n | upper }}', vars), '{{ n | upper }}');
  });
});

describe('offlineHostsOf', () => {
  const book = (offlineHosts: string | undefined): Playbook => ({
    file: '/pb.yaml',
    sha256: '',
    name: 'pb',
    description: '',
    params: {},
    offlineHosts,
    steps: [],
  });

  it('no offline_hosts: every host must answer', () => {
    assert.deepEqual([...offlineHostsOf(book(undefined), { allow_offline: ['c.p.test'] })], []);
  });

  it('renders the template: a list parameter, comma-separated text, or nothing', () => {
    const pb = book('{{ allow_offline }}');
    assert.deepEqual([...offlineHostsOf(pb, { allow_offline: ['b.p.test', 'c.p.test'] })], ['b.p.test', 'c.p.test']);
    assert.deepEqual([...offlineHostsOf(pb, { allow_offline: 'b.p.test, c.p.test' })], ['b.p.test', 'c.p.test']);
    assert.deepEqual([...offlineHostsOf(pb, { allow_offline: [] })], []);
    assert.deepEqual([...offlineHostsOf(pb, {})], []);
    assert.deepEqual([...offlineHostsOf(book('a.p.test,{{ more }}'), { more: 'b.p.test' })], ['a.p.test', 'b.p.test']);
  });
});

describe('params: durations a Node timer can wait', () => {
  // parseDuration (src/playbook/params.ts) accepts any number of days, but the runners hand
  // seconds * 1000 to setTimeout: src/actions/pause.ts sleep() and the exec timeoutMs timer in src/transport/ssh.ts (exec
  // `timeout:`). Node clamps a delay above 2^31-1 ms (about 24.8 days) to 1 ms, so `seconds: 30d`
  // ends at once, and an exec `timeout: 30d` kills the command after 1 ms.
  it('durations longer than a Node timer can wait are refused up front', () => {
    assert.throws(() => parseDuration('30d', 'with.seconds'), /with\.seconds: '30d' is longer than the limit of 24d/);
    assert.equal(parseDuration('24d', 'with.seconds'), 24 * 86400);
  });

  it('an age compared with a clock (audit --drill-max-age) may be longer when the caller says so', () => {
    assert.equal(parseDuration('35d', '--drill-max-age', Number.POSITIVE_INFINITY), 35 * 86400);
  });
});

describe('params: an empty default', () => {
  // src/playbook/load.ts parseParam(): `default:` with no value is read as null, which is `!== undefined`,
  // so resolveParams() coerces it: coerce(null, 'string') returns the text 'null' (params.ts, the
  // `case 'string'` branch only refuses non-null objects). `{{ note }}` renders "null" and `when: note` is true.
  it('an empty default: is no value, not the text "null"', () => {
    const registry = defaultRegistry();
    const playbook = parsePlaybook(
      [
        'name: empty-default',
        'params:',
        '  note:',
        '    type: string',
        '    default:',
        'steps:',
        '  - action: exec',
        '    hosts: all',
        '    when: note',
        '    with: {command: "logger {{ note }}"}',
        '',
      ].join('\n'),
      '/fixtures/empty-default.yaml',
      registry,
    );
    const params = resolveParams(playbook, [], INVENTORY);
    assert.notEqual(params.note, 'null');
    const plan = buildPlan({
      playbook,
      inventory: INVENTORY,
      registry,
      params,
      limit: undefined,
      facts: new Map(),
      createdAt: 'x',
    });
    assert.ok(!plan.tasks.some((t) => t.params.command === 'logger null'), 'no command gets the word null');
  });
});
