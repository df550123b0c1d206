import { mapped, SysError } from './errors.js';
import { requireAddon } from './native.js';

/**
 * Sends one datagram to an AF_UNIX SOCK_DGRAM socket, as sd_notify(3) does: `socketPath` is a
 * filesystem path or, starting with '@', an abstract name. Non-blocking: a receiver whose
 * queue is full answers WOULD_BLOCK.
 */
export function sdNotify(socketPath: string, message: string | Buffer): void {
  mapped('notify', socketPath, () => requireAddon().sdNotify(socketPath, typeof message === 'string' ? Buffer.from(message) : message));
}

/**
 * Tells systemd about readiness or status ("READY=1", "STATUS=...", "STOPPING=1") when it
 * started us with Type=notify; false when NOTIFY_SOCKET is unset (not under systemd).
 */
export function notifySystemd(message: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const socketPath = env['NOTIFY_SOCKET'];
  if (socketPath === undefined || socketPath === '') return false;
  if (!socketPath.startsWith('/') && !socketPath.startsWith('@')) {
    throw new SysError('FAILED_PRECONDITION', 'UNSUPPORTED_NOTIFY_SOCKET', `NOTIFY_SOCKET=${socketPath} is neither a path nor an abstract name`, {
      path: socketPath,
    });
  }
  sdNotify(socketPath, message);
  return true;
}
