// Retention: which snapshots a policy keeps. A pure planner with restic's `forget` semantics
// (restic internal/data/snapshot_policy.go, ApplyPolicy), so an administrator who knows
// `restic forget --keep-daily 7 --keep-weekly 4` knows what `ipa-fleet` will keep:
//
// - Snapshots are grouped per host (restic groups by host and paths; one host's snapshot is our
//   whole backup set), and every count applies to each host separately.
// - Within a host, snapshots are walked newest first. For every rule with budget left, a snapshot
//   whose calendar bucket differs from the bucket of the last snapshot that rule kept is kept, and
//   the rule's budget goes down by one. Because the walk is newest first, that is "the newest
//   snapshot of each hour/day/week/month/year that has one", for the newest n such buckets.
//   Buckets without a snapshot are not counted (a host that stopped backing up keeps its history).
// - `last` puts every snapshot in a bucket of its own: the newest n snapshots.
// - Like restic ≥ 0.16: when a rule still has budget after the walk reached the oldest snapshot of
//   the host, that oldest snapshot is kept as well, with the reason `oldest <rule> snapshot`
//   (this keeps the longest history while the policy has not filled up yet).
// - A snapshot kept by several rules lists every reason, in the order last, hourly, daily,
//   weekly, monthly, yearly (restic's order and wording: 'last snapshot', 'daily snapshot', …).
// - An empty policy (no rule above 0) is refused: it would remove every snapshot.
//
// Calendar buckets are computed in UTC, whatever the zone of the controller or of the time
// string: hour `YYYY-MM-DDTHH`, day `YYYY-MM-DD`, ISO 8601 week `YYYY-Www` (weeks start on Monday;
// the week-numbering year can differ from the calendar year around New Year), month `YYYY-MM`,
// year `YYYY`. (restic uses the zone stored in each snapshot; snapshot times here are UTC.)
//
// Ties in time are ordered by id, greater id first, so the plan does not depend on the order the
// store listed the snapshots in (snapshot ids start with their UTC time).

import { FleetError, UsageError } from '../errors.js';

export interface RetentionPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface SnapshotRef {
  id: string;
  host: string;
  /** ISO 8601 time with a zone (`Z` or `±hh:mm`), e.g. `2025-01-16T10:00:05Z`. */
  time: string;
}

export interface RetentionDecision {
  id: string;
  host: string;
  time: string;
  keep: boolean;
  /** Why the snapshot is kept ('last snapshot', 'daily snapshot', 'oldest weekly snapshot', …); empty when removed. */
  reasons: string[];
}

type RuleName = keyof RetentionPolicy;

interface Rule {
  name: RuleName;
  option: string;
  reason: string;
  /** The calendar bucket of a UTC instant; `nr` is the snapshot's position, newest first. */
  bucket: (d: Date, nr: number) => string;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
const ymd = (d: Date): string => `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;

/** ISO 8601 week of a UTC instant: the week (Monday–Sunday) belongs to the year of its Thursday. */
export function isoWeek(d: Date): { year: number; week: number } {
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const mondayBased = (d.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  const thursday = new Date(day + (3 - mondayBased) * 86_400_000);
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * 86_400_000));
  return { year, week };
}

const RULES: readonly Rule[] = [
  { name: 'last', option: '--keep-last', reason: 'last snapshot', bucket: (_d, nr) => `#${nr}` },
  {
    name: 'hourly',
    option: '--keep-hourly',
    reason: 'hourly snapshot',
    bucket: (d) => `${ymd(d)}T${pad(d.getUTCHours())}`,
  },
  { name: 'daily', option: '--keep-daily', reason: 'daily snapshot', bucket: (d) => ymd(d) },
  {
    name: 'weekly',
    option: '--keep-weekly',
    reason: 'weekly snapshot',
    bucket: (d) => {
      const w = isoWeek(d);
      return `${pad(w.year, 4)}-W${pad(w.week)}`;
    },
  },
  {
    name: 'monthly',
    option: '--keep-monthly',
    reason: 'monthly snapshot',
    bucket: (d) => `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}`,
  },
  { name: 'yearly', option: '--keep-yearly', reason: 'yearly snapshot', bucket: (d) => pad(d.getUTCFullYear(), 4) },
];

const NO_POLICY =
  `give at least one --keep-… option (${RULES.map((r) => r.option).join(', ')}) with a count above 0: ` +
  'an empty retention policy would remove every snapshot';

function checkCount(rule: Rule, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new UsageError(`${rule.option}: ${JSON.stringify(value)} is not a whole number ≥ 0`);
  }
  return value;
}

/** Checks a policy built in code (the CLI goes through parseRetentionPolicy). */
function checkPolicy(policy: RetentionPolicy): void {
  let any = false;
  for (const rule of RULES) {
    const value = policy[rule.name];
    if (value === undefined) continue;
    if (checkCount(rule, value) > 0) any = true;
  }
  if (!any) throw new UsageError(NO_POLICY);
}

/**
 * Reads --keep-* options into a policy. Accepts commander's keys (`keepDaily`), dashed or
 * underscored ones (`keep-daily`, `--keep-daily`, `keep_daily`, from playbook `--set`), and the
 * policy's own (`daily`). Values are whole numbers ≥ 0, as numbers or decimal strings. Other
 * keys are ignored, except unknown `keep…` ones (`--keep-within`, a typo): those are refused
 * rather than silently keeping less than asked. Zero counts are left out of the result.
 */
export function parseRetentionPolicy(opts: Record<string, string | number | undefined>): RetentionPolicy {
  const policy: RetentionPolicy = {};
  const seenFrom = new Map<RuleName, string>();
  for (const [key, raw] of Object.entries(opts)) {
    if (raw === undefined) continue;
    const normalized = key.replace(/^-+/, '').toLowerCase().replace(/[-_]/g, '');
    const name = normalized.startsWith('keep') ? normalized.slice(4) : normalized;
    const rule = RULES.find((r) => r.name === name);
    if (!rule) {
      if (normalized.startsWith('keep')) {
        const shown = key.startsWith('-')
          ? key
          : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/_/g, '-')}`;
        throw new UsageError(`${shown}: not a retention option; use ${RULES.map((r) => r.option).join(', ')}`);
      }
      continue;
    }
    let value: number;
    if (typeof raw === 'number') {
      value = checkCount(rule, raw);
    } else {
      const text = raw.trim();
      if (!/^\d+$/.test(text)) throw new UsageError(`${rule.option}: ${JSON.stringify(raw)} is not a whole number ≥ 0`);
      value = checkCount(rule, Number(text));
    }
    const earlier = seenFrom.get(rule.name);
    if (earlier !== undefined && (policy[rule.name] ?? 0) !== value) {
      throw new UsageError(`${rule.option} given twice with different counts (${earlier} and ${key})`);
    }
    seenFrom.set(rule.name, key);
    if (value > 0) policy[rule.name] = value;
    else delete policy[rule.name];
  }
  if (Object.keys(policy).length === 0) throw new UsageError(NO_POLICY);
  return policy;
}

/** restic's one-line summary: `keep 3 last, 7 daily, 4 weekly snapshots`. */
export function describeRetentionPolicy(policy: RetentionPolicy): string {
  const parts = RULES.filter((r) => (policy[r.name] ?? 0) > 0).map((r) => `${policy[r.name]} ${r.name}`);
  return parts.length ? `keep ${parts.join(', ')} snapshots` : 'keep nothing (refused)';
}

interface Parsed {
  ref: SnapshotRef;
  /** Epoch milliseconds of the UTC instant. */
  ms: number;
  /** Fraction digits below the millisecond, for ordering only. */
  subMs: string;
  date: Date;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Parses a strict ISO 8601 time with a zone; a date that does not exist (Feb 30) is refused. */
function parseTime(ref: SnapshotRef): Parsed {
  const bad = (): FleetError =>
    new FleetError(
      'failure',
      `snapshot ${ref.id} of ${ref.host}: time ${JSON.stringify(ref.time)} is not an ISO 8601 time with a zone ` +
        '(e.g. 2025-01-16T10:00:05Z); refusing to plan retention',
      { host: ref.host },
    );
  const m = typeof ref.time === 'string' ? ISO.exec(ref.time.trim()) : null;
  if (!m) throw bad();
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const s = m[6] === undefined ? 0 : Number(m[6]);
  const frac = (m[7] ?? '').padEnd(3, '0');
  const local = Date.UTC(y, mo - 1, d, h, mi, s, Number(frac.slice(0, 3)));
  const check = new Date(local);
  if (
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    check.getUTCHours() !== h ||
    check.getUTCMinutes() !== mi ||
    s > 59
  )
    throw bad();
  let offsetMin = 0;
  const zone = m[8]!;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2));
    if (oh > 23 || om > 59) throw bad();
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = local - offsetMin * 60_000;
  return { ref, ms, subMs: frac.slice(3), date: new Date(ms) };
}

/** Newest first; equal times: greater id first. */
function newestFirst(a: Parsed, b: Parsed): number {
  if (a.ms !== b.ms) return b.ms - a.ms;
  const fa = a.subMs.padEnd(b.subMs.length, '0');
  const fb = b.subMs.padEnd(a.subMs.length, '0');
  if (fa !== fb) return fa < fb ? 1 : -1;
  return a.ref.id < b.ref.id ? 1 : a.ref.id > b.ref.id ? -1 : 0;
}

/** One host's snapshots, newest first, through every rule (restic's ApplyPolicy). */
function planHost(list: Parsed[], policy: RetentionPolicy): RetentionDecision[] {
  const state = RULES.map((rule) => ({ rule, left: policy[rule.name] ?? 0, last: undefined as string | undefined }));
  return list.map((cur, nr) => {
    const reasons: string[] = [];
    const oldest = nr === list.length - 1;
    for (const s of state) {
      if (s.left <= 0) continue;
      const bucket = s.rule.bucket(cur.date, nr);
      if (bucket !== s.last || oldest) {
        reasons.push(bucket === s.last ? `oldest ${s.rule.reason}` : s.rule.reason);
        s.last = bucket;
        s.left--;
      }
    }
    return { id: cur.ref.id, host: cur.ref.host, time: cur.ref.time, keep: reasons.length > 0, reasons };
  });
}

/**
 * Decides, for every snapshot, whether the policy keeps it. Returns one decision per snapshot:
 * hosts in the order they first appear in `snapshots`, each host's snapshots newest first.
 * Throws UsageError for an empty or invalid policy, FleetError('failure') for a snapshot whose
 * time cannot be read or an id listed twice for one host (nothing is planned on doubt).
 */
export function planRetention(snapshots: SnapshotRef[], policy: RetentionPolicy): RetentionDecision[] {
  checkPolicy(policy);
  const byHost = new Map<string, { list: Parsed[]; ids: Set<string> }>();
  for (const ref of snapshots) {
    const parsed = parseTime(ref);
    let group = byHost.get(ref.host);
    if (!group) {
      group = { list: [], ids: new Set() };
      byHost.set(ref.host, group);
    }
    if (group.ids.has(ref.id)) {
      throw new FleetError('failure', `snapshot ${ref.id} of ${ref.host} is listed twice; refusing to plan retention`, {
        host: ref.host,
      });
    }
    group.ids.add(ref.id);
    group.list.push(parsed);
  }
  const decisions: RetentionDecision[] = [];
  for (const { list } of byHost.values()) decisions.push(...planHost(list.sort(newestFirst), policy));
  return decisions;
}
