import { DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, UnavailableError } from '@banger/runtime/errors';
import { validateVmId } from '../domain/vmspec/spec.js';

const DEFAULT_TIMEOUT_MS = 5000;
const MAX_TIMEOUT_MS = 30_000;

export interface ConnectGuestDeps {
  /** The address privhelper pinned when it fenced the VM; undefined for a VM it never fenced. */
  guestAddress(vmId: string): string | undefined;
  /** `/run/netns/<name>` when VMs live in a network namespace, else "". */
  readonly netnsPath: string;
  /** Opens the connection (sys.tcpConnectInNetns): resolves to the descriptor, rejects with an errno. */
  connect(netnsPath: string, ipv4: string, port: number, timeoutMs: number): Promise<number>;
}

export interface ConnectGuestRequestIn {
  vmId: string;
  port: number;
  timeoutMs: number;
}

/**
 * ConnectGuest: a TCP connection to one guest port of a VM privhelper fenced, opened where the
 * VMs live (banger's network namespace, which the unprivileged vmd cannot enter). The caller
 * names the VM and the port; the address is the one privhelper pinned for that VM, so the verb
 * reaches nothing else. Root never reads or writes a byte on the socket: it is handed over.
 */
export async function connectGuest(deps: ConnectGuestDeps, req: ConnectGuestRequestIn): Promise<{ fd: number; address: string }> {
  const vmId = validateVmId(req.vmId);
  if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) throw new InvalidArgumentError('port', `must be 1-65535, got ${req.port}`, 'BAD_PORT');
  if (!Number.isInteger(req.timeoutMs) || req.timeoutMs < 0 || req.timeoutMs > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError('timeout_ms', `must be 0-${MAX_TIMEOUT_MS}, got ${req.timeoutMs}`, 'BAD_TIMEOUT');
  }
  const ip = deps.guestAddress(vmId);
  if (ip === undefined) throw new FailedPreconditionError('VM_NOT_FENCED', `vm ${vmId} has no network fenced by privhelper (not running?)`, { fields: { vm_id: vmId } });
  const address = `${ip}:${req.port}`;
  const timeout = req.timeoutMs || DEFAULT_TIMEOUT_MS;
  try {
    return { fd: await deps.connect(deps.netnsPath, ip, req.port, timeout), address };
  } catch (err) {
    throw connectFailure(err, vmId, address, timeout);
  }
}

function connectFailure(err: unknown, vmId: string, address: string, timeoutMs: number): Error {
  const errno = (err as { errnoCode?: unknown }).errnoCode;
  const fields = { vm_id: vmId, address };
  if (errno === 'ECONNREFUSED') return new UnavailableError('GUEST_PORT_REFUSED', `nothing listens on ${address} in vm ${vmId}`, { fields, cause: err });
  if (errno === 'ETIMEDOUT') return new DeadlineExceededError('GUEST_CONNECT_TIMEOUT', `vm ${vmId} did not accept on ${address} within ${timeoutMs} ms`, { fields, cause: err });
  if (errno === 'EHOSTUNREACH' || errno === 'ENETUNREACH') return new UnavailableError('GUEST_UNREACHABLE', `vm ${vmId} at ${address} is unreachable`, { fields, cause: err });
  return err instanceof Error ? err : new Error(String(err));
}
