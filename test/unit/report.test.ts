import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import winston from 'winston';
import { EventStream, type FleetEvent, type HostRecap } from '../../src/report/events.js';
import {
  attachTerminal,
  formatCount,
  formatWork,
  percentOf,
  truncate,
  TerminalView,
  type Clock,
  type Timer,
} from '../../src/report/terminal.js';
import { formatBytes } from '../../src/format.js';
import { attachNdjson } from '../../src/report/ndjson.js';
import { attachLogEvents, describeEvent, logLevelOf } from '../../src/report/log-events.js';
import { formatRecap, recapFrom } from '../../src/report/recap.js';
import { Redactor } from '../../src/report/redact.js';

// ---------------------------------------------------------------------------------------------
// Fakes

/** A writable stream that keeps what is written; optionally claims to be a terminal. */
class Sink extends Writable {
  readonly chunks: string[] = [];
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  constructor(tty?: { columns?: number; rows?: number }) {
    super({ decodeStrings: false });
    if (tty) {
      this.isTTY = true;
      this.columns = tty.columns ?? 80;
      if (tty.rows !== undefined) this.rows = tty.rows;
    }
  }
  override _write(chunk: unknown, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.chunks.push(String(chunk));
    cb();
  }
  get text(): string {
    return this.chunks.join('');
  }
}

interface FakeTimer extends Timer {
  fn: () => void;
  ms: number;
  unrefed: boolean;
}

class FakeClock implements Clock {
  t = 0;
  readonly timers = new Set<FakeTimer>();
  now(): number {
    return this.t;
  }
  setInterval(fn: () => void, ms: number): FakeTimer {
    const timer: FakeTimer = {
      fn,
      ms,
      unrefed: false,
      unref() {
        this.unrefed = true;
        return this;
      },
    };
    this.timers.add(timer);
    return timer;
  }
  clearInterval(timer: Timer): void {
    this.timers.delete(timer as FakeTimer);
  }
  /** Move time on in steps of the shortest interval, firing timers as they fall due. */
  advance(ms: number): void {
    const step = Math.min(ms, ...[...this.timers].map((t) => t.ms));
    for (let gone = 0; gone < ms; gone += step) {
      this.t += Math.min(step, ms - gone);
      for (const timer of [...this.timers]) timer.fn();
    }
  }
}

/**
 * A tiny terminal: enough of VT100 to replay what the view wrote (\r, \n, ESC[nA, ESC[2K, ESC[J,
 * SGR) and see the final screen.
 */
function screen(output: string): string[] {
  const rows: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    const ch = output[i]!;
    if (ch === '\x1b') {
      const m = /^\x1b\[([0-9;]*)([A-Za-z])/.exec(output.slice(i));
      assert.ok(m, `unknown escape at ${JSON.stringify(output.slice(i, i + 8))}`);
      i += m[0].length - 1;
      const n = m[1] === '' ? 1 : Number(m[1]);
      if (m[2] === 'A') row = Math.max(0, row - n);
      else if (m[2] === 'K') {
        assert.equal(m[1], '2');
        rows[row] = '';
      } else if (m[2] === 'J') {
        rows[row] = rows[row]!.slice(0, col);
        rows.length = row + 1;
      } else assert.equal(m[2], 'm', `unexpected escape ${m[0]}`);
      continue;
    }
    if (ch === '\n') {
      row++;
      col = 0;
      while (rows.length <= row) rows.push('');
      continue;
    }
    if (ch === '\r') {
      col = 0;
      continue;
    }
    const line = rows[row]!.padEnd(col);
    rows[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col++;
  }
  while (rows.length > 0 && rows[rows.length - 1] === '') rows.pop();
  return rows;
}

const stripSgr = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

// ---------------------------------------------------------------------------------------------
// Events

const AT = '2025-01-01T00:00:00.000Z';
const HOSTS = ['a.ipa.test', 'b.ipa.test', 'ca1.ipa.test'];

const started = (host: string, taskId: string, title: string, action = 'backup'): FleetEvent => ({
  type: 'task.started',
  at: AT,
  taskId,
  host,
  action,
  title,
});
const progress = (
  host: string,
  taskId: string,
  done: number,
  total?: number,
  unit?: 'bytes' | 'entries' | 'items',
): FleetEvent => ({
  type: 'task.progress',
  at: AT,
  taskId,
  host,
  done,
  ...(total !== undefined ? { total } : {}),
  ...(unit ? { unit } : {}),
});
const finished = (
  host: string,
  taskId: string,
  status: 'ok' | 'changed' | 'failed' | 'skipped',
  durationMs: number,
  extra: { error?: string; message?: string } = {},
): FleetEvent => ({ type: 'task.finished', at: AT, taskId, host, action: 'backup', status, durationMs, ...extra });

/** A three-host run: two tasks per host, one failure on ca1. */
function threeHostRun(): FleetEvent[] {
  const events: FleetEvent[] = [
    {
      type: 'run.started',
      at: AT,
      runId: 'r-20250101',
      playbook: 'backup-fleet',
      tasks: 2,
      hosts: HOSTS,
      resumed: false,
    },
    { type: 'facts.started', at: AT, hosts: HOSTS },
  ];
  for (const host of HOSTS) events.push({ type: 'facts.finished', at: AT, host, ok: true });
  for (const host of HOSTS) events.push(started(host, 'snapshot', 'Snapshot the domain suffix'));
  events.push(progress('a.ipa.test', 'snapshot', 13_002_342, 41_943_040, 'bytes'));
  events.push(finished('a.ipa.test', 'snapshot', 'changed', 6120));
  events.push(finished('b.ipa.test', 'snapshot', 'changed', 6410));
  events.push(
    finished('ca1.ipa.test', 'snapshot', 'failed', 380, { error: 'db2bak exited with 1\nbackend userRoot is busy' }),
  );
  for (const host of ['a.ipa.test', 'b.ipa.test'])
    events.push(started(host, 'verify', 'Verify the snapshot', 'verify'));
  events.push(finished('a.ipa.test', 'verify', 'ok', 1500));
  events.push(finished('b.ipa.test', 'verify', 'ok', 1710));
  events.push({
    type: 'run.finished',
    at: AT,
    runId: 'r-20250101',
    state: 'failed',
    durationMs: 9010,
    recap: recapFrom(events),
  });
  return events;
}

// ---------------------------------------------------------------------------------------------
// Terminal: plain mode

test('non-TTY output: plain lines, one per started and finished task, the recap, no escape codes', () => {
  const out = new Sink();
  const stream = new EventStream();
  const detach = attachTerminal(stream, { out, color: true, clock: new FakeClock() });
  const events = threeHostRun();
  for (const event of events) stream.emit(event);
  detach();

  const text = out.text;
  assert.ok(!text.includes('\x1b'), 'no escape codes when not a TTY, even with color: true');
  const lines = text.split('\n');
  const nStarted = events.filter((e) => e.type === 'task.started').length;
  const nFinished = events.filter((e) => e.type === 'task.finished').length;
  assert.equal(lines.filter((l) => l.startsWith('started ')).length, nStarted);
  assert.equal(lines.filter((l) => /^(ok|changed|FAILED|skipped) /.test(l)).length, nFinished);
  assert.ok(lines.includes('changed  a.ipa.test    Snapshot the domain suffix  (6.1 s)'), text);
  assert.ok(lines.includes('FAILED   ca1.ipa.test  Snapshot the domain suffix  (0.4 s)'), text);
  assert.ok(lines.includes('         error: db2bak exited with 1'), text);
  assert.ok(lines.includes('                backend userRoot is busy'), text);
  assert.ok(lines.includes('PLAY RECAP'));
  assert.ok(lines.includes('a.ipa.test   : ok=1  changed=1  failed=0  skipped=0'), text);
  assert.ok(lines.includes('ca1.ipa.test : ok=0  changed=0  failed=1  skipped=0'), text);
  assert.equal(lines.at(-2), 'Run failed in 9.0 s (run r-20250101)');
  assert.equal(lines.at(-1), '', 'output ends with a newline');
});

test('non-TTY progress: at most one line per task per 5 s, and only when done changed', () => {
  const out = new Sink();
  const clock = new FakeClock();
  const stream = new EventStream();
  attachTerminal(stream, { out, color: false, clock });
  stream.emit(started('a.ipa.test', 'export', 'Export the CA suffix', 'export'));
  stream.emit(started('b.ipa.test', 'export', 'Export the CA suffix', 'export'));
  const progressLines = () => out.text.split('\n').filter((l) => l.startsWith('running '));

  clock.t = 1000;
  stream.emit(progress('a.ipa.test', 'export', 100, 5000, 'entries'));
  assert.equal(progressLines().length, 0, 'too soon after the start');
  clock.t = 6000;
  stream.emit(progress('a.ipa.test', 'export', 1204, 5000, 'entries'));
  stream.emit(progress('b.ipa.test', 'export', 10, 5000, 'entries'));
  assert.equal(progressLines().length, 2, 'one line for each task');
  assert.match(
    progressLines()[0]!,
    /^running {2}a\.ipa\.test {2}Export the CA suffix {2}1,204 \/ 5,000 entries \(24%\) {2}\(6 s\)$/,
  );
  clock.t = 7000;
  stream.emit(progress('a.ipa.test', 'export', 2000, 5000, 'entries'));
  assert.equal(progressLines().length, 2, 'within 5 s of the last line');
  clock.t = 12_000;
  stream.emit(progress('b.ipa.test', 'export', 10, 5000, 'entries'));
  assert.equal(progressLines().length, 2, 'done did not change');
  clock.t = 12_500;
  stream.emit(progress('a.ipa.test', 'export', 2000, 5000, 'entries'));
  assert.equal(progressLines().length, 3, '5 s later, with new work done');
  assert.ok(!out.text.includes('\x1b'));
});

test('text from remote hosts cannot inject escape codes or break lines', () => {
  const out = new Sink();
  const stream = new EventStream();
  attachTerminal(stream, { out, color: false, clock: new FakeClock() });
  stream.emit(started('a.ipa.test', 't1', 'Restore\x1b[2J\x1b]0;pwned\x07 the\rhost\n'));
  stream.emit(finished('a.ipa.test', 't1', 'failed', 10, { error: 'boom \x1b[31mred\x1b[0m\x07' }));
  assert.ok(
    !out.text.includes('\x1b') && !out.text.includes('\x07') && !out.text.includes('\r'),
    JSON.stringify(out.text),
  );
  assert.match(out.text, /started {2}a\.ipa\.test {2}Restore the host\n/);
  assert.match(out.text, /error: boom red\n/);
});

test('secrets are masked in what the terminal shows', () => {
  const redactor = new Redactor();
  redactor.add('Secret123');
  const out = new Sink();
  const stream = new EventStream();
  attachTerminal(stream, { out, color: false, clock: new FakeClock(), redactor });
  stream.emit(started('a.ipa.test', 't1', 'bind as cn=dm'));
  stream.emit(finished('a.ipa.test', 't1', 'failed', 10, { error: 'ldapmodify -w Secret123 failed' }));
  assert.ok(!out.text.includes('Secret123'));
  assert.match(out.text, /ldapmodify -w \*+ failed/);
});

// ---------------------------------------------------------------------------------------------
// Terminal: TTY mode

test('TTY output: live lines redrawn in place, finished lines persist above them', () => {
  const out = new Sink({ columns: 80 });
  const clock = new FakeClock();
  const stream = new EventStream();
  const view = new TerminalView({ out, color: true, clock }).attach(stream);
  stream.emit({
    type: 'run.started',
    at: AT,
    runId: 'r1',
    playbook: 'backup-fleet',
    tasks: 1,
    hosts: HOSTS,
    resumed: false,
  });
  for (const host of HOSTS) stream.emit(started(host, 'snapshot', 'Snapshot the domain'));
  stream.emit(progress('a.ipa.test', 'snapshot', 13_002_342, 41_943_040, 'bytes'));
  stream.emit(progress('b.ipa.test', 'snapshot', 1204, 5000, 'entries'));
  clock.advance(2000);

  assert.ok(out.text.includes('\x1b[2K'), 'lines are cleared before being redrawn');
  assert.match(out.text, /\x1b\[3A/, 'the cursor goes back up over the three live lines');
  let rows = screen(out.text).map(stripSgr);
  assert.deepEqual(rows, [
    'PLAY backup-fleet  (run r1: 1 task on 3 hosts)',
    'running  a.ipa.test    Snapshot the domain  12.4 MiB / 40.0 MiB  30%  2 s',
    'running  b.ipa.test    Snapshot the domain  1,204 / 5,000 entries  24%  2 s',
    'running  ca1.ipa.test  Snapshot the domain  2 s',
  ]);

  stream.emit(finished('b.ipa.test', 'snapshot', 'changed', 2000));
  clock.advance(500);
  rows = screen(out.text).map(stripSgr);
  assert.deepEqual(rows, [
    'PLAY backup-fleet  (run r1: 1 task on 3 hosts)',
    'changed  b.ipa.test    Snapshot the domain  (2.0 s)',
    'running  a.ipa.test    Snapshot the domain  12.4 MiB / 40.0 MiB  30%  2 s',
    'running  ca1.ipa.test  Snapshot the domain  2 s',
  ]);
  assert.ok(out.text.includes('\x1b[33mchanged\x1b[0m'), 'changed is yellow');

  stream.emit(finished('a.ipa.test', 'snapshot', 'ok', 2500));
  stream.emit(finished('ca1.ipa.test', 'snapshot', 'failed', 2500, { error: 'no space left on device' }));
  assert.equal(view.ticking, false, 'nothing running: no timer');
  stream.emit({
    type: 'run.finished',
    at: AT,
    runId: 'r1',
    state: 'failed',
    durationMs: 2600,
    recap: {
      'a.ipa.test': { ok: 1, changed: 0, failed: 0, skipped: 0 },
      'b.ipa.test': { ok: 0, changed: 1, failed: 0, skipped: 0 },
      'ca1.ipa.test': { ok: 0, changed: 0, failed: 1, skipped: 0 },
    },
  });
  view.close();
  rows = screen(out.text).map(stripSgr);
  assert.deepEqual(rows, [
    'PLAY backup-fleet  (run r1: 1 task on 3 hosts)',
    'changed  b.ipa.test    Snapshot the domain  (2.0 s)',
    'ok       a.ipa.test    Snapshot the domain  (2.5 s)',
    'FAILED   ca1.ipa.test  Snapshot the domain  (2.5 s)',
    '         error: no space left on device',
    '',
    'PLAY RECAP',
    'a.ipa.test   : ok=1  changed=0  failed=0  skipped=0',
    'b.ipa.test   : ok=0  changed=1  failed=0  skipped=0',
    'ca1.ipa.test : ok=0  changed=0  failed=1  skipped=0',
    '',
    'Run failed in 2.6 s (run r1)',
  ]);
  assert.ok(out.text.includes('\x1b[31mFAILED\x1b[0m'), 'FAILED is red');
  assert.ok(out.text.includes('\x1b[32mok\x1b[0m'), 'ok is green');
});

test('TTY without color: cursor movement but no SGR colour codes', () => {
  const out = new Sink({ columns: 80 });
  const stream = new EventStream();
  attachTerminal(stream, { out, color: false, clock: new FakeClock() });
  stream.emit(started('a.ipa.test', 't', 'Fence'));
  stream.emit(finished('a.ipa.test', 't', 'skipped', 10));
  assert.ok(out.text.includes('\x1b[2K'));
  assert.ok(!/\x1b\[[0-9;]*m/.test(out.text));
});

test('live lines are cut to the terminal width, keeping elapsed time and work visible', () => {
  const out = new Sink({ columns: 80 });
  const clock = new FakeClock();
  const stream = new EventStream();
  attachTerminal(stream, { out, color: false, clock });
  const title = 'Re-initialize every replica of the CA suffix from the restored master, breadth first';
  stream.emit(started('replica-with-a-long-name.ipa.test', 'reinit', title));
  stream.emit(progress('replica-with-a-long-name.ipa.test', 'reinit', 1204, 5000, 'entries'));
  clock.advance(3000);
  const rows = screen(out.text);
  assert.equal(rows.length, 1);
  assert.ok(Array.from(rows[0]!).length <= 80, `${Array.from(rows[0]!).length} columns: ${rows[0]}`);
  assert.match(rows[0]!, /… {2}1,204 \/ 5,000 entries {2}24% {2}3 s$/);
  for (const line of out.text.split('\n'))
    assert.ok(Array.from(stripSgr(line).replace(/\x1b\[[0-9]*[AKJ]|\r/g, '')).length <= 80);

  // Narrower terminal (resized): the next redraw uses the new width.
  out.columns = 40;
  clock.advance(250);
  const last = out.chunks
    .at(-1)!
    .split('\n')
    .map((l) => l.replace(/\x1b\[[0-9]*[AKJ]|\r/g, ''))
    .filter(Boolean);
  assert.ok(
    last.every((l) => Array.from(l).length < 40),
    JSON.stringify(last),
  );
});

test('width defaults to 100 columns and the live area to a screenful', () => {
  const out = new Sink({ rows: 6 });
  delete out.columns;
  const clock = new FakeClock();
  const stream = new EventStream();
  attachTerminal(stream, { out, color: false, clock });
  for (let i = 0; i < 10; i++) stream.emit(started(`h${i}.ipa.test`, 't', 'x'.repeat(200)));
  const rows = screen(out.text);
  assert.equal(rows.length, 4, 'rows - 2 lines at most');
  assert.equal(rows.at(-1), '… and 7 more running');
  assert.ok(rows.slice(0, 3).every((r) => Array.from(r).length === 99));
});

test("the redraw timer is unref'd, ticks about every 250 ms, and is cleared at run.finished", () => {
  const out = new Sink({ columns: 80 });
  const clock = new FakeClock();
  const stream = new EventStream();
  const view = new TerminalView({ out, color: false, clock }).attach(stream);
  assert.equal(clock.timers.size, 0, 'no timer before a task runs');
  stream.emit(started('a.ipa.test', 't', 'Fence'));
  assert.equal(clock.timers.size, 1);
  const timer = [...clock.timers][0]!;
  assert.equal(timer.unrefed, true);
  assert.equal(timer.ms, 250);
  const writes = out.chunks.length;
  clock.advance(1000);
  assert.equal(out.chunks.length - writes, 4, 'four redraws in one second');
  stream.emit(started('b.ipa.test', 't', 'Fence'));
  assert.equal(clock.timers.size, 1, 'one timer for all tasks');
  stream.emit({ type: 'run.finished', at: AT, runId: 'r', state: 'interrupted', durationMs: 1000, recap: {} });
  assert.equal(clock.timers.size, 0, 'cleared at run.finished');
  assert.equal(view.ticking, false);
  const rows = screen(out.text);
  assert.ok(
    rows.some((r) => r.startsWith('aborted  a.ipa.test  Fence  (1.0 s)')),
    rows.join('\n'),
  );
  assert.ok(!rows.some((r) => r.startsWith('running')));
  assert.equal(rows.at(-1), 'Run interrupted in 1.0 s (run r)');

  // close() clears it too, and detaches.
  const view2 = new TerminalView({ out, color: false, clock }).attach(stream);
  view.close();
  stream.emit(started('c.ipa.test', 't', 'Fence'));
  assert.equal(clock.timers.size, 1);
  view2.close();
  assert.equal(clock.timers.size, 0);
  const before = out.text;
  stream.emit(finished('c.ipa.test', 't', 'ok', 1));
  assert.equal(out.text, before, 'a closed view writes nothing');
});

test('with the real clock, a running task does not keep the process alive', () => {
  const terminal = new URL('../../src/report/terminal.js', import.meta.url).href;
  const events = new URL('../../src/report/events.js', import.meta.url).href;
  const script = `
    import { Writable } from 'node:stream';
    import { attachTerminal } from ${JSON.stringify(terminal)};
    import { EventStream } from ${JSON.stringify(events)};
    const chunks = [];
    const out = new Writable({ write(c, e, cb) { chunks.push(String(c)); cb(); } });
    out.isTTY = true; out.columns = 80;
    const stream = new EventStream();
    attachTerminal(stream, { out, color: false });
    stream.emit({ type: 'task.started', at: '', taskId: 't', host: 'a', action: 'x', title: 'never ends' });
    setTimeout(() => { process.stdout.write(String(chunks.length)); }, 700);
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    timeout: 10_000,
    encoding: 'utf8',
  });
  assert.equal(child.signal, null, 'the process had to be killed: the timer kept it alive');
  assert.equal(child.status, 0, child.stderr);
  assert.ok(Number(child.stdout) >= 3, `the timer redrew (${child.stdout} writes)`);
});

// ---------------------------------------------------------------------------------------------
// Formatting

test('bytes and counts are formatted for people', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(13_002_342), '12.4 MiB');
  assert.equal(formatBytes(40 * 1024 ** 2), '40.0 MiB');
  assert.equal(formatBytes(1024 ** 2 - 1), '1.0 MiB');
  assert.equal(formatBytes(3.5 * 1024 ** 3), '3.5 GiB');
  assert.equal(formatCount(1204), '1,204');
  assert.equal(formatCount(1_234_567), '1,234,567');
  assert.equal(formatCount(999), '999');
  assert.equal(formatWork({ done: 13_002_342, total: 40 * 1024 ** 2, unit: 'bytes' }), '12.4 MiB / 40.0 MiB');
  assert.equal(formatWork({ done: 13_002_342, unit: 'bytes' }), '12.4 MiB');
  assert.equal(formatWork({ done: 1204, total: 5000, unit: 'entries' }), '1,204 / 5,000 entries');
  assert.equal(formatWork({ done: 1204, unit: 'entries' }), '1,204 entries');
  assert.equal(formatWork({ done: 3, total: 7, unit: 'items' }), '3 / 7 items');
  assert.equal(formatWork({ done: 3, total: 7 }), '3 / 7');
  assert.equal(formatWork({}), '');
  assert.equal(percentOf(13_002_342, 40 * 1024 ** 2), 30);
  assert.equal(percentOf(4999, 5000), 99, 'floored: 100% only when done');
  assert.equal(percentOf(6000, 5000), 100);
  assert.equal(percentOf(5, 0), undefined);
  assert.equal(percentOf(5, undefined), undefined);
  assert.equal(truncate('abcdef', 4), 'abc…');
  assert.equal(truncate('abc', 4), 'abc');
});

test('formatRecap: PLAY RECAP header and aligned host rows; colours only when asked', () => {
  const recap: Record<string, HostRecap> = {
    'a.ipa.test': { ok: 3, changed: 2, failed: 0, skipped: 1 },
    'ca1.ipa.test': { ok: 12, changed: 0, failed: 1, skipped: 0 },
  };
  assert.equal(
    formatRecap(recap, false),
    [
      'PLAY RECAP',
      'a.ipa.test   : ok=3   changed=2  failed=0  skipped=1',
      'ca1.ipa.test : ok=12  changed=0  failed=1  skipped=0',
    ].join('\n'),
  );
  const colored = formatRecap(recap, true);
  assert.ok(colored.includes('\x1b[31mca1.ipa.test\x1b[0m'), 'a host with a failure is red');
  assert.ok(colored.includes('\x1b[33ma.ipa.test\x1b[0m'), 'a host with changes is yellow');
  assert.ok(colored.includes('\x1b[36mskipped=1\x1b[0m'));
  assert.equal(stripSgr(colored), formatRecap(recap, false), 'colour does not change alignment');
  assert.equal(formatRecap({}, false), 'PLAY RECAP\n(no hosts)');
});

test('recapFrom counts task results per host', () => {
  const recap = recapFrom([
    { type: 'run.started', at: AT, runId: 'r', playbook: 'p', tasks: 1, hosts: ['a', 'b', 'c'], resumed: true },
    finished('a', 't1', 'ok', 1),
    finished('a', 't2', 'changed', 1),
    finished('b', 't1', 'failed', 1),
    { type: 'task.skipped-done', at: AT, taskId: 't0', host: 'b' },
  ]);
  assert.deepEqual(recap, {
    a: { ok: 1, changed: 1, failed: 0, skipped: 0 },
    b: { ok: 0, changed: 0, failed: 1, skipped: 1 },
    c: { ok: 0, changed: 0, failed: 0, skipped: 0 },
  });
  assert.deepEqual(recapFrom([{ host: 'x', status: 'skipped' }]), { x: { ok: 0, changed: 0, failed: 0, skipped: 1 } });
});

// ---------------------------------------------------------------------------------------------
// NDJSON

test('NDJSON: one JSON line per event, equal to the event, nothing else', () => {
  const out = new Sink();
  const stream = new EventStream();
  const detach = attachNdjson(stream, { out });
  const events = threeHostRun();
  events[5] = started('a.ipa.test', 'snapshot', 'title with\nnewline and "quotes"');
  for (const event of events) stream.emit(event);
  detach();
  stream.emit(finished('a.ipa.test', 'late', 'ok', 1));

  assert.ok(out.text.endsWith('\n'));
  const lines = out.text.slice(0, -1).split('\n');
  assert.equal(lines.length, events.length);
  assert.deepEqual(
    lines.map((l) => JSON.parse(l) as unknown),
    events,
  );
});

test('NDJSON: secrets are masked when a redactor is given', () => {
  const redactor = new Redactor();
  redactor.add('Secret123');
  const out = new Sink();
  const stream = new EventStream();
  attachNdjson(stream, { out, redactor });
  stream.emit(finished('a', 't', 'failed', 1, { error: 'bind with Secret123 refused' }));
  assert.ok(!out.text.includes('Secret123'));
  assert.equal((JSON.parse(out.text) as { error: string }).error, 'bind with ******** refused');
});

// ---------------------------------------------------------------------------------------------
// Log file

test('log consumer: levels by event, a readable message, the event as metadata (winston)', async () => {
  const seen: { level: string; message: string; event: FleetEvent }[] = [];
  // An in-memory transport: winston's Stream transport hands whole info objects to an object-mode stream.
  const memory = new Writable({
    objectMode: true,
    write(info: { level: string; message: string; event: FleetEvent }, _enc, cb) {
      seen.push({ level: info.level, message: info.message, event: info.event });
      cb();
    },
  });
  const logger = winston.createLogger({
    level: 'silly',
    transports: [new winston.transports.Stream({ stream: memory })],
  });
  const stream = new EventStream();
  const detach = attachLogEvents(stream, { log: logger });
  const events = threeHostRun();
  for (const event of events) stream.emit(event);
  detach();
  await new Promise((resolve) => setImmediate(resolve));

  assert.equal(seen.length, events.length);
  assert.deepEqual(
    seen.map((s) => s.event),
    events,
  );
  const levelOf = (type: string, pred: (e: FleetEvent) => boolean = () => true) => [
    ...new Set(seen.filter((s) => s.event.type === type && pred(s.event)).map((s) => s.level)),
  ];
  const failed = (e: FleetEvent) => e.type === 'task.finished' && e.status === 'failed';
  assert.deepEqual(levelOf('task.finished', failed), ['error']);
  assert.deepEqual(
    levelOf('task.finished', (e) => !failed(e)),
    ['info'],
  );
  assert.deepEqual(levelOf('task.started'), ['verbose']);
  assert.deepEqual(levelOf('task.progress'), ['debug']);
  assert.deepEqual(levelOf('run.started'), ['info']);
  assert.deepEqual(levelOf('run.finished'), ['info']);
  for (const s of seen) assert.ok(!s.message.includes('\n'), `one line: ${s.message}`);
  assert.ok(seen.some((s) => s.message === 'a.ipa.test: task snapshot progress: 12.4 MiB / 40.0 MiB (30%)'));
  assert.ok(
    seen.some(
      (s) =>
        s.message ===
        'ca1.ipa.test: task snapshot (backup) failed in 0.4 s — db2bak exited with 1 backend userRoot is busy',
    ),
  );
  assert.ok(seen.some((s) => s.message === 'run r-20250101 failed in 9.0 s: 3 hosts, 2 tasks changed, 1 task failed'));
});

test('log consumer works with any object that has log(level, message, meta)', () => {
  const calls: [string, string, unknown][] = [];
  const stream = new EventStream();
  attachLogEvents(stream, { log: { log: (level, message, meta) => calls.push([level, message, meta]) } });
  const event = finished('a', 't', 'ok', 1200, { message: '3 agreements disabled' });
  stream.emit(event);
  assert.deepEqual(calls, [['info', 'a: task t (backup) ok in 1.2 s: 3 agreements disabled', { event }]]);
  assert.equal(logLevelOf({ type: 'facts.finished', at: AT, host: 'a', ok: false, error: 'x' }), 'error');
  assert.equal(
    describeEvent({ type: 'task.skipped-done', at: AT, taskId: 't', host: 'a' }),
    'a: task t skipped, done in an earlier run',
  );
});
