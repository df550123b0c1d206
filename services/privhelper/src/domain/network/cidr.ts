import { invalidArg } from './errors.js';

/** Smallest network whose usable hosts minus the gateway still leave room for guests (/29: 6 hosts). */
export const MAX_PREFIX = 29;
/** Larger than a /8 would swallow whole address classes of the host's view. */
export const MIN_PREFIX = 8;

/** A validated IPv4 network. `network` and addresses are unsigned 32-bit integers. */
export interface Ipv4Cidr {
  readonly network: number;
  readonly prefix: number;
  readonly broadcast: number;
  /** Canonical "a.b.c.d/n". */
  readonly text: string;
}

const OCTET = '(0|[1-9][0-9]{0,2})';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const CIDR_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}/(0|[1-9][0-9]?)$`);

/** Ranges a guest network must never overlap: "this network", loopback, link-local, multicast and reserved. */
const FORBIDDEN: readonly (readonly [number, number, string])[] = [
  [0x00000000, 8, '0.0.0.0/8'],
  [0x7f000000, 8, '127.0.0.0/8'],
  [0xa9fe0000, 16, '169.254.0.0/16'],
  [0xe0000000, 3, '224.0.0.0/3'],
];

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function octets(m: RegExpExecArray): number[] | undefined {
  const out = [m[1], m[2], m[3], m[4]].map((s) => Number(s));
  return out.every((n) => n <= 255) ? out : undefined;
}

function toInt(o: readonly number[]): number {
  return (((o[0] ?? 0) << 24) | ((o[1] ?? 0) << 16) | ((o[2] ?? 0) << 8) | (o[3] ?? 0)) >>> 0;
}

export function ipv4ToString(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Strict dotted quad: no leading zeros (which some parsers read as octal), no spaces. */
export function parseIpv4(v: unknown, field = 'ipv4'): number {
  if (typeof v !== 'string') throw invalidArg(field, 'BAD_IPV4', 'must be a string');
  const m = IPV4_RE.exec(v);
  const o = m ? octets(m) : undefined;
  if (!o) throw invalidArg(field, 'BAD_IPV4', 'must be a dotted-quad IPv4 address');
  return toInt(o);
}

/**
 * Parses a guest network. Host bits set (10.0.0.5/24) are refused rather than silently
 * masked: the caller almost certainly meant a gateway address, and guessing hides config typos.
 */
export function parseCidr(v: unknown, field = 'cidr'): Ipv4Cidr {
  const bad = (msg: string) => invalidArg(field, 'BAD_CIDR', msg);
  if (typeof v !== 'string') throw bad('must be a string');
  if (v.length > 18) throw bad('must look like a.b.c.d/n');
  const m = CIDR_RE.exec(v);
  const o = m ? octets(m) : undefined;
  if (!m || !o) throw bad('must look like a.b.c.d/n');
  const prefix = Number(m[5]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) throw bad(`prefix must be /${MIN_PREFIX}../${MAX_PREFIX}`);
  const addr = toInt(o);
  const network = (addr & mask(prefix)) >>> 0;
  if (network !== addr) throw bad(`host bits set; did you mean ${ipv4ToString(network)}/${prefix}?`);
  for (const [net, len, name] of FORBIDDEN) {
    const common = Math.min(len, prefix);
    if (((network & mask(common)) >>> 0) === ((net & mask(common)) >>> 0)) throw bad(`must not overlap ${name}`);
  }
  const broadcast = (network | (~mask(prefix) >>> 0)) >>> 0;
  return { network, prefix, broadcast, text: `${ipv4ToString(network)}/${prefix}` };
}

/** Gateway lives on the bridge: the first host of the network. */
export function gatewayOf(c: Ipv4Cidr): number {
  return (c.network + 1) >>> 0;
}

/** "gw/prefix", the form `ip addr` and EnsureBridge use. */
export function gatewayCidr(c: Ipv4Cidr): string {
  return `${ipv4ToString(gatewayOf(c))}/${c.prefix}`;
}

/** Parses "a.b.c.d/n" where the address is the gateway (host bits set by design). */
export function parseGatewayCidr(v: unknown, field = 'gateway_cidr'): { cidr: Ipv4Cidr; gateway: number } {
  if (typeof v !== 'string') throw invalidArg(field, 'BAD_CIDR', 'must be a string');
  const slash = v.indexOf('/');
  if (slash < 0) throw invalidArg(field, 'BAD_CIDR', 'must look like a.b.c.d/n');
  let addr: number;
  try {
    addr = parseIpv4(v.slice(0, slash), field);
  } catch {
    throw invalidArg(field, 'BAD_CIDR', 'must look like a.b.c.d/n');
  }
  const p = v.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(p)) throw invalidArg(field, 'BAD_CIDR', 'must look like a.b.c.d/n');
  const prefix = Number(p);
  const network = prefix >= 0 && prefix <= 32 ? (addr & mask(prefix)) >>> 0 : 0;
  const cidr = parseCidr(`${ipv4ToString(network)}/${prefix}`, field);
  if (addr === cidr.network || addr === cidr.broadcast) throw invalidArg(field, 'BAD_CIDR', 'gateway must be a host address');
  return { cidr, gateway: addr };
}

export function cidrContains(c: Ipv4Cidr, addr: number): boolean {
  return ((addr & mask(c.prefix)) >>> 0) === c.network;
}
