import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostDiskManager } from '../../services/privhelper/src/adapters/disk/manager.js';
import { VmHostError } from '../../services/privhelper/src/domain/vmspec/errors.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const TOOLS = ['/usr/bin/qemu-img', '/usr/sbin/mkfs.ext4', '/usr/sbin/e2fsck', '/usr/sbin/resize2fs', '/usr/sbin/dumpe2fs', '/usr/sbin/debugfs'];
const missing = (await Promise.all(TOOLS.map((t) => access(t).then(() => null, () => t)))).filter((t) => t !== null);
if (missing.length > 0) console.warn(`[skip] disk integration tests: missing ${missing.join(', ')} (apt-get install qemu-utils e2fsprogs)`);

let tmp = '';
let images = '';
let disks: HostDiskManager;

async function fsBytes(file: string): Promise<number> {
  const { stdout } = await run('dumpe2fs', ['-h', file], { encoding: 'utf8' });
  const count = Number(/^Block count:\s+(\d+)/m.exec(stdout)?.[1]);
  const size = Number(/^Block size:\s+(\d+)/m.exec(stdout)?.[1]);
  return count * size;
}

/** e2fsck -fn exits 0 only when the filesystem is clean. */
async function fsckClean(file: string): Promise<boolean> {
  return run('e2fsck', ['-f', '-n', file]).then(() => true, () => false);
}

/** path → size+mtime of every file under dir, skipping the named top-level entries. */
async function snapshot(dir: string, skip: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, full);
    if (skip.includes(rel.split(path.sep)[0] ?? '')) continue;
    const st = await stat(full);
    out[rel] = `${e.isDirectory() ? 'd' : st.size}:${st.mtimeMs}`;
  }
  return out;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function rejection(p: Promise<unknown>): Promise<VmHostError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(VmHostError);
  return err as VmHostError;
}

describe.skipIf(missing.length > 0)('HostDiskManager (real qemu-img / e2fsprogs)', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'banger-disk-'));
    images = path.join(tmp, 'images');
    const seedContent = path.join(tmp, 'seed-content');
    await mkdir(images, { recursive: true });
    await mkdir(seedContent);
    await writeFile(path.join(seedContent, 'hello.txt'), 'from the seed\n');
    await run('truncate', ['-s', '16M', path.join(images, 'base.ext4')]);
    await run('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', path.join(images, 'base.ext4')]);
    await run('truncate', ['-s', '32M', path.join(images, 'work-seed.ext4')]);
    await run('mkfs.ext4', ['-q', '-F', '-L', 'work', '-d', seedContent, path.join(images, 'work-seed.ext4')]);
    await writeFile(path.join(tmp, 'outside.raw'), 'x');
    disks = new HostDiskManager({ vmDisksRoot: path.join(tmp, 'vms'), imageDirs: [images] }, pino({ level: 'silent' }));
  });
  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('creates a qcow2 overlay on the raw base, idempotently, and removes it idempotently', async () => {
    const first = await disks.createRootOverlay('vm-a', path.join(images, 'base.ext4'));
    expect(first).toMatchObject({ path: path.join(tmp, 'vms/vm-a/root.qcow2'), format: 'qcow2', created: true });
    const { stdout } = await run('qemu-img', ['info', '--output=json', first.path], { encoding: 'utf8' });
    const info = JSON.parse(stdout) as Record<string, unknown>;
    expect(info['format']).toBe('qcow2');
    expect(info['backing-filename']).toBe(path.join(images, 'base.ext4'));
    expect(info['backing-filename-format']).toBe('raw');
    expect(info['virtual-size']).toBe(16 * MiB);
    expect((await disks.createRootOverlay('vm-a', path.join(images, 'base.ext4'))).created).toBe(false);
    expect(await disks.removeRootDisk('vm-a')).toEqual({ removed: true });
    expect(await disks.removeRootDisk('vm-a')).toEqual({ removed: false });
    await expect(access(path.join(tmp, 'vms/vm-a'))).rejects.toThrow();
  });

  it('keeps a raw full-copy path for Firecracker', async () => {
    const copy = await disks.createRawRootCopy('vm-raw', path.join(images, 'base.ext4'));
    expect(copy).toMatchObject({ format: 'raw', sizeBytes: 16 * MiB, created: true });
    expect(Buffer.compare(await readFile(copy.path), await readFile(path.join(images, 'base.ext4')))).toBe(0);
    expect(await disks.removeRootDisk('vm-raw')).toEqual({ removed: true });
  });

  it('refuses bases outside the image dirs, missing bases and bad ids', async () => {
    expect(await rejection(disks.createRootOverlay('vm-b', path.join(tmp, 'outside.raw')))).toMatchObject({ kind: 'INVALID_ARGUMENT', reason: 'PATH_ESCAPE' });
    expect(await rejection(disks.createRootOverlay('vm-b', `${images}/../outside.raw`))).toMatchObject({ reason: 'PATH_ESCAPE' });
    expect(await rejection(disks.createRootOverlay('vm-b', path.join(images, 'nope.raw')))).toMatchObject({ kind: 'NOT_FOUND' });
    expect(await rejection(disks.createRootOverlay('../etc', path.join(images, 'base.ext4')))).toMatchObject({ kind: 'INVALID_ARGUMENT', fields: { field: 'vm_id' } });
    await expect(access(path.join(tmp, 'vms/vm-b'))).rejects.toThrow();
  });

  it('creates a work disk from the seed, grows it, refuses to shrink, stays fsck-clean', async () => {
    const seed = path.join(images, 'work-seed.ext4');
    const wd = await disks.createWorkDisk('vm-w', seed, 64 * MiB);
    expect(wd).toMatchObject({ path: path.join(tmp, 'vms/vm-w/work.ext4'), format: 'raw', sizeBytes: 64 * MiB, created: true });
    expect((await stat(wd.path)).size).toBe(64 * MiB);
    expect(await fsBytes(wd.path)).toBe(64 * MiB);
    expect(await fsckClean(wd.path)).toBe(true);
    const { stdout } = await run('debugfs', ['-R', 'cat /hello.txt', wd.path], { encoding: 'utf8' });
    expect(stdout).toBe('from the seed\n');
    expect(await fsBytes(seed)).toBe(32 * MiB);
    expect((await disks.createWorkDisk('vm-w', seed, 256 * MiB)).created).toBe(false);

    const grown = await disks.resizeWorkDisk('vm-w', 128 * MiB);
    expect(grown).toMatchObject({ sizeBytes: 128 * MiB, changed: true });
    expect(await fsBytes(wd.path)).toBe(128 * MiB);
    expect(await fsckClean(wd.path)).toBe(true);
    expect((await disks.resizeWorkDisk('vm-w', 128 * MiB)).changed).toBe(false);

    expect(await rejection(disks.resizeWorkDisk('vm-w', 64 * MiB))).toMatchObject({ kind: 'FAILED_PRECONDITION', reason: 'SHRINK_REFUSED' });
    expect(await rejection(disks.resizeWorkDisk('vm-w', 128 * MiB + 512))).toMatchObject({ kind: 'INVALID_ARGUMENT', reason: 'BAD_FIELD' });
    expect(await rejection(disks.resizeWorkDisk('vm-w', 2 ** 50))).toMatchObject({ reason: 'OUT_OF_RANGE' });
    expect(await rejection(disks.resizeWorkDisk('vm-none', 128 * MiB))).toMatchObject({ kind: 'NOT_FOUND' });
    expect((await stat(wd.path)).size).toBe(128 * MiB);

    expect(await disks.removeWorkDisk('vm-w')).toEqual({ removed: true });
    expect(await disks.removeWorkDisk('vm-w')).toEqual({ removed: false });
  });

  it('refuses to create a work disk smaller than the seed', async () => {
    expect(await rejection(disks.createWorkDisk('vm-s', path.join(images, 'work-seed.ext4'), 16 * MiB))).toMatchObject({ reason: 'OUT_OF_RANGE' });
  });

  it('survives random arguments to every disk verb without touching anything outside its dirs', async () => {
    const before = await snapshot(tmp, ['vms']);
    const rnd = mulberry32(0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const ids = ['fz-1', '', '..', '../x', 'a/b', 'A', '-x', 'x'.repeat(65), 'fz-2', '.', '/etc'];
    const paths = [path.join(images, 'base.ext4'), path.join(tmp, 'outside.raw'), `${images}/../outside.raw`, '/etc/passwd', '', 'base.ext4', `${images}/nope`, images, '\0'];
    const sizes = [64 * MiB, 0, -MiB, 1.5, NaN, 2 ** 53, 33 * MiB + 1, 48 * MiB];
    for (let i = 0; i < 120; i++) {
      const id = pick(ids);
      const verb = pick(['overlay', 'raw', 'rmroot', 'work', 'resize', 'rmwork'] as const);
      const call =
        verb === 'overlay' ? disks.createRootOverlay(id, pick(paths))
        : verb === 'raw' ? disks.createRawRootCopy(id, pick(paths))
        : verb === 'rmroot' ? disks.removeRootDisk(id)
        : verb === 'work' ? disks.createWorkDisk(id, pick([...paths, path.join(images, 'work-seed.ext4')]), pick(sizes))
        : verb === 'resize' ? disks.resizeWorkDisk(id, pick(sizes))
        : disks.removeWorkDisk(id);
      const err = await call.then(() => undefined, (e: unknown) => e);
      if (err !== undefined && !(err instanceof VmHostError)) throw new Error(`iteration ${i} ${verb}(${id}): unexpected ${err instanceof Error ? err.message : typeof err}`, { cause: err });
    }
    expect(await snapshot(tmp, ['vms'])).toEqual(before);
    for (const id of ['fz-1', 'fz-2']) {
      await disks.removeRootDisk(id);
      await disks.removeWorkDisk(id);
    }
  });

  it('refuses to resize a work disk a live process holds open', async () => {
    const wd = await disks.createWorkDisk('vm-busy', path.join(images, 'work-seed.ext4'), 32 * MiB);
    const fh = await open(wd.path, 'r');
    try {
      const err = await rejection(disks.resizeWorkDisk('vm-busy', 64 * MiB));
      expect(err).toMatchObject({ kind: 'FAILED_PRECONDITION', reason: 'DISK_IN_USE' });
      expect(err.fields['pids']).toContain(String(process.pid));
    } finally {
      await fh.close();
    }
    expect((await disks.resizeWorkDisk('vm-busy', 64 * MiB)).changed).toBe(true);
    await disks.removeWorkDisk('vm-busy');
  });
});
