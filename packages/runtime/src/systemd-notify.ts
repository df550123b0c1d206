import { notifySystemd } from '@banger/sys';
import type { Logger } from 'pino';

/**
 * Tells systemd (Type=notify) where the daemon is: READY=1 once it serves, STATUS= lines for
 * `systemctl status`, STOPPING=1 when it drains. Without NOTIFY_SOCKET (started by hand, by
 * the tests) nothing is sent. A failed send is logged and never stops the daemon: systemd
 * then times the start out, which says more than a crash would.
 */
export function notifyService(logger: Logger, fields: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv = process.env): boolean {
  const message = Object.entries(fields)
    .map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)
    .join('\n');
  try {
    const sent = notifySystemd(message, env);
    if (sent) logger.debug({ notify: message }, 'service manager notified');
    return sent;
  } catch (err) {
    logger.warn({ err, notify_socket: env['NOTIFY_SOCKET'] }, 'service manager notification failed');
    return false;
  }
}
