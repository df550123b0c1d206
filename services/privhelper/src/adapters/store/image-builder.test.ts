import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { helperLayout, type HelperLayout } from '@banger/config';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ext4Cat, makeExt4, sha256, writeStoreImage } from '../../testing/store-fixtures.js';
import { refusal } from '../../testing/refusal.js';
import { ImageBuilder } from './image-builder.js';
import { ImageStore } from './image-store.js';
import { KernelStore } from './kernel-store.js';
import { defaultDiskTools, VmDiskStore } from './vm-disks.js';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const TOOLS = ['/usr/bin/qemu-img', '/usr/sbin/mkfs.ext4', '/usr/sbin/debugfs'];
const missing = (await Promise.all(TOOLS.map((t) => access(t).then(() => null, () => t)))).filter((t) => t !== null);
const skip = process.getuid?.() !== 0 ? 'needs root' : missing.length > 0 ? `missing ${missing.join(', ')} (apt-get install qemu-utils e2fsprogs)` : undefined;
if (skip) console.warn(`[skip] ImageBuilder.promote tests: ${skip}`);

describe.skipIf(skip !== undefined)('ImageBuilder.promote (real qemu-img): the chain is the one privhelper recorded', () => {
  let tmp = '';
  let layout: HelperLayout;
  let images: ImageStore;
  let disks: VmDiskStore;
  const running = new Set<string>();
  let builder: ImageBuilder;
  let victim = '';

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'banger-promote-'));
    layout = helperLayout({ paths: { stateDir: path.join(tmp, 'state'), cacheDir: path.join(tmp, 'cache'), runDir: path.join(tmp, 'run') } });
    for (const d of [layout.vmsDir, layout.imagesDir, layout.kernelsDir]) await mkdir(d, { recursive: true, mode: 0o700 });
    const log = pino({ level: 'silent' });
    images = new ImageStore(layout, 0);
    disks = new VmDiskStore(layout, images, { maxVms: 8, minWorkDiskBytes: MiB, maxWorkDiskBytes: 64 * MiB, maxWorkDiskTotalBytes: 0 }, log);
    const kernels = new KernelStore(layout, path.join(tmp, 'state', 'kernels'), 0, log);
    builder = new ImageBuilder({ layout, images, kernels, disks, guestBytes: defaultDiskTools().guestBytes, isRunning: async (id) => running.has(id), log });
    await writeStoreImage(layout.imagesDir, 'img-base', { rootfsFiles: { marker: 'from the recorded base\n' }, seedFiles: { 'seed.txt': 'base seed\n' } });
    victim = path.join(tmp, 'victim.ext4');
    await makeExt4(victim, '16M', 'victim', { marker: 'from the victim\n' });
  });
  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('flattens the overlay over the recorded base even when its header names another backing file', async () => {
    await disks.createOverlay('vm-p', 'img-base');
    const overlay = path.join(layout.vmsDir, 'vm-p', 'root.qcow2');
    // What a hostile writer of the header would do: point the backing file name at a host file.
    await exec('qemu-img', ['rebase', '-u', '-b', victim, '-F', 'raw', overlay]);
    const info = JSON.parse((await exec('qemu-img', ['info', '--output=json', overlay])).stdout) as Record<string, unknown>;
    expect(info['backing-filename']).toBe(victim);

    const victimBefore = await stat(victim);
    const r = await builder.promote('vm-p', 'promoted-one');
    expect(r).toMatchObject({ image: 'promoted-one', baseImage: 'img-base', dir: path.join(layout.imagesDir, 'promoted-one'), rootfsBytes: 16 * MiB });
    const rootfs = path.join(r.dir, 'rootfs.ext4');
    expect(await ext4Cat(rootfs, 'marker')).toBe('from the recorded base\n');
    expect(sha256(await readFile(rootfs))).toBe(sha256(await readFile(path.join(layout.imagesDir, 'img-base', 'rootfs.ext4'))));
    expect(await ext4Cat(path.join(r.dir, 'work-seed.ext4'), 'seed.txt')).toBe('base seed\n');
    expect(JSON.parse(await readFile(path.join(r.dir, 'image.json'), 'utf8'))).toMatchObject({ promotedFrom: { vmId: 'vm-p', baseImage: 'img-base' } });
    for (const f of ['rootfs.ext4', 'work-seed.ext4', 'image.json']) expect((await stat(path.join(r.dir, f))).mode & 0o777).toBe(0o640);
    expect((await stat(r.dir)).mode & 0o777).toBe(0o750);
    const victimAfter = await stat(victim);
    expect([victimAfter.size, victimAfter.mtimeMs]).toEqual([victimBefore.size, victimBefore.mtimeMs]);
    expect(await readdir(layout.buildDir)).toEqual([]);
  });

  it('refuses a bad or taken image id, a VM without a root disk, and a running VM', async () => {
    expect(await refusal(builder.promote('vm-p', 'my-image'))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'BAD_IMAGE_ID' });
    expect(await refusal(builder.promote('vm-p', 'promoted-../x'))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'BAD_IMAGE_ID' });
    expect(await refusal(builder.promote('vm-p', 'promoted-one'))).toMatchObject({ code: 'ALREADY_EXISTS', reason: 'IMAGE_EXISTS' });
    expect(await refusal(builder.promote('vm-nodisk', 'promoted-two'))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'NO_ROOT_DISK' });
    expect(await refusal(builder.promote('../vm-p', 'promoted-two'))).toMatchObject({ code: 'INVALID_ARGUMENT', fields: { field: 'vm_id' } });
    running.add('vm-p');
    expect(await refusal(builder.promote('vm-p', 'promoted-two'))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'DISK_IN_USE' });
    running.delete('vm-p');
    const fh = await open(path.join(layout.vmsDir, 'vm-p', 'root.qcow2'), 'r');
    try {
      expect(await refusal(builder.promote('vm-p', 'promoted-two'))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'DISK_IN_USE' });
    } finally {
      await fh.close();
    }
    expect((await images.list()).map((i) => i.image)).toEqual(['img-base', 'promoted-one']);
  });

  it('refuses an overlay whose header names an external data file, leaving no image and no build tree', async () => {
    await disks.createOverlay('vm-d', 'img-base');
    const overlay = path.join(layout.vmsDir, 'vm-d', 'root.qcow2');
    await rm(overlay);
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${path.join(tmp, 'data-victim')},data_file_raw=on`, overlay, '16M']);
    expect(await refusal(builder.promote('vm-d', 'promoted-data'))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'OVERLAY_HEADER_REFUSED' });
    expect(await images.exists('promoted-data')).toBe(false);
    expect(await readdir(layout.buildDir)).toEqual([]);
  });
});
