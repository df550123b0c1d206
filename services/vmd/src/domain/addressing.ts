import { createHash, randomBytes } from 'node:crypto';
import { InvalidArgumentError, ResourceExhaustedError } from '@banger/runtime/errors';
import { validateVmId } from '@banger/runtime/ids';

export interface Subnet {
  cidr: string;
  network: number;
  prefix: number;
  gateway: string;
  broadcast: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new InvalidArgumentError('ipv4', `not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The VM network: the first host address is the bridge's gateway, VMs get the rest. */
export function parseSubnet(cidr: string): Subnet {
  const [addr, len] = cidr.split('/');
  const prefix = Number(len);
  if (addr === undefined || !Number.isInteger(prefix) || prefix < 8 || prefix > 29) throw new InvalidArgumentError('network.cidr', `expected a.b.c.d/8..29, got ${cidr}`, 'BAD_CIDR');
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (ipToInt(addr) & mask) >>> 0;
  const broadcast = (network | (~mask >>> 0)) >>> 0;
  return { cidr: `${intToIp(network)}/${prefix}`, network, prefix, gateway: intToIp(network + 1), broadcast };
}

/** The lowest free guest address: deterministic, and reused once a VM is deleted. */
export function allocateAddress(subnet: Subnet, used: ReadonlySet<string>): string {
  for (let n = subnet.network + 2; n < subnet.broadcast; n++) {
    const ip = intToIp(n);
    if (!used.has(ip)) return ip;
  }
  throw new ResourceExhaustedError('IP_POOL_EXHAUSTED', `no free address left in ${subnet.cidr}`, { fields: { cidr: subnet.cidr } });
}

/** Locally administered unicast MAC, stable for a VM id. */
export function macForVm(vmId: string): string {
  const h = createHash('sha256').update(vmId).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** VM ids: 16 lowercase hex characters; users may address a VM by any unique prefix. */
export function newVmId(): string {
  return validateVmId(randomBytes(8).toString('hex'));
}

