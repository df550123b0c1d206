import { stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { helperv1 } from '@banger/api';
import { InvalidArgumentError, unary } from '@banger/runtime';
import type { DiskManager } from '../../domain/disk/ports.js';

const FILES: Record<string, 'root' | 'work'> = { 'root.qcow2': 'root', 'root.raw': 'root', 'work.ext4': 'work' };
const WORK_FILE = 'work.ext4';

/**
 * vmd names disks by path; privhelper only touches `<vmDisksRoot>/<vm id>/{root.qcow2,root.raw,work.ext4}`.
 * Anything else is refused before any file operation.
 */
export function vmIdFromDiskPath(vmDisksRoot: string, path: string, field: string, want: 'root' | 'work'): string {
  const rel = relative(vmDisksRoot, path);
  const parts = rel.split(sep);
  if (path === '' || !isAbsolute(path) || rel.startsWith('..') || parts.length !== 2 || FILES[parts[1] ?? ''] !== want || !parts[0]) {
    throw new InvalidArgumentError(field, `must be a banger ${want} disk under ${vmDisksRoot}, got ${JSON.stringify(path)}`, 'PATH_ESCAPE');
  }
  return parts[0];
}

/**
 * A caller-supplied target path must name the very disk privhelper would create for this VM.
 * Checked before any file operation, so a refused request creates nothing.
 */
function checkRequestedPath(vmDisksRoot: string, requested: string, vmId: string, file: string, field: string): void {
  if (requested === '') return;
  const want = join(vmDisksRoot, vmId, file);
  if (!isAbsolute(requested) || relative(want, requested) !== '') {
    throw new InvalidArgumentError(field, `must be empty or ${want}: privhelper decides where VM disks live`, 'PATH_ESCAPE');
  }
}

export function diskHandlers(disks: DiskManager, vmDisksRoot: string): Record<string, unknown> {
  return {
    createOverlay: unary(async (req: helperv1.CreateOverlayRequest): Promise<helperv1.CreateOverlayResponse> => {
      const raw = req.format === helperv1.DiskFormat.DISK_FORMAT_RAW;
      checkRequestedPath(vmDisksRoot, req.path, req.vmId, raw ? 'root.raw' : 'root.qcow2', 'path');
      const info = raw ? await disks.createRawRootCopy(req.vmId, req.basePath) : await disks.createRootOverlay(req.vmId, req.basePath);
      return { path: info.path, created: info.created };
    }),
    removeOverlay: unary(async (req: helperv1.RemoveOverlayRequest): Promise<helperv1.RemoveOverlayResponse> => {
      return disks.removeRootDisk(vmIdFromDiskPath(vmDisksRoot, req.path, 'path', 'root'));
    }),
    createWorkDisk: unary(async (req: helperv1.CreateWorkDiskRequest): Promise<helperv1.CreateWorkDiskResponse> => {
      checkRequestedPath(vmDisksRoot, req.path, req.vmId, WORK_FILE, 'path');
      const info = await disks.createWorkDisk(req.vmId, req.seedPath, req.sizeBytes);
      return { path: info.path, created: info.created, sizeBytes: info.sizeBytes };
    }),
    resizeWorkDisk: unary(async (req: helperv1.ResizeWorkDiskRequest): Promise<helperv1.ResizeWorkDiskResponse> => {
      const vmId = vmIdFromDiskPath(vmDisksRoot, req.path, 'path', 'work');
      // The manager reports only the new size; read the old one first (0 when the disk is absent, which the manager then refuses).
      const previous = await stat(join(vmDisksRoot, vmId, WORK_FILE)).then((s) => s.size, () => 0);
      const info = await disks.resizeWorkDisk(vmId, req.sizeBytes);
      return { previousSizeBytes: info.changed ? previous : info.sizeBytes, sizeBytes: info.sizeBytes };
    }),
    removeWorkDisk: unary(async (req: helperv1.RemoveWorkDiskRequest): Promise<helperv1.RemoveWorkDiskResponse> => {
      return disks.removeWorkDisk(vmIdFromDiskPath(vmDisksRoot, req.path, 'path', 'work'));
    }),
  };
}
