import type { PeerCredentials } from '../context.js';

/**
 * grpc-js does not expose the socket behind a call, and reports Unix peers as "unknown".
 * serveUnix() therefore stamps each accepted socket's `remoteAddress` with the kernel's
 * SO_PEERCRED answer in this form; the interceptor reads it back per call through
 * getConnectionInfo(). A client cannot forge it: it is set on our side of the socket.
 */
const PREFIX = 'banger-peer:';

export function formatPeerAddress(cred: PeerCredentials): string {
  return `${PREFIX}pid=${cred.pid},uid=${cred.uid},gid=${cred.gid}`;
}

export function parsePeerAddress(address: string | undefined): PeerCredentials | undefined {
  if (address === undefined || !address.startsWith(PREFIX)) return undefined;
  const m = /^pid=(\d+),uid=(\d+),gid=(\d+)$/.exec(address.slice(PREFIX.length));
  if (!m) return undefined;
  return { pid: Number(m[1]), uid: Number(m[2]), gid: Number(m[3]) };
}
