import { FailedPreconditionError } from '@banger/runtime/errors';
import type { Hypervisor, VmHandle } from '../domain/hypervisor/driver.js';
import { validateLaunchSpec, type LaunchLimits, type LaunchRequest } from '../domain/vmspec/spec.js';
import { checkGuestMemory, type GuestMemoryQuotaDeps } from './guest-memory-quota.js';
import type { GuestRam, KernelFiles, RunningVms, TapAssignments, VmDisks } from '../ports/stores.js';

export interface LaunchVmDeps {
  hypervisor: () => Promise<Hypervisor & RunningVms>;
  kernels: KernelFiles;
  disks: VmDisks;
  taps: TapAssignments;
  limits: LaunchLimits;
  runVmsDir: string;
  /** [privhelper] max_guest_memory_percent: running guests and the snapshot templates held. */
  memory: GuestMemoryQuotaDeps;
  ram: GuestRam;
}

export interface LaunchOptions {
  /** Start paused, waiting for a saved state (RestoreVm feeds it). */
  readonly incoming?: boolean;
  /** A clone's RAM: a sealed template mapped copy-on-write (RestoreSnapshot). */
  readonly templateRamFd?: number;
}

/**
 * LaunchHypervisor: the caller names a VM, a kernel and a MAC; privhelper finds everything
 * else itself (the kernel in its store, the disks it created for that VM with the base image
 * it recorded, the tap it assigned to that VM) and hands QEMU descriptors, not paths. Launches
 * are serialised so two cannot both pass the memory quota.
 */
export class LaunchVm {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: LaunchVmDeps) {}

  run(req: LaunchRequest, opts: LaunchOptions = {}): Promise<VmHandle> {
    const next = this.queue.then(
      () => this.launch(req, opts),
      () => this.launch(req, opts),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async launch(req: LaunchRequest, opts: LaunchOptions): Promise<VmHandle> {
    const incoming = opts.incoming === true;
    const { deps } = this;
    const spec = validateLaunchSpec(req, deps.runVmsDir, deps.limits);
    const hv = await deps.hypervisor();
    const running = await hv.find(spec.vmId);
    if (running === undefined) {
      await checkGuestMemory(deps.memory, spec.memoryMib, `vm ${spec.vmId}`);
    }
    let net: { tap: string; mac: string; netns?: string } | undefined;
    if (spec.mac !== undefined) {
      const tap = deps.taps.tapOf(spec.vmId);
      if (tap === undefined) throw new FailedPreconditionError('TAP_NOT_ASSIGNED', `vm ${spec.vmId} has no tap: AcquireTap first`, { fields: { vm_id: spec.vmId } });
      net = { tap, mac: spec.mac, ...(deps.taps.netns ? { netns: deps.taps.netns } : {}) };
    }
    const kernel = await deps.kernels.paths(spec.kernel, 'spec.kernel');
    if (spec.sharedRam === true && opts.templateRamFd !== undefined) {
      throw new FailedPreconditionError('SHARED_RAM_CONFLICT', `vm ${spec.vmId}: shared_ram and a template's RAM exclude each other`, { fields: { field: 'shared_ram' } });
    }
    const disks = await deps.disks.openForLaunch(spec.vmId, spec.workDisk);
    // A shared_ram VM's own RAM: QEMU keeps the memfd, this fd goes once it has it.
    const fresh = spec.sharedRam === true ? deps.ram.fresh(spec.memoryMib * 1024 * 1024) : undefined;
    const ram = fresh !== undefined ? { fd: fresh, share: true } : opts.templateRamFd !== undefined ? { fd: opts.templateRamFd, share: false } : undefined;
    try {
      return await hv.launch({ spec, kernelPath: kernel.vmlinux, initrdPath: kernel.initrd, disks, ...(net ? { net } : {}), ...(incoming ? { incoming } : {}), ...(ram ? { ram } : {}) });
    } finally {
      await disks.close();
      if (fresh !== undefined) await deps.ram.close(fresh);
    }
  }
}
