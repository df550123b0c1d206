import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import { sha256, sha256File } from '../hash.js';
import { canonicalJson } from '../recipe/canonical.js';
import type { RecipeDoc } from '../recipe/recipe.js';

const TAR_FLAGS = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls'];

export function baseCacheKey(doc: RecipeDoc, mirror: string): string {
  const b = doc.bootstrap;
  return sha256(
    canonicalJson({ v: 1, suite: b.suite, variant: b.variant, components: b.components, mirror, packages: [...doc.packages].sort() }),
  ).slice(0, 32);
}

/** What the cache recorded about each tarball when it wrote it. */
interface CacheIndex {
  [key: string]: { sha256: string; size: number; createdAt: string };
}

const INDEX = 'index.json';

async function readIndex(dir: string): Promise<CacheIndex> {
  try {
    const parsed = JSON.parse(await readFile(path.join(dir, INDEX), 'utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as CacheIndex) : {};
  } catch {
    return {};
  }
}

async function writeIndex(dir: string, index: CacheIndex): Promise<void> {
  const tmp = path.join(dir, `.${INDEX}.tmp-${process.pid}`);
  await writeFile(tmp, `${JSON.stringify(index, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path.join(dir, INDEX));
}

/**
 * A cached base tarball, only if it is exactly what the index (written by whoever made the
 * tarball) says: a tarball that is not in the index, or whose sha256 differs, is removed and
 * rebuilt. The cache directory must be root's alone (privhelper checks); the index guards
 * against a tarball that got there any other way (an older, shared cache; a damaged disk).
 */
async function trustedCacheFile(cacheDir: string, key: string, logger: Logger | undefined): Promise<string | undefined> {
  const dir = path.join(cacheDir, 'debootstrap');
  const file = path.join(dir, `${key}.tar`);
  const st = await stat(file).catch(() => null);
  if (!st) return undefined;
  const entry = (await readIndex(dir))[key];
  const actual = entry && entry.size === st.size ? await sha256File(file) : undefined;
  if (entry && actual === entry.sha256) return file;
  logger?.warn({ cache_file: file, indexed: entry !== undefined }, 'debootstrap cache entry does not match its index; rebuilding it');
  await rm(file, { force: true });
  return undefined;
}

/**
 * Fills `root` with the debootstrapped base system, from cacheDir/debootstrap/<key>.tar when a
 * previous build on this machine made it (and its sha256 matches the cache's index), otherwise
 * by running debootstrap and caching the result.
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
  const trusted = await trustedCacheFile(opts.cacheDir, key, opts.logger);
  if (trusted) {
    await run('tar', ['-xpf', trusted, '-C', root, ...TAR_FLAGS], toolOptions(signal));
    return { cached: true, key };
  }
  const b = doc.bootstrap;
  await run(
    'debootstrap',
    [`--variant=${b.variant}`, `--components=${b.components.join(',')}`, `--include=${doc.packages.join(',')}`, b.suite, root, mirror],
    toolOptions(signal, { captureStdout: false, privateMounts: true }),
  );
  await run('chroot', [root, 'apt-get', 'clean'], toolOptions(signal, { privateMounts: true }));
  await rm(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
  await mkdir(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  await mkdir(path.dirname(cacheFile), { recursive: true });
  const tmp = `${cacheFile}.tmp-${process.pid}`;
  try {
    await run('tar', ['-cf', tmp, '-C', root, ...TAR_FLAGS, '.'], toolOptions(signal));
    const entry = { sha256: await sha256File(tmp), size: (await stat(tmp)).size, createdAt: new Date().toISOString() };
    await rename(tmp, cacheFile);
    const dir = path.dirname(cacheFile);
    await writeIndex(dir, { ...(await readIndex(dir)), [key]: entry });
  } catch (e) {
    await rm(tmp, { force: true });
    opts.logger?.warn({ err: e, cacheFile }, 'debootstrap cache not written');
  }
  return { cached: false, key };
}
