import type { helperv2 } from '@banger/api';
import { FailedPreconditionError, PermissionDeniedError, unary } from '@banger/runtime';
import { validateKernelRef } from '../../domain/store/ids.js';
import type { InstalledKernel, KernelStore } from '../store/kernel-store.js';

export interface KernelHandlerDeps {
  kernels: KernelStore;
  /** Kernels running VMs booted (not removable while they run). */
  inUse: () => Promise<{ name: string; version: string }[]>;
}

function toProto(k: InstalledKernel): helperv2.InstalledKernel {
  return { ref: { name: k.ref.name, version: k.ref.version }, release: k.release, vmlinuxSha256: k.vmlinuxSha256, initrdSha256: k.initrdSha256, sizeBytes: k.sizeBytes };
}

export function kernelHandlers(deps: KernelHandlerDeps): Record<string, unknown> {
  return {
    installKernel: unary(async (req: helperv2.InstallKernelRequest, ctx): Promise<helperv2.InstallKernelResponse> => {
      const ref = validateKernelRef(req.kernel);
      const caller = ctx.peer?.uid;
      if (caller === undefined) throw new PermissionDeniedError('CALLER_UNKNOWN', 'the caller could not be identified');
      // The pulled files must be the caller's own (or root's): never a file another uid planted.
      const { kernel, installed } = await deps.kernels.install(ref, (uid) => uid === caller || uid === 0);
      return { kernel: toProto(kernel), installed };
    }),
    listKernels: unary(async (): Promise<helperv2.ListKernelsResponse> => ({ kernels: (await deps.kernels.list()).map(toProto) })),
    removeKernel: unary(async (req: helperv2.RemoveKernelRequest): Promise<helperv2.RemoveKernelResponse> => {
      const ref = validateKernelRef(req.kernel);
      if ((await deps.inUse()).some((k) => k.name === ref.name && k.version === ref.version)) {
        throw new FailedPreconditionError('KERNEL_IN_USE', `kernel ${ref.name} ${ref.version} is running in a VM`, { fields: { field: 'kernel' } });
      }
      return { removed: await deps.kernels.remove(ref) };
    }),
  };
}
