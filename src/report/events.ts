// One typed event stream per run. The executor emits; the terminal view, NDJSON (--json) and the
// log file consume. Events are plain JSON values so they can be written as they are.

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped';
export type RunState = 'running' | 'succeeded' | 'failed' | 'interrupted';

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
}

export type FleetEvent =
  | {
      type: 'run.started';
      at: string;
      runId: string;
      playbook: string;
      tasks: number;
      hosts: string[];
      resumed: boolean;
    }
  | { type: 'facts.started'; at: string; hosts: string[] }
  | { type: 'facts.finished'; at: string; host: string; ok: boolean; error?: string }
  | { type: 'task.started'; at: string; taskId: string; host: string; action: string; title: string }
  | {
      type: 'task.progress';
      at: string;
      taskId: string;
      host: string;
      /** Work done so far and, when known, the total; `unit` says what is counted. */
      done?: number;
      total?: number;
      unit?: 'bytes' | 'entries' | 'items';
      message?: string;
    }
  | {
      type: 'task.finished';
      at: string;
      taskId: string;
      host: string;
      action: string;
      status: TaskStatus;
      durationMs: number;
      message?: string;
      error?: string;
    }
  /** A task the journal says is already done (on --resume). */
  | { type: 'task.skipped-done'; at: string; taskId: string; host: string }
  | {
      type: 'run.finished';
      at: string;
      runId: string;
      state: RunState;
      durationMs: number;
      recap: Record<string, HostRecap>;
    };

export type FleetEventType = FleetEvent['type'];

export type EventListener = (event: FleetEvent) => void;

/** The run's event stream. Listeners are called in order; one that throws does not stop the others. */
export class EventStream {
  private readonly listeners: EventListener[] = [];

  on(listener: EventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(event: FleetEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken renderer must not break the run.
      }
    }
  }
}

/** Omit-`at` helper type for emitters: `stream.emit(stamp({...}))`. */
export function stamp<E extends Omit<FleetEvent, 'at'>>(event: E): E & { at: string } {
  return { ...event, at: new Date().toISOString() };
}
