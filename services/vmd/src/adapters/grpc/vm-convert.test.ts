import { vmv1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { sampleVm } from '../../testing/sample-vm.js';
import { hypervisorFromProto, vmStateFromProto, VmView } from './vm-convert.js';

const vm = sampleVm({ credentials: [{ service: 'opencode', username: 'u', password: 'secret' }] });
const view = new VmView({ sshKeyPath: '/s/ssh/id' });

describe('VmView', () => {
  it('fills what the VM knows', () => {
    const p = view.toProto(vm);
    expect(p).toMatchObject({
      id: vm.id,
      name: 'web',
      state: vmv1.VmState.VM_STATE_RUNNING,
      image: { id: 'img1', name: 'debian-bookworm' },
      kernel: 'debian-bookworm-cloud',
      vcpus: 2,
      memoryMib: 1024,
      workDiskSizeBytes: 4 * 1024 ** 3,
      network: { ipv4: '172.30.0.5', mac: '02:00:00:00:00:05', tap: 'bt5', dnsName: 'web.vm' },
      pid: 4242,
      ssh: { host: '172.30.0.5', command: ['banger', 'vm', 'ssh', 'web'], identityFile: '/s/ssh/id' },
      autoForward: true,
    });
    expect(p.stoppedAt).toBeUndefined();
  });

  it('includes credentials only when secrets were asked for', () => {
    expect(view.toProto(vm).credentials).toEqual([]);
    expect(view.toProto(vm).services[0]?.credential).toBe('');
    expect(view.toProto(vm, { includeSecrets: true }).credentials).toEqual([{ service: 'opencode', username: 'u', password: 'secret' }]);
  });

  it('maps states and hypervisors from the wire', () => {
    expect(vmStateFromProto(vmv1.VmState.VM_STATE_STOPPED)).toBe('stopped');
    expect(vmStateFromProto(vmv1.VmState.VM_STATE_UNSPECIFIED)).toBeUndefined();
    expect(hypervisorFromProto(vmv1.Hypervisor.HYPERVISOR_UNSPECIFIED)).toBe('unspecified');
    expect(hypervisorFromProto(vmv1.Hypervisor.HYPERVISOR_FIRECRACKER)).toBe('firecracker');
    expect(hypervisorFromProto(99 as vmv1.Hypervisor)).toBe('hypervisor 99');
  });
});
