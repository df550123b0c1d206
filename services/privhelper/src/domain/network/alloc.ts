import { createHash } from 'node:crypto';
import { NetError } from './errors.js';
import { gatewayOf, ipv4ToString, parseIpv4 } from './cidr.js';
import type { Ipv4Cidr } from './cidr.js';
import { validateVmId } from './names.js';

function hash32(label: string, vmId: string): number {
  return createHash('sha256').update(`${label}\0${vmId}`).digest().readUInt32BE(0);
}

/**
 * Picks the VM's IPv4 deterministically: a stable hash of its id chooses a start slot and
 * linear probing skips addresses in use, so the same VM gets the same address after any
 * restart as long as its neighbours are unchanged. Never the network, gateway or broadcast.
 * `inUse` holds dotted-quad strings of addresses other VMs hold.
 */
export function allocateIpv4(cidr: Ipv4Cidr, vmId: string, inUse: ReadonlySet<string>): string {
  validateVmId(vmId);
  const first = gatewayOf(cidr) + 1;
  const count = cidr.broadcast - first;
  if (count <= 0) throw new NetError('RESOURCE_EXHAUSTED', 'IP_POOL_EXHAUSTED', `${cidr.text} has no guest addresses`, { cidr: cidr.text });
  const start = hash32('ipv4', vmId) % count;
  for (let i = 0; i < count; i++) {
    const addr = ipv4ToString((first + ((start + i) % count)) >>> 0);
    if (!inUse.has(addr)) return addr;
  }
  throw new NetError('RESOURCE_EXHAUSTED', 'IP_POOL_EXHAUSTED', `every guest address of ${cidr.text} is in use`, { cidr: cidr.text });
}

/** True when ADDR may be handed to a guest in CIDR (inside, and not network/gateway/broadcast). */
export function isGuestAddress(cidr: Ipv4Cidr, addr: string): boolean {
  let n: number;
  try {
    n = parseIpv4(addr);
  } catch {
    return false;
  }
  return n > gatewayOf(cidr) && n < cidr.broadcast;
}

/**
 * A stable MAC from the VM id: locally administered (bit 1 of the first octet) and unicast
 * (bit 0 clear), first octet fixed at 0x02 so banger's guests are recognisable in neighbour tables.
 */
export function macForVm(vmId: string): string {
  validateVmId(vmId);
  const h = createHash('sha256').update(`mac\0${vmId}`).digest();
  const bytes = [0x02, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, h[3] ?? 0, h[4] ?? 0];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
