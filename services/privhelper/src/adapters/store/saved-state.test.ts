import { mkdtemp, readFile, rm, writeFile, truncate, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compatOf, type SavedStateCompat } from '../../domain/hypervisor/saved-state.js';
import { SavedStateStore } from './saved-state.js';

const SPEC = { memoryMib: 256, vcpus: 1, kernel: { name: 'k', version: '1' }, workDisk: true, mac: '02:42:0a:00:00:01' };
const HERE: SavedStateCompat = compatOf(SPEC, 'img-a', { accel: 'tcg', qemuVersion: '7.2.0' });

describe('SavedStateStore', () => {
  let root = '';
  let store: SavedStateStore;
  const vm = 'vm-1';

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'saved-state-'));
    await mkdir(path.join(root, vm));
    store = new SavedStateStore((id) => path.join(root, id));
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  async function save(bytes: Buffer): Promise<void> {
    const fh = await store.openForSave(vm);
    await fh.write(bytes);
    await store.commit(vm, fh, HERE, 12);
    await fh.close();
  }

  it('seals a save with its size, sha256 and compat record, and opens it for a matching restore', async () => {
    await save(Buffer.from('QEVM state bytes'));
    expect((await readdir(path.join(root, vm))).sort()).toEqual(['suspend.json', 'suspend.state']);
    const meta = await store.meta(vm);
    expect(meta).toMatchObject({ schema: 1, vmId: vm, sizeBytes: 16, saveMs: 12, compat: HERE });
    const { fh } = await store.openForRestore(vm, HERE);
    await fh.close();
  });

  it('a save that never committed leaves no state that looks whole', async () => {
    const fh = await store.openForSave(vm);
    await fh.write(Buffer.from('half'));
    await fh.close();
    expect(await store.meta(vm)).toBeUndefined();
    await expect(store.openForRestore(vm, HERE)).rejects.toMatchObject({ reason: 'NO_SAVED_STATE' });
    await store.dropPartial(vm);
    expect(await readdir(path.join(root, vm))).toEqual([]);
  });

  it.each([
    ['memory', { memoryMib: 512 }, 'memoryMib'],
    ['image', { baseImage: 'img-b' }, 'baseImage'],
    ['QEMU', { qemuVersion: '8.2.0' }, 'qemuVersion'],
    ['accelerator', { accel: 'kvm', cpuModel: 'host' }, 'accel'],
    ['MAC', { mac: '02:42:0a:00:00:02' }, 'mac'],
  ])('refuses a restore with another %s, naming the field', async (_what, change, field) => {
    await save(Buffer.from('state'));
    await expect(store.openForRestore(vm, { ...HERE, ...change })).rejects.toMatchObject({ reason: 'STATE_INCOMPATIBLE', fields: { field } });
  });

  it('refuses a truncated, a corrupted and a foreign state file, naming it', async () => {
    await save(Buffer.alloc(8192, 7));
    const file = path.join(root, vm, 'suspend.state');
    await truncate(file, 4096);
    await expect(store.openForRestore(vm, HERE)).rejects.toMatchObject({ reason: 'STATE_CORRUPT', fields: { file } });
    await writeFile(file, Buffer.alloc(8192, 8));
    await expect(store.openForRestore(vm, HERE)).rejects.toMatchObject({ reason: 'STATE_CORRUPT', message: expect.stringContaining('sha256') as string });
    await writeFile(file, Buffer.alloc(8192, 7));
    const metaFile = path.join(root, vm, 'suspend.json');
    await writeFile(metaFile, (await readFile(metaFile, 'utf8')).replace(`"vmId": "${vm}"`, '"vmId": "vm-2"'));
    await expect(store.openForRestore(vm, HERE)).rejects.toMatchObject({ reason: 'STATE_CORRUPT' });
    await writeFile(metaFile, 'not json');
    await expect(store.openForRestore(vm, HERE)).rejects.toMatchObject({ reason: 'STATE_CORRUPT', fields: { file: metaFile } });
  });

  it('discard removes every file of the state, and reports whether there was one', async () => {
    await save(Buffer.from('x'));
    expect(await store.discard(vm)).toBe(true);
    expect(await readdir(path.join(root, vm))).toEqual([]);
    expect(await store.discard(vm)).toBe(false);
  });

  it('refuses to save for a VM without a disk directory', async () => {
    await expect(store.openForSave('vm-none')).rejects.toMatchObject({ reason: 'VM_DISKS_MISSING' });
  });
});
