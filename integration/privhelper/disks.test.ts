import { execFile } from 'node:child_process';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperFixture, helperUnavailableReason } from './setup.js';

const exec = promisify(execFile);
const GiB = 1024 ** 3;

const skip = await helperUnavailableReason();
if (skip) console.warn(`[skip] privhelper disk verbs over gRPC: ${skip}`);

/** Every file under DIR with its size and mtime, to prove a refused call changed nothing. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath, e.name);
    const st = await stat(p);
    out.push(`${path.relative(dir, p)} ${e.isDirectory() ? 'd' : st.size} ${st.mtimeMs}`);
  }
  return out.sort();
}

async function ext4Bytes(file: string): Promise<number> {
  const out = (await exec('dumpe2fs', ['-h', file])).stdout;
  return Number(/Block count:\s+(\d+)/.exec(out)?.[1]) * Number(/Block size:\s+(\d+)/.exec(out)?.[1]);
}

describe.skipIf(skip !== undefined)('privhelper daemon: disk verbs over gRPC, by VM id and image id', () => {
  let f: HelperFixture;
  let vms = '';
  let images = '';

  beforeAll(async () => {
    f = await HelperFixture.start({ privhelper: ['max_vms = 4', 'max_work_disk_total_gib = 3'], vm: ['default_work_disk_gib = 1', 'max_work_disk_gib = 2'] });
    vms = path.join(f.helperState, 'vms');
    images = path.join(f.helperState, 'images');
    await f.putImage('img-a', { seedFiles: { 'hello.txt': 'from the seed\n' } });
    await f.putImage('img-b');
  });
  afterAll(async () => {
    await f?.close();
  });

  it('CreateOverlay makes <state>/helper/vms/<id>/root.qcow2 over the image, records the image, idempotently', async () => {
    const want = path.join(vms, 'disk-a', 'root.qcow2');
    const res = await f.call('createOverlay', { vmId: 'disk-a', image: 'img-a' });
    expect(res).toMatchObject({ path: want, created: true });
    const info = JSON.parse((await exec('qemu-img', ['info', '--output=json', want])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 16 * 1024 * 1024, 'backing-filename': path.join(images, 'img-a', 'rootfs.ext4') });
    expect(JSON.parse(await readFile(path.join(vms, 'disk-a', 'disks.json'), 'utf8'))).toMatchObject({ root: { image: 'img-a' } });
    expect(await f.call('createOverlay', { vmId: 'disk-a', image: 'img-a' })).toMatchObject({ path: want, created: false });
    const other = await f.refused('createOverlay', { vmId: 'disk-a', image: 'img-b' });
    expect(other).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'OVERLAY_EXISTS' });
  });

  it('PromoteVmDisk turns the overlay into a store image; RemoveImage refuses an image a VM disk is based on', async () => {
    const promoted = await f.call('promoteVmDisk', { vmId: 'disk-a', image: 'promoted-disk-a' });
    expect(promoted).toMatchObject({ image: 'promoted-disk-a', baseImage: 'img-a', path: path.join(images, 'promoted-disk-a'), rootfsBytes: 16 * 1024 * 1024 });
    expect((await f.call('listImages', {})).images.map((i) => i.image)).toEqual(['img-a', 'img-b', 'promoted-disk-a']);
    const inUse = await f.refused('removeImage', { image: 'img-a' });
    expect(inUse).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'IMAGE_IN_USE', errorMetadata: { vms: 'disk-a' } });
    expect(await f.call('removeImage', { image: 'promoted-disk-a' })).toEqual({ removed: true });
    expect(await f.call('removeImage', { image: 'promoted-disk-a' })).toEqual({ removed: false });
  });

  it('RemoveOverlay removes it and the VM directory, and a second remove answers removed=false', async () => {
    const p = path.join(vms, 'disk-a', 'root.qcow2');
    expect(await f.call('removeOverlay', { vmId: 'disk-a' })).toEqual({ removed: true });
    await expect(stat(p)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(access(path.join(vms, 'disk-a'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await f.call('removeOverlay', { vmId: 'disk-a' })).toEqual({ removed: false });
  });

  it('CreateWorkDisk from the image seed, ResizeWorkDisk grows (ext4 grown too); shrinking and going past [vm] max are refused', async () => {
    const want = path.join(vms, 'disk-w', 'work.ext4');
    const created = await f.call('createWorkDisk', { vmId: 'disk-w', image: 'img-a', sizeBytes: GiB });
    expect(created).toEqual({ path: want, created: true, sizeBytes: GiB });
    expect((await stat(want)).size).toBe(GiB);
    expect(await ext4Bytes(want)).toBe(GiB);
    expect((await exec('debugfs', ['-R', 'cat /hello.txt', want])).stdout).toBe('from the seed\n');
    expect(await f.call('createWorkDisk', { vmId: 'disk-w', image: 'img-a', sizeBytes: GiB })).toMatchObject({ path: want, created: false });

    expect(await f.call('resizeWorkDisk', { vmId: 'disk-w', sizeBytes: 2 * GiB })).toEqual({ previousSizeBytes: GiB, sizeBytes: 2 * GiB });
    expect((await stat(want)).size).toBe(2 * GiB);
    expect(await ext4Bytes(want)).toBe(2 * GiB);
    expect(await f.call('resizeWorkDisk', { vmId: 'disk-w', sizeBytes: 2 * GiB })).toEqual({ previousSizeBytes: 2 * GiB, sizeBytes: 2 * GiB });

    const shrink = await f.refused('resizeWorkDisk', { vmId: 'disk-w', sizeBytes: GiB });
    expect(shrink).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'SHRINK_REFUSED' });
    const big = await f.refused('resizeWorkDisk', { vmId: 'disk-w', sizeBytes: 3 * GiB });
    expect(big).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, reason: 'VM_LIMIT_EXCEEDED', errorMetadata: { field: 'size_bytes', limit: 'vm.max_work_disk_gib' } });
    expect(big.message).toMatch(/max_work_disk_gib.*\(op-[a-z2-7]{12}\)$/);
    expect((await stat(want)).size).toBe(2 * GiB);
    expect(await f.call('removeWorkDisk', { vmId: 'disk-w' })).toEqual({ removed: true });
    expect(await f.call('removeWorkDisk', { vmId: 'disk-w' })).toEqual({ removed: false });
  });

  it('CreateWorkDisk from a seed that needs checking runs e2fsck before growing it', async () => {
    // A seed mounted since its last check (as a promoted VM's could be): resize2fs refuses it
    // unchecked, so the helper falls back to e2fsck -f, then grows.
    const dir = await f.putImage('img-dirty');
    const dirty = path.join(dir, 'work-seed.ext4');
    await exec('debugfs', ['-w', '-R', 'ssv mtime 20250101', dirty]);
    await exec('tune2fs', ['-T', '20240101', dirty]);
    const refused = await exec('sh', ['-c', `cp ${dirty} ${dirty}.probe && truncate -s 32M ${dirty}.probe && resize2fs ${dirty}.probe; echo rc=$?; rm -f ${dirty}.probe`]);
    expect(refused.stdout + refused.stderr).toMatch(/e2fsck -f/);
    const want = path.join(vms, 'disk-d', 'work.ext4');
    expect(await f.call('createWorkDisk', { vmId: 'disk-d', image: 'img-dirty', sizeBytes: GiB })).toEqual({ path: want, created: true, sizeBytes: GiB });
    expect(await ext4Bytes(want)).toBe(GiB);
    expect(await f.call('removeWorkDisk', { vmId: 'disk-d' })).toEqual({ removed: true });
  });

  it('[privhelper] quotas: a fifth VM and work disks past the total are RESOURCE_EXHAUSTED naming the limit', async () => {
    for (const id of ['q-1', 'q-2', 'q-3', 'q-4']) await f.call('createOverlay', { vmId: id, image: 'img-b' });
    const fifth = await f.refused('createOverlay', { vmId: 'q-5', image: 'img-b' });
    expect(fifth).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, reason: 'VM_QUOTA_EXCEEDED', errorMetadata: { limit: 'privhelper.max_vms' } });
    expect((await f.refused('createWorkDisk', { vmId: 'q-5', image: 'img-b', sizeBytes: GiB })).reason).toBe('VM_QUOTA_EXCEEDED');
    await expect(access(path.join(vms, 'q-5'))).rejects.toMatchObject({ code: 'ENOENT' });

    await f.call('createWorkDisk', { vmId: 'q-1', image: 'img-b', sizeBytes: 2 * GiB });
    await f.call('createWorkDisk', { vmId: 'q-2', image: 'img-b', sizeBytes: GiB });
    const total = await f.refused('createWorkDisk', { vmId: 'q-3', image: 'img-b', sizeBytes: GiB });
    expect(total).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, reason: 'WORK_DISK_QUOTA_EXCEEDED', errorMetadata: { limit: 'privhelper.max_work_disk_total_gib' } });
    expect((await f.refused('resizeWorkDisk', { vmId: 'q-2', sizeBytes: 2 * GiB })).reason).toBe('WORK_DISK_QUOTA_EXCEEDED');
    await expect(access(path.join(vms, 'q-3', 'work.ext4'))).rejects.toMatchObject({ code: 'ENOENT' });
    for (const id of ['q-1', 'q-2', 'q-3', 'q-4']) {
      await f.call('removeWorkDisk', { vmId: id });
      await f.call('removeOverlay', { vmId: id });
    }
    expect(await readdir(vms)).toEqual([]);
  });

  it('refuses bad ids, unknown images and VMs without disks with the field named and the op id, changing nothing', async () => {
    await f.call('createOverlay', { vmId: 'disk-b', image: 'img-a' });
    await f.call('createWorkDisk', { vmId: 'disk-b', image: 'img-a', sizeBytes: GiB });
    const passwd = await stat('/etc/passwd');
    const before = await tree(f.stack.dir);

    type Case = [Parameters<HelperFixture['refused']>[0], object, grpc.status, string | undefined, string | undefined];
    const I = grpc.status.INVALID_ARGUMENT;
    const cases: Case[] = [
      ['createOverlay', { vmId: '../x', image: 'img-a' }, I, 'BAD_FIELD', 'vm_id'],
      ['createOverlay', { vmId: '../../etc', image: 'img-a' }, I, 'BAD_FIELD', 'vm_id'],
      ['createOverlay', { vmId: 'disk-\0b', image: 'img-a' }, I, 'BAD_FIELD', 'vm_id'],
      ['createOverlay', { vmId: 'v'.repeat(65), image: 'img-a' }, I, 'BAD_FIELD', 'vm_id'],
      ['createOverlay', { vmId: '', image: 'img-a' }, I, 'BAD_FIELD', 'vm_id'],
      ['createOverlay', { vmId: 'disk-c', image: '../img-a' }, I, 'BAD_IMAGE_ID', 'image'],
      ['createOverlay', { vmId: 'disk-c', image: '/etc/passwd' }, I, 'BAD_IMAGE_ID', 'image'],
      ['createOverlay', { vmId: 'disk-c', image: 'img-\0a' }, I, 'BAD_IMAGE_ID', 'image'],
      ['createOverlay', { vmId: 'disk-c', image: 'i'.repeat(129) }, I, 'BAD_IMAGE_ID', 'image'],
      ['createOverlay', { vmId: 'disk-c', image: '' }, I, 'BAD_IMAGE_ID', 'image'],
      ['createOverlay', { vmId: 'disk-c', image: 'no-such-image' }, grpc.status.NOT_FOUND, 'IMAGE_NOT_FOUND', 'image'],
      ['createWorkDisk', { vmId: 'disk-c', image: 'no-such-image', sizeBytes: GiB }, grpc.status.NOT_FOUND, 'IMAGE_NOT_FOUND', 'image'],
      ['createWorkDisk', { vmId: 'disk-c', image: 'img-a', sizeBytes: GiB + 512 }, I, 'BAD_FIELD', 'size_bytes'],
      ['createWorkDisk', { vmId: '../disk-b', image: 'img-a', sizeBytes: GiB }, I, 'BAD_FIELD', 'vm_id'],
      ['resizeWorkDisk', { vmId: 'disk-none', sizeBytes: 2 * GiB }, grpc.status.NOT_FOUND, 'DISK_NOT_FOUND', undefined],
      ['resizeWorkDisk', { vmId: '../disk-b', sizeBytes: 2 * GiB }, I, 'BAD_FIELD', 'vm_id'],
      ['removeOverlay', { vmId: '../disk-b' }, I, 'BAD_FIELD', 'vm_id'],
      ['removeWorkDisk', { vmId: 'disk-b/../disk-b' }, I, 'BAD_FIELD', 'vm_id'],
      ['promoteVmDisk', { vmId: 'disk-none', image: 'promoted-x' }, grpc.status.FAILED_PRECONDITION, 'NO_ROOT_DISK', undefined],
      ['promoteVmDisk', { vmId: 'disk-b', image: 'my-image' }, I, 'BAD_IMAGE_ID', 'image'],
      ['promoteVmDisk', { vmId: 'disk-b', image: 'img-a' }, I, 'BAD_IMAGE_ID', 'image'],
      ['removeImage', { image: '../helper' }, I, 'BAD_IMAGE_ID', 'image'],
    ];
    for (const [method, req, code, reason, field] of cases) {
      const e = await f.refused(method, req as never);
      expect({ method, req, code: e.code, reason: e.reason, field: e.errorMetadata['field'] }).toEqual({ method, req, code, reason, field });
      expect(e.message).toMatch(/\(op-[a-z2-7]{12}\)$/);
    }
    // Removing what a VM never had is not an error, and changes nothing either.
    expect(await f.call('removeWorkDisk', { vmId: 'disk-none' })).toEqual({ removed: false });
    expect(await f.call('removeOverlay', { vmId: 'disk-none' })).toEqual({ removed: false });

    expect(await tree(f.stack.dir)).toEqual(before);
    const after = await stat('/etc/passwd');
    expect([after.size, after.mtimeMs]).toEqual([passwd.size, passwd.mtimeMs]);
  });

  it('each call above left exactly one helper rpc completed|failed line with its op id and duration_ms', async () => {
    expect(await f.completionProblems()).toEqual([]);
    const failed = f.calls.find((c) => !c.ok);
    expect(f.completionLines().find((l) => l.op_id === failed?.opId)).toMatchObject({ msg: 'helper rpc failed', code: expect.any(String), duration_ms: expect.any(Number) });
    expect(f.daemon.stray).toEqual([]);
    expect(f.alive()).toBe(true);
  });
});
