import { execFile } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperFixture, helperUnavailableReason, makeExt4 } from './setup.js';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const QCOW2 = helperv2.DiskFormat.DISK_FORMAT_QCOW2;

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

describe.skipIf(skip !== undefined)('privhelper daemon: disk verbs over gRPC, confined to the state dir', () => {
  let f: HelperFixture;
  let base = '';
  let seed = '';

  beforeAll(async () => {
    f = await HelperFixture.start();
    await mkdir(path.join(f.stateDir, 'images'), { recursive: true });
    base = path.join(f.stateDir, 'images', 'base.ext4');
    seed = path.join(f.stateDir, 'images', 'work-seed.ext4');
    await makeExt4(base);
    await makeExt4(seed, '16M');
  });
  afterAll(async () => {
    await f?.close();
  });

  it('CreateOverlay makes <state>/vms/<id>/root.qcow2 backed by the image, idempotently', async () => {
    const want = path.join(f.stateDir, 'vms', 'disk-a', 'root.qcow2');
    const res = await f.call('createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId: 'disk-a', basePath: base, format: QCOW2 }));
    expect(res).toEqual({ path: want, created: true });
    const info = JSON.parse((await exec('qemu-img', ['info', '--output=json', want])).stdout) as { format: string; 'backing-filename': string };
    expect(info).toMatchObject({ format: 'qcow2', 'backing-filename': base });
    expect(await f.call('createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId: 'disk-a', basePath: base, path: want, format: QCOW2 }))).toEqual({ path: want, created: false });
  });

  it('RemoveOverlay removes it, and a second remove answers removed=false', async () => {
    const p = path.join(f.stateDir, 'vms', 'disk-a', 'root.qcow2');
    expect(await f.call('removeOverlay', { path: p })).toEqual({ removed: true });
    await expect(stat(p)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await f.call('removeOverlay', { path: p })).toEqual({ removed: false });
  });

  it('CreateWorkDisk from a seed, ResizeWorkDisk grows (ext4 grown too), shrinking is refused', async () => {
    const want = path.join(f.stateDir, 'vms', 'disk-w', 'work.ext4');
    const created = await f.call('createWorkDisk', { vmId: 'disk-w', path: '', sizeBytes: 32 * MiB, seedPath: seed });
    expect(created).toEqual({ path: want, created: true, sizeBytes: 32 * MiB });
    expect((await stat(want)).size).toBe(32 * MiB);
    expect(await f.call('createWorkDisk', { vmId: 'disk-w', path: want, sizeBytes: 32 * MiB, seedPath: seed })).toMatchObject({ path: want, created: false });

    const grown = await f.call('resizeWorkDisk', { path: want, sizeBytes: 48 * MiB });
    expect(grown).toEqual({ previousSizeBytes: 32 * MiB, sizeBytes: 48 * MiB });
    expect((await stat(want)).size).toBe(48 * MiB);
    const dumpe2fs = (await exec('dumpe2fs', ['-h', want])).stdout;
    const blocks = Number(/Block count:\s+(\d+)/.exec(dumpe2fs)?.[1]);
    const blockSize = Number(/Block size:\s+(\d+)/.exec(dumpe2fs)?.[1]);
    expect(blocks * blockSize).toBe(48 * MiB);
    expect(await f.call('resizeWorkDisk', { path: want, sizeBytes: 48 * MiB })).toEqual({ previousSizeBytes: 48 * MiB, sizeBytes: 48 * MiB });

    const shrink = await f.refused('resizeWorkDisk', { path: want, sizeBytes: 32 * MiB });
    expect(shrink).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'SHRINK_REFUSED' });
    expect((await stat(want)).size).toBe(48 * MiB);
    expect(await f.call('removeWorkDisk', { path: want })).toEqual({ removed: true });
    expect(await f.call('removeWorkDisk', { path: want })).toEqual({ removed: false });
  });

  it('CreateWorkDisk from a seed that needs checking runs e2fsck before growing it', async () => {
    // A seed mounted since its last check (as a promoted VM's could be): resize2fs refuses it
    // unchecked, so the helper falls back to e2fsck -f, then grows.
    const dirty = path.join(f.stateDir, 'images', 'work-seed-dirty.ext4');
    await makeExt4(dirty, '16M');
    await exec('debugfs', ['-w', '-R', 'ssv mtime 20250101', dirty]);
    await exec('tune2fs', ['-T', '20240101', dirty]);
    const refused = await exec('resize2fs', ['-P', dirty]).then(
      () => exec('sh', ['-c', `cp ${dirty} ${dirty}.probe && truncate -s 32M ${dirty}.probe && resize2fs ${dirty}.probe; echo rc=$?`]),
    );
    expect(refused.stdout + refused.stderr).toMatch(/e2fsck -f/);
    const want = path.join(f.stateDir, 'vms', 'disk-d', 'work.ext4');
    expect(await f.call('createWorkDisk', { vmId: 'disk-d', path: '', sizeBytes: 32 * MiB, seedPath: dirty })).toEqual({ path: want, created: true, sizeBytes: 32 * MiB });
    const dumpe2fs = (await exec('dumpe2fs', ['-h', want])).stdout;
    expect(Number(/Block count:\s+(\d+)/.exec(dumpe2fs)?.[1]) * Number(/Block size:\s+(\d+)/.exec(dumpe2fs)?.[1])).toBe(32 * MiB);
    expect(await f.call('removeWorkDisk', { path: want })).toEqual({ removed: true });
  });

  it('refuses paths outside the state dir with INVALID_ARGUMENT PATH_ESCAPE and the op id, changing nothing', async () => {
    await f.call('createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId: 'disk-b', basePath: base, format: QCOW2 }));
    await f.call('createWorkDisk', { vmId: 'disk-b', path: '', sizeBytes: 16 * MiB, seedPath: seed });
    const outside = path.join(f.stack.dir, 'outside.ext4');
    await writeFile(outside, 'not an image');
    const vms = path.join(f.stateDir, 'vms');
    const passwd = await stat('/etc/passwd');
    const before = await tree(f.stack.dir);

    const escapes: [Parameters<HelperFixture['refused']>[0], object, string][] = [
      ['removeOverlay', { path: '/etc/passwd' }, 'path'],
      ['removeOverlay', { path: `${vms}/../../outside.ext4` }, 'path'],
      ['removeOverlay', { path: `${vms}/disk-b/../../../outside.ext4` }, 'path'],
      ['removeOverlay', { path: `${vms}/disk-b/work.ext4` }, 'path'],
      ['removeOverlay', { path: 'disk-b/root.qcow2' }, 'path'],
      ['removeWorkDisk', { path: `${vms}/disk-b/root.qcow2` }, 'path'],
      ['removeWorkDisk', { path: '/etc/passwd' }, 'path'],
      ['resizeWorkDisk', { path: '/etc/passwd', sizeBytes: 64 * MiB }, 'path'],
      ['resizeWorkDisk', { path: `${vms}/../../outside.ext4`, sizeBytes: 64 * MiB }, 'path'],
      ['createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId: 'disk-c', basePath: '/etc/passwd', format: QCOW2 }), 'base_path'],
      ['createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId: 'disk-c', basePath: `${f.stateDir}/images/../../outside.ext4`, format: QCOW2 }), 'base_path'],
      ['createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId: 'disk-c', basePath: base, path: '/etc/passwd', format: QCOW2 }), 'path'],
      ['createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId: 'disk-c', basePath: base, path: `${vms}/disk-b/root.qcow2`, format: QCOW2 }), 'path'],
      ['createWorkDisk', { vmId: 'disk-c', path: '', sizeBytes: 16 * MiB, seedPath: '/etc/passwd' }, 'seed_path'],
      ['createWorkDisk', { vmId: 'disk-c', path: '/tmp/evil.ext4', sizeBytes: 16 * MiB, seedPath: seed }, 'path'],
    ];
    for (const [method, req, field] of escapes) {
      const e = await f.refused(method, req as never);
      expect({ method, code: e.code, reason: e.reason, field: e.errorMetadata['field'] }).toEqual({ method, code: grpc.status.INVALID_ARGUMENT, reason: 'PATH_ESCAPE', field });
      expect(e.message).toMatch(/\(op-[a-z2-7]{12}\)$/);
    }
    const vmIdEscape = await f.refused('createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId: '../../x', basePath: base, format: QCOW2 }));
    expect(vmIdEscape).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, errorMetadata: { field: 'vm_id' } });

    expect(await tree(f.stack.dir)).toEqual(before);
    const after = await stat('/etc/passwd');
    expect([after.size, after.mtimeMs]).toEqual([passwd.size, passwd.mtimeMs]);
  });

  it('each call above left exactly one helper rpc completed|failed line with its op id and duration_ms', async () => {
    expect(await f.completionProblems()).toEqual([]);
    const failed = f.calls.find((c) => !c.ok);
    expect(f.completionLines().find((l) => l.op_id === failed?.opId)).toMatchObject({ msg: 'helper rpc failed', code: expect.any(String), duration_ms: expect.any(Number) });
    expect(f.alive()).toBe(true);
  });
});
