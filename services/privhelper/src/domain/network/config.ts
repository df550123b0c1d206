import { gatewayCidr, ipv4ToString, gatewayOf, parseCidr, parseIpv4 } from './cidr.js';
import type { Ipv4Cidr } from './cidr.js';
import { invalidArg } from './errors.js';
import { TAP_PREFIX, validateBridgeName, validateNetnsName, validateTapPrefix, validateUplinkName } from './names.js';
import { validateZone } from './dnsRecords.js';

/** Raw network settings as they come from the helper's config file (all optional but the CIDR). */
export interface NetworkConfigInput {
  readonly netns?: unknown;
  readonly bridge?: unknown;
  readonly cidr?: unknown;
  readonly egressInterface?: unknown;
  readonly tapPrefix?: unknown;
  readonly tapOwnerUid?: unknown;
  readonly tapOwnerGid?: unknown;
  readonly tapWarmSize?: unknown;
  readonly tapMaxFree?: unknown;
  readonly tapMax?: unknown;
  readonly dnsPort?: unknown;
  readonly dnsZone?: unknown;
  readonly dnsTtl?: unknown;
  /** "a.b.c.d[:port]" to forward guests' other names to; undefined or "none" for no forwarding. */
  readonly dnsUpstream?: unknown;
  readonly dnsLearnTtlMin?: unknown;
  readonly dnsLearnTtlMax?: unknown;
  readonly manageIpForward?: unknown;
}

/** Validated network settings: everything the adapters need, checked once at startup. */
export interface NetworkConfig {
  readonly netns: string | undefined;
  readonly bridge: string;
  readonly cidr: Ipv4Cidr;
  /** "a.b.c.d/n" for EnsureBridge. */
  readonly gatewayCidr: string;
  readonly gateway: string;
  readonly egressInterface: string | undefined;
  readonly tapPrefix: string;
  readonly tapOwnerUid: number;
  readonly tapOwnerGid: number | undefined;
  readonly tapWarmSize: number;
  readonly tapMaxFree: number;
  readonly tapMax: number;
  readonly dns: {
    readonly address: string;
    readonly port: number;
    readonly zone: string;
    readonly ttl: number;
    readonly upstream: { readonly host: string; readonly port: number } | undefined;
    /** Bounds on how long an address learned for a VM's listed hostname stays open, seconds. */
    readonly learnTtlMin: number;
    readonly learnTtlMax: number;
  };
  readonly manageIpForward: boolean;
}

export const DEFAULT_BRIDGE = 'bgr-br0';

function int(field: string, v: unknown, dflt: number | undefined, min: number, max: number): number {
  const n = v ?? dflt;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) throw invalidArg(field, 'OUT_OF_RANGE', `must be an integer ${min}-${max}`);
  return n;
}

export function validateNetworkConfig(c: NetworkConfigInput): NetworkConfig {
  const cidr = parseCidr(c.cidr, 'network.cidr');
  const tapWarmSize = int('network.tap_warm_size', c.tapWarmSize, 2, 0, 256);
  const tapMax = int('network.tap_max', c.tapMax, 1024, 1, 100_000);
  if (c.manageIpForward !== undefined && typeof c.manageIpForward !== 'boolean') throw invalidArg('network.manage_ip_forward', 'BAD_FIELD', 'must be a boolean');
  return {
    netns: c.netns === undefined ? undefined : validateNetnsName(c.netns, 'network.netns'),
    bridge: validateBridgeName(c.bridge ?? DEFAULT_BRIDGE, 'network.bridge'),
    cidr,
    gatewayCidr: gatewayCidr(cidr),
    gateway: ipv4ToString(gatewayOf(cidr)),
    egressInterface: c.egressInterface === undefined || c.egressInterface === '' ? undefined : validateUplinkName(c.egressInterface, 'network.egress_interface'),
    tapPrefix: validateTapPrefix(c.tapPrefix ?? TAP_PREFIX, 'network.tap_prefix'),
    tapOwnerUid: int('network.tap_owner_uid', c.tapOwnerUid, undefined, 0, 0xfffffffe),
    tapOwnerGid: c.tapOwnerGid === undefined ? undefined : int('network.tap_owner_gid', c.tapOwnerGid, undefined, 0, 0xfffffffe),
    tapWarmSize,
    tapMaxFree: int('network.tap_max_free', c.tapMaxFree, tapWarmSize, 0, tapMax),
    tapMax,
    dns: {
      address: ipv4ToString(gatewayOf(cidr)),
      port: int('network.dns_port', c.dnsPort, 53, 1, 65_535),
      zone: validateZone(c.dnsZone ?? 'vm', 'network.dns_zone'),
      ttl: int('network.dns_ttl', c.dnsTtl, 5, 0, 86_400),
      upstream: upstreamOf(c.dnsUpstream),
      learnTtlMin: int('network.dns_learn_ttl_min', c.dnsLearnTtlMin, 30, 1, 86_400),
      learnTtlMax: int('network.dns_learn_ttl_max', c.dnsLearnTtlMax, 3600, 1, 86_400),
    },
    manageIpForward: c.manageIpForward === true,
  };
}

function upstreamOf(v: unknown): { host: string; port: number } | undefined {
  if (v === undefined || v === 'none') return undefined;
  if (typeof v !== 'string') throw invalidArg('network.dns_upstream', 'BAD_FIELD', 'must be a string');
  const [host = '', port = '53', extra] = v.split(':');
  if (extra !== undefined || !/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65_535) throw invalidArg('network.dns_upstream', 'BAD_FIELD', 'must be a.b.c.d or a.b.c.d:port');
  return { host: ipv4ToString(parseIpv4(host, 'network.dns_upstream')), port: Number(port) };
}
