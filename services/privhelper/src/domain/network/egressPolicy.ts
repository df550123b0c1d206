import { ipv4ToString, parseIpv4 } from './cidr.js';
import { invalidArg } from './errors.js';

/**
 * What a guest may reach beyond banger's DNS. `allow`: the internet, still fenced off from
 * private, link-local, CGNAT, multicast, reserved and host addresses; `deny`: nothing;
 * `list`: only the listed networks and the addresses the listed hostnames resolve to.
 */
export type EgressMode = 'allow' | 'deny' | 'list';

export interface EgressPolicy {
  readonly mode: EgressMode;
  /** Canonical "a.b.c.d/n" networks (list mode only). */
  readonly cidrs: readonly string[];
  /** Lowercase names without a trailing dot (list mode only). */
  readonly hostnames: readonly string[];
}

/** Bound on a list policy, so one VM cannot grow banger's ruleset or DNS work without limit. */
export const MAX_EGRESS_ENTRIES = 64;

export const ALLOW_ALL: EgressPolicy = { mode: 'allow', cidrs: [], hostnames: [] };

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Any IPv4 network or single address ("a.b.c.d" is a /32); host bits set are refused. */
export function parseEgressCidr(v: string, field: string): string {
  const slash = v.indexOf('/');
  const addrText = slash < 0 ? v : v.slice(0, slash);
  const prefixText = slash < 0 ? '32' : v.slice(slash + 1);
  let addr: number;
  try {
    addr = parseIpv4(addrText, field);
  } catch {
    throw invalidArg(field, 'BAD_CIDR', `${JSON.stringify(v)} is not an IPv4 address or a.b.c.d/n network`);
  }
  if (!/^(0|[1-9][0-9]?)$/.test(prefixText) || Number(prefixText) > 32) throw invalidArg(field, 'BAD_CIDR', `${JSON.stringify(v)}: the prefix must be 0-32`);
  const prefix = Number(prefixText);
  const net = (addr & mask(prefix)) >>> 0;
  if (net !== addr) throw invalidArg(field, 'BAD_CIDR', `${JSON.stringify(v)} has host bits set; did you mean ${ipv4ToString(net)}/${prefix}?`);
  return `${ipv4ToString(net)}/${prefix}`;
}

/** A DNS name of at least two labels; wildcards and the `.vm` zone are refused (guests never reach each other). */
export function parseEgressHostname(v: string, field: string, zone = 'vm'): string {
  const s = v.toLowerCase().replace(/\.$/, '');
  const labels = s.split('.');
  if (s.length === 0 || s.length > 253 || labels.length < 2 || !labels.every((l) => HOST_LABEL.test(l)) || /^[0-9]+$/.test(labels[labels.length - 1] ?? '')) {
    throw invalidArg(field, 'BAD_HOSTNAME', `${JSON.stringify(v)} is not a hostname (labels of [a-z0-9-], at least two, no wildcards)`);
  }
  if (labels[labels.length - 1] === zone) throw invalidArg(field, 'BAD_HOSTNAME', `${JSON.stringify(v)} is in banger's .${zone} zone; VM-to-VM traffic is never allowed`);
  return s;
}

export interface EgressPolicyInput {
  readonly mode: string;
  readonly cidrs: readonly string[];
  readonly hostnames: readonly string[];
}

/** Validates a policy from the wire; every refusal names the field (`egress.cidrs[2]` and so on). */
export function validateEgressPolicy(p: EgressPolicyInput, field = 'egress'): EgressPolicy {
  if (p.mode !== 'allow' && p.mode !== 'deny' && p.mode !== 'list') throw invalidArg(`${field}.mode`, 'BAD_EGRESS_MODE', 'must be allow, deny or list');
  if (p.mode !== 'list') {
    if (p.cidrs.length > 0) throw invalidArg(`${field}.cidrs`, 'BAD_EGRESS_POLICY', `must be empty for mode ${p.mode}`);
    if (p.hostnames.length > 0) throw invalidArg(`${field}.hostnames`, 'BAD_EGRESS_POLICY', `must be empty for mode ${p.mode}`);
    return { mode: p.mode, cidrs: [], hostnames: [] };
  }
  const total = p.cidrs.length + p.hostnames.length;
  if (total === 0) throw invalidArg(field, 'BAD_EGRESS_POLICY', 'a list policy needs at least one CIDR or hostname (use deny for none)');
  if (total > MAX_EGRESS_ENTRIES) throw invalidArg(field, 'TOO_MANY_EGRESS_ENTRIES', `at most ${MAX_EGRESS_ENTRIES} CIDRs and hostnames, got ${total}`);
  const cidrs = [...new Set(p.cidrs.map((c, i) => parseEgressCidr(c, `${field}.cidrs[${i}]`)))];
  const hostnames = [...new Set(p.hostnames.map((h, i) => parseEgressHostname(h, `${field}.hostnames[${i}]`)))];
  return { mode: 'list', cidrs, hostnames };
}

export function sameEgressPolicy(a: EgressPolicy, b: EgressPolicy): boolean {
  return a.mode === b.mode && a.cidrs.join(',') === b.cidrs.join(',') && a.hostnames.join(',') === b.hostnames.join(',');
}
