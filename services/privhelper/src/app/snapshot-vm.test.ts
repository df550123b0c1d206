import { createHash } from 'node:crypto';
import { closeSync, write, writeSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { ALL_SEALS, memfdSeals } from '@banger/sys';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotStore, sparseCopy, type DiskCopier } from '../adapters/store/snapshot-store.js';
import type { Hypervisor, StateOptions } from '../domain/hypervisor/driver.js';
import { GuestRamStore } from '../adapters/store/guest-ram.js';
import type { LaunchSpec } from '../domain/vmspec/spec.js';
import { VmHostError } from '../domain/vmspec/errors.js';
import { SnapshotVm } from './snapshot-vm.js';

const VM = 'vm-a';
const SPEC = { vmId: VM, memoryMib: 256, vcpus: 1, kernel: { name: 'k', version: '1' }, cmdline: [], workDisk: true, mac: '02:42:0a:00:00:01' } as unknown as LaunchSpec;

/** A hypervisor that "saves" into the fd, runs the paused step and continues, or fails when told to. */
class FakeHv {
  running = true;
  paused = false;
  failSave = false;
  conts = 0;
  async launched(vmId: string): Promise<{ spec: LaunchSpec; baseImage: string; accel: 'tcg' } | undefined> {
    return this.running && vmId === VM ? { spec: this.spec, baseImage: 'img-a', accel: 'tcg' } : undefined;
  }
  spec: LaunchSpec = SPEC;
  ram: FileHandle | undefined;
  opts: StateOptions | undefined;
  async openRam(): Promise<FileHandle> {
    if (this.ram === undefined) throw new Error('no RAM');
    return this.ram;
  }
  async saveAndContinue(_vmId: string, fd: number, _t: number, whilePaused: () => Promise<void>, opts?: StateOptions): Promise<{ pauseMs: number }> {
    this.opts = opts;
    this.paused = true;
    try {
      if (this.failSave) throw new VmHostError('INTERNAL', 'STATE_SAVE_FAILED', 'migration failed: injected');
      await new Promise<void>((resolve, reject) => write(fd, Buffer.from('QEVM-fake-state'), (err) => (err ? reject(err) : resolve())));
      await whilePaused();
    } finally {
      this.paused = false;
      this.conts += 1;
    }
    return { pauseMs: 7 };
  }
}

describe('SnapshotVm (privhelper)', () => {
  let root = '';
  let hv: FakeHv;
  let copier: DiskCopier;
  let store: SnapshotStore;
  let guestRam: GuestRamStore;
  let runningMib = 0;
  let limitMib = 1 << 20;
  const snapDir = (): string => path.join(root, 'snapshots');
  const use = (): SnapshotVm =>
    new SnapshotVm({
      hypervisor: async () => hv as unknown as Hypervisor,
      snapshots: store,
      diskPaths: (id) => ({ root: path.join(root, 'vms', id, 'root.qcow2'), work: path.join(root, 'vms', id, 'work.ext4') }),
      checkRoom: async () => undefined,
      host: async () => ({ accel: 'tcg', qemuVersion: '7.2.0' }),
      diskBytes: async () => 0,
      ram: guestRam,
      memory: { runningMib: async () => runningMib, templateBytes: () => guestRam.heldBytes(), limitMib },
    });

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'snapshot-vm-'));
    await mkdir(path.join(root, 'vms', VM), { recursive: true });
    await writeFile(path.join(root, 'vms', VM, 'root.qcow2'), 'root-before');
    await writeFile(path.join(root, 'vms', VM, 'work.ext4'), 'work-before');
    hv = new FakeHv();
    guestRam = new GuestRamStore();
    runningMib = 0;
    limitMib = 1 << 20;
    copier = async (from, to) => {
      if (!hv.paused) throw new Error('copied while the VM ran');
      await sparseCopy(from, to);
    };
    store = new SnapshotStore(snapDir(), (a, b) => copier(a, b));
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('saves the state, copies both disks while paused, continues the VM and seals the snapshot', async () => {
    const snap = await use().run(VM, 'snap-1');
    expect(snap).toMatchObject({ snapshotId: 'snap-1', sourceVmId: VM, stateBytes: 15, pauseMs: 7, disks: { root: 'root.qcow2', work: 'work.ext4' } });
    expect(snap.compat).toMatchObject({ qemuVersion: '7.2.0', accel: 'tcg', machine: 'microvm', memoryMib: 256, baseImage: 'img-a', workDisk: true });
    expect(snap.stateSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(hv.conts).toBe(1);
    expect(await readdir(snapDir())).toEqual(['snap-1']);
    expect((await readdir(path.join(snapDir(), 'snap-1'))).sort()).toEqual(['root.qcow2', 'snapshot.json', 'state.bin', 'work.ext4']);
    expect(await readFile(path.join(snapDir(), 'snap-1', 'work.ext4'), 'utf8')).toBe('work-before');
    expect(await store.describe('snap-1')).toMatchObject({ snapshotId: 'snap-1', stateSha256: snap.stateSha256 });
    expect((await store.list()).map((s) => s.snapshotId)).toEqual(['snap-1']);
  });

  it('a shared_ram source: the stream leaves RAM out, its RAM becomes a sealed template while paused and a root-only file', async () => {
    hv.spec = { ...SPEC, sharedRam: true } as unknown as LaunchSpec;
    const ramFd = guestRam.fresh(1 << 20);
    writeSync(ramFd, Buffer.from('guest-page'), 0, 10, 4096);
    hv.ram = await open(`/proc/self/fd/${ramFd}`, 'r');
    const captured: number[] = [];
    const capture = guestRam.capture.bind(guestRam);
    guestRam.capture = async (id, fd) => {
      if (!hv.paused) throw new Error('RAM copied while the VM ran');
      captured.push(fd);
      await capture(id, fd);
    };
    const snap = await use().run(VM, 'snap-1');
    expect(hv.opts).toEqual({ ignoreShared: true });
    expect(captured).toHaveLength(1);
    expect(snap.ram).toMatchObject({ file: 'ram.bin', bytes: 1 << 20 });
    const file = await readFile(path.join(snapDir(), 'snap-1', 'ram.bin'));
    expect(file.subarray(4096, 4106).toString()).toBe('guest-page');
    expect(snap.ram?.sha256).toBe(createHash('sha256').update(file).digest('hex'));
    const tpl = await guestRam.template('snap-1', path.join(snapDir(), 'snap-1', 'ram.bin'), snap.ram!);
    expect(memfdSeals(tpl)).toBe(ALL_SEALS);
    expect(() => writeSync(tpl, Buffer.from('x'), 0, 1, 0)).toThrow(/EPERM/);
    guestRam.drop('snap-1');
    await expect(guestRam.template('snap-1', path.join(snapDir(), 'snap-1', 'ram.bin'), { ...snap.ram!, sha256: '0'.repeat(64) })).rejects.toMatchObject({ reason: 'STATE_CORRUPT' });
    closeSync(ramFd);
  });

  it('template RAM counts against max_guest_memory_percent: a snapshot whose template would pass it is refused before the VM pauses', async () => {
    hv.spec = { ...SPEC, memoryMib: 1, sharedRam: true } as unknown as LaunchSpec;
    const ramFd = guestRam.fresh(1 << 20);
    hv.ram = await open(`/proc/self/fd/${ramFd}`, 'r');
    // Room for the running 1 MiB source and one 1 MiB template, not a second.
    runningMib = 1;
    limitMib = 2;
    await use().run(VM, 'snap-1');
    expect(guestRam.heldBytes()).toBe(1 << 20);
    const refused = use().run(VM, 'snap-2');
    await expect(refused).rejects.toMatchObject({ reason: 'GUEST_MEMORY_QUOTA_EXCEEDED', fields: { field: 'memory_mib', limit: 'privhelper.max_guest_memory_percent', template_mib: '1' } });
    await expect(refused).rejects.toThrow(/snapshot templates hold 1 MiB; 1 MiB more for the RAM template of snapshot snap-2 would pass the 2 MiB allowed/);
    expect(hv.conts).toBe(1);
    expect(await readdir(snapDir())).toEqual(['snap-1']);
    expect(guestRam.heldBytes()).toBe(1 << 20);
    // Deleting the snapshot gives its template's RAM back to the quota.
    guestRam.drop('snap-1');
    expect(guestRam.heldBytes()).toBe(0);
    hv.ram = await open(`/proc/self/fd/${ramFd}`, 'r');
    await use().run(VM, 'snap-2');
    expect(guestRam.heldBytes()).toBe(1 << 20);
    guestRam.drop('snap-2');
    closeSync(ramFd);
  });

  it('a failed save leaves no snapshot, partial or not, and the VM continues', async () => {
    hv.failSave = true;
    await expect(use().run(VM, 'snap-1')).rejects.toMatchObject({ reason: 'STATE_SAVE_FAILED' });
    expect(await readdir(snapDir())).toEqual([]);
    expect(hv.conts).toBe(1);
  });

  it('a failed disk copy leaves nothing either', async () => {
    copier = async () => {
      throw new Error('disk full: injected');
    };
    await expect(use().run(VM, 'snap-1')).rejects.toThrow(/injected/);
    expect(await readdir(snapDir())).toEqual([]);
    expect(hv.paused).toBe(false);
  });

  it('refuses a taken id, a bad id and a VM that does not run, changing nothing', async () => {
    await use().run(VM, 'snap-1');
    await expect(use().run(VM, 'snap-1')).rejects.toMatchObject({ reason: 'SNAPSHOT_EXISTS' });
    await expect(use().run(VM, '../etc')).rejects.toMatchObject({ reason: 'BAD_FIELD', fields: { field: 'snapshot_id' } });
    await expect(use().run('vm-b', 'snap-2')).rejects.toMatchObject({ reason: 'VM_NOT_RUNNING' });
    expect(await readdir(snapDir())).toEqual(['snap-1']);
  });

  it('removes a snapshot, and at start sweeps what a dead privhelper left half-written', async () => {
    await use().run(VM, 'snap-1');
    const draft = await store.begin('snap-2');
    await draft.state.close();
    expect((await readdir(snapDir())).sort()).toEqual(['.partial-snap-2', 'snap-1']);
    expect(await store.list()).toHaveLength(1);
    expect(await store.sweepPartials()).toEqual(['.partial-snap-2']);
    expect(await store.remove('snap-1')).toBe(true);
    expect(await store.remove('snap-1')).toBe(false);
    expect(await readdir(snapDir())).toEqual([]);
  });

  it('ListHeld sees finished and partial snapshot dirs, and a partial this process writes is kept by a delete', async () => {
    await use().run(VM, 'snap-1');
    const writing = await store.begin('snap-2');
    await mkdir(path.join(snapDir(), '.partial-snap-3'));
    await writeFile(path.join(snapDir(), '.partial-snap-3', 'state.bin'), 'left by a save whose clean-up failed');
    const held = await store.held();
    expect(held.map((x) => [x.snapshotId, x.partial, x.inProgress])).toEqual([
      ['snap-2', true, true],
      ['snap-3', true, false],
      ['snap-1', false, false],
    ]);
    expect(held.find((x) => x.snapshotId === 'snap-1')?.sizeBytes).toBeGreaterThan(0);
    expect(await store.remove('snap-2')).toBe(false);
    expect(await store.remove('snap-3')).toBe(true);
    expect((await readdir(snapDir())).sort()).toEqual(['.partial-snap-2', 'snap-1']);
    await store.abort(writing);
    expect((await store.held()).map((x) => x.snapshotId)).toEqual(['snap-1']);
  });

  it('a record that is not JSON or not this snapshot is SNAPSHOT_CORRUPT naming it', async () => {
    await use().run(VM, 'snap-1');
    await writeFile(path.join(snapDir(), 'snap-1', 'snapshot.json'), '{"schema":1,"snapshotId":"other"}');
    await expect(store.describe('snap-1')).rejects.toMatchObject({ reason: 'SNAPSHOT_CORRUPT', fields: { snapshot_id: 'snap-1' } });
  });
});
