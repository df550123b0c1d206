import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { invalid } from './errors.js';

/** Resolves a path to its canonical form; injectable so tests can simulate a filesystem. */
export type Realpath = (p: string) => Promise<string>;

/**
 * Lexical half of the confinement check: `p` (absolute, or relative to `root`) must name
 * something strictly inside `root` without any `..` segment and without NUL bytes.
 * Returns the normalised absolute path.
 */
export function confineLexical(root: string, p: string, field = 'path'): string {
  if (!path.isAbsolute(root)) throw invalid(field, 'PATH_ESCAPE', 'confinement root must be absolute');
  if (p.length === 0 || p.length > 4096) throw invalid(field, 'BAD_FIELD', `${field} is empty or too long`);
  if (p.includes('\0')) throw invalid(field, 'BAD_FIELD', `${field} contains a NUL byte`);
  if (p.split('/').includes('..')) throw invalid(field, 'PATH_ESCAPE', `${field} must not contain '..'`);
  const normRoot = path.resolve(root);
  const abs = path.resolve(normRoot, p);
  if (!isStrictlyInside(normRoot, abs)) {
    throw invalid(field, 'PATH_ESCAPE', `${field} is outside ${normRoot}`);
  }
  return abs;
}

/**
 * Full confinement check used before any privileged file operation: the lexical check, then
 * the realpath of the parent directory (and of the file itself if it already exists) must
 * still be inside the realpath of `root`, so a symlink planted anywhere on the way cannot
 * redirect a root-owned write or delete. A missing root or parent is INVALID_ARGUMENT too:
 * the caller asked for a place banger does not have.
 */
export async function confine(root: string, p: string, field = 'path', rp: Realpath = realpath): Promise<string> {
  const abs = confineLexical(root, p, field);
  const realRoot = await resolveOr(rp, path.resolve(root), field);
  const realParent = await resolveOr(rp, path.dirname(abs), field);
  if (realParent !== realRoot && !isStrictlyInside(realRoot, realParent)) {
    throw invalid(field, 'PATH_ESCAPE', `${field} resolves outside ${realRoot}`);
  }
  let realSelf: string | undefined;
  try {
    realSelf = await rp(abs);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw invalid(field, 'PATH_ESCAPE', `${field} cannot be resolved`);
  }
  if (realSelf !== undefined && !isStrictlyInside(realRoot, realSelf)) {
    throw invalid(field, 'PATH_ESCAPE', `${field} resolves outside ${realRoot}`);
  }
  return path.join(realParent, path.basename(abs));
}

/** Confines `p` to the first of several roots that contains it lexically. */
export async function confineAny(roots: readonly string[], p: string, field: string, rp: Realpath = realpath): Promise<string> {
  const owner = roots.find((r) => path.isAbsolute(p) && isStrictlyInside(path.resolve(r), path.resolve(p)));
  if (owner === undefined) throw invalid(field, 'PATH_ESCAPE', `${field} is outside banger's state directories`);
  return confine(owner, p, field, rp);
}

function isStrictlyInside(root: string, abs: string): boolean {
  const rel = path.relative(root, abs);
  return rel !== '' && rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel);
}

async function resolveOr(rp: Realpath, p: string, field: string): Promise<string> {
  try {
    return await rp(p);
  } catch {
    throw invalid(field, 'PATH_ESCAPE', `${field}: directory ${p} does not exist`);
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
