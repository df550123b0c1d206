import { describe, expect, it } from 'vitest';
import type { KernelSource, StagedKernel } from '../../ports/images.js';
import { FakeInstaller, MemoryImageRepo, MemoryKernelRepo, recordingHandle, sampleImage, sampleKernel } from '../../testing/fakes.js';
import { KernelQueries } from './kernel-queries.js';
import { PullKernel } from './pull-kernel.js';

function staged(over: Partial<StagedKernel> = {}): StagedKernel {
  const { id: _id, installedAt: _at, ...k } = sampleKernel();
  return { ...k, ...over };
}

function source(result: StagedKernel, removed: string[] = []): KernelSource {
  return {
    catalog: async () => [{ name: 'debian-bookworm-cloud', description: '', package: 'linux-image-cloud-amd64', hypervisors: ['qemu'] }, { name: 'debian-bookworm-generic', description: '', package: 'linux-image-amd64', hypervisors: ['qemu'] }],
    defaultKernel: async () => 'debian-bookworm-cloud',
    pull: async (_name, opts) => {
      opts.onProgress({ step: 'download', done: 1, total: 6, detail: 'linux-image' });
      return { kernel: result, alreadyPresent: false };
    },
    remove: async (name) => {
      removed.push(name);
    },
  };
}

describe('PullKernel', () => {
  it('streams the op id, a download stage with progress, registers, and ends with the kernel', async () => {
    const kernels = new MemoryKernelRepo();
    const op = recordingHandle();
    const installer = new FakeInstaller();
    const out = await new PullKernel({ kernels, source: source(staged()), installer }).run({ name: 'debian-bookworm-cloud' }, op);
    expect(op.events[0]).toMatchObject({ type: 'accepted', opId: op.opId, kind: 'kernel_pull' });
    expect(op.events.filter((e) => e.type === 'stage_started').map((e) => (e as { stage: string }).stage)).toEqual(['download', 'install', 'register']);
    // Into privhelper's store before it is recorded: only installed kernels boot.
    expect(installer.installed).toEqual([`debian-bookworm-cloud@${staged().packageVersion}`]);
    expect(op.events.some((e) => e.type === 'progress' && e.message === 'download: linux-image')).toBe(true);
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { unchanged: false, kernel: { name: 'debian-bookworm-cloud' } } });
    expect(out).toMatchObject({ unchanged: false });
    expect(await kernels.list()).toHaveLength(1);
  });

  it('the same kernel already recorded is a no-op that says so, and still (idempotently) installed', async () => {
    const kernels = new MemoryKernelRepo([sampleKernel()]);
    const op = recordingHandle();
    const installer = new FakeInstaller();
    await new PullKernel({ kernels, source: source(staged()), installer }).run({ name: 'debian-bookworm-cloud' }, op);
    expect(installer.installed).toHaveLength(1);
    expect(op.events.find((e) => e.type === 'stage_finished' && e.stage === 'register')).toMatchObject({ skipped: true });
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { unchanged: true } });
  });

  it('a newer version moves the existing row (same id) to the new files', async () => {
    const kernels = new MemoryKernelRepo([sampleKernel()]);
    await new PullKernel({ kernels, source: source(staged({ packageVersion: '6.1.2-1', fingerprint: 'e'.repeat(64) })), installer: new FakeInstaller() }).run({ name: 'debian-bookworm-cloud' }, recordingHandle());
    expect((await kernels.list()).map((k) => [k.id, k.packageVersion])).toEqual([['k-1', '6.1.2-1']]);
  });

  it('refuses a name that is not in the catalog before any operation', async () => {
    await expect(new PullKernel({ kernels: new MemoryKernelRepo(), source: source(staged()), installer: new FakeInstaller() }).preflight('nope')).rejects.toMatchObject({ code: 'NOT_FOUND', reason: 'KERNEL_NOT_IN_CATALOG' });
  });
});

describe('KernelQueries', () => {
  it('lists installed kernels with their images, and catalog kernels on request', async () => {
    const q = new KernelQueries({ kernels: new MemoryKernelRepo([sampleKernel()]), images: new MemoryImageRepo([sampleImage()]), source: source(staged()), installer: new FakeInstaller() });
    const all = await q.list(true);
    expect(all.map((l) => l.state)).toEqual(['installed', 'available']);
    expect(all[0]).toMatchObject({ usedByImages: ['debian-bookworm'] });
    expect(await q.list(false)).toHaveLength(1);
    expect((await q.get('debian-bookworm-generic')).state).toBe('available');
    await expect(q.get('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('delete removes the row first and then the files; an unknown kernel is NOT_FOUND', async () => {
    const removed: string[] = [];
    const kernels = new MemoryKernelRepo([sampleKernel()]);
    const installer = new FakeInstaller();
    const q = new KernelQueries({ kernels, images: new MemoryImageRepo(), source: source(staged(), removed), installer });
    await q.delete('debian-bookworm-cloud');
    expect(removed).toEqual(['debian-bookworm-cloud']);
    expect(installer.removed).toEqual([`debian-bookworm-cloud@${sampleKernel().packageVersion}`]);
    await expect(q.delete('debian-bookworm-cloud')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
