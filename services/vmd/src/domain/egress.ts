import { InvalidArgumentError } from '@banger/runtime/errors';

/**
 * A VM's egress policy, stored with the VM and enforced by privhelper's guest fences.
 * `allow`: the internet, never private, link-local, CGNAT, multicast or host addresses;
 * `deny`: nothing but banger's DNS; `list`: only these networks and hostnames.
 */
export type EgressMode = 'allow' | 'deny' | 'list';

export interface EgressPolicy {
  mode: EgressMode;
  cidrs: string[];
  hostnames: string[];
}

/** Same bound as privhelper's: one VM cannot grow the ruleset or DNS work without limit. */
export const MAX_EGRESS_ENTRIES = 64;

export const DEFAULT_EGRESS: EgressPolicy = { mode: 'allow', cidrs: [], hostnames: [] };

const OCTET = '(0|[1-9][0-9]{0,2})';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function ipv4(s: string): number | undefined {
  const m = IPV4.exec(s);
  if (!m) return undefined;
  const o = m.slice(1, 5).map(Number);
  return o.every((n) => n <= 255) ? ((((o[0] ?? 0) << 24) | ((o[1] ?? 0) << 16) | ((o[2] ?? 0) << 8) | (o[3] ?? 0)) >>> 0) : undefined;
}

function dotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "a.b.c.d" or "a.b.c.d/n" with no host bits set; canonical "a.b.c.d/n". */
export function canonicalCidr(v: string, field: string): string {
  const [addrText = '', prefixText = '32', extra] = v.split('/');
  const addr = ipv4(addrText);
  const prefix = /^(0|[1-9][0-9]?)$/.test(prefixText) ? Number(prefixText) : NaN;
  if (addr === undefined || extra !== undefined || !(prefix >= 0 && prefix <= 32)) throw new InvalidArgumentError(field, `${JSON.stringify(v)} is not an IPv4 address or a.b.c.d/n network`, 'BAD_CIDR');
  const net = (addr & (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)) >>> 0;
  if (net !== addr) throw new InvalidArgumentError(field, `${JSON.stringify(v)} has host bits set; did you mean ${dotted(net)}/${prefix}?`, 'BAD_CIDR');
  return `${dotted(net)}/${prefix}`;
}

/** At least two labels of [a-z0-9-]; no wildcards, no `.vm` (VMs never reach each other). */
export function canonicalHostname(v: string, field: string): string {
  const s = v.toLowerCase().replace(/\.$/, '');
  const labels = s.split('.');
  const tld = labels[labels.length - 1] ?? '';
  if (s.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l)) || /^[0-9]+$/.test(tld)) {
    throw new InvalidArgumentError(field, `${JSON.stringify(v)} is not a hostname (labels of [a-z0-9-], at least two, no wildcards)`, 'BAD_HOSTNAME');
  }
  if (tld === 'vm') throw new InvalidArgumentError(field, `${JSON.stringify(v)} is a banger VM name; VM-to-VM traffic is never allowed`, 'BAD_HOSTNAME');
  return s;
}

/** Validates a policy from a request: refusals name the field (`egress.cidrs[1]`...). */
export function validateEgress(p: { mode: string; cidrs: readonly string[]; hostnames: readonly string[] }, field = 'egress'): EgressPolicy {
  if (p.mode !== 'allow' && p.mode !== 'deny' && p.mode !== 'list') throw new InvalidArgumentError(`${field}.mode`, 'must be allow, deny or list', 'BAD_EGRESS_MODE');
  if (p.mode !== 'list') {
    if (p.cidrs.length > 0 || p.hostnames.length > 0) throw new InvalidArgumentError(p.cidrs.length > 0 ? `${field}.cidrs` : `${field}.hostnames`, `must be empty for mode ${p.mode}`, 'BAD_EGRESS_POLICY');
    return { mode: p.mode, cidrs: [], hostnames: [] };
  }
  const total = p.cidrs.length + p.hostnames.length;
  if (total === 0) throw new InvalidArgumentError(field, 'a list needs at least one CIDR or hostname (use deny for none)', 'BAD_EGRESS_POLICY');
  if (total > MAX_EGRESS_ENTRIES) throw new InvalidArgumentError(field, `at most ${MAX_EGRESS_ENTRIES} CIDRs and hostnames, got ${total}`, 'TOO_MANY_EGRESS_ENTRIES', { fields: { limit: String(MAX_EGRESS_ENTRIES) } });
  return {
    mode: 'list',
    cidrs: [...new Set(p.cidrs.map((c, i) => canonicalCidr(c, `${field}.cidrs[${i}]`)))],
    hostnames: [...new Set(p.hostnames.map((h, i) => canonicalHostname(h, `${field}.hostnames[${i}]`)))],
  };
}

/** The stored JSON as a policy; anything unreadable is the default (rows from before the column). */
export function egressFromJson(v: unknown): EgressPolicy {
  const o = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const list = (k: string) => (Array.isArray(o[k]) ? (o[k] as unknown[]).filter((x): x is string => typeof x === 'string') : []);
  const mode = o['mode'] === 'deny' || o['mode'] === 'list' ? o['mode'] : 'allow';
  return { mode, cidrs: mode === 'list' ? list('cidrs') : [], hostnames: mode === 'list' ? list('hostnames') : [] };
}

/** The CLI's spelling: "allow", "deny" or the comma list. */
export function formatEgress(p: EgressPolicy): string {
  return p.mode === 'list' ? [...p.cidrs, ...p.hostnames].join(',') : p.mode;
}
