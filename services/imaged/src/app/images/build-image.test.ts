import { describe, expect, it } from 'vitest';
import type { BuiltImage, RecipeSource, RootfsBuilder } from '../../ports/images.js';
import { FakeImageFiles, MemoryImageRepo, MemoryKernelRepo, recordingHandle, sampleImage, sampleKernel } from '../../testing/fakes.js';
import { BuildImage, type BuildImageCommand } from './build-image.js';

const FP = 'ab'.repeat(32);
const DIR = `/state/images/debian-bookworm-${FP.slice(0, 16)}`;

function built(): BuiltImage {
  const i = sampleImage({ fingerprint: FP });
  return {
    recipe: 'debian-bookworm',
    fingerprint: FP,
    kernel: { name: i.kernel.name, release: i.kernel.release, packageVersion: i.kernel.packageVersion },
    paths: { ...i.paths, dir: DIR, rootfs: `${DIR}/rootfs.ext4`, workSeed: `${DIR}/work-seed.ext4` },
    rootfsBytes: 1024,
    workSeedFingerprint: '7'.repeat(32),
    initMode: 'minimal',
    inits: i.inits,
    kernelArgs: i.kernelArgs,
    services: i.services,
  };
}

function setup(opts: { images?: ReturnType<typeof sampleImage>[]; kernelInstalled?: boolean; buildFails?: Error; insertFails?: Error } = {}) {
  const images = new MemoryImageRepo(opts.images ?? []);
  const insertFails = opts.insertFails;
  if (insertFails) {
    images.insert = async () => {
      throw insertFails;
    };
  }
  const kernels = new MemoryKernelRepo(opts.kernelInstalled === false ? [] : [sampleKernel()]);
  const files = new FakeImageFiles(new Set());
  const builds: string[] = [];
  const builder: RootfsBuilder = {
    build: async (req, o) => {
      builds.push(req.recipe);
      await o.onProgress({ step: 'base', done: 0, total: 4, message: 'base' });
      if (opts.buildFails) throw opts.buildFails;
      return { dir: DIR, image: DIR.split('/').pop() ?? '', built: built() };
    },
  };
  const recipes: RecipeSource = {
    list: async () => [],
    describe: async (name) => {
      if (name !== 'debian-bookworm') throw Object.assign(new Error('no recipe'), { kind: 'NOT_FOUND', reason: 'RECIPE_NOT_FOUND' });
      return { name, description: '', initMode: 'minimal' };
    },
    fingerprint: async () => FP,
  };
  const pulled: string[] = [];
  const installed: string[] = [];
  const installer = { installKernel: async (k: { name: string }) => void installed.push(k.name), removeKernel: async () => undefined };
  const use = new BuildImage({
    images,
    kernels,
    kernelSource: { defaultKernel: async () => 'debian-bookworm-cloud' },
    recipes,
    builder,
    installer,
    files: { remove: files.remove.bind(files) },
    pullKernel: {
      pull: async (name, op, stage) => {
        pulled.push(name);
        await op.emit({ type: 'stage_started', stage, startedAt: new Date().toISOString() });
        await op.emit({ type: 'stage_finished', stage, durationMs: 1, ok: true });
        return { kernel: await kernels.save({ ...sampleKernel() }, 'k-1'), unchanged: false };
      },
    },
  });
  return { use, images, files, builds, pulled, installed };
}

const cmd: BuildImageCommand = { recipe: 'debian-bookworm', name: '', kernel: '', initMode: undefined, force: false };

function stageNames(events: { type: string; stage?: string }[]): string[] {
  return events.filter((e) => e.type === 'stage_started').map((e) => e.stage ?? '');
}

describe('BuildImage', () => {
  it('builds, registers under the recipe name and ends with the image; the op id comes first', async () => {
    const { use, images, builds } = setup();
    const op = recordingHandle();
    const out = await use.run(cmd, op);
    expect(op.events[0]).toMatchObject({ type: 'accepted', opId: op.opId, kind: 'image_build', target: 'debian-bookworm' });
    expect(stageNames(op.events)).toEqual(['resolve', 'kernel', 'fingerprint', 'rootfs', 'register']);
    expect(op.events.some((e) => e.type === 'progress' && e.stage === 'rootfs')).toBe(true);
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { unchanged: false, image: { name: 'debian-bookworm', fingerprint: FP } } });
    expect(builds).toEqual(['debian-bookworm']);
    expect(out).toMatchObject({ unchanged: false });
    expect((await images.list()).map((i) => i.name)).toEqual(['debian-bookworm']);
    expect(op.resources.size).toBe(0);
  });

  it('an unchanged fingerprint is a no-op that says so and returns the existing image', async () => {
    const existing = sampleImage({ fingerprint: FP });
    const { use, builds } = setup({ images: [existing] });
    const op = recordingHandle();
    await use.run(cmd, op);
    expect(builds).toEqual([]);
    expect(op.events.find((e) => e.type === 'stage_finished' && e.stage === 'rootfs')).toMatchObject({ skipped: true, message: expect.stringMatching(/^unchanged/) as unknown });
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { unchanged: true, image: { id: existing.id } } });
  });

  it('pulls a missing kernel as its own stage', async () => {
    const { use, pulled } = setup({ kernelInstalled: false });
    const op = recordingHandle();
    await use.run(cmd, op);
    expect(pulled).toEqual(['debian-bookworm-cloud']);
    expect(stageNames(op.events)).toContain('kernel');
  });

  it('a new build takes the name; the older image is renamed <name>-<fp8>', async () => {
    const older = sampleImage({ id: 'old-id', fingerprint: 'cd'.repeat(32) });
    const { use, images } = setup({ images: [older] });
    await use.run(cmd, recordingHandle());
    expect((await images.findByRef('old-id')).name).toBe('debian-bookworm-cdcdcdcd');
    expect((await images.findByName('debian-bookworm'))?.fingerprint).toBe(FP);
  });

  it('a failed registration removes the built directory and leaves no row', async () => {
    const { use, images, files } = setup({ insertFails: new Error('database down') });
    const op = recordingHandle();
    await expect(use.run(cmd, op)).rejects.toMatchObject({ stage: 'register' });
    expect(files.removed).toEqual([DIR]);
    expect(await images.list()).toEqual([]);
    expect(op.resources.size).toBe(0);
  });

  it('a failed rootfs build creates no row and has no directory to remove', async () => {
    const { use, images, files } = setup({ buildFails: new Error('debootstrap failed') });
    await expect(use.run(cmd, recordingHandle())).rejects.toMatchObject({ stage: 'rootfs' });
    expect(files.removed).toEqual([]);
    expect(await images.list()).toEqual([]);
  });

  it('preflight refuses an unknown recipe and an invalid image name before any operation', async () => {
    const { use } = setup();
    await expect(use.preflight({ ...cmd, recipe: 'nope' })).rejects.toMatchObject({ reason: 'RECIPE_NOT_FOUND' });
    await expect(use.preflight({ ...cmd, name: 'Bad Name' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'INVALID_IMAGE_NAME' });
  });
});
