import { mapped } from './errors.js';
import { requireAddon } from './native.js';

/** F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL, what memfdSeal adds. */
export const ALL_SEALS = 0x0008 | 0x0004 | 0x0002 | 0x0001;

/**
 * A new anonymous shared-memory file (close-on-exec, sealing allowed), for guest RAM that
 * privhelper hands to a jailed QEMU by descriptor and can copy, seal and keep. The caller owns
 * the fd and closes it.
 */
export function memfdCreate(name: string): number {
  return mapped('memfd_create', name, () => requireAddon().memfdCreate(name));
}

/**
 * Seals a memfd for good: no write(), no shared writable mapping, no size change, and no seal
 * can be removed. A private writable mapping still works (copy-on-write), so clones can run on a
 * sealed template's pages without being able to change them for anyone else.
 */
export function memfdSeal(fd: number): void {
  mapped('fcntl', undefined, () => requireAddon().memfdSeal(fd));
}

/** The seals a memfd carries (F_GET_SEALS bits). */
export function memfdSeals(fd: number): number {
  return mapped('fcntl', undefined, () => requireAddon().memfdSeals(fd));
}
