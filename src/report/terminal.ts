// The human view of a run on stdout. On a TTY: one live line per running task (elapsed time and
// work done, redrawn in place) under the permanent lines of finished tasks. Elsewhere (a pipe, a CI
// log): plain append-only lines, throttled, with no escape codes at all.

import { formatBytes, formatSeconds } from '../format.js';
import type { EventStream, FleetEvent, TaskStatus } from './events.js';
import type { Redactor } from './redact.js';
import { formatRecap, paint, STATUS_COLOR } from './recap.js';

/** stdout, a tty.WriteStream, or anything writable that says whether it is a terminal. */
export interface TerminalStream extends NodeJS.WritableStream {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface Timer {
  unref(): unknown;
}

/** Time source and interval timer; injectable so tests control time. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setInterval(fn: () => void, ms: number): Timer;
  clearInterval(timer: Timer): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout),
};

export interface TerminalOptions {
  out: TerminalStream;
  /** Colours (only ever used on a TTY: the plain mode never writes an escape code). */
  color: boolean;
  /** Masks secrets in titles, messages and errors before they are shown. */
  redactor?: Pick<Redactor, 'mask'> | undefined;
  clock?: Clock | undefined;
  /** TTY redraw interval; default 250 ms. */
  tickMs?: number | undefined;
  /** Plain mode: at most one progress line per task per this interval; default 5000 ms. */
  progressEveryMs?: number | undefined;
}

const DEFAULT_COLUMNS = 100;
const DEFAULT_ROWS = 24;
const STATUS_WIDTH = 7;
const INDENT = ' '.repeat(STATUS_WIDTH + 2);

type Unit = 'bytes' | 'entries' | 'items';

interface LiveTask {
  taskId: string;
  host: string;
  title: string;
  startedAt: number;
  done?: number | undefined;
  total?: number | undefined;
  unit?: Unit | undefined;
  message?: string | undefined;
  /** Plain mode: when the last progress line was printed (the start time before the first). */
  printedAt: number;
  /** Plain mode: what the last progress line reported, to print only changes. */
  printedKey?: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Formatting of work done

/** 1204 → "1,204" (always en-US grouping, whatever the locale). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const [int, frac] = String(Math.abs(n) >= 1000 ? Math.round(n) : n).split('.');
  return int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? `.${frac}` : '');
}

/** Whole percent done, floored (100% only when done), or undefined without a usable total. */
export function percentOf(done: number | undefined, total: number | undefined): number | undefined {
  if (done === undefined || total === undefined || !(total > 0)) return undefined;
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)));
}

/**
 * Work done as people read it: "12.4 MiB / 40.0 MiB", "1,204 / 5,000 entries", "3 items";
 * "" when nothing is counted.
 */
export function formatWork(work: {
  done?: number | undefined;
  total?: number | undefined;
  unit?: Unit | undefined;
}): string {
  const { done, total, unit } = work;
  if (done === undefined) return '';
  if (unit === 'bytes') return total === undefined ? formatBytes(done) : `${formatBytes(done)} / ${formatBytes(total)}`;
  const amount = total === undefined ? formatCount(done) : `${formatCount(done)} / ${formatCount(total)}`;
  return unit ? `${amount} ${unit}` : amount;
}

// ---------------------------------------------------------------------------------------------
// Text hygiene

/**
 * One safe line: escape sequences removed, other control characters (newlines included) turned
 * into spaces, so text from a remote host can neither move the cursor nor break the layout.
 */
export function oneLine(text: string): string {
  return stripControl(text).replace(/\s+/g, ' ').trim();
}

function stripControl(text: string): string {
  return text
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?/g, '')
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, ' ');
}

/** Several safe lines (for error messages that span lines). */
function safeLines(text: string): string[] {
  return stripControl(text)
    .split(/\r?\n|\r/)
    .map((line) => line.replace(/\t/g, ' ').trimEnd())
    .filter((line) => line.trim() !== '');
}

/** Cut plain text to `width` characters (code points), marking the cut with "…". */
export function truncate(text: string, width: number): string {
  const chars = Array.from(text);
  if (chars.length <= width) return text;
  if (width <= 0) return '';
  return `${chars.slice(0, width - 1).join('')}…`;
}

/** `left  right` in `width` columns, shortening the left part first so `right` stays visible. */
function fit(left: string, right: string, width: number): string {
  if (right === '') return truncate(left, width);
  const room = width - Array.from(right).length - 2;
  if (Array.from(left).length <= room) return `${left}  ${right}`;
  if (room >= 12) return `${truncate(left, room)}  ${right}`;
  return truncate(`${left}  ${right}`, width);
}

// ---------------------------------------------------------------------------------------------

/** The terminal view. `attach` it to a run's stream; `close` stops the timer and detaches. */
export class TerminalView {
  private readonly out: TerminalStream;
  private readonly tty: boolean;
  private readonly color: boolean;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly progressEveryMs: number;
  private readonly mask: (text: string) => string;

  private readonly running = new Map<string, LiveTask>();
  private hostWidth = 0;
  /** TTY: how many live lines are on screen above the cursor. */
  private drawn = 0;
  private timer: Timer | undefined;
  private detach: (() => void) | undefined;
  private closed = false;

  constructor(opts: TerminalOptions) {
    this.out = opts.out;
    this.tty = opts.out.isTTY === true;
    this.color = opts.color && this.tty;
    this.clock = opts.clock ?? systemClock;
    this.tickMs = opts.tickMs ?? 250;
    this.progressEveryMs = opts.progressEveryMs ?? 5000;
    const redactor = opts.redactor;
    this.mask = redactor ? (text) => redactor.mask(text) : (text) => text;
  }

  /** True while the redraw timer is running (TTY with at least one running task). */
  get ticking(): boolean {
    return this.timer !== undefined;
  }

  attach(stream: EventStream): this {
    if (this.closed) throw new Error('terminal view is closed');
    this.detach?.();
    this.detach = stream.on((event) => this.handle(event));
    return this;
  }

  /** Stop the timer and stop listening. Whatever is on screen stays there. */
  close(): void {
    this.closed = true;
    this.stopTimer();
    this.detach?.();
    this.detach = undefined;
  }

  /** A permanent line of other output, written above the live area so it is not overdrawn. */
  note(text: string): void {
    if (this.closed) return;
    this.print(safeLines(this.mask(text)));
  }

  handle(event: FleetEvent): void {
    if (this.closed) return;
    switch (event.type) {
      case 'run.started': {
        this.hostWidth = Math.max(0, ...event.hosts.map((h) => oneLine(h).length));
        const tasks = `${event.tasks} task${event.tasks === 1 ? '' : 's'}`;
        const hosts = `${event.hosts.length} host${event.hosts.length === 1 ? '' : 's'}`;
        this.print([
          `PLAY ${this.clean(event.playbook)}  (run ${this.clean(event.runId)}: ` +
            `${tasks} on ${hosts}${event.resumed ? ', resumed' : ''})`,
        ]);
        break;
      }
      case 'facts.started':
        this.print([`gathering facts from ${event.hosts.length} host${event.hosts.length === 1 ? '' : 's'}`]);
        break;
      case 'facts.finished':
        if (!event.ok)
          this.print([this.statusLine('failed', event.host, 'gathering facts'), ...this.errorLines(event.error)]);
        break;
      case 'task.started':
        this.taskStarted(event);
        break;
      case 'task.progress': {
        const task = this.running.get(taskKey(event.host, event.taskId));
        if (!task) break; // progress of a task we never saw start: nothing to attach it to
        if (event.done !== undefined) task.done = event.done;
        if (event.total !== undefined) task.total = event.total;
        if (event.unit !== undefined) task.unit = event.unit;
        if (event.message !== undefined) task.message = this.clean(event.message);
        if (!this.tty) this.maybePrintProgress(task); // on a TTY the next tick shows it
        break;
      }
      case 'task.finished': {
        const key = taskKey(event.host, event.taskId);
        const title = this.running.get(key)?.title ?? this.clean(event.action);
        this.running.delete(key);
        let line = `${this.statusLine(event.status, event.host, title)}  (${formatSeconds(event.durationMs)})`;
        if (event.message) line += `  ${this.clean(event.message)}`;
        const lines = [line];
        if (event.status === 'failed') lines.push(...this.errorLines(event.error ?? 'failed without an error message'));
        if (this.running.size === 0) this.stopTimer();
        this.print(lines);
        break;
      }
      case 'task.skipped-done':
        this.print([`${this.statusLine('skipped', event.host, this.clean(event.taskId))}  (done in an earlier run)`]);
        break;
      case 'run.finished':
        this.runFinished(event);
        break;
      default:
        break; // an event type this view does not know yet
    }
  }

  // -------------------------------------------------------------------------------------------

  private taskStarted(event: Extract<FleetEvent, { type: 'task.started' }>): void {
    const now = this.clock.now();
    this.running.set(taskKey(event.host, event.taskId), {
      taskId: event.taskId,
      host: event.host,
      title: this.clean(event.title || event.action),
      startedAt: now,
      printedAt: now,
    });
    if (this.tty) {
      this.startTimer();
      this.render([]);
    } else {
      this.print([
        `${'started'.padEnd(STATUS_WIDTH)}  ${this.hostCell(event.host)}  ` +
          `${this.clean(event.title || event.action)}`,
      ]);
    }
  }

  /** Tasks still running when the run ends are shown as aborted, then the recap and the run's state. */
  private runFinished(event: Extract<FleetEvent, { type: 'run.finished' }>): void {
    this.stopTimer();
    const now = this.clock.now();
    const lines: string[] = [];
    for (const task of this.running.values()) {
      lines.push(
        `${this.word('aborted', '33')}  ${this.hostCell(task.host)}  ${task.title}  ` +
          `(${formatSeconds(now - task.startedAt)})`,
      );
    }
    this.running.clear();
    lines.push('', ...formatRecap(this.cleanRecap(event.recap), this.color).split('\n'), '');
    const stateColor = event.state === 'succeeded' ? '32' : event.state === 'failed' ? '31' : '33';
    lines.push(
      `Run ${paint(this.color, stateColor, event.state)} in ${formatSeconds(event.durationMs)} ` +
        `(run ${this.clean(event.runId)})`,
    );
    this.print(lines);
  }

  private clean(text: string): string {
    return oneLine(this.mask(text));
  }

  private cleanRecap<T>(recap: Record<string, T>): Record<string, T> {
    return Object.fromEntries(Object.entries(recap).map(([host, r]) => [oneLine(host), r]));
  }

  private hostCell(host: string): string {
    const h = oneLine(host);
    return h.padEnd(this.hostWidth);
  }

  private word(text: string, code: string): string {
    return paint(this.color, code, text) + ' '.repeat(Math.max(0, STATUS_WIDTH - text.length));
  }

  private statusLine(status: TaskStatus, host: string, title: string): string {
    return (
      `${this.word(status === 'failed' ? 'FAILED' : status, STATUS_COLOR[status])}  ` +
      `${this.hostCell(host)}  ${title}`
    );
  }

  private errorLines(error: string | undefined): string[] {
    if (!error) return [];
    const lines = safeLines(this.mask(error));
    return lines.map((line, i) => `${INDENT}${i === 0 ? 'error: ' : '       '}${line}`);
  }

  private workText(task: LiveTask, percentStyle: 'bare' | 'parens'): string {
    const work = formatWork(task);
    const pct = percentOf(task.done, task.total);
    if (work === '') return '';
    if (pct === undefined) return work;
    return percentStyle === 'bare' ? `${work}  ${pct}%` : `${work} (${pct}%)`;
  }

  private maybePrintProgress(task: LiveTask): void {
    const key = task.done !== undefined ? `done:${task.done}` : `message:${task.message ?? ''}`;
    if (key === task.printedKey || key === 'message:') return;
    const now = this.clock.now();
    if (now - task.printedAt < this.progressEveryMs) return;
    task.printedAt = now;
    task.printedKey = key;
    const parts = [`${'running'.padEnd(STATUS_WIDTH)}  ${this.hostCell(task.host)}  ${task.title}`];
    const work = this.workText(task, 'parens');
    if (work) parts.push(work);
    if (task.message) parts.push(task.message);
    parts.push(`(${Math.floor((now - task.startedAt) / 1000)} s)`);
    this.print([parts.join('  ')]);
  }

  private print(lines: string[]): void {
    if (lines.length === 0) return;
    if (this.tty) this.render(lines);
    else this.out.write(lines.map((line) => `${line}\n`).join(''));
  }

  /** The live lines, each cut to the terminal width, at most a screenful. */
  private liveLines(): string[] {
    // Never touch the last column: no auto-wrap.
    const width = Math.max(1, (positive(this.out.columns) ?? DEFAULT_COLUMNS) - 1);
    const maxLines = Math.max(1, (positive(this.out.rows) ?? DEFAULT_ROWS) - 2);
    const now = this.clock.now();
    const tasks = [...this.running.values()];
    const shown = tasks.length > maxLines ? tasks.slice(0, maxLines - 1) : tasks;
    const lines = shown.map((task) => {
      const left =
        `${'running'.padEnd(STATUS_WIDTH)}  ${this.hostCell(task.host)}  ` +
        `${task.title}${task.message ? ` — ${task.message}` : ''}`;
      const work = this.workText(task, 'bare');
      const elapsed = `${Math.floor((now - task.startedAt) / 1000)} s`;
      return fit(left, work ? `${work}  ${elapsed}` : elapsed, width);
    });
    if (shown.length < tasks.length) lines.push(truncate(`… and ${tasks.length - shown.length} more running`, width));
    return lines;
  }

  /**
   * TTY redraw: go back to the top of the live area, write the new permanent lines (after erasing
   * the old live area), then the live lines, each over its old row, and erase whatever is left below.
   */
  private render(permanent: string[]): void {
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A\r` : '\r';
    if (permanent.length > 0) s += `\x1b[J${permanent.map((line) => `${line}\n`).join('')}`;
    const live = this.liveLines();
    for (const line of live) s += `\x1b[2K${line}\n`;
    if (live.length < this.drawn || permanent.length > 0) s += '\x1b[J';
    this.drawn = live.length;
    this.out.write(s);
  }

  private startTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = this.clock.setInterval(() => {
      try {
        if (this.running.size > 0) this.render([]);
      } catch {
        // A failed redraw must never crash the run from a timer.
      }
    }, this.tickMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (!this.timer) return;
    this.clock.clearInterval(this.timer);
    this.timer = undefined;
  }
}

function taskKey(host: string, taskId: string): string {
  return `${host}\u0000${taskId}`;
}

function positive(n: number | undefined): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
}

/** Attach a terminal view to `stream`; the returned function closes it (timer stopped, detached). */
export function attachTerminal(stream: EventStream, opts: TerminalOptions): () => void {
  const view = new TerminalView(opts).attach(stream);
  return () => view.close();
}
