import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '@banger/runtime/errors';
import { log } from '@banger/runtime/logging';
import { StageRunner } from '@banger/runtime/ops';
import { validateKernelName } from '../../domain/refs.js';
import type { JsonObject } from '@banger/store';
import { displacedName, isValidImageName, type Image, type InitMode } from '../../domain/image.js';
import type { Kernel } from '../../domain/kernel.js';
import type { ImageFiles, ImageRepo, KernelInstaller, KernelRepo, KernelSource, RecipeSource, RootfsBuilder } from '../../ports/images.js';
import type { PullKernel } from '../kernels/pull-kernel.js';
import type { OperationHandle } from '@banger/operations';
import { serializeImage } from '../serialize.js';

export interface BuildImageCommand {
  recipe: string;
  /** '' means the recipe name. */
  name: string;
  /** '' means the catalog's default kernel. */
  kernel: string;
  initMode: InitMode | undefined;
  /** Rebuild even when an image with this fingerprint exists (that image is replaced). */
  force: boolean;
}

export interface BuildImageDeps {
  images: ImageRepo;
  kernels: KernelRepo;
  kernelSource: Pick<KernelSource, 'defaultKernel'>;
  recipes: RecipeSource;
  builder: RootfsBuilder;
  installer: KernelInstaller;
  files: Pick<ImageFiles, 'remove'>;
  pullKernel: Pick<PullKernel, 'pull'>;
}

/**
 * Builds an image from an allow-listed recipe. Content-addressed: a recipe fingerprint that is
 * already registered makes the build a no-op that says `unchanged`. The name defaults to the
 * recipe's; an older image holding the name under another fingerprint is renamed
 * `<name>-<its fingerprint[0:8]>` so VMs created from it keep a valid reference. A failed or
 * cancelled build removes its image directory and leaves no row.
 */
export class BuildImage {
  constructor(private readonly deps: BuildImageDeps) {}

  /** Checks made before any operation starts: a refused build leaves not even an operation row. */
  async preflight(cmd: BuildImageCommand): Promise<void> {
    validateKernelName(cmd.kernel, 'kernel', { allowEmpty: true });
    await this.deps.recipes.describe(cmd.recipe);
    const name = cmd.name || cmd.recipe;
    if (!isValidImageName(name)) throw new InvalidArgumentError('name', `invalid image name ${JSON.stringify(name)}`, 'INVALID_IMAGE_NAME');
  }

  async run(cmd: BuildImageCommand, op: OperationHandle): Promise<JsonObject> {
    const { deps } = this;
    const name = cmd.name || cmd.recipe;
    await op.emit({ type: 'accepted', opId: op.opId, kind: 'image_build', target: name });
    const stages = new StageRunner(op.emit);

    const { kernelName, initMode } = await stages.run('resolve', `Resolving recipe ${cmd.recipe}`, async () => {
      const recipe = await deps.recipes.describe(cmd.recipe);
      return { kernelName: cmd.kernel || (await deps.kernelSource.defaultKernel()), initMode: cmd.initMode ?? recipe.initMode };
    });
    let kernel: Kernel | null = await deps.kernels.findByName(kernelName);
    if (kernel) await stages.skip('kernel', `kernel ${kernel.name} ${kernel.packageVersion} installed`);
    else kernel = (await deps.pullKernel.pull(kernelName, op, 'kernel')).kernel;
    const k = kernel;

    // privhelper builds only for kernels in its own store (idempotent: a no-op when installed).
    await deps.installer.installKernel(k);
    const fingerprint = await stages.run('fingerprint', 'Fingerprinting recipe files, packages and kernel', () => deps.recipes.fingerprint(cmd.recipe, k));
    const existing = await deps.images.findByFingerprint(fingerprint);
    if (existing && !cmd.force) {
      const why = `unchanged: image ${existing.name} has fingerprint ${fingerprint.slice(0, 12)}`;
      await stages.skip('rootfs', why);
      await stages.skip('register', why);
      await op.emit({ type: 'result', result: { image: serializeImage(existing), unchanged: true } });
      return { targetId: existing.id, image: existing.name, unchanged: true };
    }

    let dir: string | undefined;
    try {
      const built = await stages.run('rootfs', 'Building the root filesystem (privhelper)', async () => {
        if (existing) {
          // --force: the content-addressed directory would otherwise be reused as is. Files
          // first: privhelper refuses an image a VM disk uses, and then the row must stay.
          await deps.files.remove(existing.paths.dir);
          await deps.images.delete(existing.id);
        }
        const r = await deps.builder.build(
          { recipe: cmd.recipe, kernel: k },
          { signal: op.signal, onProgress: (p) => op.emit({ type: 'progress', stage: 'rootfs', done: p.done, total: p.total, unit: 'steps', message: p.message }) },
        );
        dir = r.dir;
        await op.recordResource('image_dir', r.dir);
        return r.built;
      });
      const image = await stages.run('register', `Registering image ${name}`, async () => {
        const holder = await deps.images.findByName(name);
        let displace: { id: string; name: string } | undefined;
        if (holder) {
          const renamed = displacedName(name, holder.fingerprint);
          displace = { id: holder.id, name: (await deps.images.findByName(renamed)) ? `${name}-${holder.id.slice(0, 8)}` : renamed };
        }
        const inserted = await deps.images.insert(
          {
            id: randomUUID(),
            name,
            recipe: built.recipe,
            fingerprint: built.fingerprint,
            initMode,
            inits: built.inits,
            kernelArgs: built.kernelArgs,
            kernel: { id: k.id, ...built.kernel },
            paths: built.paths,
            rootfsBytes: built.rootfsBytes,
            workSeedFingerprint: built.workSeedFingerprint,
            services: built.services,
            sourceVmId: null,
          },
          displace,
        );
        if (displace) log().info({ image: name, displaced: displace.name, displaced_id: displace.id }, 'older image renamed');
        return inserted;
      });
      await op.releaseResource('image_dir', image.paths.dir);
      await op.emit({ type: 'result', result: { image: serializeImage(image), unchanged: false } });
      return { targetId: image.id, image: image.name, unchanged: false };
    } catch (err) {
      if (dir) await this.discard(dir, op);
      throw err;
    }
  }

  /** Removes a built directory no row references (a concurrent build may own the same one). */
  private async discard(dir: string, op: OperationHandle): Promise<void> {
    const owners = (await this.deps.images.list().catch(() => [] as Image[])).filter((i) => i.paths.dir === dir);
    if (owners.length > 0) return;
    await this.deps.files.remove(dir);
    await op.releaseResource('image_dir', dir).catch(() => undefined);
  }
}
