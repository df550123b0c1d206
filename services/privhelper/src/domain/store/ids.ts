import { InvalidArgumentError } from '@banger/runtime/errors';

/**
 * The names callers may give privhelper instead of paths. Each becomes exactly one path
 * component inside a root-owned store, so each is a plain identifier: no separators, no
 * leading dot, bounded length.
 */

export const IMAGE_ID_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const KERNEL_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const KERNEL_VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$/;

export interface KernelRef {
  readonly name: string;
  readonly version: string;
}

function shown(v: unknown): string {
  const s = typeof v === 'string' ? v : String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

export function validateImageId(v: unknown, field = 'image'): string {
  if (typeof v !== 'string' || !IMAGE_ID_RE.test(v)) {
    throw new InvalidArgumentError(field, `must be an image id (1-128 characters of [a-z0-9._-], starting with a letter or digit), got ${shown(v)}`, 'BAD_IMAGE_ID');
  }
  return v;
}

export function validateKernelRef(ref: unknown, field = 'kernel'): KernelRef {
  if (ref === undefined || ref === null) throw new InvalidArgumentError(field, 'is required', 'KERNEL_REQUIRED');
  if (typeof ref !== 'object') throw new InvalidArgumentError(field, 'must be {name, version}', 'BAD_KERNEL_REF');
  const v = ref as { name?: unknown; version?: unknown };
  if (typeof v.name !== 'string' || !KERNEL_NAME_RE.test(v.name)) {
    throw new InvalidArgumentError(`${field}.name`, `must be a kernel name ([a-z0-9._-], up to 64), got ${shown(v.name)}`, 'BAD_KERNEL_REF');
  }
  if (typeof v.version !== 'string' || !KERNEL_VERSION_RE.test(v.version)) {
    throw new InvalidArgumentError(`${field}.version`, `must be a kernel version directory name ([A-Za-z0-9._+~-], up to 64), got ${shown(v.version)}`, 'BAD_KERNEL_REF');
  }
  return { name: v.name, version: v.version };
}

/** A package version as a directory name: Debian epochs (`1:2.3`) use `_` in place of `:`. */
export function versionDirName(packageVersion: string): string {
  return packageVersion.replace(/:/g, '_');
}
