// The per-host recap printed at the end of a run (Ansible's PLAY RECAP), and how to count one
// from the event stream when the run.finished recap is not at hand (a replayed NDJSON file, tests).

import type { FleetEvent, HostRecap, TaskStatus } from './events.js';

const GREEN = '32';
const YELLOW = '33';
const RED = '31';
const CYAN = '36';

/** SGR colour for each task status, shared with the terminal view. */
export const STATUS_COLOR: Readonly<Record<TaskStatus, string>> = {
  ok: GREEN,
  changed: YELLOW,
  failed: RED,
  skipped: CYAN,
};

export function paint(color: boolean, code: string, text: string): string {
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function emptyRecap(): HostRecap {
  return { ok: 0, changed: 0, failed: 0, skipped: 0 };
}

/**
 * Count task results per host. Hosts named by `run.started` appear even with no task; a task the
 * journal reports as already done (`task.skipped-done`, on --resume) counts as skipped in this run.
 * Also accepts plain `{ host, status }` results.
 */
export function recapFrom(
  items: Iterable<FleetEvent | { host: string; status: TaskStatus }>,
): Record<string, HostRecap> {
  const recap: Record<string, HostRecap> = {};
  const of = (host: string): HostRecap => (recap[host] ??= emptyRecap());
  for (const item of items) {
    if (!('type' in item)) {
      of(item.host)[item.status]++;
      continue;
    }
    switch (item.type) {
      case 'run.started':
        for (const host of item.hosts) of(host);
        break;
      case 'task.finished':
        of(item.host)[item.status]++;
        break;
      case 'task.skipped-done':
        of(item.host).skipped++;
        break;
      default:
        break;
    }
  }
  return recap;
}

const FIELDS = ['ok', 'changed', 'failed', 'skipped'] as const satisfies readonly TaskStatus[];

/**
 * Ansible-like table, hosts in the recap's order, columns aligned:
 *
 *     PLAY RECAP
 *     a.ipa.test    : ok=3  changed=2  failed=0  skipped=1
 *     ca1.ipa.test  : ok=12 changed=0  failed=1  skipped=0
 *
 * With colour, a host is red when something failed, yellow when something changed, green otherwise,
 * and non-zero counts take their status colour. No trailing newline.
 */
export function formatRecap(recap: Record<string, HostRecap>, color: boolean): string {
  const hosts = Object.keys(recap);
  const lines = ['PLAY RECAP'];
  if (hosts.length === 0) return [...lines, '(no hosts)'].join('\n');
  const hostWidth = Math.max(...hosts.map((h) => h.length));
  const cellWidth = Object.fromEntries(
    FIELDS.map((f) => [f, Math.max(...hosts.map((h) => `${f}=${recap[h]![f]}`.length))]),
  ) as Record<(typeof FIELDS)[number], number>;
  for (const host of hosts) {
    const r = recap[host]!;
    const hostColor = r.failed > 0 ? RED : r.changed > 0 ? YELLOW : GREEN;
    const cells = FIELDS.map((f, i) => {
      const text = `${f}=${r[f]}`;
      const pad = i === FIELDS.length - 1 ? '' : ' '.repeat(cellWidth[f] - text.length);
      return (r[f] > 0 ? paint(color, STATUS_COLOR[f], text) : text) + pad;
    });
    lines.push(`${paint(color, hostColor, host)}${' '.repeat(hostWidth - host.length)} : ${cells.join('  ')}`);
  }
  return lines.join('\n');
}
