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
import { defaultStoreDir } from '../backup/store.js';
import { parseDuration } from '../playbook/params.js';
import { stateDir } from '../state-dir.js';
import { readInputFile } from '../text-file.js';

export interface ScheduleConfig {
  file: string;
  /** node_exporter textfile (written atomically after every change); none when not set. */
  metrics: string | undefined;
  /** The daemon's own record: counters, last results per host, last verification. */
  stateFile: string;
  jobs: JobConfig[];
}

export interface JobConfig {
  name: string;
  line: number;
  inventory: string;
  deployment: string;
  cron: string;
  timezone: string | undefined;
  type: 'data' | 'full';
  binary: boolean;
  compress: boolean;
  store: string;
  /** Public key files; empty with noEncrypt. */
  encryptTo: string[];
  noEncrypt: boolean;
  limit: string | undefined;
  forks: number;
  /** Random delay before each run, so many deployments do not all start on the same second. */
  jitterSeconds: number;
  retention: RetentionPolicy | undefined;
  verify: VerifyConfig | undefined;
  hooks: HookConfig;
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
const JOB_KEYS = [
  'name',
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
const RETENTION_KEYS = ['keep_last', 'keep_hourly', 'keep_daily', 'keep_weekly', 'keep_monthly', 'keep_yearly'];
const VERIFY_KEYS = ['every', 'read_data', 'key', 'passphrase'];
const HOOK_KEYS = ['on_failure', 'on_success', 'timeout'];

type Fail = (line: number | undefined, key: string | undefined, problem: string) => never;

export async function loadSchedule(path: string): Promise<ScheduleConfig> {
  const file = resolve(path);
  const text = await readInputFile(file, 'schedule');
  const config = parseSchedule(text, file);
  // Each inventory is read now: a missing or broken one stops the daemon before it starts.
  for (const job of config.jobs) {
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
  const jobs: JobConfig[] = [];
  for (const [i, node] of (jobsNode as Extract<DocNode, { kind: 'seq' }>).items.entries()) {
    const job = parseJob(node, i, base, fail);
    const twin = jobs.find((j) => j.name === job.name);
    if (twin)
      fail(job.line, `jobs[${i}].name`, `${quote(job.name)} is already the name of the job at line ${twin.line}`);
    jobs.push(job);
  }
  const scheduleName = basename(file, extname(file));
  return {
    file,
    metrics: metricsNode ? path(metricsNode, 'metrics', base, fail) : undefined,
    stateFile: stateNode
      ? path(stateNode, 'state', base, fail)
      : join(stateDir(), 'schedule', `${scheduleName}.state.json`),
    jobs,
  };
}

function parseJob(node: DocNode, i: number, base: PathBase, fail: Fail): JobConfig {
  const where = `jobs[${i}]`;
  if (node.kind !== 'map')
    fail(node.line, where, 'a job is a mapping with name, inventory, cron, store and encrypt_to');
  const map = node as DocMap;
  checkKeys(map, JOB_KEYS, fail, where);
  const need = (key: string, hint: string): DocNode =>
    get(map, key) ?? fail(map.line, `${where}.${key}`, `missing (${hint})`);
  const name = str(need('name', 'every job has a name'), `${where}.name`, fail);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    fail(get(map, 'name')!.line, `${where}.name`, 'use letters, digits, -, _ and . only');
  const at = `jobs.${name}`;
  const cronNode = need('cron', "a cron expression such as '0 30 2 * * *' (seconds first) or '30 2 * * *'");
  const cron = str(cronNode, `${at}.cron`, fail);
  const timezone = get(map, 'timezone') ? str(get(map, 'timezone')!, `${at}.timezone`, fail) : undefined;
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
      fail(get(map, 'timezone')!.line, `${at}.timezone`, `${quote(timezone)} is not a time zone`);
    fail(cronNode.line, `${at}.cron`, `${quote(cron)} is not a cron expression: ${problem}`);
  }
  if (timezone) checkTimezone(timezone, get(map, 'timezone')!.line, `${at}.timezone`, fail);

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
    name,
    line: map.line,
    inventory: path(need('inventory', 'the inventory file of the deployment'), `${at}.inventory`, base, fail),
    deployment: '',
    cron,
    timezone,
    type: type as 'data' | 'full',
    binary: get(map, 'binary') ? bool(get(map, 'binary')!, `${at}.binary`, fail) : false,
    compress: get(map, 'compress') ? bool(get(map, 'compress')!, `${at}.compress`, fail) : true,
    store: get(map, 'store') ? path(get(map, 'store')!, `${at}.store`, base, fail) : defaultStoreDir(),
    encryptTo,
    noEncrypt,
    limit: get(map, 'limit') ? str(get(map, 'limit')!, `${at}.limit`, fail) : undefined,
    forks,
    jitterSeconds: get(map, 'jitter') ? duration(get(map, 'jitter')!, `${at}.jitter`, fail) : 0,
    retention: get(map, 'retention') ? parseRetention(get(map, 'retention')!, `${at}.retention`, fail) : undefined,
    verify: get(map, 'verify') ? parseVerify(get(map, 'verify')!, `${at}.verify`, base, fail) : undefined,
    hooks: get(map, 'hooks')
      ? parseHooks(get(map, 'hooks')!, `${at}.hooks`, fail)
      : { onFailure: undefined, onSuccess: undefined, timeoutSeconds: 60 },
  };
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
  const key = get(map, 'key') ? path(get(map, 'key')!, `${where}.key`, base, fail) : undefined;
  let passphrase: SecretSource | undefined;
  const passNode = get(map, 'passphrase');
  if (passNode) {
    const src = parseSecretSource(passNode.kind === 'scalar' ? passNode.value : undefined, base);
    if ('problem' in src) fail(passNode.line, `${where}.passphrase`, src.problem);
    // A daemon has no terminal to ask on.
    if ((src as SecretSource).kind === 'prompt')
      fail(passNode.line, `${where}.passphrase`, 'a daemon cannot prompt; use file:PATH or env:NAME');
    passphrase = src as SecretSource;
  }
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
