import { imagev1 } from '@banger/api';
import type { KernelListing } from '../../app/kernels/kernel-queries.js';
import type { Kernel, KernelFile } from '../../domain/kernel.js';

function artifact(f: KernelFile): imagev1.KernelArtifact {
  return { path: f.path, sha256: f.sha256, sizeBytes: f.sizeBytes };
}

/** An installed kernel (vmlinux = the ELF QEMU microvm boots, bzimage = the vmlinuz as shipped). */
export function kernelToProto(k: Kernel, usedByImages: string[] = []): imagev1.Kernel {
  return {
    name: k.name,
    version: k.release,
    package: k.package,
    packageVersion: k.packageVersion,
    state: imagev1.KernelState.KERNEL_STATE_INSTALLED,
    hypervisors: k.hypervisors,
    vmlinux: artifact(k.vmlinux),
    bzimage: artifact(k.vmlinuz),
    initrd: artifact(k.initrd),
    modulesDir: k.modulesDir,
    installedAt: k.installedAt,
    usedByImages,
  };
}

export function kernelListingToProto(l: KernelListing): imagev1.Kernel {
  if (l.state === 'installed') return kernelToProto(l.kernel, l.usedByImages);
  return imagev1.Kernel.fromPartial({
    name: l.catalog.name,
    package: l.catalog.package,
    state: imagev1.KernelState.KERNEL_STATE_AVAILABLE,
    hypervisors: l.catalog.hypervisors,
  });
}
