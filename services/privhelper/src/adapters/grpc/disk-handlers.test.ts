import { InvalidArgumentError } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { vmIdFromDiskPath } from './disk-handlers.js';

describe('vmIdFromDiskPath', () => {
  const root = '/var/lib/banger/vms';
  it('accepts banger disk paths', () => {
    expect(vmIdFromDiskPath(root, '/var/lib/banger/vms/abc/root.qcow2', 'path', 'root')).toBe('abc');
    expect(vmIdFromDiskPath(root, '/var/lib/banger/vms/abc/work.ext4', 'path', 'work')).toBe('abc');
  });
  it.each([
    ['', 'root'],
    ['/etc/passwd', 'root'],
    ['/var/lib/banger/vms/../../../etc/shadow', 'root'],
    ['/var/lib/banger/vms/abc/work.ext4', 'root'],
    ['/var/lib/banger/vms/abc/root.qcow2', 'work'],
    ['/var/lib/banger/vms/abc/def/root.qcow2', 'root'],
    ['/var/lib/banger/vms/root.qcow2', 'root'],
  ] as const)('refuses %j as a %s disk', (p, want) => {
    expect(() => vmIdFromDiskPath(root, p, 'path', want)).toThrow(InvalidArgumentError);
  });
});

describe('vmIdFromDiskPath with relative paths', () => {
  it('refuses a relative path, which would depend on the helper working directory', () => {
    expect(() => vmIdFromDiskPath('/var/lib/banger/vms', 'abc/root.qcow2', 'path', 'root')).toThrow(InvalidArgumentError);
  });
});
