import { listRecipes, loadRecipe, recipeFingerprint } from '@banger/imagekit';
import type { ImageKernel } from '../domain/image.js';
import type { RecipeInfo, RecipeSource } from '../ports/images.js';

/** The recipes under images/recipes, read with imagekit's loader (which is the allow-list). */
export class ImagekitRecipeSource implements RecipeSource {
  constructor(private readonly imagesDir: string) {}

  async list(): Promise<RecipeInfo[]> {
    const out: RecipeInfo[] = [];
    for (const name of await listRecipes(this.imagesDir)) out.push(await this.describe(name));
    return out;
  }

  async describe(name: string): Promise<RecipeInfo> {
    const r = await loadRecipe(name, this.imagesDir);
    return { name: r.name, description: r.doc.description, initMode: r.doc.initMode };
  }

  async fingerprint(name: string, kernel: Pick<ImageKernel, 'name' | 'release' | 'packageVersion'>): Promise<string> {
    const r = await loadRecipe(name, this.imagesDir);
    return recipeFingerprint(r, { name: kernel.name, release: kernel.release, packageVersion: kernel.packageVersion });
  }
}
