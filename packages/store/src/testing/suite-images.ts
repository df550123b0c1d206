import { describe, expect, it } from 'vitest';
import type { StoreError } from '../errors.js';
import { ImageStore } from '../repositories/images.js';
import { KernelStore } from '../repositories/kernels.js';
import type { SuiteContext } from './context.js';
import { rejection } from './context.js';

export function imageTests(ctx: SuiteContext): void {
  describe('KernelStore and ImageStore', () => {
    it('stores kernels and images, content-addressed by fingerprint', async () => {
      const kernels = new KernelStore(ctx.db());
      const images = new ImageStore(ctx.db());
      const k = await kernels.insert({ id: 'k1', name: 'debian-cloud', version: '6.1', fingerprint: 'fk1', paths: { vmlinux: '/k/vmlinux' } });
      expect(k.paths).toEqual({ vmlinux: '/k/vmlinux' });
      expect(await kernels.findByFingerprint('fk1')).toEqual(k);
      expect(await kernels.findByFingerprint('nope')).toBeNull();
      const img = await images.insert({ id: 'i1', name: 'default', fingerprint: 'fi1', kernelId: 'k1', recipe: 'bookworm', metadata: { init: 'fast' } });
      expect(img).toMatchObject({ kernelId: 'k1', recipe: 'bookworm', sizeBytes: null, metadata: { init: 'fast' } });
      const updated = await images.update('i1', { metadata: { workSeedFingerprint: 'ws1' }, sizeBytes: 5_000_000_000 });
      expect(updated.metadata).toEqual({ init: 'fast', workSeedFingerprint: 'ws1' });
      expect(updated.sizeBytes).toBe(5_000_000_000);
      expect((await images.findByRef('default')).id).toBe('i1');
      expect((await images.findByRef('i')).name).toBe('default');
      expect((await images.list({ kernelId: 'k1' })).map((i) => i.id)).toEqual(['i1']);
    });

    it('reports duplicates, missing rows and kernels still in use', async () => {
      const kernels = new KernelStore(ctx.db());
      const images = new ImageStore(ctx.db());
      await kernels.insert({ id: 'k1', name: 'kern', fingerprint: 'f1' });
      const dup = (await rejection(kernels.insert({ id: 'k2', name: 'kern', fingerprint: 'f2' }))) as StoreError;
      expect([dup.code, dup.reason]).toEqual(['ALREADY_EXISTS', 'KERNEL_NAME_TAKEN']);
      await images.insert({ id: 'i1', name: 'img', fingerprint: 'fi', kernelId: 'k1' });
      const dupFp = (await rejection(images.insert({ id: 'i2', name: 'img2', fingerprint: 'fi' }))) as StoreError;
      expect(dupFp.reason).toBe('IMAGE_FINGERPRINT_TAKEN');
      const noKernel = (await rejection(images.insert({ id: 'i3', name: 'i3', fingerprint: 'f3', kernelId: 'zz' }))) as StoreError;
      expect([noKernel.code, noKernel.reason]).toEqual(['FAILED_PRECONDITION', 'KERNEL_NOT_FOUND']);
      const inUse = (await rejection(kernels.delete('k1'))) as StoreError;
      expect([inUse.code, inUse.reason]).toEqual(['FAILED_PRECONDITION', 'KERNEL_IN_USE']);
      await images.delete('i1');
      await kernels.delete('k1');
      expect(((await rejection(kernels.getById('k1'))) as StoreError).reason).toBe('KERNEL_NOT_FOUND');
      expect(((await rejection(images.update('i1', {}))) as StoreError).reason).toBe('IMAGE_NOT_FOUND');
    });
  });
}
