import { describe, expect, it } from 'vitest';
import { durationToMs, msToDuration } from './duration.js';

describe('durations', () => {
  it('keeps unset apart from zero', () => {
    expect(durationToMs(undefined, 'timeout')).toBeUndefined();
    expect(durationToMs({ seconds: 0, nanos: 0 }, 'timeout')).toBe(0);
    expect(durationToMs({ seconds: 1, nanos: 500_000_000 }, 'timeout')).toBe(1500);
  });

  it('refuses negative and malformed durations naming the field', () => {
    for (const d of [{ seconds: -1, nanos: 0 }, { seconds: 0, nanos: -1_000_000 }, { seconds: 1, nanos: 1e9 }, { seconds: 1, nanos: -1 }]) {
      expect(() => durationToMs(d, 'stop_timeout')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'stop_timeout', reason: 'INVALID_DURATION' }) as Error);
    }
  });

  it('round-trips milliseconds', () => {
    expect(msToDuration(1500)).toEqual({ seconds: 1, nanos: 500_000_000 });
    expect(msToDuration(0)).toEqual({ seconds: 0, nanos: 0 });
    expect(durationToMs(msToDuration(61_001), 'x')).toBe(61_001);
  });
});
