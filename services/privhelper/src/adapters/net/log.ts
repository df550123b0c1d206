import { pino } from 'pino';
import type { Logger } from 'pino';

/** Adapters log through the caller's logger; without one they stay silent. */
export function quietLogger(): Logger {
  return pino({ enabled: false });
}
