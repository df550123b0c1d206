import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorkSeed, type RecipeDoc } from '@banger/imagekit';
import { HostImageFiles } from './image-files.js';

const haveTools = spawnSync('which', ['mkfs.ext4']).status === 0 && spawnSync('which', ['debugfs']).status === 0;
if (!haveTools) console.warn('skipping HostImageFiles seed tests: mkfs.ext4/debugfs (e2fsprogs) not installed');

describe.skipIf(!haveTools)('HostImageFiles', () => {
  let root: string;
  let files: HostImageFiles;
  const removed: string[] = [];
  const promoted: string[] = [];
  const store = {
    removeImage: async (image: string) => removed.push(image) > 0,
    promoteVmDisk: async (vmId: string, image: string) => {
      promoted.push(`${vmId}:${image}`);
      return { dir: path.join(root, 'images', image), rootfsBytes: 1, baseImage: 'base-1' };
    },
  };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'imaged-files-'));
    await mkdir(path.join(root, 'images'));
    files = new HostImageFiles(path.join(root, 'images'), store);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads a work seed fingerprint from the seed marker itself (the self-healing source)', async () => {
    const recipe = { name: 'debian-bookworm', doc: { workSeed: { sizeMiB: 8, label: 'work' } } as RecipeDoc };
    const seed = await buildWorkSeed(recipe, path.join(root, 'images', 'img', 'work-seed.ext4'));
    expect(await files.seedFingerprint(seed.path)).toBe(seed.fingerprint);
  });

  it('falls back to a content hash for a seed without a marker', async () => {
    const blob = path.join(root, 'images', 'img', 'blob');
    await writeFile(blob, 'not an ext4');
    expect(await files.seedFingerprint(blob)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('asks privhelper to remove an image of its store, by id, and nothing else', async () => {
    await expect(files.remove('/etc')).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(files.remove(path.join(root, 'images'))).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(files.remove(path.join(root, 'images', 'a', 'b'))).rejects.toMatchObject({ code: 'INTERNAL' });
    await files.remove(path.join(root, 'images', 'img'));
    expect(removed).toEqual(['img']);
  });

  it('promotes by naming the VM and a promoted-<id> image; privhelper finds the disk', async () => {
    const out = await files.promote({ vmId: 'vm-1', id: 'abc' });
    expect(promoted).toEqual(['vm-1:promoted-abc']);
    expect(out).toMatchObject({ dir: path.join(root, 'images', 'promoted-abc'), rootfs: path.join(root, 'images', 'promoted-abc', 'rootfs.ext4') });
  });
});
