import { createHash } from 'node:crypto';
import type { Ipv4Cidr } from './cidr.js';
import { invalidArg } from './errors.js';

/** banger's own nftables table; nothing else in the ruleset is ever read or written. */
export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'banger';

export interface NatPlan {
  /** Validated bridge name (banger prefix). */
  readonly bridge: string;
  readonly cidr: Ipv4Cidr;
  /** Validated uplink; undefined means "any interface but the bridge" (follows the default route). */
  readonly uplink?: string | undefined;
}

/** A short digest of the plan, stored as the table comment so re-applying can report "unchanged". */
export function natFingerprint(plan: NatPlan): string {
  const h = createHash('sha256').update(`v1\0${plan.bridge}\0${plan.cidr.text}\0${plan.uplink ?? ''}`).digest('hex');
  return `banger:nat:${h.slice(0, 16)}`;
}

function quoted(field: string, s: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(s)) throw invalidArg(field, 'BAD_NAME', 'contains characters not allowed in an nft rule');
  return `"${s}"`;
}

/**
 * The complete `nft -f` input for banger's NAT. One transaction: declaring then deleting the
 * table makes the delete safe when it is absent, and the re-declaration replaces it atomically,
 * so applying twice gives the same ruleset and no other table is touched.
 * Guests may reach out (masqueraded); from outside only replies come back in.
 */
export function renderNatRuleset(plan: NatPlan): string {
  const br = quoted('bridge', plan.bridge);
  const net = plan.cidr.text;
  const out = plan.uplink === undefined ? `oifname != ${br}` : `oifname ${quoted('egress_interface', plan.uplink)}`;
  const inn = plan.uplink === undefined ? `iifname != ${br}` : `iifname ${quoted('egress_interface', plan.uplink)}`;
  return [
    `table ${NFT_FAMILY} ${NFT_TABLE}`,
    `delete table ${NFT_FAMILY} ${NFT_TABLE}`,
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    `  comment "${natFingerprint(plan)}"`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${net} ip daddr != ${net} ${out} masquerade`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    iifname ${br} ip saddr ${net} ${out} accept`,
    `    ${inn} oifname ${br} ct state established,related accept`,
    `    ${inn} oifname ${br} drop`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** Removes banger's table only; idempotent for the same reason as above. */
export function renderNatRemoval(): string {
  return `table ${NFT_FAMILY} ${NFT_TABLE}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n`;
}
