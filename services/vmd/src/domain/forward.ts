import { InvalidArgumentError } from '@banger/runtime/errors';

/**
 * A VM's port forwards as the user set them: host loopback ports vmd relays to guest ports
 * (`vm forward`), and whether the guest's TCP listeners are forwarded automatically (lima's
 * model: the same port number on 127.0.0.1 when it is free). Kept with the VM; the forwards
 * themselves run only while the VM runs.
 */
export interface ForwardSettings {
  auto: boolean;
  ports: PortForwardSpec[];
}

export interface PortForwardSpec {
  guestPort: number;
  hostPort: number;
}

/** The only host address a forward listens on: a forward never exposes a guest beyond this host. */
export const FORWARD_HOST = '127.0.0.1';
/** vmd is unprivileged: it cannot listen below 1024. */
export const MIN_HOST_PORT = 1024;
/** Bounds the listeners one VM can make vmd hold. */
export const MAX_FORWARDS = 32;

export const DEFAULT_FORWARDS: ForwardSettings = { auto: true, ports: [] };

export function validateGuestPort(v: number, field = 'guest_port'): number {
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw new InvalidArgumentError(field, `must be 1-65535, got ${v}`, 'BAD_PORT');
  return v;
}

export function validateHostPort(v: number, field = 'host_port'): number {
  if (!Number.isInteger(v) || v < MIN_HOST_PORT || v > 65535) throw new InvalidArgumentError(field, `must be ${MIN_HOST_PORT}-65535 (vmd cannot listen on privileged ports), got ${v}`, 'BAD_PORT');
  return v;
}

export function validateHostAddress(v: string, field = 'host_address'): string {
  if (v !== '' && v !== FORWARD_HOST) throw new InvalidArgumentError(field, `must be ${FORWARD_HOST} (forwards listen on host loopback only), got ${JSON.stringify(v)}`, 'FORWARD_ADDRESS_REFUSED');
  return FORWARD_HOST;
}

/** Adds (or replaces, for the same host port) one forward; the bound is checked here. */
export function withForward(s: ForwardSettings, add: PortForwardSpec): ForwardSettings {
  const ports = s.ports.filter((p) => p.hostPort !== add.hostPort);
  if (ports.length >= MAX_FORWARDS) throw new InvalidArgumentError('host_port', `a VM has at most ${MAX_FORWARDS} forwards`, 'TOO_MANY_FORWARDS');
  return { ...s, ports: [...ports, add].sort((a, b) => a.hostPort - b.hostPort) };
}

/** The stored JSON back to settings; anything malformed reads as the default (rows from before forwards). */
export function forwardsFromJson(v: unknown): ForwardSettings {
  if (typeof v !== 'object' || v === null) return { ...DEFAULT_FORWARDS, ports: [] };
  const o = v as Record<string, unknown>;
  const ports = Array.isArray(o['ports'])
    ? o['ports'].flatMap((p: unknown) => {
        const q = p as Record<string, unknown>;
        return typeof q?.['guestPort'] === 'number' && typeof q['hostPort'] === 'number' ? [{ guestPort: q['guestPort'], hostPort: q['hostPort'] }] : [];
      })
    : [];
  return { auto: o['auto'] !== false, ports };
}
