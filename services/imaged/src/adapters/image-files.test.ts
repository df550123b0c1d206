import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorkSeed, type RecipeDoc } from '@banger/imagekit';
import { sampleImage } from '../testing/fakes.js';
import { HostImageFiles } from './image-files.js';

const haveTools = spawnSync('which', ['mkfs.ext4']).status === 0 && spawnSync('which', ['debugfs']).status === 0;
if (!haveTools) console.warn('skipping HostImageFiles seed tests: mkfs.ext4/debugfs (e2fsprogs) not installed');

describe.skipIf(!haveTools)('HostImageFiles', () => {
  let root: string;
  let files: HostImageFiles;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'imaged-files-'));
    await mkdir(path.join(root, 'images'));
    await mkdir(path.join(root, 'vms'));
    files = new HostImageFiles(path.join(root, 'images'), path.join(root, 'vms'));
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

  it('removes only directories inside the images directory', async () => {
    await expect(files.remove(path.join(root, 'vms'))).rejects.toMatchObject({ reason: 'PATH_ESCAPE' });
    await expect(files.remove(path.join(root, 'images'))).rejects.toMatchObject({ code: 'INTERNAL' });
    await files.remove(path.join(root, 'images', 'img'));
  });

  it('promotion reads root disks only from the VM disks directory', async () => {
    const base = sampleImage();
    await expect(files.promote({ overlay: '/etc/passwd', id: 'x', base })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'PATH_ESCAPE' });
    await expect(files.promote({ overlay: path.join(root, 'vms', 'nope', 'root.qcow2'), id: 'x', base })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
