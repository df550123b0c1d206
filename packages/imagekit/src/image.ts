import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { StagedKernel } from './kernel/manifest.js';
import { confinePath } from './paths.js';
import type { ProgressFn } from './progress.js';
import { loadRecipe, recipeFingerprint, type InitMode, type ServiceSpec } from './recipe/recipe.js';
import { buildRootfs } from './rootfs/build.js';
import { buildWorkSeed } from './rootfs/workseed.js';

export const IMAGE_MANIFEST = 'image.json';

/** What imaged records about a built image (also written as image.json in its directory). */
export interface ImageManifest {
  schema: 1;
  recipe: string;
  fingerprint: string;
  kernel: { name: string; release: string; packageVersion: string; dir: string };
  rootfs: string;
  rootfsBytes: number;
  workSeed: string;
  workSeedFingerprint: string;
  initMode: InitMode;
  inits: Record<InitMode, string>;
  kernelArgs: string[];
  services: ServiceSpec[];
  builtAt: string;
}

export interface BuildImageOptions {
  recipe: string;
  kernel: StagedKernel;
  /** banger's images directory; the image goes to <imagesRoot>/<recipe>-<fingerprint[0:16]>/. */
  imagesRoot: string;
  cacheDir: string;
  /** Where the build tree is made (same filesystem as imagesRoot); default: next to the image. */
  workDir?: string;
  imagesDir?: string;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  logger?: Logger;
}

/**
 * Content-addressed image build: an image with the same fingerprint (recipe files, packages,
 * kernel) already present is returned with `noop: true`; otherwise rootfs and work seed are built
 * into a temp directory that is renamed into place only when complete.
 */
export async function buildImage(opts: BuildImageOptions): Promise<{ manifest: ImageManifest; dir: string; noop: boolean }> {
  const recipe = await loadRecipe(opts.recipe, ...(opts.imagesDir ? [opts.imagesDir] : []));
  const km = opts.kernel.manifest;
  const kernel = { name: km.name, release: km.release, packageVersion: km.packageVersion };
  const fingerprint = recipeFingerprint(recipe, kernel);
  await mkdir(opts.imagesRoot, { recursive: true });
  const dir = await confinePath(opts.imagesRoot, `${recipe.name}-${fingerprint.slice(0, 16)}`);
  const existing = await readFile(path.join(dir, IMAGE_MANIFEST), 'utf8').catch(() => undefined);
  if (existing !== undefined) {
    opts.onProgress?.({ stage: 'done', done: 1, total: 1, detail: 'unchanged: image already built' });
    return { manifest: JSON.parse(existing) as ImageManifest, dir, noop: true };
  }
  let tmp: string;
  if (opts.workDir) {
    await mkdir(opts.workDir, { recursive: true, mode: 0o700 });
    tmp = await mkdtemp(path.join(opts.workDir, `${path.basename(dir)}-`));
  } else {
    tmp = `${dir}.building-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
  }
  try {
    const r = await buildRootfs({
      recipe, kernel, outPath: path.join(tmp, 'rootfs.ext4'), cacheDir: opts.cacheDir,
      ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    const seed = await buildWorkSeed(recipe, path.join(tmp, 'work-seed.ext4'), opts.signal);
    const manifest: ImageManifest = {
      schema: 1, recipe: recipe.name, fingerprint,
      kernel: { ...kernel, dir: opts.kernel.dir },
      rootfs: path.join(dir, 'rootfs.ext4'), rootfsBytes: r.sizeBytes,
      workSeed: path.join(dir, 'work-seed.ext4'), workSeedFingerprint: seed.fingerprint,
      initMode: r.initMode, inits: r.inits, kernelArgs: r.kernelArgs, services: r.services,
      builtAt: new Date().toISOString(),
    };
    await writeFile(path.join(tmp, IMAGE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    if (await stat(dir).catch(() => null)) await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return { manifest, dir, noop: false };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
