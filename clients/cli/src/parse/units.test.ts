import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { GIB, MIB, parseCount, parseDuration, parseSize } from './units.js';

describe('parseDuration', () => {
  it.each([
    ['7d', 7 * 86_400_000],
    ['30s', 30_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['2w', 14 * 86_400_000],
    ['0', 0],
  ])('%s', (raw, ms) => expect(parseDuration('--older-than', raw)).toBe(ms));

  it.each(['7', '7x', 'd', '', '1h 30m', '-5s', '5s!'])('rejects %j naming the flag', (raw) => {
    const err = (() => {
      try {
        parseDuration('--older-than', raw);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toContain('--older-than');
  });
});

describe('parseSize', () => {
  it.each([
    ['512M', 'b', 512 * MIB],
    ['2G', 'b', 2 * GIB],
    ['2GiB', 'b', 2 * GIB],
    ['1.5g', 'b', 1.5 * GIB],
    ['1024K', 'b', 1024 * 1024],
    ['512', 'm', 512 * MIB],
    ['8', 'g', 8 * GIB],
    ['100b', 'g', 100],
  ] as const)('%s (default unit %s)', (raw, unit, bytes) => expect(parseSize('--work-disk', raw, unit)).toBe(bytes));

  it.each(['', 'G', '2X', '-1G', '0', '1.2.3M'])('rejects %j naming the flag', (raw) => {
    expect(() => parseSize('--work-disk', raw, 'g')).toThrow(/--work-disk/);
  });
});

describe('parseCount', () => {
  it('parses whole numbers only', () => {
    expect(parseCount('--vcpus', '4')).toBe(4);
    expect(() => parseCount('--vcpus', '2.5')).toThrow(UsageError);
    expect(() => parseCount('--vcpus', 'two')).toThrow(/--vcpus/);
  });
});
