import { sysErrorFrom } from './errors.js';
import { requireAddon } from './native.js';

/**
 * A TCP connection to `ipv4:port` opened from inside the network namespace at `netnsPath`
 * (e.g. `/run/netns/banger`; "" for the caller's own), for a process that must reach a network
 * others cannot enter (needs CAP_SYS_ADMIN for another namespace). Resolves to the connected,
 * non-blocking, close-on-exec descriptor, which the caller owns; nothing is read from it. A
 * refused or timed-out connect rejects with ECONNREFUSED / ETIMEDOUT (as SysError).
 */
export async function tcpConnectInNetns(netnsPath: string, ipv4: string, port: number, timeoutMs: number): Promise<number> {
  try {
    return await requireAddon().tcpConnectInNetns(netnsPath, ipv4, port, timeoutMs);
  } catch (err) {
    throw sysErrorFrom(err, 'connect', netnsPath || undefined);
  }
}
