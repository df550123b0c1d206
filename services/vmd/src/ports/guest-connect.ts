import type { Socket } from 'node:net';

/**
 * A TCP connection to a port of a running VM's guest, wherever the VMs live (on the host's
 * bridge or in banger's network namespace, which vmd cannot enter). The socket is the caller's:
 * it must destroy it.
 */
export interface GuestConnector {
  connect(vmId: string, port: number, opts: { opId: string; timeoutMs?: number }): Promise<Socket>;
}
