import { describe, expect, it } from 'vitest';
import type { LaunchRequest } from './spec.js';
import { validateLaunchSpec, validateMac, validateVmId } from './spec.js';

const LIMITS = { minMemoryMib: 128, maxMemoryMib: 4096, minVcpus: 1, maxVcpus: 4 };
const RUN = '/run/banger/helper/vms';
const good: LaunchRequest = {
  vmId: 'vm-1',
  memoryMib: 512,
  vcpus: 2,
  kernel: { name: 'debian-cloud', version: '6.1.1-1' },
  cmdline: [{ key: 'root', value: '/dev/vda' }, { key: 'rw' }],
  workDisk: true,
  mac: '52:54:00:12:34:56',
};

function failure(req: LaunchRequest): { code: string; reason: string; field: string | undefined } {
  try {
    validateLaunchSpec(req, RUN, LIMITS);
  } catch (err) {
    const e = err as { kind?: string; code?: string; reason: string; fields: Record<string, string> };
    return { code: e.code ?? e.kind ?? '', reason: e.reason, field: e.fields['field'] };
  }
  throw new Error('accepted');
}

describe('validateLaunchSpec', () => {
  it('accepts a request that names things, and puts the run dir in privhelper\'s run root', () => {
    const spec = validateLaunchSpec(good, RUN, LIMITS);
    expect(spec.kernel).toEqual({ name: 'debian-cloud', version: '6.1.1-1' });
    expect(spec.run.dir).toBe(`${RUN}/vm-1`);
  });

  it('enforces the configured [vm] bounds, naming the limit', () => {
    expect(failure({ ...good, memoryMib: 8192 })).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'VM_LIMIT_EXCEEDED', field: 'memory_mib' });
    // Below the minimum is a mistake, not a limit.
    expect(failure({ ...good, memoryMib: 64 })).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'OUT_OF_RANGE', field: 'memory_mib' });
    expect(failure({ ...good, vcpus: 16 })).toMatchObject({ code: 'RESOURCE_EXHAUSTED', field: 'vcpus' });
    expect(failure({ ...good, memoryMib: 1.5 })).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'memory_mib' });
  });

  it('refuses a kernel reference that is a path or missing', () => {
    expect(failure({ ...good, kernel: { name: '../../etc', version: '1' } })).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'BAD_KERNEL_REF', field: 'spec.kernel.name' });
    expect(failure({ ...good, kernel: { name: 'k', version: '../1' } })).toMatchObject({ reason: 'BAD_KERNEL_REF', field: 'spec.kernel.version' });
    expect(failure({ ...good, kernel: { name: 'k', version: '.hidden' } })).toMatchObject({ reason: 'BAD_KERNEL_REF' });
    expect(failure({ ...good, kernel: undefined })).toMatchObject({ reason: 'KERNEL_REQUIRED', field: 'spec.kernel' });
  });

  it('refuses bad ids, macs and cmdline keys', () => {
    expect(failure({ ...good, vmId: '../x' })).toMatchObject({ field: 'vm_id' });
    expect(failure({ ...good, mac: '01:00:5e:00:00:01' })).toMatchObject({ field: 'net.mac' });
    expect(failure({ ...good, cmdline: [{ key: 'init', value: '/bin/sh -c x' }] })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(failure({ ...good, cmdline: [{ key: 'modprobe.blacklist', value: 'x' }] })).toMatchObject({ reason: 'KEY_NOT_ALLOWED' });
  });
});

describe('validateVmId / validateMac', () => {
  it('accept the plain forms only', () => {
    expect(validateVmId('a-1')).toBe('a-1');
    expect(() => validateVmId('-a')).toThrow();
    expect(validateMac('52:54:00:00:00:01')).toBe('52:54:00:00:00:01');
    expect(() => validateMac('00:00:00:00:00:00')).toThrow();
  });
});
