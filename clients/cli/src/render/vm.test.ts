import { vmv1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { jailSummary, vmDetails } from './vm.js';

const jail = vmv1.VmJail.fromPartial({
  uid: 2_000_000_001,
  gid: 2_000_000_001,
  layersApplied: ['uid', 'no_new_privs', 'namespaces', 'seccomp', 'cgroup'],
  seccompMode: 2,
  capEff: '0000000000000000',
  noNewPrivs: true,
  ownNamespaces: ['mnt', 'net', 'ipc', 'uts'],
  memoryLimitBytes: 768 * 1024 * 1024,
  pidsMax: 256,
  cpuWeight: 1024,
});

describe('jailSummary', () => {
  it('says in one line what the kernel reports about the VM’s QEMU', () => {
    expect(jailSummary(jail)).toBe('uid 2000000001, seccomp filter, no caps, no_new_privs, own mnt,net,ipc,uts, 768 MiB / 256 pids / cpu 1024');
  });

  it('names what is missing: a layer run without, capabilities, no seccomp filter', () => {
    const weak = vmv1.VmJail.fromPartial({ ...jail, seccompMode: 0, capEff: '000001ffffffffff', noNewPrivs: false, memoryLimitBytes: 0, layersSkipped: ['seccomp', 'cgroup'] });
    expect(jailSummary(weak)).toBe('uid 2000000001, seccomp mode 0, caps 000001ffffffffff, own mnt,net,ipc,uts, WITHOUT seccomp,cgroup');
  });

  it('vm show prints the jail only when the VM has one', () => {
    const vm = vmv1.Vm.fromPartial({ id: 'abc', name: 'dev', jail });
    expect(vmDetails(vm)).toMatch(/^jail +uid 2000000001, seccomp filter/m);
    expect(vmDetails(vmv1.Vm.fromPartial({ id: 'abc', name: 'dev' }))).not.toMatch(/jail/);
  });
});
