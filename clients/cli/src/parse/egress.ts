import * as vmv1 from '@banger/api/vm';
import { UsageError } from '../errors.js';

const ADDRESS_LIKE = /^[0-9./]+$/;

/**
 * `allow`, `deny`, or a comma list of CIDRs and hostnames, as `--egress` and `vm egress` take
 * it. Entries made of digits, dots and a slash are networks, the rest hostnames; vmd judges
 * each one and names the entry it refuses.
 */
export function parseEgress(flag: string, raw: string): vmv1.EgressPolicy {
  const text = raw.trim();
  if (text.toLowerCase() === 'allow') return { mode: vmv1.EgressMode.EGRESS_MODE_ALLOW, cidrs: [], hostnames: [] };
  if (text.toLowerCase() === 'deny') return { mode: vmv1.EgressMode.EGRESS_MODE_DENY, cidrs: [], hostnames: [] };
  const entries = text.split(',').map((e) => e.trim());
  if (text === '' || entries.some((e) => e === '')) throw new UsageError(`${flag}: empty entry in ${JSON.stringify(raw)}`, 'use allow, deny, or a comma list like 10.0.0.0/8,api.example.com');
  return { mode: vmv1.EgressMode.EGRESS_MODE_LIST, cidrs: entries.filter((e) => ADDRESS_LIKE.test(e)), hostnames: entries.filter((e) => !ADDRESS_LIKE.test(e)) };
}

/** The policy as the flag spells it. */
export function formatEgress(p: vmv1.EgressPolicy | undefined): string {
  if (p === undefined || p.mode === vmv1.EgressMode.EGRESS_MODE_ALLOW || p.mode === vmv1.EgressMode.EGRESS_MODE_UNSPECIFIED) return 'allow';
  if (p.mode === vmv1.EgressMode.EGRESS_MODE_DENY) return 'deny';
  return [...p.cidrs, ...p.hostnames].join(',');
}
