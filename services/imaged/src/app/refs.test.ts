import { describe, expect, it } from 'vitest';
import { FakeInstaller, MemoryImageRepo, MemoryKernelRepo } from '../testing/fakes.js';
import { ImageQueries } from './images/image-queries.js';
import { ResolveImage } from './images/resolve-image.js';

/** Repositories that fail the test if anything reaches them. */
function untouchable() {
  const images = new MemoryImageRepo([]);
  const kernels = new MemoryKernelRepo([]);
  const no = async (): Promise<never> => {
    throw new Error('a query was made');
  };
  images.findByRef = no;
  images.findByName = no;
  kernels.findByName = no;
  return { images, kernels };
}

const BAD = [
  ['a NUL byte', 'deb\u0000ian', 'IMAGE_REF_INVALID'],
  ['5,000 characters', 'x'.repeat(5000), 'IMAGE_REF_TOO_LONG'],
] as const;

describe('imaged checks references before any query', () => {
  it.each(BAD)('GetImage and DeleteImage refuse %s naming ref', async (_what, ref, reason) => {
    const { images, kernels } = untouchable();
    const q = new ImageQueries({ images, files: { remove: async () => undefined }, recipes: { list: async () => [], fingerprint: async () => '' }, kernels, kernelSource: { defaultKernel: async () => 'k' } });
    await expect(q.get(ref)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason, fields: { field: 'ref' } });
    await expect(q.delete(ref)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason, fields: { field: 'ref' } });
  });

  it('ResolveImage refuses a bad image or kernel reference naming the field', async () => {
    const { images, kernels } = untouchable();
    const r = new ResolveImage({ images, kernels, files: { exists: async () => true, seedFingerprint: async () => '' }, installer: new FakeInstaller() });
    await expect(r.resolve('a\u0000b')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', fields: { field: 'ref' } });
    await expect(r.resolve('debian', 'k'.repeat(5000))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'KERNEL_REF_TOO_LONG', fields: { field: 'kernel' } });
  });
});
