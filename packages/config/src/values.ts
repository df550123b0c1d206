import { isAbsolute } from 'node:path';

/** Raw value from TOML (typed) or from an environment variable (always a string). */
export type Raw = unknown;

/** Parses one value or returns the expected form for the error message. */
export type Parser<T> = (raw: Raw, fromEnv: boolean) => { ok: true; value: T } | { ok: false; expected: string };

const ok = <T>(value: T) => ({ ok: true as const, value });
const bad = (expected: string) => ({ ok: false as const, expected });

export function str(expected = 'a string'): Parser<string> {
  return (raw) => (typeof raw === 'string' ? ok(raw) : bad(expected));
}

export function absPath(): Parser<string> {
  return (raw) =>
    typeof raw === 'string' && isAbsolute(raw) && !raw.includes('\0') ? ok(raw) : bad('an absolute path like /var/lib/banger');
}

export function int(min: number, max: number): Parser<number> {
  const expected = `an integer from ${min} to ${max}`;
  return (raw, fromEnv) => {
    let n: unknown = raw;
    if (fromEnv && typeof raw === 'string' && /^-?\d+$/.test(raw.trim())) n = Number(raw.trim());
    if (typeof n === 'bigint') n = Number(n);
    return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? ok(n) : bad(expected);
  };
}

export function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  const expected = `one of ${values.map((v) => `"${v}"`).join(', ')}`;
  return (raw) => (typeof raw === 'string' && (values as readonly string[]).includes(raw) ? ok(raw as T) : bad(expected));
}

export function intList(min: number, max: number): Parser<number[]> {
  const expected = `a list of integers from ${min} to ${max} like [0, 1000]`;
  const item = int(min, max);
  return (raw, fromEnv) => {
    let items: unknown[];
    if (Array.isArray(raw)) items = raw;
    else if (fromEnv && typeof raw === 'string') items = raw.trim() === '' ? [] : raw.split(',');
    else return bad(expected);
    const out: number[] = [];
    for (const it of items) {
      const r = item(typeof it === 'string' ? it.trim() : it, fromEnv);
      if (!r.ok) return bad(expected);
      out.push(r.value);
    }
    return ok(out);
  };
}

export function oneOfList<T extends string>(values: readonly T[]): Parser<T[]> {
  const expected = `a list of ${values.map((v) => `"${v}"`).join(', ')}`;
  return (raw, fromEnv) => {
    const items = Array.isArray(raw) ? raw : fromEnv && typeof raw === 'string' ? (raw.trim() === '' ? [] : raw.split(',').map((x) => x.trim())) : undefined;
    if (items === undefined || !items.every((x): x is T => typeof x === 'string' && (values as readonly string[]).includes(x))) return bad(expected);
    return ok([...new Set(items)]);
  };
}

/** IPv4 network in CIDR form; host bits must be zero so the gateway/first address is unambiguous. */
export function ipv4Cidr(): Parser<string> {
  const expected = 'an IPv4 CIDR like 172.30.0.0/24';
  return (raw) => {
    if (typeof raw !== 'string') return bad(expected);
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(raw);
    if (!m) return bad(expected);
    const octets = m.slice(1, 5).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix < 8 || prefix > 30) return bad(`${expected} (prefix 8 to 30)`);
    const addr = octets.reduce((a, o) => ((a << 8) | o) >>> 0, 0);
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if ((addr & ~mask) >>> 0 !== 0) return bad(`${expected} with the host bits zero`);
    return ok(raw);
  };
}

/** Linux interface name: at most 15 characters, no slash or whitespace. */
export function ifName(): Parser<string> {
  return (raw) =>
    typeof raw === 'string' && /^[A-Za-z0-9_.-]{1,15}$/.test(raw)
      ? ok(raw)
      : bad('an interface name of 1-15 letters, digits, "_", "." or "-" like banger0');
}

/** Empty string means "none". */
export function optionalNetnsName(): Parser<string | null> {
  return (raw) => {
    if (raw === '' ) return ok(null);
    return typeof raw === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(raw)
      ? ok(raw)
      : bad('a network namespace name like banger (letters, digits, "_", "." or "-") or "" for none');
  };
}

/**
 * Where banger's DNS forwards guests' names outside `.vm`: "a.b.c.d" or "a.b.c.d:port";
 * "" means the host's own resolver (the first nameserver of /etc/resolv.conf), "none" turns
 * forwarding off (guests then resolve only NAME.vm).
 */
export function dnsUpstream(): Parser<string> {
  return (raw) => {
    if (raw === '' || raw === 'none') return ok(raw);
    const m = typeof raw === 'string' ? /^((?:(?:0|[1-9][0-9]{0,2})\.){3}(?:0|[1-9][0-9]{0,2}))(?::([1-9][0-9]{0,4}))?$/.exec(raw) : null;
    const okAddr = m !== null && (m[1] ?? '').split('.').every((o) => Number(o) <= 255) && Number(m[2] ?? 53) <= 65_535;
    return okAddr ? ok(raw as string) : bad('an IPv4 address with an optional :port, "" for the host\'s resolver, or "none"');
  };
}

/** A Unix group name (letters, digits, "_", "-"), or "" for none. */
export function groupName(): Parser<string> {
  return (raw) =>
    typeof raw === 'string' && /^(?:[a-z_][a-z0-9_-]{0,31})?$/.test(raw)
      ? ok(raw)
      : bad('a group name like banger (lowercase letters, digits, "_" or "-"), or "" for none');
}

/** PostgreSQL URL, or empty for the embedded database. */
export function databaseUrl(): Parser<string> {
  return (raw) =>
    typeof raw === 'string' && (raw === '' || /^postgres(?:ql)?:\/\//.test(raw))
      ? ok(raw)
      : bad('a connection string like postgresql://user@host/db, or "" for the embedded database');
}

/** A binary name looked up in PATH, or an absolute path. */
export function binary(): Parser<string> {
  return (raw) =>
    typeof raw === 'string' && (/^[A-Za-z0-9_.+-]+$/.test(raw) || (isAbsolute(raw) && !raw.includes('\0')))
      ? ok(raw)
      : bad('a program name like qemu-system-x86_64 or an absolute path');
}
