import type { helperv2 } from '@banger/api';
import { unary } from '@banger/runtime';
import { validateImageId } from '../../domain/store/ids.js';
import type { VmDiskStore } from '../store/vm-disks.js';

/** Disk verbs: the caller names a VM and an image; the store chooses every path. */
export function diskHandlers(disks: VmDiskStore): Record<string, unknown> {
  return {
    createOverlay: unary(async (req: helperv2.CreateOverlayRequest): Promise<helperv2.CreateOverlayResponse> => {
      const info = await disks.createOverlay(req.vmId, validateImageId(req.image));
      return { path: info.path, created: info.created, sizeBytes: info.sizeBytes };
    }),
    removeOverlay: unary(async (req: helperv2.RemoveOverlayRequest): Promise<helperv2.RemoveOverlayResponse> => disks.removeOverlay(req.vmId)),
    createWorkDisk: unary(async (req: helperv2.CreateWorkDiskRequest): Promise<helperv2.CreateWorkDiskResponse> => {
      const info = await disks.createWorkDisk(req.vmId, validateImageId(req.image), req.sizeBytes);
      return { path: info.path, created: info.created, sizeBytes: info.sizeBytes };
    }),
    resizeWorkDisk: unary(async (req: helperv2.ResizeWorkDiskRequest): Promise<helperv2.ResizeWorkDiskResponse> => {
      const r = await disks.resizeWorkDisk(req.vmId, req.sizeBytes);
      return { previousSizeBytes: r.previous, sizeBytes: r.sizeBytes };
    }),
    removeWorkDisk: unary(async (req: helperv2.RemoveWorkDiskRequest): Promise<helperv2.RemoveWorkDiskResponse> => disks.removeWorkDisk(req.vmId)),
  };
}
