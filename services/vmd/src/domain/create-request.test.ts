import { InvalidArgumentError } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { validateCreate, type VmBounds } from './create-request.js';

const bounds: VmBounds = {
  memoryMib: { min: 128, default: 1024, max: 4096 },
  vcpus: { min: 1, default: 1, max: 4 },
  workDiskGib: { min: 1, default: 4, max: 64 },
};
const input = { name: 'dev', image: '', memoryMib: 0, vcpus: 0, workDiskBytes: 0, noWait: false };

describe('validateCreate', () => {
  it('fills defaults', () => {
    expect(validateCreate(input, bounds, 'debian-bookworm')).toEqual({
      name: 'dev',
      image: 'debian-bookworm',
      memoryMib: 1024,
      vcpus: 1,
      workDiskBytes: 4 * 1024 ** 3,
      noWait: false,
    });
  });

  it.each([
    [{ memoryMib: 64 }, 'memory_mib'],
    [{ memoryMib: 8192 }, 'memory_mib'],
    [{ vcpus: 5 }, 'vcpus'],
    [{ workDiskBytes: 1024 ** 4 }, 'work_disk_size_bytes'],
    [{ workDiskBytes: 2 * 1024 ** 3 + 1 }, 'work_disk_size_bytes'],
    [{ name: 'Bad_Name' }, 'name'],
  ])('refuses %j naming %s', (patch, field) => {
    try {
      validateCreate({ ...input, ...patch }, bounds, 'd');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field).toBe(field);
    }
  });
});
