import { Command, CommanderError, Option } from 'commander';
import { createRunContext, type RunContext } from '../context.js';
import { FleetError } from '../errors.js';
import { closeLog } from '../report/log.js';
import { defaultLogFile } from '../state-dir.js';
import type { Action, GlobalOptions, Wrap } from './command-env.js';
import { EXIT, exitCodeFor, reportedError } from './exit-codes.js';
import { registerInventoryCommands } from './inventory-command.js';
import { registerLabCommands } from './lab-command.js';
import { registerAuditCommands } from './audit-command.js';
import { registerBackupCommands } from './backup-commands.js';
import { registerDemoCommand } from './demo-command.js';
import { registerCompareCommand } from './compare-command.js';
import { registerDiffCommand } from './diff-command.js';
import { registerDrillCommand } from './drill-command.js';
import { registerPingCommand } from './ping-command.js';
import { registerPlaybookCommands } from './playbook-commands.js';
import { registerRestoreCommands } from './restore-commands.js';
import { registerRestoreEntriesCommand } from './restore-entries-command.js';
import { registerScheduleCommands } from './schedule-commands.js';
import { Output } from './output.js';
import { promptHidden } from './prompt.js';

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const program = globalProgram();
  const wrap = wrapFor(program, abort.signal, (code) => {
    exitCode = code;
  });
  registerInventoryCommands(program, wrap);
  registerLabCommands(program, wrap);
  registerPingCommand(program, wrap);
  registerPlaybookCommands(program, wrap);
  registerAuditCommands(program, wrap);
  registerRestoreCommands(program, wrap);
  registerRestoreEntriesCommand(program, wrap);
  registerBackupCommands(program, wrap);
  registerDiffCommand(program, wrap);
  registerCompareCommand(program, wrap);
  registerDrillCommand(program, wrap);
  registerScheduleCommands(program, wrap);
  registerDemoCommand(program, wrap);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // `--help` is success; help shown because a command is missing (commander.help) is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      // `ipa-fleet help [command]` asked for it; a bare `ipa-fleet` did not.
      if (err.code === 'commander.help' && program.args[0] === 'help') return EXIT.ok;
      return EXIT.usage;
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return exitCode;
}

/** The program with its global options and help texts; commands are added to it. */
function globalProgram(): Command {
  const program = new Command('ipa-fleet')
    .description('Back up, restore and audit a whole replicated FreeIPA / 389-DS deployment over SSH.')
    .option('-i, --inventory <file>', 'inventory YAML file (hosts, roles, credentials)')
    .option(
      '--limit <pattern>',
      'only these hosts: names, globs, groups, !exclusions, &intersections (comma separated)',
    )
    .addOption(
      new Option('-v, --verbose', 'more detail on stderr and in the log; repeat for more (-vvv)')
        .argParser((_v: string, prev: number) => prev + 1)
        .default(0),
    )
    .option('--json', 'machine-readable output on stdout', false)
    .option('--log-file <file>', 'log file (secrets masked; -v adds detail)', defaultLogFile())
    .option('--no-color', 'plain output without colours (also NO_COLOR=1; colours are only used on a terminal)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  program.addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 failure, 2 usage or inventory error, 3 partial (some hosts failed),
            4 host unreachable, 11 lock held, 12 authentication or decryption failed.
Log file:   ${defaultLogFile()} unless --log-file is given.`,
  );
  // After the help of every subcommand: the global options apply to all of them.
  program.addHelpText('afterAll', ({ command }) =>
    command === program
      ? ''
      : `
Global options, before or after the command: -i, --inventory <file>; --limit <pattern>;
-v, --verbose; --json; --log-file <file>; --no-color (described by ipa-fleet --help).`,
  );
  return program;
}

/** Runs each command action with its environment; a thrown error becomes one line and its exit code. */
function wrapFor(program: Command, signal: AbortSignal, setExit: (code: number) => void): Wrap {
  return (action) =>
    async (...args: unknown[]) => {
      const raw = program.opts() as GlobalOptions;
      const globals: GlobalOptions = {
        ...raw,
        color: raw.color && !process.env.NO_COLOR && process.stdout.isTTY === true,
      };
      const out = new Output({ json: globals.json, color: globals.color });
      const ctx = createRunContext({
        logFile: globals.logFile,
        verbosity: globals.verbose,
        echo: process.stderr,
        prompt: (question) => promptHidden(question),
        signal,
        // With -v the log's echo shows warnings already.
        ...(globals.verbose === 0 ? { onWarning: (m: string) => out.warn(m) } : {}),
      });
      ctx.log.info(`ipa-fleet ${program.args.join(' ')}`.trim());
      try {
        // commander passes (...arguments, options, command); actions take the arguments and options.
        const result = await (action as Action<unknown[]>)({ globals, out, ctx }, ...args.slice(0, -1));
        setExit(typeof result === 'number' ? result : EXIT.ok);
      } catch (err) {
        setExit(exitCodeFor(err));
        report(err, { out, ctx, logFile: globals.logFile });
      } finally {
        await closeLog(ctx.log);
      }
    };
}

function report(err: unknown, { out, ctx, logFile }: { out: Output; ctx: RunContext; logFile: string }): void {
  const reported = reportedError(err);
  const message = ctx.redactor.mask(reported instanceof Error ? reported.message : String(reported));
  if (reported instanceof FleetError) {
    out.error(message);
    ctx.log.error(message, { kind: reported.kind, host: reported.host });
  } else {
    // A bug, not a user mistake: one line on screen, the stack in the log.
    out.error(`${message} (internal error; details in ${logFile})`);
    ctx.log.error(ctx.redactor.mask((reported as Error)?.stack ?? message));
  }
}
