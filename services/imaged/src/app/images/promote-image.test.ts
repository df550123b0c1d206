import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ImageFiles } from '../../ports/images.js';
import { MemoryImageRepo, sampleImage } from '../../testing/fakes.js';
import { PromoteImage } from './promote-image.js';

function files(removed: string[], baseImage = basename(sampleImage().paths.dir)): Pick<ImageFiles, 'promote' | 'remove'> {
  return {
    promote: async (req) => ({ dir: `/i/promoted-${req.id}`, rootfs: `/i/promoted-${req.id}/rootfs.ext4`, workSeed: `/i/promoted-${req.id}/work-seed.ext4`, rootfsBytes: 42, baseImage }),
    remove: async (dir) => {
      removed.push(dir);
    },
  };
}

const cmd = { vmId: 'vm-1', rootDiskPath: '', name: 'my-box', baseImage: 'debian-bookworm' };

describe('PromoteImage', () => {
  it('records a new image with the base image kernel, init mode, services and seed fingerprint', async () => {
    const base = sampleImage({ initMode: 'systemd' });
    const images = new MemoryImageRepo([base]);
    const promoted = await new PromoteImage({ images, files: files([]) }).run(cmd);
    expect(promoted).toMatchObject({
      name: 'my-box',
      recipe: null,
      sourceVmId: 'vm-1',
      initMode: 'systemd',
      kernel: base.kernel,
      services: base.services,
      workSeedFingerprint: base.workSeedFingerprint,
      rootfsBytes: 42,
      paths: { vmlinux: base.paths.vmlinux, initrd: base.paths.initrd, rootfs: `/i/promoted-${promoted.id}/rootfs.ext4` },
    });
    expect(promoted.fingerprint).not.toBe(base.fingerprint);
  });

  it('refuses a taken name, a bad name and a missing VM id before copying anything', async () => {
    const removed: string[] = [];
    const images = new MemoryImageRepo([sampleImage(), sampleImage({ id: 'x', name: 'my-box', fingerprint: 'x' })]);
    const use = new PromoteImage({ images, files: files(removed) });
    await expect(use.run(cmd)).rejects.toMatchObject({ code: 'ALREADY_EXISTS', reason: 'IMAGE_NAME_TAKEN' });
    await expect(use.run({ ...cmd, name: 'Bad name' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(use.run({ ...cmd, name: 'other', vmId: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'VM_ID_REQUIRED' });
    expect(removed).toEqual([]);
  });

  it('refuses a root disk path: privhelper, not its caller, knows where a VM disk is', async () => {
    const use = new PromoteImage({ images: new MemoryImageRepo([sampleImage()]), files: files([]) });
    await expect(use.run({ ...cmd, rootDiskPath: '/etc/shadow' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'FIELD_NOT_ACCEPTED', fields: { field: 'root_disk_path' } });
  });

  it('removes the copied disk when the row cannot be written', async () => {
    const removed: string[] = [];
    const images = new MemoryImageRepo([sampleImage()]);
    images.insert = async () => {
      throw new Error('database down');
    };
    await expect(new PromoteImage({ images, files: files(removed) }).run(cmd)).rejects.toThrow('database down');
    expect(removed).toHaveLength(1);
  });

  it("takes the base from privhelper's disk record: a base image the disk is not based on is refused, nothing kept", async () => {
    const removed: string[] = [];
    const use = new PromoteImage({ images: new MemoryImageRepo([sampleImage()]), files: files(removed, 'some-other-image') });
    await expect(use.run(cmd)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'BASE_IMAGE_MISMATCH', fields: { field: 'base_image' } });
    expect(removed).toHaveLength(1);
  });
});
