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
  return pino(options, config.destination ?? pino.destination({ dest: 1, sync: true }));
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
