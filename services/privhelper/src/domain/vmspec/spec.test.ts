import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmHostError } from './errors.js';
import type { HostRoots, LaunchRequest } from './spec.js';
import { validateLaunchSpec, validateMac, validateVmId } from './spec.js';

let tmp: string;
let roots: HostRoots;
let good: LaunchRequest;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'banger-spec-'));
  const state = path.join(tmp, 'state');
  await mkdir(path.join(state, 'images', 'deb'), { recursive: true });
  await mkdir(path.join(state, 'vms', 'vm-1'), { recursive: true });
  await mkdir(path.join(tmp, 'elsewhere'));
  for (const f of ['images/deb/vmlinux', 'images/deb/initrd.img', 'vms/vm-1/root.qcow2', 'vms/vm-1/work.ext4']) await writeFile(path.join(state, f), '');
  await writeFile(path.join(tmp, 'elsewhere', 'vmlinux'), '');
  await symlink(path.join(tmp, 'elsewhere'), path.join(state, 'images', 'evil'));
  roots = { stateDirs: [state], runRoot: path.join(tmp, 'run') };
  good = {
    vmId: 'vm-1',
    memoryMib: 512,
    vcpus: 2,
    kernelPath: path.join(state, 'images/deb/vmlinux'),
    initrdPath: path.join(state, 'images/deb/initrd.img'),
    cmdline: [{ key: 'root', value: '/dev/vda' }, { key: 'rw' }],
    rootDisk: { path: path.join(state, 'vms/vm-1/root.qcow2'), format: 'qcow2' },
    workDisk: { path: path.join(state, 'vms/vm-1/work.ext4'), format: 'raw' },
    net: { tap: 'bg-tap0', mac: '52:54:00:12:34:56' },
  };
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function failure(req: LaunchRequest): Promise<{ reason: string; field: string | undefined }> {
  try {
    await validateLaunchSpec(req, roots);
  } catch (err) {
    if (!(err instanceof VmHostError)) throw err;
    expect(err.kind).toBe('INVALID_ARGUMENT');
    return { reason: err.reason, field: err.fields['field'] };
  }
  throw new Error('expected validation to fail');
}

describe('validateLaunchSpec', () => {
  it('accepts a good request and derives the run dir paths', async () => {
    const spec = await validateLaunchSpec(good, roots);
    expect(spec.vmId).toBe('vm-1');
    expect(spec.run.qmpSocket).toBe(path.join(tmp, 'run/vms/vm-1/qmp.sock'));
    expect(spec.run.pidFile).toBe(path.join(tmp, 'run/vms/vm-1/qemu.pid'));
    expect(spec.net).toEqual({ tap: 'bg-tap0', mac: '52:54:00:12:34:56' });
  });

  it.each<[string, Partial<LaunchRequest>, string, string]>([
    ['upper-case id', { vmId: 'VM1' }, 'vm_id', 'BAD_FIELD'],
    ['id with slash', { vmId: 'a/b' }, 'vm_id', 'BAD_FIELD'],
    ['id too long', { vmId: 'a'.repeat(65) }, 'vm_id', 'BAD_FIELD'],
    ['memory too small', { memoryMib: 8 }, 'memory_mib', 'OUT_OF_RANGE'],
    ['memory too large', { memoryMib: 10_000_000 }, 'memory_mib', 'OUT_OF_RANGE'],
    ['fractional memory', { memoryMib: 512.5 }, 'memory_mib', 'BAD_FIELD'],
    ['zero vcpus', { vcpus: 0 }, 'vcpus', 'OUT_OF_RANGE'],
    ['too many vcpus', { vcpus: 1000 }, 'vcpus', 'OUT_OF_RANGE'],
    ['kernel outside', { kernelPath: '/etc/passwd' }, 'kernel_path', 'PATH_ESCAPE'],
    ['kernel via ..', { kernelPath: '/x/../etc/passwd' }, 'kernel_path', 'PATH_ESCAPE'],
    ['kernel with comma', { kernelPath: '/tmp/a,b' }, 'kernel_path', 'BAD_FIELD'],
    ['initrd with newline', { initrdPath: '/tmp/a\nb' }, 'initrd_path', 'BAD_FIELD'],
    ['cmdline injection', { cmdline: [{ key: 'banger.x', value: 'a init=/bin/sh' }] }, 'cmdline.banger.x', 'BAD_FIELD'],
    ['cmdline quote', { cmdline: [{ key: 'banger.x', value: '"' }] }, 'cmdline.banger.x', 'BAD_FIELD'],
    ['bad mac', { net: { tap: 'tap0', mac: '52:54:00:12:34' } }, 'net.mac', 'BAD_FIELD'],
    ['multicast mac', { net: { tap: 'tap0', mac: '01:00:5e:00:00:01' } }, 'net.mac', 'BAD_FIELD'],
    ['upper-case mac', { net: { tap: 'tap0', mac: '52:54:00:AB:CD:EF' } }, 'net.mac', 'BAD_FIELD'],
    ['tap too long', { net: { tap: 'tap0123456789abcd', mac: '52:54:00:12:34:56' } }, 'net.tap', 'BAD_FIELD'],
    ['tap with comma', { net: { tap: 'tap0,script=/x', mac: '52:54:00:12:34:56' } }, 'net.tap', 'BAD_FIELD'],
    ['bad netns', { net: { tap: 'tap0', mac: '52:54:00:12:34:56', netns: '../x' } }, 'net.netns', 'BAD_FIELD'],
    ['root disk outside', { rootDisk: { path: '/x', format: 'qcow2' } }, 'root_disk.path', 'PATH_ESCAPE'],
  ])('rejects %s', async (_n, patch, field, reason) => {
    expect(await failure({ ...good, ...patch })).toEqual({ field, reason });
  });

  it('rejects a symlink escape and an unknown disk format', async () => {
    const state = roots.stateDirs[0] ?? '';
    expect(await failure({ ...good, kernelPath: path.join(state, 'images/evil/vmlinux') })).toEqual({ field: 'kernel_path', reason: 'PATH_ESCAPE' });
    expect(await failure({ ...good, rootDisk: { path: good.rootDisk.path, format: 'vmdk' as 'raw' } })).toEqual({
      field: 'root_disk.format',
      reason: 'BAD_FIELD',
    });
    expect(await failure({ ...good, workDisk: good.rootDisk })).toEqual({ field: 'work_disk.path', reason: 'BAD_FIELD' });
  });

  it('rejects a run root that makes socket paths too long', async () => {
    await expect(validateLaunchSpec({ ...good, vmId: 'a'.repeat(64) }, { ...roots, runRoot: `/run/${'r'.repeat(40)}` })).rejects.toMatchObject({
      reason: 'OUT_OF_RANGE',
    });
  });

  it('rejects non-string/non-number garbage without crashing', async () => {
    const garbage = { ...good, vmId: 42, memoryMib: '512', cmdline: 'rw' } as unknown as LaunchRequest;
    await expect(validateLaunchSpec(garbage, roots)).rejects.toBeInstanceOf(VmHostError);
  });
});

describe('field validators', () => {
  it('vm ids', () => {
    expect(validateVmId('a')).toBe('a');
    expect(validateVmId('a'.repeat(64))).toBe('a'.repeat(64));
    for (const bad of ['', '-a', 'a-', 'a_b', 'a.b', 'ä']) expect(() => validateVmId(bad)).toThrow(VmHostError);
  });
  it('macs', () => {
    expect(validateMac('02:00:00:00:00:01')).toBe('02:00:00:00:00:01');
    for (const bad of ['00:00:00:00:00:00', '52-54-00-12-34-56', '52:54:00:12:34:56 ', '52:54:00:12:34:5g']) expect(() => validateMac(bad)).toThrow(VmHostError);
  });
});
