// The playbook loader: every problem is ONE LocatedError (kind usage) whose message is
// `<file>:<line>: <key>: <problem>` with the line of the offending key (the CLI's `plan`: test/cli/plan.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRegistry } from '../../src/actions/index.js';
import { LocatedError } from '../../src/located/located-error.js';
import { loadPlaybook, parsePlaybook, templateRefs } from '../../src/playbook/load.js';
import { lineOf } from './located-error.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/playbooks');
const FILE = '/pb/broken.yaml';

/** Parsing `text` fails with one LocatedError at `line`, naming `key`, whose problem matches. */
function fails(text: string, line: number, key: string | undefined, problem: string | RegExp): void {
  assert.throws(
    () => parsePlaybook(text, FILE, defaultRegistry()),
    (err: unknown) => {
      assert.ok(err instanceof LocatedError, `an LocatedError, got ${String(err)}`);
      assert.equal(err.kind, 'usage');
      assert.equal(err.file, FILE);
      assert.equal(err.line, line, `line of: ${err.message}`);
      assert.equal(err.key, key, `key of: ${err.message}`);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      const prefix = `${FILE}:${line}: ${key ? `${key}: ` : ''}`;
      assert.ok(err.message.startsWith(prefix), `'${err.message}' starts with '${prefix}'`);
      const rest = err.message.slice(prefix.length);
      if (typeof problem === 'string') assert.equal(rest, problem);
      else assert.match(rest, problem);
      return true;
    },
  );
}

const y = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('playbook loader: valid playbooks', () => {
  it('reads name, description, params and steps with their lines', () => {
    const text = y(
      'name: ok-book',
      'description: fine',
      'params:',
      '  keep: {type: boolean, default: false, description: keep it}',
      '  who: {type: host, required: true}',
      'steps:',
      '  - name: write',
      '    action: exec',
      '    hosts: "{{ who }}"',
      '    concurrency: 2',
      '    serial: 1',
      '    when: not keep',
      '    confirm: true',
      '    with: {command: "echo {{ host.name | quote }} {{ host.address }}", timeout: 5m}',
      '  - action: facts',
      '    hosts: {role: ca}',
    );
    const pb = parsePlaybook(text, FILE, defaultRegistry());
    assert.equal(pb.name, 'ok-book');
    assert.equal(pb.description, 'fine');
    assert.equal(pb.file, FILE);
    assert.equal(pb.sha256, createHash('sha256').update(text).digest('hex'));
    assert.deepEqual(pb.params.keep && { ...pb.params.keep, at: pb.params.keep.at.line }, {
      type: 'boolean',
      required: false,
      default: false,
      description: 'keep it',
      at: 4,
    });
    assert.deepEqual(pb.params.who && [pb.params.who.type, pb.params.who.required, pb.params.who.default], [
      'host',
      true,
      undefined,
    ]);
    assert.equal(pb.steps.length, 2);
    const [a, b] = pb.steps as [(typeof pb.steps)[0], (typeof pb.steps)[0]];
    assert.deepEqual(
      { ...a, at: a.at.line },
      {
        index: 0,
        name: 'write',
        action: 'exec',
        hosts: { kind: 'pattern', pattern: '{{ who }}' },
        with: { command: 'echo {{ host.name | quote }} {{ host.address }}', timeout: '5m' },
        concurrency: 2,
        serial: 1,
        when: 'not keep',
        confirm: true,
        keepGoing: false,
        at: 7,
      },
    );
    assert.deepEqual(
      { ...b, at: b.at.line },
      {
        index: 1,
        name: 'facts',
        action: 'facts',
        hosts: { kind: 'selector', name: 'role', argument: 'ca' },
        with: {},
        concurrency: undefined,
        serial: undefined,
        when: undefined,
        confirm: false,
        keepGoing: false,
        at: 15,
      },
    );
  });

  it('the shipped hello-fleet playbook and the fixture playbook load', async () => {
    const hello = await loadPlaybook(join(ROOT, 'playbooks/hello-fleet.yaml'), defaultRegistry());
    assert.equal(hello.name, 'hello-fleet');
    assert.deepEqual(
      hello.steps.map((s) => s.action),
      ['facts', 'exec', 'pause', 'exec', 'exec'],
    );
    assert.deepEqual(Object.keys(hello.params), ['marker_dir', 'keep']);
    const local = await loadPlaybook(join(FIXTURES, 'local-pause.yaml'), defaultRegistry());
    assert.equal(local.steps[1]!.serial, 1);
  });

  it('offline_hosts: the templated hosts a playbook may plan without; restore and rejoin name allow_offline', async () => {
    const text = y(
      'name: x',
      'params:',
      '  away: {type: list, default: []}',
      'offline_hosts: "{{ away }}"',
      'steps:',
      '  - {action: facts, hosts: all}',
    );
    assert.equal(parsePlaybook(text, FILE, defaultRegistry()).offlineHosts, '{{ away }}');
    const none = parsePlaybook(y('name: x', 'steps:', '  - {action: facts, hosts: all}'), FILE, defaultRegistry());
    assert.equal(none.offlineHosts, undefined);
    for (const name of ['restore-deployment', 'rejoin']) {
      const pb = await loadPlaybook(join(ROOT, `playbooks/${name}.yaml`), defaultRegistry());
      assert.equal(pb.offlineHosts, '{{ allow_offline }}', name);
    }
  });

  it('templateRefs lists the parameters a string refers to', () => {
    assert.deepEqual(templateRefs('a {{ x }} b {{y|quote}} {{ host.name }} {{ not closed'), ['x', 'y', 'host.name']);
  });

  it('loadPlaybook of a missing file is one usage error naming the file', async () => {
    const missing = join(FIXTURES, 'no-such-playbook.yaml');
    await assert.rejects(
      loadPlaybook(missing, defaultRegistry()),
      (err: unknown) =>
        err instanceof LocatedError &&
        err.kind === 'usage' &&
        err.message === `${missing}: cannot read the playbook: no such file`,
    );
  });
});

describe('playbook loader: one error per bad playbook, at the right line', () => {
  it('an unknown top-level key, with a suggestion', () => {
    const text = y('name: x', 'descripton: typo', 'steps:', '  - {action: facts, hosts: all}');
    fails(
      text,
      2,
      'descripton',
      'unknown key (did you mean description?); allowed: name, description, params, offline_hosts, steps',
    );
  });

  it('an unknown step key, with a suggestion', () => {
    const text = y(
      'name: x',
      'steps:',
      '  - action: exec',
      '    hosts: all',
      '    with: {command: ls}',
      '    serail: 2',
    );
    fails(
      text,
      lineOf(text, 'serail'),
      'steps[0].serail',
      'unknown key (did you mean serial?); allowed: name, action, hosts, with, concurrency, serial, when, confirm, keep_going',
    );
  });

  it('an unknown key in a parameter declaration', () => {
    const text = y(
      'name: x',
      'params:',
      '  keep:',
      '    type: boolean',
      '    color: red',
      'steps:',
      '  - {action: facts, hosts: all}',
    );
    assert.throws(
      () => parsePlaybook(text, FILE, defaultRegistry()),
      (err: unknown) =>
        err instanceof LocatedError &&
        err.line === lineOf(text, 'color') &&
        /unknown key; allowed: type, default, required, description$/.test(err.message),
    );
  });

  it('an unknown action, with a suggestion and the list of actions', () => {
    const text = y(
      'name: x',
      'steps:',
      '  - name: one',
      '    action: facts',
      '    hosts: all',
      '  - name: two',
      '    action: exek',
      '    hosts: all',
    );
    fails(
      text,
      lineOf(text, 'exek'),
      'steps[1].action',
      "unknown action 'exek' (did you mean exec?); actions: audit, backup, converge, entries-prove, entries-restore, entries-undo, exec, facts, fence, pause, recreate-instance, recreate-preflight, reinitialize, release, restore-master, restore-preflight, unfence",
    );
  });

  it('an unknown action without a close name still lists the actions', () => {
    const text = y('name: x', 'steps:', '  - action: restore-everything', '    hosts: all');
    fails(
      text,
      3,
      'steps[0].action',
      "unknown action 'restore-everything'; actions: audit, backup, converge, entries-prove, entries-restore, entries-undo, exec, facts, fence, pause, recreate-instance, recreate-preflight, reinitialize, release, restore-master, restore-preflight, unfence",
    );
  });

  it('a missing required action parameter (exec without command)', () => {
    const withOther = y('name: x', 'steps:', '  - action: exec', '    hosts: all', '    with: {creates: /tmp/x}');
    fails(
      withOther,
      lineOf(withOther, 'with:'),
      'steps[0].with.command',
      "missing: 'exec' requires command (the command, run by sh)",
    );
    const noWith = y('name: x', 'steps:', '  - name: bare', '    action: exec', '    hosts: all');
    fails(
      noWith,
      lineOf(noWith, 'name: bare'),
      'steps[0].with.command',
      "missing: 'exec' requires command (the command, run by sh)",
    );
  });

  it('an unknown with parameter, with a suggestion and the parameters the action takes', () => {
    const text = y(
      'name: x',
      'steps:',
      '  - action: exec',
      '    hosts: all',
      '    with:',
      '      command: ls',
      '      timout: 5s',
    );
    fails(
      text,
      lineOf(text, 'timout'),
      'steps[0].with.timout',
      "'exec' has no parameter 'timout' (did you mean timeout?); it takes: command, creates, unless, timeout",
    );
    const facts = y('name: x', 'steps:', '  - action: facts', '    hosts: all', '    with: {verbose: true}');
    fails(
      facts,
      lineOf(facts, 'verbose'),
      'steps[0].with.verbose',
      "'facts' has no parameter 'verbose'; it takes: none",
    );
  });

  it('an unknown selector, with a suggestion and the list of selectors', () => {
    const text = y('name: x', 'steps:', '  - action: facts', '    hosts:', '      peer_of: ipa1.example.com');
    fails(
      text,
      lineOf(text, 'peer_of'),
      'steps[0].hosts.peer_of',
      "unknown selector 'peer_of' (did you mean peers_of?); selectors: peers_of, role",
    );
    const two = y('name: x', 'steps:', '  - action: facts', '    hosts: {role: ca, peers_of: a}');
    fails(two, 4, 'steps[0].hosts', 'a selector is one key: {selector: argument}');
  });

  it('a reference to an undeclared parameter, in with and in hosts', () => {
    const inWith = y(
      'name: x',
      'params:',
      '  keep: {type: boolean}',
      'steps:',
      '  - action: exec',
      '    hosts: all',
      '    with:',
      '      creates: /tmp/x',
      '      command: "rm -rf {{ undefined_param }}/*"',
    );
    fails(
      inWith,
      lineOf(inWith, 'undefined_param'),
      'steps[0].with.command',
      "unknown parameter '{{ undefined_param }}'; parameters: keep",
    );
    const nested = y(
      'name: x',
      'steps:',
      '  - action: pause',
      '    hosts: all',
      '    with:',
      '      until: "test -e {{ marker | quote }}"',
    );
    fails(
      nested,
      lineOf(nested, 'marker'),
      'steps[0].with.until',
      "unknown parameter '{{ marker }}' (the playbook declares none)",
    );
    const inHosts = y(
      'name: x',
      'params:',
      '  a: {}',
      '  b: {}',
      'steps:',
      '  - action: facts',
      '    hosts: "{{ target }}"',
    );
    fails(inHosts, lineOf(inHosts, 'target'), 'steps[0].hosts', "unknown parameter '{{ target }}'; parameters: a, b");
    const inSelector = y('name: x', 'steps:', '  - action: facts', '    hosts: {peers_of: "{{ master }}"}');
    fails(inSelector, 4, 'steps[0].hosts', "unknown parameter '{{ master }}' (the playbook declares none)");
  });

  it('offline_hosts: an undeclared parameter, host.name, or not a string', () => {
    const unknown = y('name: x', 'offline_hosts: "{{ away }}"', 'steps:', '  - {action: facts, hosts: all}');
    fails(unknown, 2, 'offline_hosts', "unknown parameter '{{ away }}' (the playbook declares none)");
    const host = y('name: x', 'offline_hosts: "{{ host.name }}"', 'steps:', '  - {action: facts, hosts: all}');
    fails(host, 2, 'offline_hosts', "'{{ host.name }}' is only known inside with:");
    const list = y('name: x', 'offline_hosts: [a]', 'steps:', '  - {action: facts, hosts: all}');
    fails(list, 2, 'offline_hosts', 'must be a string');
  });

  it('a when: it cannot read', () => {
    const text = y(
      'name: x',
      'params:',
      '  keep: {type: boolean}',
      'steps:',
      '  - action: facts',
      '    hosts: all',
      '    when: keep and others',
    );
    fails(
      text,
      lineOf(text, 'when:'),
      'steps[0].when',
      "cannot read 'keep and others': use param, not param, param == 'value' or param != 'value'",
    );
    const both = y(
      'name: x',
      'params:',
      '  keep: {type: boolean}',
      'steps:',
      '  - action: facts',
      '    hosts: all',
      "    when: not keep == 'x'",
    );
    fails(
      both,
      lineOf(both, 'when:'),
      'steps[0].when',
      "cannot read 'not keep == 'x'': use either not or a comparison",
    );
    const bare = y(
      'name: x',
      'params:',
      '  mode: {}',
      'steps:',
      '  - action: facts',
      '    hosts: all',
      '    when: mode == fast',
    );
    fails(bare, lineOf(bare, 'when:'), 'steps[0].when', /^cannot read 'mode == fast'/);
  });

  it('a when: on an undeclared parameter', () => {
    const text = y(
      'name: x',
      'params:',
      '  keep: {type: boolean}',
      'steps:',
      '  - action: facts',
      '    hosts: all',
      '    when: not kept',
    );
    fails(text, lineOf(text, 'when:'), 'steps[0].when', "unknown parameter 'kept'");
  });

  it('concurrency and serial must be whole numbers ≥ 1', () => {
    for (const [key, value] of [
      ['concurrency', '0'],
      ['concurrency', 'x'],
      ['concurrency', '-2'],
      ['serial', '1.5'],
      ['serial', '"2"'],
    ] as const) {
      const text = y('name: x', 'steps:', '  - action: facts', '    hosts: all', `    ${key}: ${value}`);
      fails(text, 5, `steps[0].${key}`, 'must be a whole number ≥ 1');
    }
  });

  it('duplicate step names', () => {
    const text = y(
      'name: x',
      'steps:',
      '  - name: same',
      '    action: facts',
      '    hosts: all',
      '  - name: same',
      '    action: facts',
      '    hosts: dc1',
    );
    fails(text, 6, 'steps[1].name', "'same' is already the name of step 1");
  });

  it('empty or missing steps', () => {
    fails(y('name: x', 'steps: []'), 2, 'steps', 'must be a non-empty list of steps');
    fails(y('name: x', 'steps:'), 2, 'steps', 'must be a non-empty list of steps');
    fails(y('name: x', 'description: no steps'), 1, 'steps', 'missing (a playbook has at least one step)');
  });

  it('a playbook or a step that is not a mapping', () => {
    fails(
      y('- name: x', '- steps: []'),
      1,
      undefined,
      'a playbook is a mapping with name, description, params and steps',
    );
    fails(y('just text'), 1, undefined, 'a playbook is a mapping with name, description, params and steps');
    fails(
      y('name: x', 'steps:', '  - {action: facts, hosts: all}', '  - facts on all'),
      4,
      'steps[1]',
      'a step is a mapping with action, hosts and with',
    );
  });

  it('an empty file', () => {
    fails('', 1, undefined, 'the playbook is empty');
    fails('# only a comment\n', 1, undefined, 'the playbook is empty');
  });

  it('a YAML syntax error names its line', () => {
    const text = y('name: x', 'steps:', '  - action: facts', '    hosts: [all', '  - action: exec');
    assert.throws(
      () => parsePlaybook(text, FILE, defaultRegistry()),
      (err: unknown) => {
        assert.ok(err instanceof LocatedError);
        assert.equal(err.kind, 'usage');
        assert.ok(err.line !== undefined && err.line >= 4 && err.line <= 6, `line ${err.line}`);
        assert.ok(err.message.startsWith(`${FILE}:${err.line}: `), err.message);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
    const tab = y('name: x', 'steps:', '\t- action: facts');
    assert.throws(
      () => parsePlaybook(tab, FILE, defaultRegistry()),
      (err: unknown) => err instanceof LocatedError && err.line === 3 && !err.message.includes('\n'),
    );
  });

  it('a required parameter with a default', () => {
    const text = y(
      'name: x',
      'params:',
      '  master:',
      '    type: host',
      '    required: true',
      '    default: ipa1.example.com',
      'steps:',
      '  - {action: facts, hosts: all}',
    );
    fails(text, lineOf(text, 'default:'), 'params.master.default', 'a required parameter has no default');
  });

  it('other parameter mistakes: unknown type, bad name, not a mapping, required not a boolean', () => {
    const type = y('name: x', 'params:', '  n:', '    type: integer', 'steps:', '  - {action: facts, hosts: all}');
    fails(type, 4, 'params.n.type', "'integer' is not one of string, number, boolean, host, hosts, duration, list");
    fails(
      y('name: x', 'params:', '  bad-name: {}', 'steps:', '  - {action: facts, hosts: all}'),
      3,
      'params.bad-name',
      'parameter names are letters, digits and _',
    );
    fails(
      y('name: x', 'params:', '  n: 3', 'steps:', '  - {action: facts, hosts: all}'),
      3,
      'params.n',
      'must be a mapping with type, default, required, description',
    );
    fails(
      y('name: x', 'params:', '  n: {required: "yes"}', 'steps:', '  - {action: facts, hosts: all}'),
      3,
      'params.n.required',
      'must be true or false',
    );
    fails(
      y('name: x', 'params: [a]', 'steps:', '  - {action: facts, hosts: all}'),
      2,
      'params',
      'must be a mapping of parameter name → {type, default, required, description}',
    );
  });

  it('other step mistakes: missing hosts or action, with not a mapping, confirm not a boolean, bad name', () => {
    fails(
      y('name: x', 'steps:', '  - action: facts'),
      3,
      'steps[0].hosts',
      'missing (all, a group, a host, a pattern, {{ param }} or a selector)',
    );
    fails(y('name: x', 'steps:', '  - hosts: all'), 3, 'steps[0].action', 'missing');
    fails(
      y('name: x', 'steps:', '  - action: exec', '    hosts: all', '    with: [ls]'),
      5,
      'steps[0].with',
      "must be a mapping of exec's parameters",
    );
    fails(
      y('name: x', 'steps:', '  - action: facts', '    hosts: all', '    confirm: yes please'),
      5,
      'steps[0].confirm',
      'must be true or false',
    );
    fails(
      y('name: two words', 'steps:', '  - {action: facts, hosts: all}'),
      1,
      'name',
      'use letters, digits, -, _ and . only',
    );
    fails(
      y('description: x', 'steps:', '  - {action: facts, hosts: all}'),
      1,
      'name',
      'missing (every playbook has a name)',
    );
    fails(
      y('name: x', 'name: y', 'steps:', '  - {action: facts, hosts: all}'),
      2,
      'name',
      /^duplicate key \(first set at line 1\)$/,
    );
  });
});

describe('playbook loader: messages point at the key they name', () => {
  const failsAt = (text: string, line: number, key: string): void => {
    assert.throws(
      () => parsePlaybook(text, '/pb.yaml', defaultRegistry()),
      (err: unknown) => {
        assert.ok(err instanceof LocatedError);
        assert.equal(err.key, key, err.message);
        assert.equal(err.line, line, err.message);
        return true;
      },
    );
  };

  // src/playbook/load.ts parsePlaybook(): `fail(step.at.line, 'steps[N].name', …)` uses the line of
  // the step's first key, not the line of its `name:`.
  it('a duplicate step name is reported at the name: line', () => {
    failsAt(
      [
        'name: x',
        'steps:',
        '  - action: facts',
        '    name: same',
        '    hosts: all',
        '  - action: facts',
        '    name: same', // line 7
        '    hosts: all',
        '',
      ].join('\n'),
      7,
      'steps[1].name',
    );
  });

  // src/playbook/load.ts parseStep(): a missing required parameter is reported at `withNode.line`, the
  // line of the with mapping's first entry (here `creates:`, line 6), not the `with:` line (5).
  it('a missing required with parameter is reported at the with: line', () => {
    failsAt(
      'name: x\nsteps:\n  - action: exec\n    hosts: all\n    with:\n      creates: /tmp/x\n',
      5,
      'steps[0].with.command',
    );
  });

  // src/playbook/load.ts parseParam(): `checkKeys(map, PARAM_KEYS, fail)` is called without the
  // `where` argument, so the key is `color` instead of `params.keep.color` (steps pass `steps[N]`).
  it('an unknown key in a parameter names its full path', () => {
    failsAt(
      'name: x\nparams:\n  keep:\n    type: boolean\n    color: red\nsteps:\n  - {action: facts, hosts: all}\n',
      5,
      'params.keep.color',
    );
  });
});
