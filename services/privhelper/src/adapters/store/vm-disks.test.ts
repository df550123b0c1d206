import { execFile } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { helperLayout, type HelperLayout } from '@banger/config';
import { toBangerError } from '@banger/runtime/errors';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeStoreImage } from '../../testing/store-fixtures.js';
import { refusal } from '../../testing/refusal.js';
import { ImageStore } from './image-store.js';
import { defaultDiskTools, VmDiskStore, type DiskQuotas } from './vm-disks.js';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const TOOLS = ['/usr/bin/qemu-img', '/usr/sbin/mkfs.ext4', '/usr/sbin/e2fsck', '/usr/sbin/resize2fs'];
const missing = (await Promise.all(TOOLS.map((t) => access(t).then(() => null, () => t)))).filter((t) => t !== null);
const skip = process.getuid?.() !== 0 ? 'needs root' : missing.length > 0 ? `missing ${missing.join(', ')} (apt-get install qemu-utils e2fsprogs)` : undefined;
if (skip) console.warn(`[skip] VmDiskStore tests: ${skip}`);

const QUOTAS: DiskQuotas = { maxVms: 4, minWorkDiskBytes: 16 * MiB, maxWorkDiskBytes: 128 * MiB, maxWorkDiskTotalBytes: 160 * MiB };

async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

describe.skipIf(skip !== undefined)('VmDiskStore (real qemu-img and e2fsprogs under a temp layout)', () => {
  let tmp = '';
  let layout: HelperLayout;
  let images: ImageStore;
  const log = pino({ level: 'silent' });
  const store = (quotas: Partial<DiskQuotas> = {}): VmDiskStore => new VmDiskStore(layout, images, { ...QUOTAS, ...quotas }, log);

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'banger-vmdisks-'));
    layout = helperLayout({ paths: { stateDir: path.join(tmp, 'state'), cacheDir: path.join(tmp, 'cache'), runDir: path.join(tmp, 'run') } });
    await mkdir(layout.vmsDir, { recursive: true, mode: 0o700 });
    await mkdir(layout.imagesDir, { recursive: true, mode: 0o750 });
    images = new ImageStore(layout, 0);
    await writeStoreImage(layout.imagesDir, 'img-a', { seedFiles: { 'hello.txt': 'seed a\n' } });
    await writeStoreImage(layout.imagesDir, 'img-b');
  });
  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('CreateOverlay records the image in disks.json and is idempotent; another image for the same VM is refused', async () => {
    const disks = store();
    const first = await disks.createOverlay('vm-rec', 'img-a');
    const overlay = path.join(layout.vmsDir, 'vm-rec', 'root.qcow2');
    expect(first).toMatchObject({ path: overlay, format: 'qcow2', created: true });
    const rec = JSON.parse(await readFile(path.join(layout.vmsDir, 'vm-rec', 'disks.json'), 'utf8')) as Record<string, unknown>;
    expect(rec).toMatchObject({ schema: 1, root: { image: 'img-a', createdAt: expect.any(String) } });
    expect(await disks.record('vm-rec')).toEqual(rec);
    expect((await stat(path.join(layout.vmsDir, 'vm-rec'))).mode & 0o777).toBe(0o700);
    const info = JSON.parse((await exec('qemu-img', ['info', '--output=json', overlay])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 16 * MiB, 'backing-filename-format': 'raw' });

    expect(await disks.createOverlay('vm-rec', 'img-a')).toMatchObject({ path: overlay, created: false });
    expect(await refusal(disks.createOverlay('vm-rec', 'img-b'))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'OVERLAY_EXISTS' });
    expect(await disks.vmsUsingImage('img-a')).toEqual(['vm-rec']);
    expect(await disks.vmsUsingImage('img-b')).toEqual([]);

    await disks.createWorkDisk('vm-rec', 'img-b', 32 * MiB);
    expect(await disks.record('vm-rec')).toMatchObject({ root: { image: 'img-a' }, work: { image: 'img-b', sizeBytes: 32 * MiB } });
    expect(await disks.vmsUsingImage('img-b')).toEqual(['vm-rec']);

    // Removing one disk keeps the other's record; removing both removes the VM's directory.
    expect(await disks.removeOverlay('vm-rec')).toEqual({ removed: true });
    expect(await disks.removeOverlay('vm-rec')).toEqual({ removed: false });
    expect(await disks.record('vm-rec')).toEqual({ schema: 1, work: { image: 'img-b', sizeBytes: 32 * MiB } });
    expect(await disks.removeWorkDisk('vm-rec')).toEqual({ removed: true });
    expect(await disks.removeWorkDisk('vm-rec')).toEqual({ removed: false });
    await expect(access(path.join(layout.vmsDir, 'vm-rec'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an unknown image, a bad image id and a bad VM id are refused before anything is created', async () => {
    const disks = store();
    expect(await refusal(disks.createOverlay('vm-x', 'no-such-image'))).toMatchObject({ code: 'NOT_FOUND', reason: 'IMAGE_NOT_FOUND' });
    expect(await refusal(disks.createWorkDisk('vm-x', 'no-such-image', 32 * MiB))).toMatchObject({ code: 'NOT_FOUND', reason: 'IMAGE_NOT_FOUND' });
    for (const image of ['../img-a', 'img-a/../img-b', 'A', '', 'x\0', 'i'.repeat(129)]) {
      expect(await refusal(disks.createOverlay('vm-x', image))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'BAD_IMAGE_ID' });
    }
    for (const id of ['../x', 'a/b', 'x\0y', 'v'.repeat(65), '', '-x', 'X']) {
      expect(await refusal(disks.createOverlay(id, 'img-a'))).toMatchObject({ code: 'INVALID_ARGUMENT', fields: { field: 'vm_id' } });
      expect(await refusal(disks.removeWorkDisk(id))).toMatchObject({ code: 'INVALID_ARGUMENT', fields: { field: 'vm_id' } });
    }
    expect(await refusal(disks.resizeWorkDisk('vm-none', 32 * MiB))).toMatchObject({ code: 'NOT_FOUND', reason: 'DISK_NOT_FOUND' });
    expect(await readdir(layout.vmsDir)).toEqual([]);
  });

  it('max_vms: disks for one more VM than the quota are RESOURCE_EXHAUSTED naming the limit; existing VMs still get disks', async () => {
    const disks = store({ maxVms: 2 });
    await disks.createOverlay('vm-q1', 'img-a');
    await disks.createOverlay('vm-q2', 'img-a');
    const e = await refusal(disks.createOverlay('vm-q3', 'img-a'));
    expect(e).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'VM_QUOTA_EXCEEDED', fields: { limit: 'privhelper.max_vms' } });
    expect(e.message).toMatch(/max_vms/);
    expect(await refusal(disks.createWorkDisk('vm-q3', 'img-a', 32 * MiB))).toMatchObject({ reason: 'VM_QUOTA_EXCEEDED' });
    await expect(access(path.join(layout.vmsDir, 'vm-q3'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await disks.createWorkDisk('vm-q1', 'img-a', 32 * MiB)).created).toBe(true);
    for (const id of ['vm-q1', 'vm-q2']) {
      await disks.removeOverlay(id);
      await disks.removeWorkDisk(id);
    }
    expect(await readdir(layout.vmsDir)).toEqual([]);
  });

  it('work disk sizes: beyond [vm] max or the total quota is RESOURCE_EXHAUSTED naming the limit, a resize counts too', async () => {
    const disks = store();
    const big = await refusal(disks.createWorkDisk('vm-t1', 'img-a', 256 * MiB));
    expect(big).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'VM_LIMIT_EXCEEDED', fields: { field: 'size_bytes', limit: 'vm.max_work_disk_gib' } });
    expect(await refusal(disks.createWorkDisk('vm-t1', 'img-a', 32 * MiB + 5))).toMatchObject({ code: 'INVALID_ARGUMENT', fields: { field: 'size_bytes' } });

    await disks.createWorkDisk('vm-t1', 'img-a', 64 * MiB);
    await disks.createWorkDisk('vm-t2', 'img-a', 64 * MiB);
    const over = await refusal(disks.createWorkDisk('vm-t3', 'img-a', 64 * MiB));
    expect(over).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'WORK_DISK_QUOTA_EXCEEDED', fields: { limit: 'privhelper.max_work_disk_total_gib' } });
    expect(over.message).toMatch(/201326592 bytes/);
    const grow = await refusal(disks.resizeWorkDisk('vm-t2', 128 * MiB));
    expect(grow).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'WORK_DISK_QUOTA_EXCEEDED' });
    expect((await stat(path.join(layout.vmsDir, 'vm-t2', 'work.ext4'))).size).toBe(64 * MiB);
    // A refused disk leaves nothing behind, not even the directory (which would count as a VM).
    await expect(access(path.join(layout.vmsDir, 'vm-t3'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await disks.resizeWorkDisk('vm-t2', 96 * MiB)).changed).toBe(true);
    for (const id of ['vm-t1', 'vm-t2']) await disks.removeWorkDisk(id);
    expect(await readdir(layout.vmsDir)).toEqual([]);
  });

  it('concurrent creates cannot pass one quota check together: max_vms and the work-disk total hold under a burst', async () => {
    const disks = store({ maxVms: 3 });
    const ids = Array.from({ length: 6 }, (_, i) => `vm-burst${i}`);
    const overlays = await Promise.allSettled(ids.map((id) => disks.createOverlay(id, 'img-a')));
    expect(overlays.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of overlays) if (r.status === 'rejected') expect(toBangerError(r.reason)).toMatchObject({ reason: 'VM_QUOTA_EXCEEDED' });
    expect(await disks.vmIds()).toHaveLength(3);
    const made = await disks.vmIds();
    // 160 MiB total: of three 64 MiB work disks asked for at once, two fit.
    const work = await Promise.allSettled(made.map((id) => disks.createWorkDisk(id, 'img-a', 64 * MiB)));
    expect(work.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    for (const r of work) if (r.status === 'rejected') expect(toBangerError(r.reason)).toMatchObject({ reason: 'WORK_DISK_QUOTA_EXCEEDED' });
    for (const id of made) {
      await disks.removeWorkDisk(id);
      await disks.removeOverlay(id);
    }
    expect(await readdir(layout.vmsDir)).toEqual([]);
  });

  it('a work disk smaller than its seed is refused and leaves no directory', async () => {
    const disks = store();
    expect(await refusal(disks.createWorkDisk('vm-small', 'img-a', 8 * MiB))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'OUT_OF_RANGE', fields: { field: 'size_bytes' } });
    const e = await refusal(store({ minWorkDiskBytes: MiB }).createWorkDisk('vm-small', 'img-a', 8 * MiB));
    expect(e).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'OUT_OF_RANGE', fields: { field: 'size_bytes' } });
    await expect(access(path.join(layout.vmsDir, 'vm-small'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('without a configured total, sparse work disks may not promise more than the free space', async () => {
    const free = await exec('df', ['--output=avail', '-B1', layout.vmsDir]).then((r) => Number(r.stdout.trim().split('\n').pop()));
    const huge = Math.ceil((free + 1024 * MiB) / MiB) * MiB;
    const disks = store({ maxWorkDiskTotalBytes: 0, maxWorkDiskBytes: 2 ** 52 });
    const e = await refusal(disks.createWorkDisk('vm-free', 'img-a', huge));
    expect(e).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'WORK_DISK_QUOTA_EXCEEDED', fields: { limit: 'free space' } });
    await disks.removeWorkDisk('vm-free');
  });

  it('resize is grow-only and refused while a process holds the disk open', async () => {
    const disks = store();
    const wd = await disks.createWorkDisk('vm-busy', 'img-a', 32 * MiB);
    expect(await refusal(disks.resizeWorkDisk('vm-busy', 16 * MiB))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'SHRINK_REFUSED' });
    expect(await disks.resizeWorkDisk('vm-busy', 32 * MiB)).toEqual({ previous: 32 * MiB, sizeBytes: 32 * MiB, changed: false });
    const fh = await open(wd.path, 'r');
    try {
      const e = await refusal(disks.resizeWorkDisk('vm-busy', 48 * MiB));
      expect(e).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'DISK_IN_USE' });
      expect(e.fields['pids']).toContain(String(process.pid));
      expect((await stat(wd.path)).size).toBe(32 * MiB);
    } finally {
      await fh.close();
    }
    expect(await disks.resizeWorkDisk('vm-busy', 48 * MiB)).toEqual({ previous: 32 * MiB, sizeBytes: 48 * MiB, changed: true });
    expect(await disks.record('vm-busy')).toMatchObject({ work: { sizeBytes: 48 * MiB } });
    await disks.removeWorkDisk('vm-busy');
  });

  it('openForLaunch opens the overlay, the recorded base and the work disk; refuses a VM without the disks asked for', async () => {
    const disks = store();
    expect(await refusal(disks.openForLaunch('vm-l', false))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'NO_ROOT_DISK' });
    await disks.createOverlay('vm-l', 'img-b');
    expect(await refusal(disks.openForLaunch('vm-l', true))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'NO_WORK_DISK' });
    await disks.createWorkDisk('vm-l', 'img-a', 32 * MiB);
    const fds = await openFds();
    const open1 = await disks.openForLaunch('vm-l', true);
    try {
      expect(open1.baseImage).toBe('img-b');
      const target = async (fd: number): Promise<string> => readlink(`/proc/${process.pid}/fd/${fd}`);
      expect(await target(open1.overlay.fd)).toBe(path.join(layout.vmsDir, 'vm-l', 'root.qcow2'));
      expect(await target(open1.base.fd)).toBe(path.join(layout.imagesDir, 'img-b', 'rootfs.ext4'));
      expect(await target(open1.work!.fd)).toBe(path.join(layout.vmsDir, 'vm-l', 'work.ext4'));
    } finally {
      await open1.close();
    }
    expect(await openFds()).toBe(fds);
  });

  it('openForLaunch refuses an overlay whose header names an external data file, and closes what it opened', async () => {
    const disks = store();
    await disks.createOverlay('vm-data', 'img-a');
    const overlay = path.join(layout.vmsDir, 'vm-data', 'root.qcow2');
    const victim = path.join(tmp, 'victim');
    await rm(overlay);
    // qemu-img creates the data file; the victim's content is put there afterwards.
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${victim},data_file_raw=on`, overlay, '16M']);
    await writeFile(victim, 'host secret\n');
    const fds = await openFds();
    const e = await refusal(disks.openForLaunch('vm-data', false));
    expect(e).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'OVERLAY_HEADER_REFUSED' });
    expect(e.message).toMatch(/external data file/);
    expect(await openFds()).toBe(fds);
    // A raw file put where the overlay belongs is not launched as a qcow2 either.
    await writeFile(overlay, Buffer.alloc(4096));
    expect(await refusal(disks.openForLaunch('vm-data', false))).toMatchObject({ reason: 'OVERLAY_HEADER_REFUSED' });
    expect(await readFile(victim, 'utf8')).toBe('host secret\n');
    await disks.removeOverlay('vm-data');
  });
});

describe.skipIf(skip !== undefined)('ResizeWorkDisk parses the guest-written filesystem unprivileged', () => {
  it('e2fsck and resize2fs run as a tool uid on /dev/fd/N, never as root on the store path, and the disk is root-only again after', async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'banger-vmdisks-tools-'));
    // Traversable, so the tool uid reaches its wrappers; the store's own directories stay 0700.
    await chmod(tmp, 0o755);
    try {
      const layout = helperLayout({ paths: { stateDir: path.join(tmp, 'state'), cacheDir: path.join(tmp, 'cache'), runDir: path.join(tmp, 'run') } });
      await mkdir(layout.vmsDir, { recursive: true, mode: 0o700 });
      await mkdir(layout.imagesDir, { recursive: true, mode: 0o750 });
      const images = new ImageStore(layout, 0);
      await writeStoreImage(layout.imagesDir, 'img-t');
      // Wrappers the tool uid can run, logging who ran them on what, then the real tool.
      const bin = path.join(tmp, 'bin');
      await mkdir(bin, { mode: 0o755 });
      const logFile = path.join(bin, 'calls.log');
      await writeFile(logFile, '');
      await chmod(logFile, 0o666);
      const wrap = async (name: string, real: string): Promise<string> => {
        const p = path.join(bin, name);
        await writeFile(p, `#!/bin/sh\necho "${name} $(id -u) $*" >> ${logFile}\nexec ${real} "$@"\n`, { mode: 0o755 });
        return p;
      };
      const tools = { ...defaultDiskTools({ uidBase: 2_000_000_000, uidCount: 1024 }), e2fsck: await wrap('e2fsck', '/usr/sbin/e2fsck'), resize2fs: await wrap('resize2fs', '/usr/sbin/resize2fs') };
      const disks = new VmDiskStore(layout, images, QUOTAS, pino({ level: 'silent' }), tools);
      await disks.createOverlay('vm-t', 'img-t');
      await disks.createWorkDisk('vm-t', 'img-t', 32 * MiB);
      await writeFile(logFile, '');
      expect(await disks.resizeWorkDisk('vm-t', 64 * MiB)).toMatchObject({ previous: 32 * MiB, sizeBytes: 64 * MiB, changed: true });
      const calls = (await readFile(logFile, 'utf8')).trim().split('\n');
      expect(calls.map((c) => c.split(' ')[0])).toEqual(['e2fsck', 'resize2fs']);
      for (const c of calls) {
        const [, uid, ...args] = c.split(' ');
        expect(Number(uid)).toBeGreaterThanOrEqual(2_000_000_000 + 1024 - 16);
        expect(args.at(-1)).toMatch(/^\/dev\/fd\/\d+$/);
        expect(c).not.toContain(layout.vmsDir);
      }
      const work = await stat(path.join(layout.vmsDir, 'vm-t', 'work.ext4'));
      expect([work.uid, work.gid, work.size]).toEqual([0, 0, 64 * MiB]);
      await exec('e2fsck', ['-fn', path.join(layout.vmsDir, 'vm-t', 'work.ext4')]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
