import { InvalidArgumentError } from './errors.js';

/** google.protobuf.Duration as ts-proto gives it. */
export interface DurationLike {
  seconds: number;
  nanos: number;
}

/**
 * google.protobuf.Duration → milliseconds, the one converter of banger. Unset is `undefined`:
 * what unset means (a default, no limit) is the field's own documented choice, made by the
 * caller. Zero is zero. Negative or malformed durations are refused naming the field.
 */
export function durationToMs(d: DurationLike | undefined, field: string): number | undefined {
  if (d === undefined) return undefined;
  const { seconds, nanos } = d;
  if (!Number.isSafeInteger(seconds) || !Number.isInteger(nanos) || Math.abs(nanos) > 999_999_999 || (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
    throw new InvalidArgumentError(field, 'is not a valid duration', 'INVALID_DURATION');
  }
  const ms = seconds * 1000 + Math.trunc(nanos / 1e6);
  if (ms < 0) throw new InvalidArgumentError(field, 'must not be negative', 'INVALID_DURATION');
  return ms;
}

/** Milliseconds → google.protobuf.Duration. */
export function msToDuration(ms: number): DurationLike {
  const whole = Math.max(0, Math.round(ms));
  return { seconds: Math.floor(whole / 1000), nanos: (whole % 1000) * 1_000_000 };
}
