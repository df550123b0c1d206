import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import { sha256 } from '../hash.js';
import { canonicalJson } from '../recipe/canonical.js';
import type { RecipeDoc } from '../recipe/recipe.js';

const TAR_FLAGS = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls'];

export function baseCacheKey(doc: RecipeDoc, mirror: string): string {
  const b = doc.bootstrap;
  return sha256(
    canonicalJson({ v: 1, suite: b.suite, variant: b.variant, components: b.components, mirror, packages: [...doc.packages].sort() }),
  ).slice(0, 32);
}

/**
 * Fills `root` with the debootstrapped base system, from cacheDir/debootstrap/<key>.tar when a
 * previous build on this machine made it, otherwise by running debootstrap and caching the result.
 */
export async function prepareBase(opts: {
  doc: RecipeDoc;
  mirror: string;
  root: string;
  cacheDir: string;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
}): Promise<{ cached: boolean; key: string }> {
  const { doc, mirror, root, signal } = opts;
  const key = baseCacheKey(doc, mirror);
  const cacheFile = path.join(opts.cacheDir, 'debootstrap', `${key}.tar`);
  await mkdir(root, { recursive: true });
  if (await stat(cacheFile).catch(() => null)) {
    await run('tar', ['-xpf', cacheFile, '-C', root, ...TAR_FLAGS], toolOptions(signal));
    return { cached: true, key };
  }
  const b = doc.bootstrap;
  await run(
    'debootstrap',
    [`--variant=${b.variant}`, `--components=${b.components.join(',')}`, `--include=${doc.packages.join(',')}`, b.suite, root, mirror],
    toolOptions(signal, { captureStdout: false }),
  );
  await run('chroot', [root, 'apt-get', 'clean'], toolOptions(signal));
  await rm(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
  await mkdir(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  await mkdir(path.dirname(cacheFile), { recursive: true });
  const tmp = `${cacheFile}.tmp-${process.pid}`;
  try {
    await run('tar', ['-cf', tmp, '-C', root, ...TAR_FLAGS, '.'], toolOptions(signal));
    await rename(tmp, cacheFile);
  } catch (e) {
    await rm(tmp, { force: true });
    opts.logger?.warn({ err: e, cacheFile }, 'debootstrap cache not written');
  }
  return { cached: false, key };
}
