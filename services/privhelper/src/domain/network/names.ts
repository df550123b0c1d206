import { invalidArg } from './errors.js';

/** Linux IFNAMSIZ is 16 including the NUL terminator. */
export const IFNAME_MAX = 15;
export const BRIDGE_PREFIX = 'bgr-';
export const TAP_PREFIX = 'bgrtap';
/** Pool taps are PREFIX + decimal index; the prefix leaves room for at least 5 digits. */
export const TAP_PREFIX_MAX = IFNAME_MAX - 5;
export const TAP_INDEX_MAX = 99_999;

const IFNAME_CHARS = /^[a-z0-9-]+$/;
const VM_ID_RE = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const DNS_LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const NETNS_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Host uplinks are not ours to name, so accept what Linux allows minus anything that could break out of an nft string. */
const UPLINK_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

function str(field: string, v: unknown): string {
  if (typeof v !== 'string') throw invalidArg(field, 'BAD_NAME', 'must be a string');
  return v;
}

function ifname(field: string, v: unknown): string {
  const s = str(field, v);
  if (s.length === 0 || s.length > IFNAME_MAX) throw invalidArg(field, 'BAD_NAME', `must be 1-${IFNAME_MAX} characters`);
  if (!IFNAME_CHARS.test(s)) throw invalidArg(field, 'BAD_NAME', 'must use only [a-z0-9-]');
  return s;
}

/** Bridges carry banger's prefix so cleanup can never mistake a host bridge for ours. */
export function validateBridgeName(v: unknown, field = 'bridge'): string {
  const s = ifname(field, v);
  if (!s.startsWith(BRIDGE_PREFIX) || s.length === BRIDGE_PREFIX.length) {
    throw invalidArg(field, 'BAD_NAME', `must start with "${BRIDGE_PREFIX}" followed by a name`);
  }
  return s;
}

/** The tap prefix defines which interfaces the pool owns and may delete. */
export function validateTapPrefix(v: unknown, field = 'tap_prefix'): string {
  const s = ifname(field, v);
  if (!s.startsWith(TAP_PREFIX)) throw invalidArg(field, 'BAD_NAME', `must start with "${TAP_PREFIX}"`);
  if (s.length > TAP_PREFIX_MAX) throw invalidArg(field, 'BAD_NAME', `must be at most ${TAP_PREFIX_MAX} characters`);
  if (/[0-9]$/.test(s)) throw invalidArg(field, 'BAD_NAME', 'must not end with a digit');
  return s;
}

export function tapName(prefix: string, index: number): string {
  if (!Number.isSafeInteger(index) || index < 0 || index > TAP_INDEX_MAX) throw invalidArg('tap_index', 'OUT_OF_RANGE', `must be 0-${TAP_INDEX_MAX}`);
  return `${prefix}${index}`;
}

/** Inverse of tapName: the pool index of NAME, or undefined if NAME is not one of this pool's taps. */
export function parseTapName(prefix: string, name: string): number | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  if (!/^(0|[1-9][0-9]{0,4})$/.test(rest)) return undefined;
  return Number(rest);
}

export function validateTapName(prefix: string, v: unknown, field = 'tap'): string {
  const s = ifname(field, v);
  if (parseTapName(prefix, s) === undefined) throw invalidArg(field, 'BAD_NAME', `must be "${prefix}" followed by a pool index`);
  return s;
}

export function validateVmId(v: unknown, field = 'vm_id'): string {
  const s = str(field, v);
  if (!VM_ID_RE.test(s)) throw invalidArg(field, 'BAD_VM_ID', 'must be 1-64 characters of [a-z0-9-], not starting or ending with -');
  return s;
}

/** VM names become `NAME.vm`, so they must be one RFC 1123 label: lowercase, at most 63 octets. */
export function validateDnsLabel(v: unknown, field = 'name'): string {
  const s = str(field, v);
  if (!DNS_LABEL_RE.test(s)) throw invalidArg(field, 'BAD_DNS_LABEL', 'must be 1-63 characters of [a-z0-9-], not starting or ending with -');
  return s;
}

export function validateNetnsName(v: unknown, field = 'netns'): string {
  const s = str(field, v);
  if (!NETNS_RE.test(s)) throw invalidArg(field, 'BAD_NAME', 'must be 1-64 characters of [A-Za-z0-9_.-]');
  return s;
}

export function validateUplinkName(v: unknown, field = 'egress_interface'): string {
  const s = str(field, v);
  if (!UPLINK_RE.test(s)) throw invalidArg(field, 'BAD_NAME', `must be 1-${IFNAME_MAX} characters of [A-Za-z0-9_.-]`);
  return s;
}

/** The alias written on a tap records its owner so assignments survive a helper restart. */
export const TAP_ALIAS_PREFIX = 'vm:';

export function tapAlias(vmId: string): string {
  return `${TAP_ALIAS_PREFIX}${vmId}`;
}

export function vmIdFromAlias(alias: string | undefined): string | undefined {
  if (alias === undefined || !alias.startsWith(TAP_ALIAS_PREFIX)) return undefined;
  const id = alias.slice(TAP_ALIAS_PREFIX.length);
  return VM_ID_RE.test(id) ? id : undefined;
}
