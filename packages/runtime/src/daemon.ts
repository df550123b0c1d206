import type { Logger } from 'pino';

export interface RunningDaemon {
  /** Drains in-flight work within the grace period and releases resources. */
  stop(graceMs: number): Promise<void>;
}

export interface DaemonOptions {
  name: string;
  logger: Logger;
  /** How long SIGTERM waits for in-flight calls before cancelling them. */
  drainMs: number;
  start(): Promise<RunningDaemon>;
}

/**
 * Process lifecycle shared by the three daemons: start, then on SIGTERM/SIGINT drain with a
 * deadline and exit. A second signal exits at once. Crashes are logged as JSON before exit.
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { logger } = options;
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(70);
  });
  let daemon: RunningDaemon;
  try {
    daemon = await options.start();
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    process.exitCode = 1;
    return;
  }
  logger.info({ pid: process.pid }, 'daemon started');
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, drain_ms: options.drainMs }, 'shutdown requested');
    daemon.stop(options.drainMs).then(
      () => {
        logger.info('daemon stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
