import { closeSync, fstatSync, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  constants as C,
  fchownat,
  fstat,
  fstatat,
  linkat,
  mkdirat,
  openat2,
  openBeneathFallback,
  readdirfd,
  renameat2,
  SysError,
  unlinkat,
} from './index.js';
import { requireAddon } from './native.js';
import { leakedSince, mkfifo, openFds } from './test-support/fds.js';

let base: string;
let dirfd: number;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'banger-sys-calls-'));
  mkdirSync(join(base, 'inner/deeper'), { recursive: true });
  writeFileSync(join(base, 'inner/deeper/file'), 'inside\n');
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside/secret'), 'secret\n');
  symlinkSync('../outside', join(base, 'inner/link-out'));
  symlinkSync('deeper', join(base, 'inner/link-in'));
  symlinkSync('deeper/file', join(base, 'inner/file-link'));
  dirfd = openSync(join(base, 'inner'), C.O_RDONLY | C.O_DIRECTORY);
});

afterAll(() => {
  closeSync(dirfd);
  rmSync(base, { recursive: true, force: true });
});

const STRICT = (): number => C.RESOLVE_BENEATH | C.RESOLVE_NO_SYMLINKS;

function readFd(fd: number): string {
  const buf = Buffer.alloc(64);
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  return buf.subarray(0, n).toString();
}

describe.each([
  ['openat2', openat2],
  ['the ENOSYS fallback walk', openBeneathFallback],
])('%s under RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS', (_label, open) => {
  it('opens a path that stays inside, with O_CLOEXEC', () => {
    const fd = open(dirfd, 'deeper/file', C.O_RDONLY, 0, STRICT());
    expect(requireAddon().fstatat(fd, '', C.AT_EMPTY_PATH).type).toBe('file');
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    expect(Number.parseInt(/flags:\s+(\d+)/.exec(info)![1]!, 8) & C.O_CLOEXEC).toBe(C.O_CLOEXEC);
    expect(readFd(fd)).toBe('inside\n');
  });

  it.each([
    ['a symlinked directory component', 'link-in/file'],
    ['a symlink escaping the directory', 'link-out/secret'],
    ['a symlink as the last component', 'file-link'],
  ])('refuses %s with SYMLINK_REFUSED (ELOOP)', (_what, path) => {
    expect(() => open(dirfd, path, C.O_RDONLY, 0, STRICT())).toThrow(
      expect.objectContaining({ reason: 'SYMLINK_REFUSED', errnoCode: 'ELOOP', code: 'FAILED_PRECONDITION', syscall: 'openat2' }),
    );
  });

  it('refuses a symlink to a directory opened with O_DIRECTORY with ELOOP, not ENOTDIR', () => {
    expect(() => open(dirfd, 'link-in', C.O_RDONLY | C.O_DIRECTORY, 0, STRICT())).toThrow(expect.objectContaining({ errnoCode: 'ELOOP' }));
    // With the caller's own O_NOFOLLOW the kernel says ENOTDIR; the walk matches it.
    expect(() => open(dirfd, 'link-in', C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW, 0, STRICT())).toThrow(expect.objectContaining({ errnoCode: 'ENOTDIR' }));
  });

  it.each([
    ['a ".." escape', '../outside/secret'],
    ['a ".." escape after a real directory', 'deeper/../../outside/secret'],
    ['an absolute path', '/etc/passwd'],
  ])('refuses %s with PATH_ESCAPE (EXDEV)', (_what, path) => {
    expect(() => open(dirfd, path, C.O_RDONLY, 0, STRICT())).toThrow(expect.objectContaining({ reason: 'PATH_ESCAPE', errnoCode: 'EXDEV' }));
  });

  it('creates a file beneath with O_CREAT|O_EXCL and the given mode', () => {
    const fd = open(dirfd, 'deeper/created', C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600, STRICT());
    closeSync(fd);
    expect(lstatSync(join(base, 'inner/deeper/created')).mode & 0o777).toBe(0o600);
    expect(() => open(dirfd, 'deeper/created', C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600, STRICT())).toThrow(expect.objectContaining({ reason: 'PATH_EXISTS' }));
    rmSync(join(base, 'inner/deeper/created'));
  });

  it('hands out the symlink itself only for O_PATH|O_NOFOLLOW, as openat2 does', () => {
    const fd = open(dirfd, 'file-link', C.O_PATH | C.O_NOFOLLOW, 0, STRICT());
    expect(fstat(fd).type).toBe('symlink');
    closeSync(fd);
    expect(() => open(dirfd, 'file-link', C.O_PATH, 0, STRICT())).toThrow(expect.objectContaining({ errnoCode: 'ELOOP' }));
  });

  it('names the path and errno like node:fs in the underlying error', () => {
    try {
      open(dirfd, 'link-in/file', C.O_RDONLY, 0, STRICT());
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SysError);
      expect((err as SysError).message).toBe('open link-in/file: is or passes through a symlink (ELOOP)');
      expect((err as SysError).cause).toMatchObject({ code: 'ELOOP', errno: -40, syscall: 'openat2', path: 'link-in/file' });
    }
  });
});

describe('the fallback walk', () => {
  it('is stricter than openat2 about ".." that stays inside', () => {
    closeSync(openat2(dirfd, 'deeper/../deeper/file', C.O_RDONLY, 0, STRICT()));
    expect(() => openBeneathFallback(dirfd, 'deeper/../deeper/file', C.O_RDONLY, 0, STRICT())).toThrow(expect.objectContaining({ errnoCode: 'EXDEV' }));
  });

  it('answers ENOSYS for resolve rules it cannot emulate', () => {
    expect(() => openBeneathFallback(dirfd, 'deeper/file', C.O_RDONLY, 0, C.RESOLVE_IN_ROOT)).toThrow(
      expect.objectContaining({ errnoCode: 'ENOSYS', reason: 'UNSUPPORTED_BY_KERNEL' }),
    );
    expect(() => openBeneathFallback(dirfd, 'deeper/file', C.O_RDONLY, 0, C.RESOLVE_BENEATH)).toThrow(expect.objectContaining({ errnoCode: 'ENOSYS' }));
  });

  it('refuses a mount point under RESOLVE_NO_XDEV, like openat2', () => {
    const proc = openSync('/', C.O_RDONLY | C.O_DIRECTORY);
    try {
      for (const open of [openat2, openBeneathFallback]) {
        expect(() => open(proc, 'proc/self', C.O_PATH, 0, STRICT() | C.RESOLVE_NO_XDEV)).toThrow(expect.objectContaining({ errnoCode: 'EXDEV' }));
      }
    } finally {
      closeSync(proc);
    }
  });
});

describe('dirfd calls', () => {
  it('fstatat reports every type without following', () => {
    mkfifo(join(base, 'inner/fifo'));
    try {
      expect(fstatat(dirfd, 'file-link', C.AT_SYMLINK_NOFOLLOW).type).toBe('symlink');
      expect(fstatat(dirfd, 'file-link', 0).type).toBe('file');
      expect(fstatat(dirfd, 'deeper', C.AT_SYMLINK_NOFOLLOW)).toMatchObject({ type: 'dir', uid: process.getuid!(), nlink: 2 });
      expect(fstatat(dirfd, 'fifo', C.AT_SYMLINK_NOFOLLOW).type).toBe('fifo');
      const st = fstatat(dirfd, '', C.AT_EMPTY_PATH);
      const node = fstatSync(dirfd);
      expect(st).toMatchObject({ dev: node.dev, ino: node.ino, mode: node.mode, type: 'dir' });
      const dev = openSync('/dev/null', 'r');
      expect(fstat(dev).type).toBe('char');
      closeSync(dev);
    } finally {
      rmSync(join(base, 'inner/fifo'));
    }
  });

  it('mkdirat, renameat2 NOREPLACE and EXCHANGE, unlinkat AT_REMOVEDIR', () => {
    mkdirat(dirfd, 'a', 0o700);
    writeFileSync(join(base, 'inner/b'), 'b');
    expect(() => renameat2(dirfd, 'a', dirfd, 'b', C.RENAME_NOREPLACE)).toThrow(expect.objectContaining({ reason: 'PATH_EXISTS' }));
    renameat2(dirfd, 'a', dirfd, 'b', C.RENAME_EXCHANGE);
    expect(fstatat(dirfd, 'a', C.AT_SYMLINK_NOFOLLOW).type).toBe('file');
    expect(fstatat(dirfd, 'b', C.AT_SYMLINK_NOFOLLOW).type).toBe('dir');
    expect(() => unlinkat(dirfd, 'b', 0)).toThrow(expect.objectContaining({ reason: 'IS_A_DIRECTORY' }));
    unlinkat(dirfd, 'b', C.AT_REMOVEDIR);
    unlinkat(dirfd, 'a', 0);
    expect(() => unlinkat(dirfd, 'a', 0)).toThrow(expect.objectContaining({ reason: 'PATH_NOT_FOUND', code: 'NOT_FOUND' }));
  });

  it('fchownat AT_SYMLINK_NOFOLLOW chowns the link, not its target', () => {
    fchownat(dirfd, 'file-link', 4243, 4243, C.AT_SYMLINK_NOFOLLOW);
    expect(lstatSync(join(base, 'inner/file-link')).uid).toBe(4243);
    expect(lstatSync(join(base, 'inner/deeper/file')).uid).toBe(process.getuid!());
    const fd = openat2(dirfd, 'deeper/file', C.O_PATH, 0, STRICT());
    fchownat(fd, '', 4244, -1, C.AT_EMPTY_PATH);
    closeSync(fd);
    expect(lstatSync(join(base, 'inner/deeper/file'))).toMatchObject({ uid: 4244, gid: process.getgid!() });
  });

  it('linkat AT_EMPTY_PATH gives an open file a name', () => {
    const fd = openat2(dirfd, 'deeper/file', C.O_RDONLY, 0, STRICT());
    linkat(fd, '', dirfd, 'hardlink', C.AT_EMPTY_PATH);
    closeSync(fd);
    expect(readFileSync(join(base, 'inner/hardlink'), 'utf8')).toBe('inside\n');
    expect(fstatat(dirfd, 'hardlink', 0).nlink).toBe(2);
    unlinkat(dirfd, 'hardlink', 0);
    linkSync(join(base, 'inner/deeper/file'), join(base, 'inner/hard2'));
    unlinkat(dirfd, 'hard2', 0);
  });

  it('readdirfd lists by fd, leaves "." and "..", can be repeated and never closes the fd', () => {
    const names = () => readdirfd(dirfd).map((e) => `${e.name}:${e.type}`).sort();
    expect(names()).toEqual(['deeper:dir', 'file-link:symlink', 'link-in:symlink', 'link-out:symlink']);
    expect(names()).toEqual(['deeper:dir', 'file-link:symlink', 'link-in:symlink', 'link-out:symlink']);
    expect(fstatSync(dirfd).isDirectory()).toBe(true);
  });

  it('refuses paths with NUL bytes instead of truncating them', () => {
    expect(() => openat2(dirfd, 'deeper/file\0/../../outside', C.O_RDONLY, 0, STRICT())).toThrow(TypeError);
  });

  it('leaks no descriptors, failing or not', () => {
    const before = openFds();
    for (let i = 0; i < 50; i++) {
      for (const open of [openat2, openBeneathFallback]) {
        closeSync(open(dirfd, 'deeper/file', C.O_RDONLY, 0, STRICT()));
        for (const bad of ['link-in/file', 'deeper/../../x', 'deeper/missing/x', 'deeper/file/x']) expect(() => open(dirfd, bad, C.O_RDONLY, 0, STRICT())).toThrow(SysError);
      }
      readdirfd(dirfd);
      expect(() => readdirfd(-1)).toThrow(SysError);
    }
    expect(leakedSince(before)).toEqual([]);
  });
});
