import { UsageError } from '../errors.js';

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses `500ms`, `30s`, `10m`, `1h30m`, `7d`, `2w` into milliseconds; `0` is allowed bare. */
export function parseDuration(flag: string, raw: string): number {
  const text = raw.trim().toLowerCase();
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? 0);
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== text.length) {
    throw new UsageError(`${flag}: invalid duration ${JSON.stringify(raw)}`, 'use a number with a unit, e.g. 30s, 10m, 1h30m, 7d');
  }
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses `512M`, `2G`, `2GiB`, `1.5g`, `1024K` into bytes (binary units). A bare number is in
 * `defaultUnit` (e.g. `--memory 512` means MiB, `--work-disk 8` means GiB).
 */
export function parseSize(flag: string, raw: string, defaultUnit: 'b' | 'k' | 'm' | 'g' = 'b'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(raw.trim());
  if (!m) throw new UsageError(`${flag}: invalid size ${JSON.stringify(raw)}`, 'use a number with an optional unit, e.g. 512M, 2G, 10GiB');
  const unit = (m[2] ?? '').toLowerCase();
  const factor = unit === '' && m[3] === undefined ? (SIZE_UNITS[defaultUnit] ?? 1) : (SIZE_UNITS[unit] ?? 1);
  const bytes = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`${flag}: size ${JSON.stringify(raw)} is out of range`);
  return bytes;
}

/** Parses a positive integer flag such as `--vcpus 2`. */
export function parseCount(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`${flag}: expected a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag}: ${raw} is out of range`);
  return n;
}

export const MIB = 1024 ** 2;
export const GIB = 1024 ** 3;

/** A TCP port number, 1-65535. */
export function parsePort(what: string, raw: string): number {
  const n = parseCount(what, raw);
  if (n < 1 || n > 65535) throw new UsageError(`${what}: port must be 1-65535, got ${n}`);
  return n;
}

/** `GUEST[:HOST]` as `vm forward` takes it; HOST 0 means the same number as GUEST. */
export function parsePortPair(raw: string): { guestPort: number; hostPort: number } {
  const [guest = '', host, extra] = raw.split(':');
  if (extra !== undefined) throw new UsageError(`PORTS: expected GUEST_PORT[:HOST_PORT], got ${JSON.stringify(raw)}`);
  return { guestPort: parsePort('GUEST_PORT', guest), hostPort: host === undefined ? 0 : parsePort('HOST_PORT', host) };
}
