import { constants as fsc } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ImageKitError } from '../errors.js';
import { isProcError, run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import { sha256File } from '../hash.js';
import type { NpmArtifact } from '../recipe/recipe.js';

/** The artifact must be a regular file (a symlink in the tarball would make root copy its target) with the pinned digest. */
async function checkArtifact(a: NpmArtifact, file: string): Promise<void> {
  const fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK).catch((e: unknown) => {
    throw new ImageKitError('FAILED_PRECONDITION', 'ARTIFACT_INVALID', `${a.package}@${a.version}: ${a.file} is not a regular file`, { package: a.package }, { cause: e });
  });
  try {
    if (!(await fh.stat()).isFile()) throw new ImageKitError('FAILED_PRECONDITION', 'ARTIFACT_INVALID', `${a.package}@${a.version}: ${a.file} is not a regular file`, { package: a.package });
  } finally {
    await fh.close();
  }
  const actual = await sha256File(file);
  if (actual !== a.sha256) {
    throw new ImageKitError('FAILED_PRECONDITION', 'CHECKSUM_MISMATCH', `${a.package}@${a.version}: ${a.file} has sha256 ${actual}, the recipe pins ${a.sha256}`, {
      artifact: a.package,
      expected: a.sha256,
      actual,
    });
  }
}

/**
 * Returns the local path of a file from an npm package tarball (e.g. the opencode binary),
 * fetched once with `npm pack` and cached under cacheDir/npm/, checked against the recipe's
 * sha256 pin each time it is used.
 */
export async function fetchNpmFile(a: NpmArtifact, cacheDir: string, signal?: AbortSignal): Promise<string> {
  const dir = path.join(cacheDir, 'npm', `${a.package}-${a.version}`);
  const target = path.join(dir, 'package', a.file);
  if (await stat(target).catch(() => null)) {
    try {
      await checkArtifact(a, target);
      return target;
    } catch {
      await rm(dir, { recursive: true, force: true });
    }
  }
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
  const tmp = await mkdtemp(`${dir}.tmp-`);
  try {
    await run('npm', ['pack', '--silent', `${a.package}@${a.version}`], toolOptions(signal, { cwd: tmp }));
    const tgz = path.join(tmp, `${a.package.replace(/^@/, '').replace(/\//g, '-')}-${a.version}.tgz`);
    await run('tar', ['-xzf', tgz, '-C', tmp, '--no-same-owner', `package/${a.file}`], toolOptions(signal));
    await rm(tgz, { force: true });
    await checkArtifact(a, path.join(tmp, 'package', a.file));
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
