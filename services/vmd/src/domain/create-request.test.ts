import { InvalidArgumentError } from '@banger/runtime/errors';
import { describe, expect, it } from 'vitest';
import { validateCreate, type VmBounds } from './create-request.js';

const bounds: VmBounds = {
  memoryMib: { min: 128, default: 1024, max: 4096 },
  vcpus: { min: 1, default: 1, max: 4 },
  workDiskGib: { min: 1, default: 4, max: 64 },
};
const input = { name: 'dev', image: '', kernel: '', memoryMib: 0, vcpus: 0, workDiskBytes: 0, noWait: false, sshAuthorizedKeys: [], hypervisor: 'unspecified' };

describe('validateCreate', () => {
  it('fills defaults', () => {
    expect(validateCreate(input, bounds, 'debian-bookworm')).toEqual({
      name: 'dev',
      image: 'debian-bookworm',
      memoryMib: 1024,
      vcpus: 1,
      workDiskBytes: 4 * 1024 ** 3,
      noWait: false,
      kernel: '',
      sshAuthorizedKeys: [],
      hypervisor: 'qemu',
      egress: { mode: 'allow', cidrs: [], hostnames: [] },
      autoForward: true,
      syncFiles: [],
      cold: false,
    });
    expect(validateCreate({ ...input, cold: true }, bounds, 'd').cold).toBe(true);
    expect(validateCreate({ ...input, autoForward: false }, bounds, 'd').autoForward).toBe(false);
  });

  it('takes an egress policy and refuses one it cannot honour, naming the field', () => {
    expect(validateCreate({ ...input, egress: { mode: 'list', cidrs: ['10.1.0.0/16'], hostnames: ['Example.com'] } }, bounds, 'd').egress).toEqual({ mode: 'list', cidrs: ['10.1.0.0/16'], hostnames: ['example.com'] });
    expect(() => validateCreate({ ...input, egress: { mode: 'list', cidrs: ['10.1.0.1/16'], hostnames: [] } }, bounds, 'd')).toThrow(expect.objectContaining({ reason: 'BAD_CIDR', field: 'egress.cidrs[0]' }));
  });

  it.each([
    [{ memoryMib: 64 }, 'memory_mib'],
    [{ memoryMib: 8192 }, 'memory_mib'],
    [{ vcpus: 5 }, 'vcpus'],
    [{ workDiskBytes: 1024 ** 4 }, 'work_disk_size_bytes'],
    [{ workDiskBytes: 2 * 1024 ** 3 + 1 }, 'work_disk_size_bytes'],
    [{ name: 'Bad_Name' }, 'name'],
    [{ image: 'a\u0000b' }, 'image'],
    [{ kernel: 'k'.repeat(5000) }, 'kernel'],
    [{ sshAuthorizedKeys: ['not a key'] }, 'ssh_authorized_keys[0]'],
    [{ hypervisor: 'firecracker' }, 'hypervisor'],
    [{ hypervisor: 'HYPERVISOR_7' }, 'hypervisor'],
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

describe('validateCreate keeps what it is asked for', () => {
  it('passes the kernel, the keys and QEMU on', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3Vq8Xwq9RkqG5C1b7yq0KX8bT+Ihw0W2f2dH4pG0mZ me';
    const cmd = validateCreate({ ...input, kernel: 'debian-bookworm-generic', sshAuthorizedKeys: [key], hypervisor: 'qemu' }, bounds, 'd');
    expect(cmd).toMatchObject({ kernel: 'debian-bookworm-generic', sshAuthorizedKeys: [key], hypervisor: 'qemu' });
  });
  it('says why firecracker is refused', () => {
    expect(() => validateCreate({ ...input, hypervisor: 'firecracker' }, bounds, 'd')).toThrow(/firecracker is not available: this vmd runs VMs under QEMU only/);
  });
});
