import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ResourceExhaustedError } from '@banger/runtime/errors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SavedStateStore } from '../adapters/store/saved-state.js';
import type { Hypervisor } from '../domain/hypervisor/driver.js';
import type { LaunchSpec } from '../domain/vmspec/spec.js';
import { VmHostError } from '../domain/vmspec/errors.js';
import { SuspendVm } from './suspend-vm.js';

const VM = 'vm-a';
const SPEC = { vmId: VM, memoryMib: 256, vcpus: 1, kernel: { name: 'k', version: '1' }, cmdline: [], workDisk: false, mac: '02:42:0a:00:00:01' } as unknown as LaunchSpec;

/** A hypervisor that "writes" a state into the fd it is given, or fails when told to. */
class FakeHv {
  running = true;
  paused = false;
  failSave = false;
  resumed = 0;
  async launched(vmId: string): Promise<{ spec: LaunchSpec; baseImage: string; accel: 'tcg' } | undefined> {
    return this.running && vmId === VM ? { spec: SPEC, baseImage: 'img-a', accel: 'tcg' } : undefined;
  }
  async saveAndQuit(_vmId: string, fd: number): Promise<void> {
    this.paused = true;
    if (this.failSave) throw new VmHostError('INTERNAL', 'STATE_SAVE_FAILED', 'migration failed: injected');
    const { write } = await import('node:fs');
    await new Promise<void>((resolve, reject) => write(fd, Buffer.from('QEVM-fake-state'), (err) => (err ? reject(err) : resolve())));
    this.running = false;
  }
  async resume(): Promise<boolean> {
    this.resumed += 1;
    this.paused = false;
    return true;
  }
}

describe('SuspendVm (privhelper)', () => {
  let root = '';
  let hv: FakeHv;
  let states: SavedStateStore;
  let room: (vmId: string, bytes: number) => Promise<void>;
  const suspend = (): SuspendVm =>
    new SuspendVm({ hypervisor: async () => hv as unknown as Hypervisor, states, host: async () => ({ accel: 'tcg', qemuVersion: '7.2.0' }), checkRoom: (id, b) => room(id, b) });

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'suspend-vm-'));
    await mkdir(path.join(root, VM));
    await writeFile(path.join(root, VM, 'root.qcow2'), 'disk');
    hv = new FakeHv();
    states = new SavedStateStore((id) => path.join(root, id));
    room = async () => undefined;
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('saves into the VM disk dir and records what the state can be restored on', async () => {
    const meta = await suspend().run(VM);
    expect(meta).toMatchObject({ vmId: VM, sizeBytes: 15, compat: { qemuVersion: '7.2.0', accel: 'tcg', cpuModel: 'max', machine: 'microvm', memoryMib: 256, baseImage: 'img-a', mac: '02:42:0a:00:00:01' } });
    expect((await readdir(path.join(root, VM))).sort()).toEqual(['root.qcow2', 'suspend.json', 'suspend.state']);
    expect(hv.running).toBe(false);
  });

  it('refuses a VM that does not run, and an id that is not one', async () => {
    hv.running = false;
    await expect(suspend().run(VM)).rejects.toMatchObject({ reason: 'VM_NOT_RUNNING' });
    await expect(suspend().run('../etc')).rejects.toMatchObject({ kind: 'INVALID_ARGUMENT' });
  });

  it('without room for the RAM on disk it refuses before touching the VM', async () => {
    let asked = 0;
    room = async (_id, bytes) => {
      asked = bytes;
      throw new ResourceExhaustedError('STATE_DISK_FULL', 'no room');
    };
    await expect(suspend().run(VM)).rejects.toMatchObject({ reason: 'STATE_DISK_FULL' });
    expect(asked).toBeGreaterThanOrEqual(256 * 1024 * 1024);
    expect({ paused: hv.paused, running: hv.running }).toEqual({ paused: false, running: true });
    expect(await readdir(path.join(root, VM))).toEqual(['root.qcow2']);
  });

  it('a failed save deletes the partial file and lets the VM run on', async () => {
    hv.failSave = true;
    await expect(suspend().run(VM)).rejects.toMatchObject({ reason: 'STATE_SAVE_FAILED' });
    expect(await readdir(path.join(root, VM))).toEqual(['root.qcow2']);
    expect({ resumed: hv.resumed, running: hv.running, paused: hv.paused }).toEqual({ resumed: 1, running: true, paused: false });
  });
});

