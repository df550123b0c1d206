import { describe, expect, it } from 'vitest';
import { renderCmdline, validateCmdline } from './cmdline.js';

describe('validateCmdline', () => {
  it('accepts allowed keys, flags and banger.* keys', () => {
    const args = validateCmdline([
      { key: 'console', value: 'ttyS0' },
      { key: 'root', value: '/dev/vda' },
      { key: 'rw' },
      { key: 'banger.ip', value: '10.0.0.2/24' },
      { key: 'banger.gw', value: '10.0.0.1' },
    ]);
    expect(renderCmdline(args)).toBe('console=ttyS0 root=/dev/vda rw banger.ip=10.0.0.2/24 banger.gw=10.0.0.1');
  });
  it.each([
    ['space', 'a b'],
    ['double quote', 'a"b'],
    ['single quote', "a'b"],
    ['newline', 'a\nb'],
    ['tab', 'a\tb'],
    ['backslash', 'a\\b'],
    ['semicolon', 'a;reboot'],
    ['dollar', '$(id)'],
    ['oversize', 'a'.repeat(257)],
  ])('rejects a value with %s', (_n, value) => {
    expect(() => validateCmdline([{ key: 'banger.x', value }])).toThrow(expect.objectContaining({ kind: 'INVALID_ARGUMENT', reason: 'BAD_FIELD' }));
  });
  it.each(['init ', 'Init', 'net.', '.x', 'a.b.c', 'banger.', 'a=b', 'x'.repeat(40)])('rejects the bad key %j', (key) => {
    expect(() => validateCmdline([{ key }])).toThrow(expect.objectContaining({ kind: 'INVALID_ARGUMENT' }));
  });
  it('rejects keys outside the allow-list', () => {
    expect(() => validateCmdline([{ key: 'modprobe', value: 'x' }])).toThrow(expect.objectContaining({ reason: 'KEY_NOT_ALLOWED', fields: { field: 'cmdline.modprobe' } }));
    expect(() => validateCmdline([{ key: 'rd.break' }])).toThrow(expect.objectContaining({ reason: 'KEY_NOT_ALLOWED' }));
    expect(() => validateCmdline([{ key: 'systemd.unit', value: 'rescue.target' }])).toThrow(expect.objectContaining({ reason: 'KEY_NOT_ALLOWED' }));
  });
  it("accepts an image's usual arguments: quiet, net.ifnames=0", () => {
    expect(validateCmdline([{ key: 'quiet', value: '' }, { key: 'net.ifnames', value: '0' }])).toEqual([{ key: 'quiet', value: '' }, { key: 'net.ifnames', value: '0' }]);
  });
  it('rejects duplicates, too many args and too long a line', () => {
    expect(() => validateCmdline([{ key: 'rw' }, { key: 'rw' }])).toThrow(expect.objectContaining({ reason: 'BAD_FIELD' }));
    const many = Array.from({ length: 65 }, (_, i) => ({ key: `banger.k${i}` }));
    expect(() => validateCmdline(many)).toThrow(expect.objectContaining({ reason: 'OUT_OF_RANGE' }));
    const long = Array.from({ length: 10 }, (_, i) => ({ key: `banger.k${i}`, value: 'v'.repeat(250) }));
    expect(() => validateCmdline(long)).toThrow(expect.objectContaining({ reason: 'OUT_OF_RANGE', fields: { field: 'cmdline' } }));
  });
});
