import { createHash } from 'node:crypto';
import type { Ipv4Cidr } from './cidr.js';
import { gatewayOf, ipv4ToString, parseIpv4 } from './cidr.js';
import { invalidArg } from './errors.js';
import type { VmFence } from './vmFence.js';

/** banger's own nftables tables; nothing else in the ruleset is ever read or written. */
export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'banger';
/** The link-layer fences (anti-spoofing, no tap-to-tap frames) live in the bridge family. */
export const NFT_BRIDGE_FAMILY = 'bridge';

/**
 * Destinations no guest reaches unless its list policy names them: "this network", RFC 1918,
 * CGNAT, loopback, link-local (cloud metadata), multicast and the reserved/broadcast block.
 */
export const FENCED_DESTINATIONS: readonly string[] = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/4', '240.0.0.0/4'];

export interface NatPlan {
  /** Validated bridge name (banger prefix). */
  readonly bridge: string;
  readonly cidr: Ipv4Cidr;
  /** Validated uplink; undefined means "any interface but the bridge" (follows the default route). */
  readonly uplink?: string | undefined;
  /** Prefix of the tap pool: every port with it is a guest and fenced. */
  readonly tapPrefix: string;
}

/** A short digest of the plan, stored as the table comment so re-applying can report "unchanged". */
export function natFingerprint(plan: NatPlan): string {
  const h = createHash('sha256').update(`v2\0${plan.bridge}\0${plan.cidr.text}\0${plan.uplink ?? ''}\0${plan.tapPrefix}`).digest('hex');
  return `banger:nat:${h.slice(0, 16)}`;
}

export function quoted(field: string, s: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(s)) throw invalidArg(field, 'BAD_NAME', 'contains characters not allowed in an nft rule');
  return `"${s}"`;
}

function tapGlob(plan: NatPlan): string {
  return `"${quoted('tap_prefix', plan.tapPrefix).slice(1, -1)}*"`;
}

/** The per-VM chain and sets are named after the VM's tap, an identifier nft accepts as is. */
export function vmChain(tap: string): string {
  return `vm_${quoted('tap', tap).slice(1, -1).replace(/[.-]/g, '_')}`;
}

function outOf(plan: NatPlan): string {
  return plan.uplink === undefined ? `oifname != ${quoted('bridge', plan.bridge)}` : `oifname ${quoted('egress_interface', plan.uplink)}`;
}

/**
 * The complete `nft -f` input: both banger tables, then every fenced VM. One transaction:
 * declaring then deleting a table makes the delete safe when it is absent, and the
 * re-declaration replaces it atomically, so applying twice gives the same ruleset and no other
 * table is touched. Guests reach out (masqueraded) as their policy allows; from outside only
 * replies come back in; a tap without a fence passes no frame at all.
 */
export function renderNatRuleset(plan: NatPlan, fences: readonly VmFence[] = []): string {
  const br = quoted('bridge', plan.bridge);
  const net = plan.cidr.text;
  const gw = ipv4ToString(gatewayOf(plan.cidr));
  const out = outOf(plan);
  const taps = tapGlob(plan);
  return [
    `table ${NFT_FAMILY} ${NFT_TABLE}`,
    `delete table ${NFT_FAMILY} ${NFT_TABLE}`,
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    `  comment "${natFingerprint(plan)}"`,
    `  set fenced {`,
    `    type ipv4_addr; flags interval;`,
    `    elements = { ${FENCED_DESTINATIONS.join(', ')} }`,
    `  }`,
    `  map guest_policy {`,
    `    type ipv4_addr : verdict;`,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${net} ip daddr != ${net} ${out} masquerade`,
    `  }`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    `    iifname ${br} jump guest_to_host`,
    `  }`,
    `  chain guest_to_host {`,
    `    ct state established,related accept`,
    `    ip saddr ${net} ip daddr ${gw} udp dport 53 accept`,
    `    ip saddr ${net} ip daddr ${gw} tcp dport 53 accept`,
    `    drop`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    iifname ${br} ${out} ct state established,related accept`,
    `    iifname != ${br} oifname ${br} ct state established,related accept`,
    `    iifname ${br} jump guest_out`,
    `    oifname ${br} drop`,
    `  }`,
    `  chain guest_out {`,
    `    oifname ${br} drop`,
    `    ip saddr vmap @guest_policy`,
    `    drop`,
    `  }`,
    `}`,
    `table ${NFT_BRIDGE_FAMILY} ${NFT_TABLE}`,
    `delete table ${NFT_BRIDGE_FAMILY} ${NFT_TABLE}`,
    `table ${NFT_BRIDGE_FAMILY} ${NFT_TABLE} {`,
    `  set fence_mac {`,
    `    type ifname . ether_addr;`,
    `  }`,
    `  set fence_ip {`,
    `    type ifname . ipv4_addr;`,
    `  }`,
    `  chain prerouting {`,
    `    type filter hook prerouting priority filter; policy accept;`,
    `    iifname ${taps} jump from_guest`,
    `  }`,
    `  chain from_guest {`,
    `    iifname . ether saddr != @fence_mac drop`,
    `    ether type arp iifname . arp saddr ether != @fence_mac drop`,
    `    ether type arp iifname . arp saddr ip != @fence_ip drop`,
    `    ether type ip iifname . ip saddr != @fence_ip drop`,
    `    ether type != { ip, arp } drop`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    iifname ${taps} drop`,
    `    oifname ${taps} drop`,
    `  }`,
    `}`,
    ...fences.flatMap((f) => renderVmFence(plan, undefined, f)),
    '',
  ].join('\n');
}

/** Removes banger's tables only; idempotent for the same reason as above. */
export function renderNatRemoval(): string {
  return [NFT_FAMILY, NFT_BRIDGE_FAMILY].map((fam) => `table ${fam} ${NFT_TABLE}\ndelete table ${fam} ${NFT_TABLE}\n`).join('');
}

const I = `${NFT_FAMILY} ${NFT_TABLE}`;
const B = `${NFT_BRIDGE_FAMILY} ${NFT_TABLE}`;

/** Deletes an element whether or not it exists (nft 1.0.6 has no `destroy`): add, then delete. */
function dropElement(where: string, set: string, key: string, value?: string): string[] {
  return [`add element ${where} ${set} { ${key}${value === undefined ? '' : ` : ${value}`} }`, `delete element ${where} ${set} { ${key} }`];
}

function bridgeKeys(f: VmFence): { mac: string; ip: string } {
  const tap = quoted('tap', f.tap);
  return { mac: `${tap} . ${f.mac}`, ip: `${tap} . ${f.ipv4}` };
}

/**
 * One VM's fence as a transaction of its own: its tap pinned to its MAC and IPv4, its source
 * address mapped to its own chain, and that chain's rules from its policy. Only this VM's
 * objects are written; `prev` (what was applied before) is undone where it differs.
 * Listed networks are checked before the fenced ranges, so a policy can open a private
 * network on purpose; resolved hostnames come after them, so DNS cannot open one.
 */
export function renderVmFence(plan: NatPlan, prev: VmFence | undefined, f: VmFence): string[] {
  const chain = vmChain(f.tap);
  const cidrSet = `${chain}_cidr`;
  const hostSet = `${chain}_host`;
  const lines: string[] = [];
  if (prev !== undefined) {
    if (prev.tap !== f.tap) lines.push(...renderVmUnfence(prev));
    else {
      if (prev.ipv4 !== f.ipv4) lines.push(...dropElement(I, 'guest_policy', prev.ipv4, `jump ${chain}`), ...dropElement(B, 'fence_ip', bridgeKeys(prev).ip));
      if (prev.mac !== f.mac) lines.push(...dropElement(B, 'fence_mac', bridgeKeys(prev).mac));
    }
  }
  const keepHosts = prev !== undefined && prev.tap === f.tap && prev.ipv4 === f.ipv4 && prev.egress.hostnames.join(',') === f.egress.hostnames.join(',');
  lines.push(
    `add chain ${I} ${chain}`,
    `flush chain ${I} ${chain}`,
    `add set ${I} ${cidrSet} { type ipv4_addr; flags interval; }`,
    `flush set ${I} ${cidrSet}`,
    `add set ${I} ${hostSet} { type ipv4_addr; flags timeout; }`,
  );
  if (!keepHosts) lines.push(`flush set ${I} ${hostSet}`);
  if (f.egress.cidrs.length > 0) lines.push(`add element ${I} ${cidrSet} { ${f.egress.cidrs.join(', ')} }`);
  lines.push(`add rule ${I} ${chain} fib daddr type local drop`);
  if (f.egress.mode === 'allow') lines.push(`add rule ${I} ${chain} ip daddr @fenced drop`, `add rule ${I} ${chain} ${outOf(plan)} accept`);
  if (f.egress.mode === 'list') lines.push(`add rule ${I} ${chain} ip daddr @${cidrSet} accept`, `add rule ${I} ${chain} ip daddr @fenced drop`, `add rule ${I} ${chain} ip daddr @${hostSet} accept`);
  lines.push(`add rule ${I} ${chain} drop`, `add element ${I} guest_policy { ${f.ipv4} : jump ${chain} }`);
  const keys = bridgeKeys(f);
  lines.push(`add element ${B} fence_mac { ${keys.mac} }`, `add element ${B} fence_ip { ${keys.ip} }`);
  return lines;
}

/** Undoes one VM's fence; its tap then passes no frame. Idempotent. */
export function renderVmUnfence(f: VmFence): string[] {
  const chain = vmChain(f.tap);
  const keys = bridgeKeys(f);
  return [
    ...dropElement(B, 'fence_mac', keys.mac),
    ...dropElement(B, 'fence_ip', keys.ip),
    `add chain ${I} ${chain}`,
    ...dropElement(I, 'guest_policy', f.ipv4, `jump ${chain}`),
    `flush chain ${I} ${chain}`,
    `delete chain ${I} ${chain}`,
    `add set ${I} ${chain}_cidr { type ipv4_addr; flags interval; }`,
    `delete set ${I} ${chain}_cidr`,
    `add set ${I} ${chain}_host { type ipv4_addr; flags timeout; }`,
    `delete set ${I} ${chain}_host`,
  ];
}

/** Lets a VM reach addresses a listed hostname resolved to, until the answer's TTL (bounded) runs out. */
export function renderAllowResolved(f: VmFence, addrs: readonly string[], ttlSeconds: number): string {
  return renderAllowedAddrs(hostSetOf(f.tap), addrs, ttlSeconds);
}

/** The nft set of a VM's resolved hostname addresses. */
export function hostSetOf(tap: string): string {
  return `${vmChain(tap)}_host`;
}

/** The same for a set named by the DNS forwarder; set, addresses and timeout are checked, as they cross a process boundary. */
export function renderAllowedAddrs(set: string, addrs: readonly string[], ttlSeconds: number): string {
  if (!/^vm_[A-Za-z0-9_]+_host$/.test(set)) throw invalidArg('set', 'BAD_NAME', 'is not a VM host set');
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) throw invalidArg('ttl', 'OUT_OF_RANGE', 'must be 1-86400 seconds');
  const ok = addrs.map((a, i) => ipv4ToString(parseIpv4(a, `addrs[${i}]`)));
  return `add element ${I} ${set} { ${ok.map((a) => `${a} timeout ${ttlSeconds}s`).join(', ')} }\n`;
}
