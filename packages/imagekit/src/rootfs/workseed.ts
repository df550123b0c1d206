import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import { sha256 } from '../hash.js';
import { canonicalJson } from '../recipe/canonical.js';
import type { Recipe } from '../recipe/recipe.js';

export const SEED_MARKER = '.banger-seed';

export interface WorkSeed {
  path: string;
  /** Identifies the seed's content; vmd compares it with a VM's work disk to tell if it is current. */
  fingerprint: string;
  sizeBytes: number;
  label: string;
}

/** The seed's content-derived fingerprint (independent of mkfs's random UUIDs). */
export function workSeedFingerprint(recipe: Pick<Recipe, 'name' | 'doc'>): string {
  const { sizeMiB, label } = recipe.doc.workSeed;
  return sha256(canonicalJson({ v: 1, recipe: recipe.name, sizeMiB, label })).slice(0, 32);
}

/**
 * Creates the small ext4 that every VM's work disk starts from: a `.banger-seed` marker
 * (JSON with the fingerprint) and an empty `.banger/` directory for seed files (authorized_keys).
 */
export async function buildWorkSeed(recipe: Pick<Recipe, 'name' | 'doc'>, outPath: string, signal?: AbortSignal): Promise<WorkSeed> {
  const { sizeMiB, label } = recipe.doc.workSeed;
  const fingerprint = workSeedFingerprint(recipe);
  await mkdir(path.dirname(outPath), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(outPath), '.seed-'));
  const partial = `${outPath}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(path.join(tmp, '.banger'), { mode: 0o700 });
    await writeFile(path.join(tmp, SEED_MARKER), `${JSON.stringify({ fingerprint, recipe: recipe.name, label })}\n`);
    await rm(partial, { force: true });
    await run('truncate', ['-s', `${sizeMiB}M`, partial], toolOptions(signal));
    await run('mkfs.ext4', ['-q', '-F', '-L', label, '-E', 'root_owner=0:0', '-d', tmp, partial], toolOptions(signal));
    await rename(partial, outPath);
    return { path: outPath, fingerprint, sizeBytes: sizeMiB * 1024 * 1024, label };
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
