import { log } from '@banger/runtime/logging';
import type { Image } from '../../domain/image.js';
import { validateImageRef } from '../../domain/refs.js';
import type { ImageFiles, ImageRepo, KernelRepo, KernelSource, RecipeInfo, RecipeSource } from '../../ports/images.js';

export interface ImageQueryDeps {
  images: ImageRepo;
  files: Pick<ImageFiles, 'remove'>;
  recipes: Pick<RecipeSource, 'list' | 'fingerprint'>;
  kernels: Pick<KernelRepo, 'findByName'>;
  kernelSource: Pick<KernelSource, 'defaultKernel'>;
}

/** A recipe with the kernel it builds against and, once that kernel is installed, the fingerprint it would build now. */
export interface RecipeListing {
  recipe: RecipeInfo;
  kernel: string;
  fingerprint: string;
}

/**
 * Reads and deletions of managed images. imaged cannot know which VMs use an image (vmd owns
 * VMs): callers that care (the CLI, vmd) check before deleting; a VM's overlay keeps the data it
 * wrote but loses its base once the image is gone.
 */
export class ImageQueries {
  constructor(private readonly deps: ImageQueryDeps) {}

  list(): Promise<Image[]> {
    return this.deps.images.list();
  }

  async get(ref: string): Promise<Image> {
    return this.deps.images.findByRef(validateImageRef(ref));
  }

  async listRecipes(): Promise<RecipeListing[]> {
    const kernelName = await this.deps.kernelSource.defaultKernel();
    const kernel = await this.deps.kernels.findByName(kernelName);
    const out: RecipeListing[] = [];
    for (const recipe of await this.deps.recipes.list()) {
      out.push({ recipe, kernel: kernelName, fingerprint: kernel ? await this.deps.recipes.fingerprint(recipe.name, kernel) : '' });
    }
    return out;
  }

  /**
   * Files first: privhelper refuses to remove an image a VM disk is based on (IMAGE_IN_USE),
   * and that refusal must leave the image as it was, row included. Should the row delete fail
   * after the files went, the row points at missing files (ResolveImage says so) and a retried
   * delete finishes the job, since removing a removed image is a no-op.
   */
  async delete(ref: string): Promise<Image> {
    const image = await this.deps.images.findByRef(validateImageRef(ref));
    await this.deps.files.remove(image.paths.dir);
    await this.deps.images.delete(image.id);
    return image;
  }

  /**
   * Images that are not the newest of their recipe (promoted images count as their own recipe
   * and are kept) and were created more than `olderThanMs` ago. The default image name is
   * never pruned.
   */
  async prune(olderThanMs: number | undefined, dryRun: boolean, now = new Date()): Promise<Image[]> {
    const images = await this.deps.images.list();
    const newest = new Map<string, Image>();
    for (const i of images) {
      if (i.recipe === null) continue;
      const cur = newest.get(i.recipe);
      if (!cur || i.createdAt > cur.createdAt) newest.set(i.recipe, i);
    }
    const victims = images.filter(
      (i) =>
        i.recipe !== null &&
        newest.get(i.recipe)?.id !== i.id &&
        i.name !== i.recipe &&
        (olderThanMs === undefined || now.getTime() - i.createdAt.getTime() > olderThanMs),
    );
    if (dryRun) return victims;
    const deleted: Image[] = [];
    for (const v of victims) {
      try {
        deleted.push(await this.delete(v.id));
      } catch (err) {
        // An image a VM disk still uses stays; the rest of the prune goes on.
        if ((err as { reason?: unknown }).reason !== 'IMAGE_IN_USE') throw err;
        log().info({ image: v.name, image_id: v.id }, 'image in use by a VM disk, not pruned');
      }
    }
    return deleted;
  }
}
