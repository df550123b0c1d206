import { invalidArg, NetError } from './errors.js';
import { ipv4ToString, parseIpv4 } from './cidr.js';
import { validateDnsLabel } from './names.js';

export interface DnsRecord {
  /** One label; the responder serves it as NAME.<zone>. */
  readonly name: string;
  readonly ipv4: string;
}

/** Far more VMs than one host runs; bounds memory a buggy caller could make us hold. */
export const MAX_DNS_RECORDS = 65_536;

/** Validates a complete record set into name → address, refusing duplicates rather than picking one. */
export function validateRecords(records: unknown, field = 'records'): Map<string, string> {
  if (!Array.isArray(records)) throw invalidArg(field, 'BAD_RECORDS', 'must be a list');
  if (records.length > MAX_DNS_RECORDS) {
    throw new NetError('INVALID_ARGUMENT', 'TOO_MANY_RECORDS', `${field}: at most ${MAX_DNS_RECORDS} records`, { field });
  }
  const out = new Map<string, string>();
  records.forEach((r: unknown, i) => {
    const f = `${field}[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalidArg(f, 'BAD_RECORDS', 'must be an object');
    const rec = r as { name?: unknown; ipv4?: unknown };
    const name = validateDnsLabel(rec.name, `${f}.name`);
    const ip = ipv4ToString(parseIpv4(rec.ipv4, `${f}.ipv4`));
    if (out.has(name)) throw new NetError('INVALID_ARGUMENT', 'DUPLICATE_RECORD', `${f}.name: duplicate name ${name}`, { field: `${f}.name` });
    out.set(name, ip);
  });
  return out;
}

/** The zone banger answers for; a single label so `NAME.vm` stays two labels. */
export function validateZone(v: unknown, field = 'zone'): string {
  return validateDnsLabel(v, field);
}
