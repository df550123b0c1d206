import type { Logger } from 'pino';
import { notifyService } from './systemd-notify.js';

export interface RunningDaemon {
  /** Drains in-flight work within the grace period and releases resources. */
  stop(graceMs: number): Promise<void>;
  /** One line for `systemctl status` once serving, e.g. `serving on /run/banger/vmd.sock`. */
  readonly status?: string;
}

export interface DaemonOptions {
  name: string;
  logger: Logger;
  /** How long SIGTERM waits for in-flight calls before cancelling them. */
  drainMs: number;
  start(): Promise<RunningDaemon>;
}

/**
 * Process lifecycle shared by the three daemons: start, tell systemd READY=1, then on
 * SIGTERM/SIGINT send STOPPING=1, drain with a deadline and exit. A second signal exits at
 * once. Crashes are logged as JSON before exit.
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
  notifyService(logger, { READY: '1', STATUS: daemon.status ?? 'serving' });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, drain_ms: options.drainMs }, 'shutdown requested');
    notifyService(logger, { STOPPING: '1', STATUS: `draining (up to ${options.drainMs} ms)` });
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
