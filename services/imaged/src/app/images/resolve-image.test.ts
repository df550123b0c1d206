import { describe, expect, it } from 'vitest';
import { FakeImageFiles, FakeInstaller, MemoryImageRepo, MemoryKernelRepo, sampleImage, sampleKernel } from '../../testing/fakes.js';
import { ResolveImage } from './resolve-image.js';

function filesOf(...images: ReturnType<typeof sampleImage>[]): Set<string> {
  return new Set(images.flatMap((i) => [i.paths.rootfs, i.paths.workSeed, i.paths.vmlinux, i.paths.initrd]));
}

describe('ResolveImage', () => {
  it('computes and stores a work seed fingerprint that an older image lacks (lazy self-healing), once', async () => {
    const old = sampleImage({ workSeedFingerprint: undefined });
    const images = new MemoryImageRepo([old]);
    const files = new FakeImageFiles(filesOf(old), 'd'.repeat(32));
    const resolve = new ResolveImage({ images, kernels: new MemoryKernelRepo(), files, installer: new FakeInstaller() });

    const first = await resolve.resolve(old.name);
    expect(first.workSeedFingerprint).toBe('d'.repeat(32));
    expect(files.seedReads).toEqual([old.paths.workSeed]);
    expect((await images.findByRef(old.id)).workSeedFingerprint).toBe('d'.repeat(32));

    const second = await resolve.resolve(old.id);
    expect(second.workSeedFingerprint).toBe('d'.repeat(32));
    expect(files.seedReads).toHaveLength(1);
  });

  it('returns what vmd boots from: paths, init path of the image init mode, services', async () => {
    const image = sampleImage({ initMode: 'systemd' });
    const resolve = new ResolveImage({ images: new MemoryImageRepo([image]), kernels: new MemoryKernelRepo(), files: new FakeImageFiles(filesOf(image)), installer: new FakeInstaller() });
    const r = await resolve.resolve(image.id.slice(0, 6));
    expect(r).toMatchObject({
      rootfsPath: image.paths.rootfs,
      kernelPath: image.paths.vmlinux,
      initrdPath: image.paths.initrd,
      workSeedPath: image.paths.workSeed,
      initPath: '/sbin/init',
      kernel: 'debian-bookworm-cloud',
      kernelVersion: '6.1.0-1-cloud-amd64',
      workSeedFingerprint: image.workSeedFingerprint,
    });
    expect(r.services[0]?.port).toBe(4096);
  });

  it('the default image is the one named debian-bookworm, else the newest built from that recipe', async () => {
    const older = sampleImage({ id: 'a1', name: 'debian-bookworm-11111111', createdAt: new Date('2026-01-01') });
    const newer = sampleImage({ id: 'b2', name: 'mine', createdAt: new Date('2026-02-01') });
    const other = sampleImage({ id: 'c3', name: 'other', recipe: 'alpine', createdAt: new Date('2026-03-01') });
    const files = new FakeImageFiles(filesOf(older, newer, other));
    const images = new MemoryImageRepo([older, newer, other]);
    const resolve = new ResolveImage({ images, kernels: new MemoryKernelRepo(), files, installer: new FakeInstaller() });
    expect((await resolve.resolve('')).image.id).toBe('b2');
    images.rows.set('d4', sampleImage({ id: 'd4', name: 'debian-bookworm', createdAt: new Date('2025-01-01') }));
    expect((await resolve.resolve('')).image.id).toBe('d4');
    await expect(new ResolveImage({ images: new MemoryImageRepo([other]), kernels: new MemoryKernelRepo(), files, installer: new FakeInstaller() }).resolve('')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      reason: 'DEFAULT_IMAGE_NOT_BUILT',
    });
  });

  it('refuses an image whose files are gone instead of handing vmd dangling paths', async () => {
    const image = sampleImage();
    const present = filesOf(image);
    present.delete(image.paths.rootfs);
    const resolve = new ResolveImage({ images: new MemoryImageRepo([image]), kernels: new MemoryKernelRepo(), files: new FakeImageFiles(present), installer: new FakeInstaller() });
    await expect(resolve.resolve(image.name)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'IMAGE_FILES_MISSING' });
  });

  it('a kernel override uses that installed kernel, and an unknown one is NOT_FOUND', async () => {
    const image = sampleImage();
    const generic = sampleKernel({ id: 'k-2', name: 'debian-bookworm-generic', release: '6.1.0-1-amd64' });
    const files = new FakeImageFiles(new Set([...filesOf(image), generic.vmlinux.path, generic.initrd.path]));
    const resolve = new ResolveImage({ images: new MemoryImageRepo([image]), kernels: new MemoryKernelRepo([generic]), files, installer: new FakeInstaller() });
    expect(await resolve.resolve(image.name, 'debian-bookworm-generic')).toMatchObject({ kernel: 'debian-bookworm-generic', kernelVersion: '6.1.0-1-amd64', kernelPath: generic.vmlinux.path });
    await expect(resolve.resolve(image.name, 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND', reason: 'KERNEL_NOT_FOUND' });
  });
});
