import { describe, expect, it } from 'vitest';
import { NetError } from './errors.js';
import { parseTapName, tapAlias, tapName, validateBridgeName, validateDnsLabel, validateNetnsName, validateTapPrefix, validateUplinkName, validateVmId, vmIdFromAlias } from './names.js';

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NetError);
    expect((e as NetError).kind).toBe('INVALID_ARGUMENT');
    return (e as NetError).reason;
  }
  throw new Error('did not throw');
}

describe('interface names', () => {
  it('accepts banger bridges within IFNAMSIZ', () => {
    expect(validateBridgeName('bgr-br0')).toBe('bgr-br0');
    expect(validateBridgeName('bgr-12345678901')).toBe('bgr-12345678901');
  });
  it.each(['br0', 'bgr-', 'bgr-123456789012', 'bgr-BR', 'bgr_br', 'bgr-b r', '', 'bgr-é'])('refuses bridge %j', (n) => {
    expect(reason(() => validateBridgeName(n))).toBe('BAD_NAME');
  });
  it('refuses non-strings with the field name', () => {
    try {
      validateBridgeName(42);
    } catch (e) {
      expect((e as NetError).fields).toEqual({ field: 'bridge' });
    }
    expect(reason(() => validateBridgeName(undefined))).toBe('BAD_NAME');
  });
  it('tap prefixes leave room for an index', () => {
    expect(validateTapPrefix('bgrtap')).toBe('bgrtap');
    expect(validateTapPrefix('bgrtap-t1-')).toBe('bgrtap-t1-');
    expect(reason(() => validateTapPrefix('bgrtap-t1-x'))).toBe('BAD_NAME');
    expect(reason(() => validateTapPrefix('tap'))).toBe('BAD_NAME');
    expect(reason(() => validateTapPrefix('bgrtap1'))).toBe('BAD_NAME');
  });
  it('tap names round-trip through their index', () => {
    expect(tapName('bgrtap', 0)).toBe('bgrtap0');
    expect(parseTapName('bgrtap', 'bgrtap42')).toBe(42);
    expect(parseTapName('bgrtap', 'bgrtap042')).toBeUndefined();
    expect(parseTapName('bgrtap', 'bgrtapx')).toBeUndefined();
    expect(parseTapName('bgrtap', 'eth0')).toBeUndefined();
    expect(tapName('bgrtap-t1-', 99_999).length).toBe(15);
    expect(reason(() => tapName('bgrtap', 100_000))).toBe('OUT_OF_RANGE');
  });
  it('uplinks cannot break out of an nft string', () => {
    expect(validateUplinkName('eth0.100')).toBe('eth0.100');
    for (const bad of ['eth0"', 'a b', 'x;y', '0123456789abcdef', '', '.']) expect(reason(() => validateUplinkName(bad))).toBe('BAD_NAME');
  });
  it('netns names', () => {
    expect(validateNetnsName('banger-t-ab12')).toBe('banger-t-ab12');
    for (const bad of ['../x', 'a/b', '-x', '']) expect(reason(() => validateNetnsName(bad))).toBe('BAD_NAME');
  });
});

describe('vm ids and DNS labels', () => {
  it('vm ids', () => {
    expect(validateVmId('vm-1')).toBe('vm-1');
    expect(validateVmId('a'.repeat(64))).toBe('a'.repeat(64));
    for (const bad of ['a'.repeat(65), '-a', 'a-', 'A', 'a_b', '']) expect(reason(() => validateVmId(bad))).toBe('BAD_VM_ID');
  });
  it('RFC 1123 labels, lowercase, at most 63', () => {
    expect(validateDnsLabel('web-1')).toBe('web-1');
    expect(validateDnsLabel('a'.repeat(63))).toBe('a'.repeat(63));
    for (const bad of ['a'.repeat(64), 'Web', 'a.b', '-a', 'a-', '', 'a_b']) expect(reason(() => validateDnsLabel(bad))).toBe('BAD_DNS_LABEL');
  });
  it('aliases carry the vm id and only a valid one', () => {
    expect(vmIdFromAlias(tapAlias('vm-7'))).toBe('vm-7');
    expect(vmIdFromAlias('vm:BAD')).toBeUndefined();
    expect(vmIdFromAlias('other')).toBeUndefined();
    expect(vmIdFromAlias(undefined)).toBeUndefined();
  });
});
