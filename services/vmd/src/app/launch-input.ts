import type { VmRecord } from '@banger/store';
import type { Subnet } from '../domain/addressing.js';
import { guestCmdline } from '../domain/guest-cmdline.js';
import type { KernelRef, LaunchInput } from '../ports/host.js';

export interface BootFiles {
  kernel: KernelRef;
  initPath: string;
  /** The image's own kernel arguments ("quiet", "net.ifnames=0"), after banger's. */
  kernelArgs: readonly string[];
}

/**
 * The kernel a VM row boots: recorded by name and version since privhelper's kernel store;
 * rows from before name only the staged vmlinux path (`.../kernels/<name>/<version>/vmlinux`).
 */
export function kernelOfSpec(spec: Record<string, unknown>): KernelRef {
  const k = spec['kernel'];
  if (typeof k === 'object' && k !== null && typeof (k as KernelRef).name === 'string' && typeof (k as KernelRef).version === 'string') {
    return { name: (k as KernelRef).name, version: (k as KernelRef).version };
  }
  const parts = typeof spec['kernelPath'] === 'string' ? spec['kernelPath'].split('/') : [];
  return { name: parts.at(-3) ?? '', version: parts.at(-2) ?? '' };
}

/** What privhelper launches for a VM row: the same for a first boot (create) and a restart. */
export function launchInputFor(vm: VmRecord, files: BootFiles, subnet: Subnet, sshPublicKey: string): LaunchInput {
  return {
    vmId: vm.id,
    memoryMib: vm.memoryMib,
    vcpus: vm.vcpus,
    kernel: files.kernel,
    cmdline: guestCmdline({
      initPath: files.initPath,
      ipv4: vm.ipv4 ?? '',
      prefix: subnet.prefix,
      gateway: subnet.gateway,
      hostname: vm.name,
      sshPublicKey,
      // Service secrets are generated in the guest on first boot and read back through the
      // agent: a kernel argument would show in every host user's process list.
      secrets: {},
      imageArgs: files.kernelArgs,
    }),
    mac: vm.mac ?? '',
  };
}
