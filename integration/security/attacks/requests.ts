import { randomBytes } from 'node:crypto';
import { helperv1 } from '@banger/api';
import type { StagedGuest } from '../lib/build-inputs.js';

/**
 * The v1 helper requests the attacks send, built in one place: when the helper API changes
 * (v2: disks and kernels named by id), these builders are what changes, not the attacks.
 */

export const QCOW2 = helperv1.DiskFormat.DISK_FORMAT_QCOW2;
export const RAW = helperv1.DiskFormat.DISK_FORMAT_RAW;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export function vmId(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export interface LaunchOptions {
  readonly vmId: string;
  readonly guest: StagedGuest;
  readonly root: { path: string; format: helperv1.DiskFormat };
  readonly work?: { path: string; format: helperv1.DiskFormat };
  readonly kernelPath?: string;
  readonly initrdPath?: string;
  readonly memoryMib?: number;
  readonly vcpus?: number;
}

/** A LaunchHypervisor request for the tiny guest, without a NIC (no verb here needs one). */
export function launchRequest(o: LaunchOptions): helperv1.LaunchHypervisorRequest {
  return helperv1.LaunchHypervisorRequest.fromPartial({
    spec: {
      vmId: o.vmId,
      kind: helperv1.HypervisorKind.HYPERVISOR_KIND_QEMU,
      memoryMib: o.memoryMib ?? 256,
      vcpus: o.vcpus ?? 1,
      kernelPath: o.kernelPath ?? o.guest.kernel,
      initrdPath: o.initrdPath ?? o.guest.initrd,
      cmdline: [
        { key: 'console', value: 'ttyS0' },
        { key: 'panic', value: '-1' },
      ],
      disks: [{ id: 'root', path: o.root.path, format: o.root.format }, ...(o.work ? [{ id: 'work', path: o.work.path, format: o.work.format }] : [])],
    },
  });
}

export function createOverlayRequest(id: string, basePath: string): helperv1.CreateOverlayRequest {
  return helperv1.CreateOverlayRequest.fromPartial({ vmId: id, basePath, format: QCOW2 });
}

export function createWorkDiskRequest(id: string, seedPath: string, sizeBytes: number): helperv1.CreateWorkDiskRequest {
  return helperv1.CreateWorkDiskRequest.fromPartial({ vmId: id, seedPath, sizeBytes });
}

export function buildRootfsRequest(o: { outputPath: string; modulesDir: string; recipe?: string }): helperv1.BuildRootfsRequest {
  return helperv1.BuildRootfsRequest.fromPartial({ recipe: o.recipe ?? 'debian-bookworm', outputPath: o.outputPath, modulesDir: o.modulesDir });
}
