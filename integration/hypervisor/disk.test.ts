import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { helperLayout, type HelperLayout } from '@banger/config';
import { BangerError, toBangerError } from '@banger/runtime/errors';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../services/privhelper/src/adapters/store/image-store.js';
import { VmDiskStore } from '../../services/privhelper/src/adapters/store/vm-disks.js';
import { VmHostError } from '../../services/privhelper/src/domain/vmspec/errors.js';
import { refusal } from '../../services/privhelper/src/testing/refusal.js';
import { ext4Cat, writeStoreImage } from '../../services/privhelper/src/testing/store-fixtures.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const TOOLS = ['/usr/bin/qemu-img', '/usr/sbin/mkfs.ext4', '/usr/sbin/e2fsck', '/usr/sbin/resize2fs', '/usr/sbin/dumpe2fs', '/usr/sbin/debugfs'];
const missing = (await Promise.all(TOOLS.map((t) => access(t).then(() => null, () => t)))).filter((t) => t !== null);
const skip = process.getuid?.() !== 0 ? 'needs root' : missing.length > 0 ? `missing ${missing.join(', ')} (apt-get install qemu-utils e2fsprogs)` : undefined;
if (skip) console.warn(`[skip] disk integration tests: ${skip}`);

let tmp = '';
let layout: HelperLayout;
let disks: VmDiskStore;

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
async function snapshot(dir: string, skipTop: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, full);
    if (skipTop.some((s) => rel === s || rel.startsWith(`${s}/`))) continue;
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

describe.skipIf(skip !== undefined)('VmDiskStore with real qemu-img and e2fsprogs', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'banger-disk-'));
    layout = helperLayout({ paths: { stateDir: path.join(tmp, 'state'), cacheDir: path.join(tmp, 'cache'), runDir: path.join(tmp, 'run') } });
    await mkdir(layout.vmsDir, { recursive: true, mode: 0o700 });
    await mkdir(layout.imagesDir, { recursive: true, mode: 0o750 });
    await writeStoreImage(layout.imagesDir, 'img-a', { rootfsSize: '16M', seedSize: '32M', seedFiles: { 'hello.txt': 'from the seed\n' } });
    await writeFile(path.join(tmp, 'outside.raw'), 'x');
    disks = new VmDiskStore(layout, new ImageStore(layout, 0), { maxVms: 64, minWorkDiskBytes: 16 * MiB, maxWorkDiskBytes: 256 * MiB, maxWorkDiskTotalBytes: 1024 * MiB }, pino({ level: 'silent' }));
  });
  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it("creates a qcow2 overlay on the image's raw rootfs, idempotently, and removes it idempotently", async () => {
    const first = await disks.createOverlay('vm-a', 'img-a');
    expect(first).toMatchObject({ path: path.join(layout.vmsDir, 'vm-a/root.qcow2'), format: 'qcow2', created: true });
    const { stdout } = await run('qemu-img', ['info', '--output=json', first.path], { encoding: 'utf8' });
    const info = JSON.parse(stdout) as Record<string, unknown>;
    expect(info['format']).toBe('qcow2');
    expect(info['backing-filename']).toBe(path.join(layout.imagesDir, 'img-a', 'rootfs.ext4'));
    expect(info['backing-filename-format']).toBe('raw');
    expect(info['virtual-size']).toBe(16 * MiB);
    expect((await disks.createOverlay('vm-a', 'img-a')).created).toBe(false);
    expect(await disks.removeOverlay('vm-a')).toEqual({ removed: true });
    expect(await disks.removeOverlay('vm-a')).toEqual({ removed: false });
    await expect(access(path.join(layout.vmsDir, 'vm-a'))).rejects.toThrow();
  });

  it('creates a work disk from the seed, grows it, refuses to shrink, stays fsck-clean', async () => {
    const seed = path.join(layout.imagesDir, 'img-a', 'work-seed.ext4');
    const wd = await disks.createWorkDisk('vm-w', 'img-a', 64 * MiB);
    expect(wd).toMatchObject({ path: path.join(layout.vmsDir, 'vm-w/work.ext4'), format: 'raw', sizeBytes: 64 * MiB, created: true });
    expect((await stat(wd.path)).size).toBe(64 * MiB);
    expect(await fsBytes(wd.path)).toBe(64 * MiB);
    expect(await fsckClean(wd.path)).toBe(true);
    expect(await ext4Cat(wd.path, 'hello.txt')).toBe('from the seed\n');
    expect(await fsBytes(seed)).toBe(32 * MiB);
    expect((await disks.createWorkDisk('vm-w', 'img-a', 128 * MiB)).created).toBe(false);

    const grown = await disks.resizeWorkDisk('vm-w', 128 * MiB);
    expect(grown).toMatchObject({ previous: 64 * MiB, sizeBytes: 128 * MiB, changed: true });
    expect(await fsBytes(wd.path)).toBe(128 * MiB);
    expect(await fsckClean(wd.path)).toBe(true);
    expect(await ext4Cat(wd.path, 'hello.txt')).toBe('from the seed\n');
    expect((await disks.resizeWorkDisk('vm-w', 128 * MiB)).changed).toBe(false);

    expect(await refusal(disks.resizeWorkDisk('vm-w', 64 * MiB))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'SHRINK_REFUSED' });
    expect(await refusal(disks.resizeWorkDisk('vm-w', 128 * MiB + 512))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'BAD_FIELD' });
    expect(await refusal(disks.resizeWorkDisk('vm-w', 2 ** 50))).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'VM_LIMIT_EXCEEDED' });
    expect(await refusal(disks.resizeWorkDisk('vm-none', 128 * MiB))).toMatchObject({ code: 'NOT_FOUND' });
    expect((await stat(wd.path)).size).toBe(128 * MiB);

    expect(await disks.removeWorkDisk('vm-w')).toEqual({ removed: true });
    expect(await disks.removeWorkDisk('vm-w')).toEqual({ removed: false });
  });

  it('refuses to create a work disk smaller than the seed', async () => {
    expect(await refusal(disks.createWorkDisk('vm-s', 'img-a', 16 * MiB))).toMatchObject({ reason: 'OUT_OF_RANGE', fields: { field: 'size_bytes' } });
    await expect(access(path.join(layout.vmsDir, 'vm-s'))).rejects.toThrow();
  });

  it('survives random arguments to every disk verb without touching anything outside its own VM directories', async () => {
    const before = await snapshot(tmp, ['state/helper/vms']);
    const rnd = mulberry32(0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const ids = ['fz-1', '', '..', '../x', 'a/b', 'A', '-x', 'x'.repeat(65), 'fz-2', '.', '/etc', 'x\0y'];
    const images = ['img-a', '', '../img-a', 'img-a/../..', 'no-such', '/etc/passwd', 'IMG', '\0', path.join(tmp, 'outside.raw')];
    const sizes = [64 * MiB, 0, -MiB, 1.5, NaN, 2 ** 53, 33 * MiB + 1, 48 * MiB, 16 * MiB];
    for (let i = 0; i < 120; i++) {
      const id = pick(ids);
      const verb = pick(['overlay', 'rmroot', 'work', 'resize', 'rmwork', 'open'] as const);
      const call =
        verb === 'overlay' ? disks.createOverlay(id, pick(images))
        : verb === 'rmroot' ? disks.removeOverlay(id)
        : verb === 'work' ? disks.createWorkDisk(id, pick(images), pick(sizes))
        : verb === 'resize' ? disks.resizeWorkDisk(id, pick(sizes))
        : verb === 'open' ? disks.openForLaunch(id, rnd() < 0.5).then((d) => d.close())
        : disks.removeWorkDisk(id);
      const err = await call.then(() => undefined, (e: unknown) => e);
      if (err !== undefined && !(err instanceof VmHostError) && !(err instanceof BangerError)) throw new Error(`iteration ${i} ${verb}(${id}): unexpected ${err instanceof Error ? err.message : typeof err}`, { cause: err });
      if (err !== undefined) expect(toBangerError(err).code, `iteration ${i} ${verb}(${id})`).not.toBe('INTERNAL');
    }
    expect(await snapshot(tmp, ['state/helper/vms'])).toEqual(before);
    expect((await readdir(layout.vmsDir)).filter((d) => !['fz-1', 'fz-2'].includes(d))).toEqual([]);
    for (const id of ['fz-1', 'fz-2']) {
      await disks.removeOverlay(id);
      await disks.removeWorkDisk(id);
    }
    expect(await readdir(layout.vmsDir)).toEqual([]);
  });
});
