import { randomBytes } from 'node:crypto';
import { helperv2 } from '@banger/api';

/**
 * The helper v2 requests the attacks send, built in one place. In v2 callers only name
 * things (a VM id, an image id, a kernel {name, version}); privhelper picks every path.
 */

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export function vmId(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export interface KernelRef {
  readonly name: string;
  readonly version: string;
}

export interface LaunchOptions {
  readonly vmId: string;
  readonly kernel: KernelRef;
  readonly workDisk?: boolean;
  readonly memoryMib?: number;
  readonly vcpus?: number;
}

/** A LaunchHypervisor request for the tiny guest, without a NIC (no attack here needs one). */
export function launchRequest(o: LaunchOptions): helperv2.LaunchHypervisorRequest {
  return helperv2.LaunchHypervisorRequest.fromPartial({
    spec: {
      vmId: o.vmId,
      kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
      memoryMib: o.memoryMib ?? 256,
      vcpus: o.vcpus ?? 1,
      kernel: { name: o.kernel.name, version: o.kernel.version },
      cmdline: [
        { key: 'console', value: 'ttyS0' },
        { key: 'panic', value: '-1' },
      ],
      workDisk: o.workDisk ?? false,
    },
  });
}

export function createOverlayRequest(id: string, image: string): helperv2.CreateOverlayRequest {
  return helperv2.CreateOverlayRequest.fromPartial({ vmId: id, image });
}

export function createWorkDiskRequest(id: string, image: string, sizeBytes: number): helperv2.CreateWorkDiskRequest {
  return helperv2.CreateWorkDiskRequest.fromPartial({ vmId: id, image, sizeBytes });
}

export function buildRootfsRequest(kernel: KernelRef, recipe = 'debian-bookworm'): helperv2.BuildRootfsRequest {
  return helperv2.BuildRootfsRequest.fromPartial({ recipe, kernel: { name: kernel.name, version: kernel.version } });
}
