import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type helperv1 } from '@banger/api';
import { buildImage, confinePath, isImageKitError, loadRecipe, verifyKernel, type ProgressEvent } from '@banger/imagekit';
import { InvalidArgumentError, serverStream } from '@banger/runtime';
import { handOver } from '../disk/hand-over.js';

export interface RootfsDeps {
  /** Canonical (realpath'd) state directory: images go to <stateDir>/images, kernels live in <stateDir>/kernels. */
  stateDir: string;
  /** Machine-wide cache (debootstrap base, npm artifacts) from privhelper's own config. */
  cacheDir: string;
  /** Repository images/ directory (recipes are the allow-list); imagekit's default when unset. */
  imagesDir?: string;
}

/** Confines a caller path; any escape is the caller's INVALID_ARGUMENT PATH_ESCAPE on `field`. */
async function confined(root: string, p: string, field: string): Promise<string> {
  try {
    return await confinePath(root, p);
  } catch (err) {
    if (isImageKitError(err, 'PATH_ESCAPE')) throw new InvalidArgumentError(field, `must lie inside ${root}: ${err.message}`, 'PATH_ESCAPE');
    throw err;
  }
}

/**
 * BuildRootfs: the root-only part of an image build (debootstrap, chroot, mkfs) for an
 * allow-listed recipe. `output_path` is the images directory to build into (inside
 * <state_dir>/images; the image lands in a content-addressed subdirectory, returned as the
 * result's output_path); `modules_dir` is a staged kernel's modules/ directory inside
 * <state_dir>/kernels; `cache_dir` must be empty or privhelper's own cache. `size_bytes` and
 * `init` are accepted but the recipe decides both (the image carries both PID 1s).
 * Everything is checked before any file is written. A cancelled call aborts the build;
 * imagekit builds into a temp directory and renames, so nothing partial remains.
 */
export function rootfsHandlers(deps: RootfsDeps): Record<string, unknown> {
  const imagesRoot = path.join(deps.stateDir, 'images');
  const kernelsRoot = path.join(deps.stateDir, 'kernels');
  // One build per recipe at a time: concurrent builds of one recipe would share a temp directory.
  const running = new Map<string, Promise<unknown>>();
  return {
    buildRootfs: serverStream<helperv1.BuildRootfsRequest, helperv1.BuildRootfsResponse>(async (req, ctx, send) => {
      const recipe = await loadRecipe(req.recipe, ...(deps.imagesDir ? [deps.imagesDir] : []));
      await mkdir(imagesRoot, { recursive: true });
      await mkdir(kernelsRoot, { recursive: true });
      const outDir = await confined(imagesRoot, req.outputPath, 'output_path');
      if (req.modulesDir === '') throw new InvalidArgumentError('modules_dir', 'a staged kernel modules directory is required', 'KERNEL_REQUIRED');
      const modulesDir = await confined(kernelsRoot, req.modulesDir, 'modules_dir');
      if (path.basename(modulesDir) !== 'modules') {
        throw new InvalidArgumentError('modules_dir', 'must be a staged kernel\'s modules directory (<state_dir>/kernels/NAME/VERSION/modules)', 'PATH_ESCAPE');
      }
      if (req.cacheDir !== '' && path.resolve(req.cacheDir) !== path.resolve(deps.cacheDir)) {
        throw new InvalidArgumentError('cache_dir', `must be empty or ${deps.cacheDir}`, 'PATH_ESCAPE');
      }
      const kernel = await verifyKernel(path.dirname(modulesDir));

      while (running.has(recipe.name)) await running.get(recipe.name)?.catch(() => undefined);
      let chain: Promise<void> = Promise.resolve();
      const onProgress = (e: ProgressEvent): void => {
        chain = chain.then(() =>
          send({ event: { $case: 'progress', value: { stage: e.stage, done: e.done, total: e.total, unit: 'steps', message: e.detail ?? '' } } }).catch(() => undefined),
        );
      };
      const started = Date.now();
      const build = buildImage({ recipe: recipe.name, kernel, imagesRoot: outDir, cacheDir: deps.cacheDir, signal: ctx.signal, onProgress, logger: ctx.logger, ...(deps.imagesDir ? { imagesDir: deps.imagesDir } : {}) });
      running.set(recipe.name, build);
      try {
        const r = await build;
        await chain;
        // The image belongs to the daemon that asked for it (imaged, as banger), which must be
        // able to delete it later; a root caller keeps it root's.
        const handedTo = (await handOver(r.dir, ctx.peer)) ? ctx.peer?.uid : 0;
        ctx.logger.info({ recipe: recipe.name, dir: r.dir, noop: r.noop, owner_uid: handedTo, duration_ms: Date.now() - started }, 'rootfs built');
        await send({ event: { $case: 'result', value: { outputPath: r.dir, sizeBytes: r.manifest.rootfsBytes, sha256: '', durationMs: Date.now() - started } } });
      } finally {
        running.delete(recipe.name);
      }
    }),
  };
}
