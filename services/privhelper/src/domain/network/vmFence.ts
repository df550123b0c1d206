import type { Ipv4Cidr } from './cidr.js';
import { cidrContains, gatewayOf, ipv4ToString, parseIpv4 } from './cidr.js';
import type { EgressPolicy } from './egressPolicy.js';
import { invalidArg } from './errors.js';

/** One VM's network identity and policy, pinned to the tap privhelper gave it. */
export interface VmFence {
  readonly vmId: string;
  readonly tap: string;
  /** Dotted quad inside the bridge network. */
  readonly ipv4: string;
  /** Lowercase aa:bb:cc:dd:ee:ff. */
  readonly mac: string;
  readonly egress: EgressPolicy;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A guest address must be a host of the bridge network other than the gateway. */
export function validateGuestIpv4(v: string, cidr: Ipv4Cidr, field = 'ipv4'): string {
  const addr = parseIpv4(v, field);
  if (!cidrContains(cidr, addr)) throw invalidArg(field, 'IP_OUTSIDE_NETWORK', `${v} is not inside the VM network ${cidr.text}`);
  if (addr === cidr.network || addr === cidr.broadcast) throw invalidArg(field, 'BAD_GUEST_IP', `${v} is the network or broadcast address of ${cidr.text}`);
  if (addr === gatewayOf(cidr)) throw invalidArg(field, 'BAD_GUEST_IP', `${v} is the gateway`);
  return ipv4ToString(addr);
}

/** Unicast and locally administered (the bits vmd's macForVm sets), so it cannot collide with real hardware. */
export function validateGuestMac(v: string, field = 'mac'): string {
  const s = v.toLowerCase();
  if (!MAC_RE.test(s)) throw invalidArg(field, 'BAD_MAC', 'must look like aa:bb:cc:dd:ee:ff');
  const first = parseInt(s.slice(0, 2), 16);
  if ((first & 1) !== 0) throw invalidArg(field, 'BAD_MAC', `${v} is a multicast address`);
  if ((first & 2) === 0) throw invalidArg(field, 'BAD_MAC', `${v} is not locally administered (set bit 1 of the first octet)`);
  return s;
}
