import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import winston from 'winston';
import type { Redactor } from './redact.js';

export type Logger = winston.Logger;

const LEVEL_BY_VERBOSITY = ['info', 'verbose', 'debug', 'silly'] as const;

export interface LogOptions {
  file: string;
  /** Count of -v flags. */
  verbosity: number;
  redactor: Redactor;
  /** With -v, log lines are echoed here too (stderr), so stdout stays the human/JSON output. */
  echo?: NodeJS.WritableStream | undefined;
}

/**
 * The log file. Every line passes through the run's redactor, so a secret registered
 * with it can never reach the file or the echo, whatever the verbosity.
 */
export function createLog(opts: LogOptions): Logger {
  mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
  const level = LEVEL_BY_VERBOSITY[Math.min(opts.verbosity, LEVEL_BY_VERBOSITY.length - 1)]!;
  const mask = winston.format((info) => {
    info.message = opts.redactor.mask(String(info.message));
    for (const key of Object.keys(info)) {
      if (key !== 'message' && key !== 'level')
        (info as Record<string, unknown>)[key] = opts.redactor.maskValue(info[key]);
    }
    return info;
  });
  const transports: winston.transport[] = [
    new winston.transports.File({
      filename: opts.file,
      level: level === 'info' ? 'verbose' : level, // the file always keeps a little more than the screen
      options: { flags: 'a', mode: 0o600 },
      format: winston.format.combine(mask(), winston.format.timestamp(), winston.format.json()),
    }),
  ];
  if (opts.echo && opts.verbosity > 0) {
    transports.push(
      new winston.transports.Stream({
        stream: opts.echo,
        level,
        format: winston.format.combine(
          mask(),
          winston.format.printf((i) => `[${i.level}] ${String(i.message)}`),
        ),
      }),
    );
  }
  const logger = winston.createLogger({ level: 'silly', transports, exitOnError: false });
  // A late line (an ssh2 error after the run ended, say) must never crash the process.
  logger.on('error', () => undefined);
  return logger;
}

/** Flushes and closes the log file (winston writes asynchronously). */
export async function closeLog(log: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    log.on('finish', () => resolve());
    log.end();
  });
}
