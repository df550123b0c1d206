import { describe, expect, it } from 'vitest';
import { FakeImageFiles, MemoryImageRepo, sampleImage } from '../../testing/fakes.js';
import { ImageQueries } from './image-queries.js';

const DAY = 24 * 60 * 60 * 1000;

describe('ImageQueries', () => {
  it('prune removes images that are not the newest of their recipe and older than the cut-off', async () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const at = (days: number): Date => new Date(now.getTime() - days * DAY);
    const current = sampleImage({ id: 'cur', name: 'debian-bookworm', createdAt: at(1), paths: { ...sampleImage().paths, dir: '/i/cur' } });
    const old = sampleImage({ id: 'old', name: 'debian-bookworm-aaaaaaaa', createdAt: at(30), paths: { ...sampleImage().paths, dir: '/i/old' } });
    const recent = sampleImage({ id: 'rec', name: 'debian-bookworm-bbbbbbbb', createdAt: at(2), paths: { ...sampleImage().paths, dir: '/i/rec' } });
    const promoted = sampleImage({ id: 'pro', name: 'my-box', recipe: null, createdAt: at(90), paths: { ...sampleImage().paths, dir: '/i/pro' } });
    const images = new MemoryImageRepo([current, old, recent, promoted]);
    const files = new FakeImageFiles(new Set());
    const q = new ImageQueries({ images, files, recipes: { list: async () => [], fingerprint: async () => '' }, kernels: { findByName: async () => null }, kernelSource: { defaultKernel: async () => 'k' } });

    expect((await q.prune(7 * DAY, true, now)).map((i) => i.id)).toEqual(['old']);
    expect(files.removed).toEqual([]);
    expect((await q.prune(undefined, false, now)).map((i) => i.id).sort()).toEqual(['old', 'rec']);
    expect(files.removed.sort()).toEqual(['/i/old', '/i/rec']);
    expect((await images.list()).map((i) => i.id).sort()).toEqual(['cur', 'pro']);
  });

  it('delete removes the directory (through privhelper), then the row', async () => {
    const image = sampleImage();
    const images = new MemoryImageRepo([image]);
    const files = new FakeImageFiles(new Set());
    const q = new ImageQueries({ images, files, recipes: { list: async () => [], fingerprint: async () => '' }, kernels: { findByName: async () => null }, kernelSource: { defaultKernel: async () => 'k' } });
    expect((await q.delete(image.name)).id).toBe(image.id);
    expect(files.removed).toEqual([image.paths.dir]);
    await expect(q.get(image.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a delete privhelper refuses (a VM disk uses the image) keeps the row; prune skips such images', async () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const used = sampleImage({ id: 'used', name: 'debian-bookworm-aaaaaaaa', createdAt: new Date(now.getTime() - 30 * DAY), paths: { ...sampleImage().paths, dir: '/i/used' } });
    const spare = sampleImage({ id: 'spare', name: 'debian-bookworm-bbbbbbbb', createdAt: new Date(now.getTime() - 20 * DAY), paths: { ...sampleImage().paths, dir: '/i/spare' } });
    const current = sampleImage({ id: 'cur', name: 'debian-bookworm', createdAt: now, paths: { ...sampleImage().paths, dir: '/i/cur' } });
    const images = new MemoryImageRepo([used, spare, current]);
    const files = new FakeImageFiles(new Set());
    files.inUse.add('/i/used');
    const q = new ImageQueries({ images, files, recipes: { list: async () => [], fingerprint: async () => '' }, kernels: { findByName: async () => null }, kernelSource: { defaultKernel: async () => 'k' } });
    await expect(q.delete('used')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'IMAGE_IN_USE' });
    expect((await q.get('used')).id).toBe('used');
    expect((await q.prune(undefined, false, now)).map((i) => i.id)).toEqual(['spare']);
    expect((await images.list()).map((i) => i.id).sort()).toEqual(['cur', 'used']);
  });
});
