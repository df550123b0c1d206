import { vmv1 } from '@banger/api';
import type { VmRecord } from '@banger/store';
import { describe, expect, it } from 'vitest';
import { vmStateFromProto, vmToProto } from './vm-convert.js';

const vm: VmRecord = {
  id: 'abc123',
  name: 'web',
  state: 'running',
  imageId: 'img1',
  kernelId: null,
  vcpus: 2,
  memoryMib: 1024,
  workDiskGib: 4,
  spec: { imageName: 'debian', credentials: [{ service: 'opencode', username: 'u', password: 'secret' }] },
  runtime: {},
  ipv4: '172.30.0.5',
  mac: '52:54:00:00:00:05',
  tap: 'bt5',
  pid: 4242,
  createOpId: 'op-aaaaaaaaaaaa',
  createdAt: new Date('2026-01-01T00:00:00Z'),
  updatedAt: new Date('2026-01-01T00:00:00Z'),
  startedAt: new Date('2026-01-01T00:00:05Z'),
  stoppedAt: null,
  lastUsedAt: null,
};

describe('vmToProto', () => {
  it('fills what the row knows', () => {
    const p = vmToProto(vm);
    expect(p).toMatchObject({
      id: 'abc123',
      name: 'web',
      state: vmv1.VmState.VM_STATE_RUNNING,
      image: { id: 'img1', name: 'debian' },
      vcpus: 2,
      memoryMib: 1024,
      workDiskSizeBytes: 4 * 1024 ** 3,
      network: { ipv4: '172.30.0.5', mac: '52:54:00:00:00:05', tap: 'bt5', dnsName: 'web.vm' },
      createOpId: 'op-aaaaaaaaaaaa',
      pid: 4242,
      startedAt: vm.startedAt,
    });
    expect(p.stoppedAt).toBeUndefined();
  });

  it('includes credentials only when secrets were asked for', () => {
    expect(vmToProto(vm).credentials).toEqual([]);
    expect(vmToProto(vm, { includeSecrets: true }).credentials).toEqual([{ service: 'opencode', username: 'u', password: 'secret' }]);
  });

  it('maps states both ways', () => {
    expect(vmStateFromProto(vmv1.VmState.VM_STATE_STOPPED)).toBe('stopped');
    expect(vmStateFromProto(vmv1.VmState.VM_STATE_UNSPECIFIED)).toBeUndefined();
  });
});
