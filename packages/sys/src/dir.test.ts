import { chmodSync, chownSync, closeSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { constants as C, Dir, FileTooLargeError, NotRegularFileError, SysError, UnsafeDirectoryError } from './index.js';
import { leakedSince, mkfifo, openFds } from './test-support/fds.js';

let base: string;
let dir: Dir;
let fdsBefore: Map<number, string>;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'banger-sys-dir-'));
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
beforeEach(() => {
  fdsBefore = openFds();
  const p = join(base, `case-${n++}`);
  mkdirSync(p, { mode: 0o755 });
  dir = Dir.open(p);
});

afterEach(() => {
  dir.close();
  expect(leakedSince(fdsBefore)).toEqual([]);
});

const at = (...parts: string[]): string => join(dir.path, ...parts);

describe('Dir.open', () => {
  it('checks owner and mode on the opened descriptor', () => {
    chmodSync(dir.path, 0o775);
    expect(() => Dir.open(dir.path, { expect: { notWritableByOthers: true } })).toThrow(
      expect.objectContaining({ reason: 'UNSAFE_MODE', path: dir.path, mode: 0o40775, message: expect.stringContaining('mode 0775') }),
    );
    chmodSync(dir.path, 0o755);
    expect(() => Dir.open(dir.path, { expect: { uid: 4242 } })).toThrow(UnsafeDirectoryError);
    expect(() => Dir.open(dir.path, { expect: { uid: 4242 } })).toThrow(
      expect.objectContaining({ reason: 'UNSAFE_OWNER', code: 'FAILED_PRECONDITION', uid: process.getuid!(), message: expect.stringContaining(`owned by uid ${process.getuid!()}, expected uid 4242`) }),
    );
    Dir.open(dir.path, { expect: { uid: process.getuid!(), notWritableByOthers: true } }).close();
  });

  it('refuses a symlink as the last component, and with noSymlinks anywhere', () => {
    mkdirSync(at('real/inner'), { recursive: true });
    symlinkSync('real', at('link'));
    expect(() => Dir.open(at('link'))).toThrow(expect.objectContaining({ reason: 'SYMLINK_REFUSED' }));
    Dir.open(at('link/inner')).close();
    expect(() => Dir.open(at('link/inner'), { noSymlinks: true })).toThrow(expect.objectContaining({ reason: 'SYMLINK_REFUSED' }));
    using d = Dir.open(at('real/inner'), { noSymlinks: true });
    expect(d.stat().type).toBe('dir');
    expect(() => Dir.open('relative/path')).toThrow(expect.objectContaining({ reason: 'INVALID_PATH' }));
    writeFileSync(at('file'), '');
    expect(() => Dir.open(at('file'))).toThrow(expect.objectContaining({ reason: 'NOT_A_DIRECTORY' }));
  });

  it('gives an O_PATH handle when asked, which still resolves beneath but cannot list', () => {
    mkdirSync(at('sub'));
    using d = Dir.open(dir.path, { pathOnly: true });
    using sub = d.openDir('sub');
    expect(sub.list()).toEqual([]);
    expect(() => d.list()).toThrow(expect.objectContaining({ errnoCode: 'EBADF' }));
  });
});

describe('names and paths', () => {
  it('refuses anything but a single name where the kernel would not resolve safely', () => {
    for (const bad of ['', '.', '..', 'a/b', 'a\0b']) {
      expect(() => dir.mkdir(bad, 0o700)).toThrow(expect.objectContaining({ reason: 'INVALID_NAME', code: 'INVALID_ARGUMENT' }));
      expect(() => dir.unlink(bad)).toThrow(expect.objectContaining({ reason: 'INVALID_NAME' }));
    }
  });

  it('opens files beneath only, never through a symlink', () => {
    mkdirSync(at('a'));
    writeFileSync(at('a/f'), 'hello');
    symlinkSync('a', at('l'));
    using f = dir.open('a/f', C.O_RDONLY);
    const buf = Buffer.alloc(5);
    readSync(f.fd, buf, 0, 5, 0);
    expect(buf.toString()).toBe('hello');
    expect(f.path).toBe(at('a/f'));
    expect(() => dir.open('l/f', C.O_RDONLY)).toThrow(expect.objectContaining({ reason: 'SYMLINK_REFUSED', path: at('l/f') }));
    expect(() => dir.open('../x', C.O_RDONLY)).toThrow(expect.objectContaining({ reason: 'PATH_ESCAPE' }));
  });
});

describe('creating directories', () => {
  it('mkdir sets the exact mode and refuses an existing name unless told', () => {
    const old = process.umask(0o077);
    try {
      using d = dir.mkdir('m', 0o751);
      expect(lstatSync(at('m')).mode & 0o7777).toBe(0o751);
      expect(d.stat().ino).toBe(lstatSync(at('m')).ino);
    } finally {
      process.umask(old);
    }
    expect(() => dir.mkdir('m', 0o700)).toThrow(expect.objectContaining({ reason: 'PATH_EXISTS', code: 'ALREADY_EXISTS' }));
    dir.mkdir('m', 0o700, { existOk: true }).close();
    symlinkSync('m', at('ml'));
    expect(() => dir.mkdir('ml', 0o700, { existOk: true })).toThrow(expect.objectContaining({ reason: 'SYMLINK_REFUSED' }));
  });

  it('ensureDir creates or fixes owner and mode of a real directory, refusing a symlink', () => {
    using created = dir.ensureDir('e', 0o750, { uid: 4242, gid: 4243 });
    expect(lstatSync(at('e'))).toMatchObject({ uid: 4242, gid: 4243, mode: 0o40750 });
    chmodSync(at('e'), 0o777);
    chownSync(at('e'), 0, 0);
    using again = dir.ensureDir('e', 0o750, { uid: 4242, gid: 4243 });
    expect(lstatSync(at('e'))).toMatchObject({ uid: 4242, gid: 4243, mode: 0o40750 });
    expect(again.stat().ino).toBe(created.stat().ino);
    mkdirSync(at('target'), { mode: 0o700 });
    symlinkSync('target', at('el'));
    expect(() => dir.ensureDir('el', 0o755, { uid: 4242, gid: 4242 })).toThrow(expect.objectContaining({ reason: 'SYMLINK_REFUSED' }));
    expect(lstatSync(at('target'))).toMatchObject({ uid: process.getuid!(), mode: 0o40700 });
    writeFileSync(at('file'), '');
    expect(() => dir.ensureDir('file', 0o755)).toThrow(expect.objectContaining({ reason: 'NOT_A_DIRECTORY' }));
  });
});

describe('entries', () => {
  it('stat is lstat; unlink removes a symlink, not its target; rmdir removes a directory', () => {
    writeFileSync(at('t'), 'target');
    symlinkSync('t', at('l'));
    mkdirSync(at('d'));
    expect(dir.stat('l').type).toBe('symlink');
    dir.unlink('l');
    expect(readFileSync(at('t'), 'utf8')).toBe('target');
    expect(() => dir.unlink('d')).toThrow(expect.objectContaining({ reason: 'IS_A_DIRECTORY' }));
    dir.rmdir('d');
    expect(dir.list()).toEqual([{ name: 't', type: 'file' }]);
  });

  it('rename moves between directories, with noReplace and exchange', () => {
    writeFileSync(at('a'), 'a');
    writeFileSync(at('b'), 'b');
    using sub = dir.mkdir('sub', 0o755);
    expect(() => dir.rename('a', dir, 'b', { noReplace: true })).toThrow(expect.objectContaining({ reason: 'PATH_EXISTS' }));
    dir.rename('a', dir, 'b', { exchange: true });
    expect(readFileSync(at('a'), 'utf8')).toBe('b');
    dir.rename('a', sub, 'moved');
    expect(readFileSync(at('sub/moved'), 'utf8')).toBe('b');
  });

  it('chown changes a symlink itself, never its target', () => {
    writeFileSync(at('t'), '');
    symlinkSync('t', at('l'));
    dir.chown('l', 4242, 4242);
    expect(lstatSync(at('l')).uid).toBe(4242);
    expect(lstatSync(at('t')).uid).toBe(process.getuid!());
  });

  it('link names an O_TMPFILE file', () => {
    using f = dir.open('.', C.O_WRONLY | C.O_TMPFILE, 0o600);
    dir.link(f, 'named');
    expect(dir.stat('named')).toMatchObject({ type: 'file', nlink: 1 });
  });
});

describe('whole trees', () => {
  function buildTree(): void {
    mkdirSync(at('t/a/b/c'), { recursive: true });
    mkdirSync(at('outside'));
    writeFileSync(at('outside/keep'), 'keep');
    for (const p of ['t/f', 't/a/f', 't/a/b/f', 't/a/b/c/f']) writeFileSync(at(p), p);
    symlinkSync(at('outside'), at('t/a/abs-link'));
    symlinkSync('../../outside', at('t/a/rel-link'));
    symlinkSync(at('outside/keep'), at('t/a/b/file-link'));
    mkfifo(at('t/a/fifo'));
    writeFileSync(Buffer.concat([Buffer.from(at('t/a/b/c/bad-')), Buffer.from([0xff, 0xfe])]), 'not utf-8');
  }

  it('removeTree removes everything, symlinks as links, and nothing they point to', () => {
    buildTree();
    dir.removeTree('t');
    expect(readdirSync(dir.path)).toEqual(['outside']);
    expect(readFileSync(at('outside/keep'), 'utf8')).toBe('keep');
    expect(() => dir.removeTree('t')).toThrow(expect.objectContaining({ reason: 'PATH_NOT_FOUND' }));
    dir.removeTree('t', { missingOk: true });
    writeFileSync(at('plain'), '');
    dir.removeTree('plain');
    symlinkSync('outside', at('lnk'));
    dir.removeTree('lnk');
    expect(readdirSync(dir.path)).toEqual(['outside']);
  });

  it('chownTree reaches every entry and chowns links, not their targets', () => {
    buildTree();
    using t = dir.openDir('t');
    t.chownTree(4242, 4243);
    const walk = (p: Buffer): Buffer[] => [
      p,
      ...(lstatSync(p).isDirectory() ? readdirSync(p, { encoding: 'buffer' }).flatMap((e) => walk(Buffer.concat([p, Buffer.from('/'), e]))) : []),
    ];
    const all = walk(Buffer.from(at('t')));
    expect(all.length).toBe(13);
    for (const p of all) expect({ p: p.toString(), uid: lstatSync(p).uid, gid: lstatSync(p).gid }).toEqual({ p: p.toString(), uid: 4242, gid: 4243 });
    expect(lstatSync(at('outside')).uid).toBe(process.getuid!());
    expect(lstatSync(at('outside/keep')).uid).toBe(process.getuid!());
    expect(readlinkSync(at('t/a/rel-link'))).toBe('../../outside');
  });
});

describe('writeFileAtomic', () => {
  it('writes mode and owner exactly, replaces atomically, leaves no temp file', () => {
    writeFileSync(at('conf'), 'old');
    dir.writeFileAtomic('conf', 'new contents', 0o640, { owner: { uid: 4242, gid: 4243 } });
    expect(readFileSync(at('conf'), 'utf8')).toBe('new contents');
    expect(lstatSync(at('conf'))).toMatchObject({ uid: 4242, gid: 4243, mode: 0o100640 });
    expect(readdirSync(dir.path)).toEqual(['conf']);
    expect(() => dir.writeFileAtomic('conf', 'x', 0o600, { noReplace: true })).toThrow(expect.objectContaining({ reason: 'PATH_EXISTS' }));
    expect(readdirSync(dir.path)).toEqual(['conf']);
  });

  it('replaces a symlink with the file instead of writing through it', () => {
    writeFileSync(at('victim'), 'victim');
    symlinkSync('victim', at('conf'));
    dir.writeFileAtomic('conf', Buffer.from('mine'), 0o600);
    expect(readFileSync(at('victim'), 'utf8')).toBe('victim');
    expect(dir.stat('conf').type).toBe('file');
  });
});

describe('readFileBounded', () => {
  it('reads a regular file within the bound, and refuses one over it', () => {
    mkdirSync(at('d'));
    writeFileSync(at('d/f'), 'x'.repeat(100));
    expect(dir.readFileBounded('d/f', 100).toString()).toBe('x'.repeat(100));
    expect(() => dir.readFileBounded('d/f', 99)).toThrow(FileTooLargeError);
    expect(() => dir.readFileBounded('d/f', 99)).toThrow(expect.objectContaining({ reason: 'FILE_TOO_LARGE', maxBytes: 99 }));
    writeFileSync(at('empty'), '');
    expect(dir.readFileBounded('empty', 10).length).toBe(0);
  });

  it('fails at once on a FIFO, a symlink to /dev/zero and /dev/zero itself', () => {
    mkfifo(at('fifo'));
    symlinkSync('/dev/zero', at('zero'));
    const t0 = Date.now();
    expect(() => dir.readFileBounded('fifo', 1024)).toThrow(NotRegularFileError);
    expect(() => dir.readFileBounded('fifo', 1024)).toThrow(expect.objectContaining({ reason: 'NOT_A_REGULAR_FILE', type: 'fifo' }));
    expect(() => dir.readFileBounded('zero', 1024)).toThrow(expect.objectContaining({ reason: 'SYMLINK_REFUSED' }));
    using dev = Dir.open('/dev');
    expect(() => dev.readFileBounded('zero', 1024)).toThrow(expect.objectContaining({ reason: 'NOT_A_REGULAR_FILE', type: 'char' }));
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('is bounded even where fstat says 0 bytes (/proc)', () => {
    using proc = Dir.open(`/proc/${process.pid}`);
    expect(proc.readFileBounded('status', 1 << 20).toString()).toContain('Pid:');
    expect(() => proc.readFileBounded('status', 16)).toThrow(expect.objectContaining({ reason: 'FILE_TOO_LARGE' }));
  });
});

describe('descriptors', () => {
  it('close is idempotent and a closed Dir says so', () => {
    const d = Dir.open(dir.path);
    d.close();
    d.close();
    expect(() => d.list()).toThrow(expect.objectContaining({ reason: 'FD_CLOSED' }));
    expect(d.closed).toBe(true);
  });

  it('release hands the descriptor over', () => {
    const d = Dir.open(dir.path);
    const fd = d.release();
    expect(d.closed).toBe(true);
    closeSync(fd);
  });

  it('errors are SysErrors carrying the errno', () => {
    try {
      dir.openDir('missing');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SysError);
      expect(err).toMatchObject({ code: 'NOT_FOUND', reason: 'PATH_NOT_FOUND', errnoCode: 'ENOENT', syscall: 'openat2', path: at('missing') });
      expect((err as SysError).fields).toMatchObject({ path: at('missing'), errno: 'ENOENT', syscall: 'openat2' });
    }
  });
});
