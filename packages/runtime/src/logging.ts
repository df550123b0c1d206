import { openSync } from 'node:fs';
import { pino, stdTimeFunctions, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';
import { currentContext } from './context.js';

export type { Logger } from 'pino';

export interface LoggerConfig {
  /** `vmd`, `imaged`, `privhelper` or `cli`: becomes the Loki `service` label. */
  service: string;
  level?: string;
  /** Pretty-print (for a terminal). Default: when stdout is a TTY. */
  pretty?: boolean;
  /** Where JSON lines go (tests capture them). Default: stdout. */
  destination?: NodeJS.WritableStream;
}

/** How long a log line may wait in the buffer before it is written (Loki scrapes in seconds). */
export const LOG_FLUSH_MS = 100;

/**
 * Where a daemon's JSON lines go (fd 1 by default, or a file). Lines are buffered and written
 * together once 4 KiB have gathered or every LOG_FLUSH_MS, so no RPC waits on a write(2) and
 * a busy daemon makes one write per batch, not per line. pino flushes what is buffered
 * synchronously on process exit (including after an uncaught exception); only a SIGKILL can
 * lose the last LOG_FLUSH_MS of lines.
 */
export function logDestination(dest: number | string = 1): NodeJS.WritableStream {
  // A path is opened here, synchronously: a destination still opening at exit cannot flush.
  const fd = typeof dest === 'number' ? dest : openSync(dest, 'a', 0o640);
  return pino.destination({ fd, sync: false, minLength: 4096, periodicFlush: LOG_FLUSH_MS }) as unknown as NodeJS.WritableStream;
}

/**
 * All three daemons log the same JSON shape: `time` (ISO), `level` (label), `service`,
 * `msg`, and on request paths `op_id`, `method`, `code`, `duration_ms`.
 */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level ?? process.env['LOG_LEVEL'] ?? 'info',
    base: { service: config.service },
    messageKey: 'msg',
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.err },
  };
  const usePretty = config.pretty ?? (config.destination === undefined && process.stdout.isTTY === true);
  if (usePretty) return pino(options, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l' }));
  return pino(options, config.destination ?? logDestination());
}

let rootLogger: Logger | undefined;

/** Set once at daemon start-up; `log()` derives request-bound children from it. */
export function setRootLogger(logger: Logger): void {
  rootLogger = logger;
}

export function getRootLogger(): Logger {
  rootLogger ??= createLogger({ service: 'banger' });
  return rootLogger;
}

/** The logger for the current request (carries op_id and method), or the root logger outside one. */
export function log(): Logger {
  return currentContext()?.logger ?? getRootLogger();
}
