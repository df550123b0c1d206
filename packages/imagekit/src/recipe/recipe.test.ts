import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_IMAGES_DIR } from '../layout.js';
import { listRecipes, loadRecipe, recipeFingerprint, type Recipe } from './recipe.js';

const kernel = { name: 'debian-bookworm-cloud', release: '6.1.0-56-cloud-amd64', packageVersion: '6.1.192-2' };
const tmps: string[] = [];
afterAll(async () => {
  await Promise.all(tmps.map((d) => rm(d, { recursive: true, force: true })));
});

function reorderKeys<T>(v: T): T {
  if (Array.isArray(v)) return v.map(reorderKeys) as T;
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reorderKeys(x)])) as T;
  }
  return v;
}

describe('recipes', () => {
  it('lists and loads the default recipe with its guest files', async () => {
    expect(await listRecipes()).toContain('debian-bookworm');
    const r = await loadRecipe('debian-bookworm');
    expect(r.doc.services.map((s) => s.name)).toContain('opencode');
    expect(r.files.map((f) => f.path)).toContain('/sbin/banger-init');
  });

  it('refuses bad names and unknown recipes', async () => {
    await expect(loadRecipe('../images')).rejects.toMatchObject({ kind: 'INVALID_ARGUMENT', reason: 'BAD_RECIPE_NAME' });
    await expect(loadRecipe('no-such-recipe')).rejects.toMatchObject({ kind: 'NOT_FOUND', reason: 'RECIPE_NOT_FOUND' });
  });

  it('fingerprint ignores key order and package order', async () => {
    const r = await loadRecipe('debian-bookworm');
    const fp = recipeFingerprint(r, kernel);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(recipeFingerprint({ ...r, doc: reorderKeys(r.doc) }, reorderKeys(kernel))).toBe(fp);
    const shuffled: Recipe = { ...r, doc: { ...r.doc, packages: [...r.doc.packages].reverse() } };
    expect(recipeFingerprint(shuffled, kernel)).toBe(fp);
    expect(recipeFingerprint({ ...r, files: [...r.files].reverse() }, kernel)).toBe(fp);
  });

  it('fingerprint changes with packages, kernel and file content', async () => {
    const r = await loadRecipe('debian-bookworm');
    const fp = recipeFingerprint(r, kernel);
    expect(recipeFingerprint({ ...r, doc: { ...r.doc, packages: [...r.doc.packages, 'curl'] } }, kernel)).not.toBe(fp);
    expect(recipeFingerprint(r, { ...kernel, packageVersion: '6.1.193-1' })).not.toBe(fp);

    const images = await mkdtemp(path.join(tmpdir(), 'imagekit-recipe-'));
    tmps.push(images);
    await cp(path.join(DEFAULT_IMAGES_DIR, 'recipes'), path.join(images, 'recipes'), { recursive: true });
    const copy = await loadRecipe('debian-bookworm', images);
    expect(recipeFingerprint(copy, kernel)).toBe(fp);
    await writeFile(path.join(images, 'recipes/debian-bookworm/files/usr/lib/banger/net'), '#!/bin/bash\nexit 0\n');
    expect(recipeFingerprint(await loadRecipe('debian-bookworm', images), kernel)).not.toBe(fp);
  });

  it('rejects a recipe with an unsafe unit name', async () => {
    const images = await mkdtemp(path.join(tmpdir(), 'imagekit-recipe-'));
    tmps.push(images);
    await cp(path.join(DEFAULT_IMAGES_DIR, 'recipes'), path.join(images, 'recipes'), { recursive: true });
    const r = await loadRecipe('debian-bookworm', images);
    const bad = { ...r.doc, systemd: { ...r.doc.systemd, enable: ['x; rm -rf /'] } };
    await writeFile(path.join(images, 'recipes/debian-bookworm/recipe.json'), JSON.stringify(bad));
    await expect(loadRecipe('debian-bookworm', images)).rejects.toMatchObject({ reason: 'BAD_RECIPE' });
  });
});
