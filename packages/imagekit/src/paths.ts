import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { ImageKitError } from './errors.js';

function escape(p: string, why: string): ImageKitError {
  return new ImageKitError('INVALID_ARGUMENT', 'PATH_ESCAPE', `path ${JSON.stringify(p)} ${why}`, {
    field: 'path',
  });
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function realpathOfDeepestExisting(p: string): Promise<string> {
  const tail: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return path.join(await realpath(cur), ...tail.reverse());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const parent = path.dirname(cur);
      if (parent === cur) throw e;
      tail.push(path.basename(cur));
      cur = parent;
    }
  }
}

/**
 * Resolves `p` (relative to `root`, or absolute) and guarantees the result stays inside `root`
 * even through symlinks, because root-run steps must only ever write into banger's own directories.
 * Throws INVALID_ARGUMENT / PATH_ESCAPE otherwise.
 */
export async function confinePath(root: string, p: string): Promise<string> {
  if (p === '' || p.includes('\0')) throw escape(p, 'is empty or contains NUL');
  if (p.split(/[\\/]+/).includes('..')) throw escape(p, 'contains ".."');
  if (!path.isAbsolute(root)) throw escape(root, 'root is not absolute');
  const lexical = path.resolve(root, p);
  if (!inside(path.resolve(root), lexical)) throw escape(p, `is outside ${root}`);
  const realRoot = await realpath(root);
  const realTarget = await realpathOfDeepestExisting(lexical);
  if (!inside(realRoot, realTarget)) throw escape(p, `resolves outside ${root} through a symlink`);
  return lexical;
}

/** Allow-list rule for recipe names: the name doubles as a directory name under images/recipes. */
export const RECIPE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function validateRecipeName(name: string): string {
  if (!RECIPE_NAME_RE.test(name)) {
    throw new ImageKitError('INVALID_ARGUMENT', 'BAD_RECIPE_NAME', `invalid recipe name ${JSON.stringify(name)}`, {
      field: 'recipe',
    });
  }
  return name;
}
