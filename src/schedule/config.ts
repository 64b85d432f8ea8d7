import { homedir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { Cron } from 'croner';
import type { FleetError } from '../errors.js';
import { LocatedError } from '../located/located-error.js';
import { childPath, quote, readDocument, type DocMap, type DocNode } from '../located/document.js';
import { loadInventory } from '../inventory/load.js';
import type { SecretSource } from '../inventory/model.js';
import { resolveInventoryPath, type PathBase } from '../inventory/paths.js';
import { parseSecretSource } from '../inventory/secrets.js';
import { closest } from '../located/suggest.js';
import { parseRetentionPolicy, type RetentionPolicy } from '../backup/retention.js';
import { defaultStoreDir, isSnapshotId } from '../backup/store.js';
import { parseDuration } from '../playbook/params.js';
import { stateDir } from '../state-dir.js';
import { readInputFile } from '../text-file.js';

export interface ScheduleConfig {
  file: string;
  /** node_exporter textfile (written atomically after every change); none when not set. */
  metrics: string | undefined;
  /** The daemon's own record: counters, last results per host, last verification. */
  stateFile: string;
  /** The backup jobs (`kind: backup`, the default), in file order. */
  jobs: JobConfig[];
  /** The drill jobs (`kind: drill`), in file order. */
  drills: DrillJobConfig[];
}

/** A job of the schedule: a fleet backup or a restore drill. */
export type ScheduleJob = JobConfig | DrillJobConfig;

/** What every job has, whatever it runs. */
interface JobBase {
  name: string;
  line: number;
  inventory: string;
  deployment: string;
  cron: string;
  timezone: string | undefined;
  store: string;
  /** Random delay before each run, so many deployments do not all start on the same second. */
  jitterSeconds: number;
  hooks: HookConfig;
}

/** A scheduled fleet backup. */
export interface JobConfig extends JobBase {
  kind: 'backup';
  type: 'data' | 'full';
  binary: boolean;
  compress: boolean;
  /** Public key files; empty with noEncrypt. */
  encryptTo: string[];
  noEncrypt: boolean;
  limit: string | undefined;
  forks: number;
  retention: RetentionPolicy | undefined;
  verify: VerifyConfig | undefined;
}

/** A scheduled restore drill: the deployment's snapshots restored into a sandbox (`ipa-fleet drill`). */
export interface DrillJobConfig extends JobBase {
  kind: 'drill';
  /** 'latest' or a snapshot id of the master. */
  backup: string;
  /** Armored private key that decrypts the snapshots; none for unencrypted ones. */
  key: string | undefined;
  passphrase: SecretSource | undefined;
}

interface VerifyConfig {
  everySeconds: number;
  readData: boolean;
  /** Armored private key, for read_data of encrypted snapshots. */
  key: string | undefined;
  passphrase: SecretSource | undefined;
}

interface HookConfig {
  onFailure: string | undefined;
  onSuccess: string | undefined;
  timeoutSeconds: number;
}

const TOP_KEYS = ['metrics', 'state', 'jobs'];
const COMMON_KEYS = ['name', 'kind', 'inventory', 'cron', 'timezone', 'store', 'jitter', 'hooks'];
const JOB_KEYS = [
  'name',
  'kind',
  'inventory',
  'cron',
  'timezone',
  'type',
  'binary',
  'compress',
  'store',
  'encrypt_to',
  'no_encrypt',
  'limit',
  'forks',
  'jitter',
  'retention',
  'verify',
  'hooks',
];
const DRILL_KEYS = [...COMMON_KEYS, 'backup', 'key', 'passphrase'];
const RETENTION_KEYS = ['keep_last', 'keep_hourly', 'keep_daily', 'keep_weekly', 'keep_monthly', 'keep_yearly'];
const VERIFY_KEYS = ['every', 'read_data', 'key', 'passphrase'];
const HOOK_KEYS = ['on_failure', 'on_success', 'timeout'];

type Fail = (line: number | undefined, key: string | undefined, problem: string) => never;

export async function loadSchedule(path: string): Promise<ScheduleConfig> {
  const file = resolve(path);
  const text = await readInputFile(file, 'schedule');
  const config = parseSchedule(text, file);
  // Each inventory is read now: a missing or broken one stops the daemon before it starts.
  for (const job of [...config.jobs, ...config.drills]) {
    try {
      job.deployment = (await loadInventory(job.inventory)).deployment;
    } catch (err) {
      // Named from the schedule's side: which job points at it, and where.
      const unreadable =
        err instanceof LocatedError && err.file === job.inventory
          ? /cannot read the inventory: (.*)$/.exec(err.message)
          : null;
      if (unreadable)
        throw new LocatedError(
          file,
          job.line,
          `jobs.${job.name}.inventory`,
          `cannot read ${job.inventory}: ${unreadable[1]}`,
        );
      throw err;
    }
  }
  return config;
}

/** Parses a schedule; inventories are not read (deployment stays ''). */
export function parseSchedule(text: string, file: string, home = homedir()): ScheduleConfig {
  const fail: Fail = (line, key, problem) => {
    throw new LocatedError(file, line, key, problem);
  };
  const base: PathBase = { baseDir: dirname(file), homeDir: home };
  const root = readDocument(text, file);
  if (!root) fail(1, undefined, 'the schedule is empty; it needs a jobs: list');
  if (root!.kind !== 'map')
    fail(root!.line, undefined, 'a schedule is a mapping with jobs (and optionally metrics, state)');
  const top = root as DocMap;
  checkKeys(top, TOP_KEYS, fail);
  const metricsNode = get(top, 'metrics');
  const stateNode = get(top, 'state');
  const jobsNode = get(top, 'jobs') ?? fail(top.line, 'jobs', 'missing (a schedule has at least one job)');
  if (jobsNode!.kind !== 'seq' || jobsNode!.items.length === 0)
    fail(jobsNode!.line, 'jobs', 'must be a non-empty list of jobs');
  const all: ScheduleJob[] = [];
  for (const [i, node] of (jobsNode as Extract<DocNode, { kind: 'seq' }>).items.entries()) {
    const job = parseJob(node, i, base, fail);
    const twin = all.find((j) => j.name === job.name);
    if (twin)
      fail(job.line, `jobs[${i}].name`, `${quote(job.name)} is already the name of the job at line ${twin.line}`);
    all.push(job);
  }
  const scheduleName = basename(file, extname(file));
  return {
    file,
    metrics: metricsNode ? path(metricsNode, 'metrics', base, fail) : undefined,
    stateFile: stateNode
      ? path(stateNode, 'state', base, fail)
      : join(stateDir(), 'schedule', `${scheduleName}.state.json`),
    jobs: all.filter((j): j is JobConfig => j.kind === 'backup'),
    drills: all.filter((j): j is DrillJobConfig => j.kind === 'drill'),
  };
}

function parseJob(node: DocNode, i: number, base: PathBase, fail: Fail): ScheduleJob {
  const where = `jobs[${i}]`;
  if (node.kind !== 'map')
    fail(node.line, where, 'a job is a mapping with name, inventory, cron, store and encrypt_to');
  const map = node as DocMap;
  const kindNode = get(map, 'kind');
  const kind = kindNode ? str(kindNode, `${where}.kind`, fail) : 'backup';
  if (kind !== 'backup' && kind !== 'drill')
    fail(kindNode!.line, `${where}.kind`, `${quote(kind)} is not backup or drill`);
  if (kind === 'drill') {
    checkDrillKeys(map, where, fail);
    return parseDrill(map, parseCommon(map, where, base, fail), base, fail);
  }
  checkKeys(map, JOB_KEYS, fail, where);
  return parseBackup(map, parseCommon(map, where, base, fail), base, fail);
}

/** A backup-only key in a drill job is named as such, not just as unknown. */
function checkDrillKeys(map: DocMap, where: string, fail: Fail): void {
  for (const e of map.entries)
    if (!DRILL_KEYS.includes(e.key) && JOB_KEYS.includes(e.key))
      fail(e.keyLine, childPath(where, e.key), `is for backup jobs; a drill job takes ${DRILL_KEYS.join(', ')}`);
  checkKeys(map, DRILL_KEYS, fail, where);
}

/** The keys every job has: name, inventory, cron and time zone, store, jitter, hooks. */
function parseCommon(map: DocMap, where: string, base: PathBase, fail: Fail): JobBase {
  const need = (key: string, hint: string): DocNode =>
    get(map, key) ?? fail(map.line, `${where}.${key}`, `missing (${hint})`);
  const name = str(need('name', 'every job has a name'), `${where}.name`, fail);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    fail(get(map, 'name')!.line, `${where}.name`, 'use letters, digits, -, _ and . only');
  const at = `jobs.${name}`;
  const cronNode = need('cron', "a cron expression such as '0 30 2 * * *' (seconds first) or '30 2 * * *'");
  const cron = str(cronNode, `${at}.cron`, fail);
  const timezoneNode = get(map, 'timezone');
  const timezone = timezoneNode ? str(timezoneNode, `${at}.timezone`, fail) : undefined;
  checkCron(cron, cronNode.line, timezone, timezoneNode?.line ?? 0, at, fail);
  return {
    name,
    line: map.line,
    inventory: path(need('inventory', 'the inventory file of the deployment'), `${at}.inventory`, base, fail),
    deployment: '',
    cron,
    timezone,
    store: get(map, 'store') ? path(get(map, 'store')!, `${at}.store`, base, fail) : defaultStoreDir(),
    jitterSeconds: get(map, 'jitter') ? duration(get(map, 'jitter')!, `${at}.jitter`, fail) : 0,
    hooks: get(map, 'hooks')
      ? parseHooks(get(map, 'hooks')!, `${at}.hooks`, fail)
      : { onFailure: undefined, onSuccess: undefined, timeoutSeconds: 60 },
  };
}

function checkCron(
  cron: string,
  cronLine: number,
  timezone: string | undefined,
  timezoneLine: number,
  at: string,
  fail: Fail,
): void {
  try {
    new Cron(cron, { paused: true, ...(timezone ? { timezone } : {}) }).stop();
  } catch (err) {
    // croner's text may repeat the expression: shown once, quoted, and kept to one short line.
    const problem = (err as Error).message
      .replace(/^CronPattern: /, '')
      .split(cron)
      .join('<cron>')
      .replace(/\s+/g, ' ')
      .slice(0, 160);
    if (timezone && /time ?zone/i.test(problem))
      fail(timezoneLine, `${at}.timezone`, `${quote(timezone)} is not a time zone`);
    fail(cronLine, `${at}.cron`, `${quote(cron)} is not a cron expression: ${problem}`);
  }
  if (timezone) checkTimezone(timezone, timezoneLine, `${at}.timezone`, fail);
}

function parseBackup(map: DocMap, common: JobBase, base: PathBase, fail: Fail): JobConfig {
  const at = `jobs.${common.name}`;
  const typeNode = get(map, 'type');
  const type = typeNode ? str(typeNode, `${at}.type`, fail) : 'data';
  if (type !== 'data' && type !== 'full') fail(typeNode!.line, `${at}.type`, `${quote(type)} is not data or full`);

  const noEncrypt = get(map, 'no_encrypt') ? bool(get(map, 'no_encrypt')!, `${at}.no_encrypt`, fail) : false;
  const encryptNode = get(map, 'encrypt_to');
  const encryptTo = encryptNode ? pathList(encryptNode, `${at}.encrypt_to`, base, fail) : [];
  if (!noEncrypt && encryptTo.length === 0)
    fail(map.line, `${at}.encrypt_to`, 'missing: name the public key file(s) to encrypt to (or no_encrypt: true)');
  if (noEncrypt && encryptTo.length > 0)
    fail(encryptNode!.line, `${at}.encrypt_to`, 'no_encrypt and encrypt_to exclude each other');

  const forksNode = get(map, 'forks');
  const forks = forksNode ? int(forksNode, `${at}.forks`, fail) : 10;
  if (forks < 1) fail(forksNode!.line, `${at}.forks`, 'must be at least 1');

  return {
    ...common,
    kind: 'backup',
    type: type as 'data' | 'full',
    binary: get(map, 'binary') ? bool(get(map, 'binary')!, `${at}.binary`, fail) : false,
    compress: get(map, 'compress') ? bool(get(map, 'compress')!, `${at}.compress`, fail) : true,
    encryptTo,
    noEncrypt,
    limit: get(map, 'limit') ? str(get(map, 'limit')!, `${at}.limit`, fail) : undefined,
    forks,
    retention: get(map, 'retention') ? parseRetention(get(map, 'retention')!, `${at}.retention`, fail) : undefined,
    verify: get(map, 'verify') ? parseVerify(get(map, 'verify')!, `${at}.verify`, base, fail) : undefined,
  };
}

function parseDrill(map: DocMap, common: JobBase, base: PathBase, fail: Fail): DrillJobConfig {
  const at = `jobs.${common.name}`;
  const backupNode = get(map, 'backup');
  const backup = backupNode ? str(backupNode, `${at}.backup`, fail) : 'latest';
  if (backup !== 'latest' && !isSnapshotId(backup))
    fail(
      backupNode!.line,
      `${at}.backup`,
      `${quote(backup)} is not latest or a snapshot id (like 20261126T101500Z-1a2b3c)`,
    );
  const { key, passphrase } = parseKey(map, at, base, fail);
  if (passphrase && !key)
    fail(get(map, 'passphrase')!.line, `${at}.passphrase`, 'is the passphrase of key: FILE, which is missing');
  return { ...common, kind: 'drill', backup, key, passphrase };
}

/** `key: FILE` and `passphrase: file:PATH|env:NAME` (never a prompt: a daemon has no terminal). */
function parseKey(
  map: DocMap,
  where: string,
  base: PathBase,
  fail: Fail,
): { key: string | undefined; passphrase: SecretSource | undefined } {
  const key = get(map, 'key') ? path(get(map, 'key')!, `${where}.key`, base, fail) : undefined;
  const passNode = get(map, 'passphrase');
  if (!passNode) return { key, passphrase: undefined };
  const src = parseSecretSource(passNode.kind === 'scalar' ? passNode.value : undefined, base);
  if ('problem' in src) fail(passNode.line, `${where}.passphrase`, src.problem);
  if ((src as SecretSource).kind === 'prompt')
    fail(passNode.line, `${where}.passphrase`, 'a daemon cannot prompt; use file:PATH or env:NAME');
  return { key, passphrase: src as SecretSource };
}

function parseRetention(node: DocNode, where: string, fail: Fail): RetentionPolicy {
  if (node.kind !== 'map') fail(node.line, where, `must be a mapping of ${RETENTION_KEYS.join(', ')}`);
  const map = node as DocMap;
  checkKeys(map, RETENTION_KEYS, fail, where);
  const counts: Record<string, number> = {};
  for (const e of map.entries) counts[e.key] = int(e.value, `${where}.${e.key}`, fail);
  if (!Object.values(counts).some((n) => n > 0))
    fail(
      map.line,
      where,
      `keeps nothing, so every snapshot would be removed; set one of ${RETENTION_KEYS.join(', ')} above 0`,
    );
  try {
    return parseRetentionPolicy(counts);
  } catch (err) {
    return fail(map.line, where, (err as Error).message);
  }
}

function parseVerify(node: DocNode, where: string, base: PathBase, fail: Fail): VerifyConfig {
  if (node.kind !== 'map') fail(node.line, where, `must be a mapping of ${VERIFY_KEYS.join(', ')}`);
  const map = node as DocMap;
  checkKeys(map, VERIFY_KEYS, fail, where);
  const everyNode = get(map, 'every') ?? fail(map.line, `${where}.every`, 'missing (how often, e.g. 7d)');
  const readData = get(map, 'read_data') ? bool(get(map, 'read_data')!, `${where}.read_data`, fail) : false;
  const { key, passphrase } = parseKey(map, where, base, fail);
  if (readData && !key)
    fail(map.line, `${where}.key`, 'read_data needs the private key (key: FILE) to decrypt the snapshots');
  return { everySeconds: duration(everyNode!, `${where}.every`, fail), readData, key, passphrase };
}

function parseHooks(node: DocNode, where: string, fail: Fail): HookConfig {
  if (node.kind !== 'map') fail(node.line, where, `must be a mapping of ${HOOK_KEYS.join(', ')}`);
  const map = node as DocMap;
  checkKeys(map, HOOK_KEYS, fail, where);
  const command = (key: string): string | undefined => {
    const n = get(map, key);
    if (!n) return undefined;
    const text = str(n, `${where}.${key}`, fail);
    if (text.trim() === '') fail(n.line, `${where}.${key}`, 'is empty; give a command, or leave the key out');
    return text;
  };
  const timeoutNode = get(map, 'timeout');
  const timeoutSeconds = timeoutNode ? duration(timeoutNode, `${where}.timeout`, fail) : 60;
  if (timeoutSeconds < 1)
    fail(timeoutNode!.line, `${where}.timeout`, 'must be at least 1s (a hook is killed when it runs out)');
  return { onFailure: command('on_failure'), onSuccess: command('on_success'), timeoutSeconds };
}

function checkTimezone(zone: string, line: number, key: string, fail: Fail): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
  } catch {
    fail(line, key, `${quote(zone)} is not a time zone (e.g. UTC, Europe/Berlin)`);
  }
}

function get(map: DocMap, key: string): DocNode | undefined {
  return map.entries.find((e) => e.key === key)?.value;
}

function checkKeys(map: DocMap, allowed: string[], fail: Fail, where = ''): void {
  for (const e of map.entries) {
    if (allowed.includes(e.key)) continue;
    const hint = closest(e.key, allowed);
    fail(
      e.keyLine,
      childPath(where, e.key),
      `unknown key${hint ? ` (did you mean ${hint}?)` : `; expected ${allowed.join(', ')}`}`,
    );
  }
}

function str(node: DocNode, key: string, fail: Fail): string {
  if (node.kind !== 'scalar' || node.value === null || typeof node.value === 'boolean')
    return fail(node.line, key, 'must be a string');
  return String(node.value);
}

function bool(node: DocNode, key: string, fail: Fail): boolean {
  if (node.kind !== 'scalar' || typeof node.value !== 'boolean') return fail(node.line, key, 'must be true or false');
  return node.value;
}

function int(node: DocNode, key: string, fail: Fail): number {
  if (node.kind !== 'scalar' || typeof node.value !== 'number' || !Number.isInteger(node.value) || node.value < 0)
    return fail(node.line, key, 'must be a whole number ≥ 0');
  return node.value;
}

/** One file or a list of files. */
function pathList(node: DocNode, key: string, base: PathBase, fail: Fail): string[] {
  if (node.kind === 'scalar') return [path(node, key, base, fail)];
  if (node.kind !== 'seq') return fail(node.line, key, 'must be a list of files');
  return node.items.map((item, j) => path(item, `${key}[${j}]`, base, fail));
}

function duration(node: DocNode, key: string, fail: Fail): number {
  if (node.kind !== 'scalar' || node.value === null)
    return fail(node.line, key, 'must be a duration like 30s, 5m, 2h or 7d');
  try {
    return parseDuration(node.value as string | number, key);
  } catch (err) {
    return fail(node.line, key, (err as FleetError).message.replace(`${key}: `, ''));
  }
}

function path(node: DocNode, key: string, base: PathBase, fail: Fail): string {
  const resolved = resolveInventoryPath(str(node, key, fail), base);
  if ('problem' in resolved) return fail(node.line, key, resolved.problem);
  return resolved.path;
}
