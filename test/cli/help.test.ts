// Every command documents itself: `--help` of every command and subcommand exits 0, every option
// and argument it accepts is listed with a description, commands that can fail name their exit
// codes, and docs/reference.md lists every command, option and default (so it cannot fall behind).
//
// The program is built only inside main() (src/cli/main.ts), so it is taken from there: main() runs
// with commander's parseAsync stubbed, which hands over the Command tree exactly as the CLI builds it
// (the real options, defaults and arguments). The help text is what the real CLI prints: each
// command's `--help` runs as a child process, and the command tree is discovered from the "Commands:"
// sections of that output, recursively, and compared with the Command objects.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, type Option } from 'commander';
import { main } from '../../src/cli/main.js';
import { type CliRun, ROOT, runCli } from './run-cli.js';

const REFERENCE = join(ROOT, 'docs/reference.md');
const RUNBOOK = join(ROOT, 'docs/restore-runbook.md');

/** Commands that can fail in ways an administrator must tell apart: their help must name exit codes. */
const MUST_DOCUMENT_EXIT_CODES = [
  'backup',
  'backups verify',
  'restore',
  'rejoin',
  'diff',
  'restore-entries',
  'drill',
  'audit',
  'schedule run',
  'run',
];

type HelpRun = CliRun;

interface Item {
  term: string;
  description: string;
}

interface ParsedHelp {
  description: string;
  sections: Map<string, Item[]>;
}

let tmp: string;
let program: Command;
/** Command path ('' for the program, 'backups verify', …) → the Command object. */
const commands = new Map<string, Command>();
/** Command path → what `ipa-fleet <path> --help` printed. */
const helps = new Map<string, HelpRun>();
/** Paths found by following the "Commands:" sections of the real help output. */
const discovered: string[] = [];
let reference: string;

function runHelp(path: string): Promise<HelpRun> {
  return runCli([...(path ? path.split(' ') : []), '--help'], {
    cwd: tmp,
    env: { XDG_STATE_HOME: join(tmp, 'state') },
    timeoutMs: 30_000,
  });
}

/** The Command tree as main() builds it, without parsing anything. */
async function programOfMain(): Promise<Command> {
  const original = Command.prototype.parseAsync;
  let captured: Command | undefined;
  Command.prototype.parseAsync = async function (this: Command) {
    captured ??= this;
    return this;
  } as typeof original;
  try {
    await main(['node', 'ipa-fleet']);
  } finally {
    Command.prototype.parseAsync = original;
  }
  assert.ok(captured, 'main() built no commander program');
  return captured;
}

function walk(cmd: Command, path: string): void {
  commands.set(path, cmd);
  for (const sub of cmd.commands) walk(sub, path ? `${path} ${sub.name()}` : sub.name());
}

/**
 * Commander's help layout: "Usage: …", the description, then sections ("Arguments:", "Options:",
 * "Commands:", …) whose items start at two spaces; the description follows the term after two or
 * more spaces and wraps onto lines indented further. Text added with addHelpText follows a blank line.
 */
function parseHelp(text: string): ParsedHelp {
  const lines = text.split('\n');
  const sections = new Map<string, Item[]>();
  let i = 0;
  while (i < lines.length && !lines[i]!.startsWith('Usage:')) i++;
  i++;
  const description: string[] = [];
  for (; i < lines.length && !/^[A-Z][A-Za-z ]*:$/.test(lines[i]!); i++)
    if (lines[i]!.trim()) description.push(lines[i]!.trim());
  let current: Item[] | undefined;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    const header = /^([A-Z][A-Za-z ]*):$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1]!, current);
      continue;
    }
    if (!current) continue;
    if (line.trim() === '') {
      current = undefined;
      continue;
    }
    const item = /^ {2}(\S.*?)(?: {2,}(\S.*))?$/.exec(line);
    if (item) current.push({ term: item[1]!.trim(), description: (item[2] ?? '').trim() });
    else if (/^ {3,}\S/.test(line) && current.length > 0) {
      const last = current[current.length - 1]!;
      last.description = `${last.description} ${line.trim()}`.trim();
    } else current = undefined;
  }
  return { description: description.join(' '), sections };
}

/** What commander appends after a description: defaults, choices, env, preset. Not a description. */
function ownText(description: string): string {
  return description.replace(/\((default|choices|env|preset): [^)]*\)/g, '').trim();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A flag as a word of its own: `--init` must not be satisfied by `--init-timeout`. */
function mentions(text: string, flag: string): boolean {
  return new RegExp(`(?<![\\w-])${escapeRegExp(flag)}(?![\\w-])`).test(text);
}

/** The section of docs/reference.md headed `### ipa-fleet <path>`, up to the next heading. */
function referenceSection(path: string): string | undefined {
  const lines = reference.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^### ipa-fleet ${escapeRegExp(path)}\\s*$`).test(l));
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && /^#{1,3} /.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

function label(path: string): string {
  return path ? `ipa-fleet ${path}` : 'ipa-fleet';
}

const isLeaf = (cmd: Command): boolean => cmd.commands.length === 0;

/** Runs `--help` for a path and for every subcommand its help lists, breadth-first. */
async function discover(): Promise<void> {
  let level = [''];
  while (level.length > 0) {
    const runs = await Promise.all(level.map(async (path) => [path, await runHelp(path)] as const));
    const next: string[] = [];
    for (const [path, run] of runs) {
      helps.set(path, run);
      discovered.push(path);
      for (const item of parseHelp(run.stdout).sections.get('Commands') ?? []) {
        const name = item.term.split(' ')[0]!;
        // commander's own `help [command]` is no command of ipa-fleet.
        if (name === 'help') continue;
        next.push(path ? `${path} ${name}` : name);
      }
    }
    level = next;
  }
}

describe('--help of every command', () => {
  const problems: string[] = [];
  let optionsChecked = 0;
  let argumentsChecked = 0;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-help-'));
    program = await programOfMain();
    walk(program, '');
    reference = readFileSync(REFERENCE, 'utf8');
    await discover();
  });

  after(() => {
    rmSync(tmp, { recursive: true, force: true });
    const leaves = [...commands.values()].filter(isLeaf).length;
    console.log(
      `help.test: ${commands.size - 1} commands and subcommands (${leaves} with an action, the rest groups) and the program; ` +
        `${optionsChecked} options checked (${program.options.length} of them global, the rest the commands' own), ${argumentsChecked} arguments`,
    );
  });

  it('discovers the same command tree from --help as main() builds', () => {
    assert.ok(commands.size > 20, `only ${commands.size} commands found`);
    assert.deepEqual([...discovered].sort(), [...commands.keys()].sort());
  });

  it('--help exits 0 with the help on stdout and nothing on stderr, for every command', () => {
    for (const [path, run] of helps) {
      assert.equal(run.code, 0, `${label(path)} --help exited ${run.code}: ${run.stderr}`);
      assert.equal(run.stderr, '', `${label(path)} --help wrote to stderr`);
      assert.match(run.stdout, new RegExp(`^Usage: ${escapeRegExp(label(path))} `), `${label(path)} --help`);
    }
  });

  it('every command has a description, in the Command and in its help', () => {
    for (const [path, cmd] of commands) {
      if (!cmd.description().trim()) problems.push(`${label(path)}: no description`);
      if (!parseHelp(helps.get(path)!.stdout).description) problems.push(`${label(path)} --help: no description text`);
    }
    assert.deepEqual(problems.splice(0), []);
  });

  it('every option a command accepts is listed in its help with a description', () => {
    for (const [path, cmd] of commands) {
      const text = helps.get(path)!.stdout;
      const listed = parseHelp(text).sections.get('Options') ?? [];
      // What the help shows: every item of the Options section has text besides "(default: …)".
      for (const item of listed) {
        if (!ownText(item.description)) problems.push(`${label(path)} --help: option ${item.term} has no description`);
      }
      // What the command accepts: each of its options, by its exact flags.
      for (const opt of cmd.options as Option[]) {
        optionsChecked++;
        if (opt.hidden) problems.push(`${label(path)}: option ${opt.flags} is hidden from --help`);
        if (!opt.description.trim()) problems.push(`${label(path)}: option ${opt.flags} has no description`);
        if (!listed.some((item) => item.term === opt.flags))
          problems.push(`${label(path)} --help: option ${opt.flags} is not listed`);
      }
      // Nothing listed that the command does not have (besides commander's -h, --help).
      for (const item of listed) {
        if (item.term !== '-h, --help' && !(cmd.options as Option[]).some((o) => o.flags === item.term)) {
          problems.push(`${label(path)} --help lists ${item.term}, which the command does not define`);
        }
      }
    }
    assert.deepEqual(problems.splice(0), []);
  });

  it('every argument is listed with a description', () => {
    for (const [path, cmd] of commands) {
      const listed = parseHelp(helps.get(path)!.stdout).sections.get('Arguments') ?? [];
      for (const arg of cmd.registeredArguments) {
        argumentsChecked++;
        if (!arg.description.trim()) problems.push(`${label(path)}: argument ${arg.name()} has no description`);
        const item = listed.find((i) => i.term === arg.name());
        if (!item) problems.push(`${label(path)} --help: argument ${arg.name()} is not listed`);
        else if (!ownText(item.description))
          problems.push(`${label(path)} --help: argument ${arg.name()} has no description`);
      }
    }
    assert.deepEqual(problems.splice(0), []);
  });

  it("the global options are described by the program and named in every subcommand's help", () => {
    const top = parseHelp(helps.get('')!.stdout).sections.get('Options') ?? [];
    for (const opt of program.options as Option[]) {
      if (!top.some((i) => i.term === opt.flags && ownText(i.description)))
        problems.push(`ipa-fleet --help: global option ${opt.flags} not described`);
      for (const [path] of commands) {
        if (path && !mentions(helps.get(path)!.stdout, opt.long ?? opt.short!)) {
          problems.push(`${label(path)} --help does not name the global option ${opt.long ?? opt.short}`);
        }
      }
    }
    assert.deepEqual(problems.splice(0), []);
  });

  it('commands that can fail document their exit codes', (t) => {
    for (const path of MUST_DOCUMENT_EXIT_CODES) {
      assert.ok(commands.has(path), `no command '${path}'`);
      assert.match(helps.get(path)!.stdout, /Exit code/, `${label(path)} --help names no exit codes`);
    }
    assert.match(helps.get('')!.stdout, /Exit codes/, 'ipa-fleet --help names no exit codes');
    // The others with an action: reported, not failed.
    const silent = [...commands]
      .filter(([path, cmd]) => path && isLeaf(cmd) && !/Exit code/.test(helps.get(path)!.stdout))
      .map(([path]) => path);
    if (silent.length) t.diagnostic(`commands whose --help names no exit codes: ${silent.join(', ')}`);
  });

  it('docs/reference.md lists every command, with every option, argument, default and its exit codes', () => {
    for (const [path, cmd] of commands) {
      if (!path) continue;
      if (!reference.includes(`ipa-fleet ${path}`)) problems.push(`reference: 'ipa-fleet ${path}' does not appear`);
      if (!isLeaf(cmd)) continue;
      const section = referenceSection(path);
      if (!section) {
        problems.push(`reference: no section '### ipa-fleet ${path}'`);
        continue;
      }
      // Each option has its row in the section's options table (a synopsis mention is not enough).
      const rows = section
        .split('\n')
        .filter((l) => l.startsWith('|'))
        .join('\n');
      for (const opt of cmd.options as Option[]) {
        const flag = opt.long ?? opt.short!;
        if (!mentions(rows, flag))
          problems.push(`reference, ipa-fleet ${path}: option ${flag} has no row in the options table`);
        if (opt.short && opt.long && !section.includes(`${opt.short}, ${opt.long}`))
          problems.push(`reference, ipa-fleet ${path}: '${opt.short}, ${opt.long}' missing`);
        // Defaults that do not depend on the machine (paths do) must be stated as they are.
        const d: unknown = opt.defaultValue;
        if (
          (typeof d === 'number' || typeof d === 'string') &&
          !String(d).includes('/') &&
          !section.includes(`\`${String(d)}\``)
        ) {
          problems.push(`reference, ipa-fleet ${path}: default of ${flag} (\`${String(d)}\`) missing`);
        }
      }
      for (const arg of cmd.registeredArguments) {
        if (!section.includes(`<${arg.name()}>`) && !section.includes(`[${arg.name()}`))
          problems.push(`reference, ipa-fleet ${path}: argument ${arg.name()} missing`);
      }
      if (!/Exit codes?:/.test(section)) problems.push(`reference, ipa-fleet ${path}: no exit codes`);
    }
    const globals = reference.split(/^## /m).find((s) => s.startsWith('GLOBAL OPTIONS')) ?? '';
    for (const opt of program.options as Option[]) {
      if (!globals.includes(`\`${opt.flags}\``)) problems.push(`reference, GLOBAL OPTIONS: ${opt.flags} missing`);
    }
    for (const heading of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'GLOBAL OPTIONS', 'ENVIRONMENT', 'FILES', 'EXIT CODES']) {
      if (!new RegExp(`^## ${heading}$`, 'm').test(reference)) problems.push(`reference: no '## ${heading}' section`);
    }
    assert.deepEqual(problems.splice(0), []);
  });
});

/** Every .ts file under src/, as one text. */
function sourceText(dir = join(ROOT, 'src')): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return sourceText(path);
      return e.name.endsWith('.ts') ? joinSplitStrings(readFileSync(path, 'utf8')) : '';
    })
    .join('\n');
}

/** A message split over lines to keep them ≤ 120 (`'…' +` then `'…'` or a template) reads as one string. */
function joinSplitStrings(source: string): string {
  return source.replace(/(['`])\s*\+\s*\n\s*(['`])/g, '');
}

describe('docs/restore-runbook.md', () => {
  it('every refusal and failure message it quotes is still in the code', () => {
    const runbook = readFileSync(RUNBOOK, 'utf8');
    const source = sourceText();
    const lines = runbook.split('\n');
    const missing: string[] = [];
    let quoted = 0;
    for (let i = 0; i < lines.length; i++) {
      // Tables whose header says "(as printed)": the last cell of each row is a message from the code.
      if (!/^\|.*\(as printed\)\s*\|\s*$/.test(lines[i]!)) continue;
      for (let j = i + 2; j < lines.length && lines[j]!.startsWith('|'); j++) {
        const cells = lines[j]!.split('|')
          .map((c) => c.trim())
          .filter((_c, k, all) => k > 0 && k < all.length - 1);
        const last = cells[cells.length - 1] ?? '';
        const m = /^`(.+)`$/.exec(last);
        if (!m) continue;
        quoted++;
        // `<…>` marks what varies: every fixed part of the message must be in the source.
        for (const part of m[1]!
          .split(/<[^>]*>|…/)
          .map((p) => p.trim())
          .filter((p) => p.length >= 8)) {
          if (!source.includes(part)) missing.push(`${m[1]}: '${part}' is not in src/`);
        }
      }
    }
    assert.ok(quoted >= 40, `only ${quoted} messages found in the runbook's tables`);
    assert.deepEqual(missing, []);
    console.log(`help.test: ${quoted} messages quoted by the restore runbook found in src/`);
  });

  it('is linked from the README and from the reference', () => {
    assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /\(docs\/restore-runbook\.md\)/);
    assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /\(docs\/reference\.md\)/);
    assert.match(readFileSync(REFERENCE, 'utf8'), /\(restore-runbook\.md\)/);
  });
});
