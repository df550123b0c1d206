import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ImageKitError } from '../errors.js';
import { isProcError, run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import type { NpmArtifact } from '../recipe/recipe.js';

/**
 * Returns the local path of a file from an npm package tarball (e.g. the opencode binary),
 * fetched once with `npm pack` and cached under cacheDir/npm/.
 */
export async function fetchNpmFile(a: NpmArtifact, cacheDir: string, signal?: AbortSignal): Promise<string> {
  const dir = path.join(cacheDir, 'npm', `${a.package}-${a.version}`);
  const target = path.join(dir, 'package', a.file);
  if (await stat(target).catch(() => null)) return target;
  await mkdir(path.dirname(dir), { recursive: true });
  const tmp = await mkdtemp(`${dir}.tmp-`);
  try {
    await run('npm', ['pack', '--silent', `${a.package}@${a.version}`], toolOptions(signal, { cwd: tmp }));
    const tgz = path.join(tmp, `${a.package.replace(/^@/, '').replace(/\//g, '-')}-${a.version}.tgz`);
    await run('tar', ['-xzf', tgz, '-C', tmp, `package/${a.file}`], toolOptions(signal));
    await rm(tgz, { force: true });
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (isProcError(e, 'TOOL_FAILED')) {
      throw new ImageKitError('UNAVAILABLE', 'ARTIFACT_FETCH_FAILED', `cannot fetch ${a.package}@${a.version}: ${e.message}`, {
        package: a.package,
      }, { cause: e });
    }
    throw e;
  }
  return target;
}
