import type { VmRecord } from '@banger/store';
import type { Subnet } from '../domain/addressing.js';
import { guestCmdline } from '../domain/guest-cmdline.js';
import type { LaunchInput } from '../ports/host.js';

export interface BootFiles {
  kernelPath: string;
  initrdPath: string;
  initPath: string;
  rootDiskPath: string;
  workDiskPath: string;
  /** The image's own kernel arguments ("quiet", "net.ifnames=0"), after banger's. */
  kernelArgs: readonly string[];
}

/** What privhelper launches for a VM row: the same for a first boot (create) and a restart. */
export function launchInputFor(vm: VmRecord, files: BootFiles, subnet: Subnet, sshPublicKey: string): LaunchInput {
  return {
    vmId: vm.id,
    memoryMib: vm.memoryMib,
    vcpus: vm.vcpus,
    kernelPath: files.kernelPath,
    initrdPath: files.initrdPath,
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
    rootDiskPath: files.rootDiskPath,
    workDiskPath: files.workDiskPath,
    tap: vm.tap ?? '',
    mac: vm.mac ?? '',
  };
}
