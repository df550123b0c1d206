import { imagev1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { sampleKernel } from '../../testing/fakes.js';
import { kernelListingToProto, kernelToProto } from './kernel-convert.js';

describe('kernel converters', () => {
  it('an installed kernel lists its artifacts (vmlinux = ELF, bzimage = vmlinuz) and the images using it', () => {
    const k = sampleKernel();
    expect(kernelToProto(k, ['debian-bookworm'])).toMatchObject({
      name: 'debian-bookworm-cloud',
      version: '6.1.0-1-cloud-amd64',
      packageVersion: '6.1.1-1',
      state: imagev1.KernelState.KERNEL_STATE_INSTALLED,
      vmlinux: { path: k.vmlinux.path, sha256: k.vmlinux.sha256, sizeBytes: 30 },
      bzimage: { path: k.vmlinuz.path },
      initrd: { path: k.initrd.path },
      modulesDir: k.modulesDir,
      usedByImages: ['debian-bookworm'],
    });
  });

  it('a catalog-only kernel is AVAILABLE with no artifacts', () => {
    const p = kernelListingToProto({ state: 'available', catalog: { name: 'debian-bookworm-generic', description: '', package: 'linux-image-amd64', hypervisors: ['qemu'] } });
    expect(p).toMatchObject({ name: 'debian-bookworm-generic', package: 'linux-image-amd64', state: imagev1.KernelState.KERNEL_STATE_AVAILABLE });
    expect(p.vmlinux).toBeUndefined();
  });
});
