import { describe, expect, it } from 'vitest';
import type { ImageRecord } from '@banger/store';
import { imageFromRecord } from './image-repo.js';

function record(metadata: Record<string, unknown>): ImageRecord {
  return {
    id: 'i-1',
    name: 'old',
    fingerprint: 'f'.repeat(64),
    recipe: 'debian-bookworm',
    kernelId: 'k-1',
    sourceVmId: null,
    paths: { dir: '/s/images/old', rootfs: '/s/images/old/rootfs.ext4', workSeed: '/s/images/old/work-seed.ext4', vmlinux: '/s/k/vmlinux', initrd: '/s/k/initrd.img', kernelDir: '/s/k' },
    metadata,
    sizeBytes: 5,
    createdAt: new Date(0),
    updatedAt: new Date(0),
    lastUsedAt: null,
  };
}

describe('imageFromRecord', () => {
  it('a row recorded before workSeedFingerprint existed reads as undefined (to be healed), not as an error', () => {
    const i = imageFromRecord(record({ initMode: 'minimal', kernel: { name: 'k', release: 'r', packageVersion: 'v' } }));
    expect(i.workSeedFingerprint).toBeUndefined();
    expect(i).toMatchObject({ initMode: 'minimal', inits: { minimal: '/sbin/banger-init', systemd: '/sbin/init' }, services: [], kernelArgs: [], kernel: { id: 'k-1', name: 'k' } });
  });

  it('keeps the stored fields', () => {
    const i = imageFromRecord(record({ initMode: 'systemd', workSeedFingerprint: 'abc', inits: { systemd: '/lib/systemd/systemd', minimal: '/x' }, kernelArgs: ['quiet'] }));
    expect(i).toMatchObject({ initMode: 'systemd', workSeedFingerprint: 'abc', inits: { systemd: '/lib/systemd/systemd' }, kernelArgs: ['quiet'], rootfsBytes: 5 });
  });

  it("maps a row from before privhelper's store to the image's directory in the store (same id)", () => {
    const i = imageFromRecord(record({}), '/s/helper/images');
    expect(i.paths).toMatchObject({ dir: '/s/helper/images/old', rootfs: '/s/helper/images/old/rootfs.ext4', workSeed: '/s/helper/images/old/work-seed.ext4' });
    expect(imageFromRecord(record({})).paths.dir).toBe('/s/images/old');
  });
});
