import type { Subnet } from '../domain/addressing.js';
import { guestCmdline } from '../domain/guest-cmdline.js';
import type { Vm } from '../domain/vm.js';
import type { LaunchInput } from '../ports/host.js';

/**
 * What privhelper launches for a VM: the same for a first boot (create) and a restart, built
 * from the VM alone. It names the kernel and the VM; privhelper finds the disks it made for
 * this VM and the tap it assigned. banger's own key rides on the command line; a user's keys are written by
 * the agent stage (they would not fit privhelper's bound on one argument).
 */
export function launchInputFor(vm: Vm, subnet: Subnet, sshPublicKey: string): LaunchInput {
  const { boot } = vm.spec;
  return {
    vmId: vm.id,
    memoryMib: vm.memoryMib,
    vcpus: vm.vcpus,
    kernel: boot.storeKernel,
    cmdline: guestCmdline({
      initPath: boot.initPath,
      ipv4: vm.network.ipv4 ?? '',
      prefix: subnet.prefix,
      gateway: subnet.gateway,
      hostname: vm.name,
      sshPublicKey,
      // Service secrets are generated in the guest on first boot and read back through the
      // agent: a kernel argument would show in every host user's process list.
      secrets: {},
      imageArgs: boot.kernelArgs,
    }),
    mac: vm.network.mac ?? '',
    ...(vm.spec.sharedRam === true ? { sharedRam: true as const } : {}),
  };
}
