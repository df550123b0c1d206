import { requireAddon } from './native.js';

const NAMES = [
  'O_RDONLY',
  'O_WRONLY',
  'O_RDWR',
  'O_CREAT',
  'O_EXCL',
  'O_TRUNC',
  'O_APPEND',
  'O_NONBLOCK',
  'O_NOCTTY',
  'O_DIRECTORY',
  'O_NOFOLLOW',
  'O_CLOEXEC',
  'O_PATH',
  'O_TMPFILE',
  'RESOLVE_BENEATH',
  'RESOLVE_NO_SYMLINKS',
  'RESOLVE_NO_MAGICLINKS',
  'RESOLVE_NO_XDEV',
  'RESOLVE_IN_ROOT',
  'AT_FDCWD',
  'AT_SYMLINK_NOFOLLOW',
  'AT_EMPTY_PATH',
  'AT_REMOVEDIR',
  'RENAME_NOREPLACE',
  'RENAME_EXCHANGE',
] as const;

export type SysConstantName = (typeof NAMES)[number];

/**
 * Flag values as this machine's kernel headers define them (O_DIRECTORY differs between
 * architectures, so they come from the addon). Read lazily: importing the package must not
 * fail when the addon is not built.
 */
export const constants: Readonly<Record<SysConstantName, number>> = Object.freeze(
  Object.defineProperties(
    {},
    Object.fromEntries(
      NAMES.map((name) => [name, { enumerable: true, get: (): number => requireAddon().constants[name] ?? Number.NaN }]),
    ),
  ) as Record<SysConstantName, number>,
);
