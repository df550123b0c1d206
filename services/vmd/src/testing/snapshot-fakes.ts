import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '@banger/runtime/errors';
import type { NewSnapshot, Snapshot, SnapshotFiles } from '../domain/snapshot.js';
import type { LaunchInput, VmProcess } from '../ports/host.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import type { FakeHost, MemoryVms } from './fakes.js';

/** Snapshot rows in memory; clones are the VMs whose spec names the snapshot, as in PostgreSQL. */
export class MemorySnapshots implements SnapshotRepository {
  readonly rows = new Map<string, Snapshot>();
  /** VM name → snapshot id, standing in for vms.spec->>'fromSnapshot'. */
  readonly clones = new Map<string, string>();

  constructor(private readonly vms?: MemoryVms) {}

  async insert(s: NewSnapshot): Promise<Snapshot> {
    if ([...this.rows.values()].some((r) => r.name === s.name)) throw new AlreadyExistsError('snapshot', s.name, 'SNAPSHOT_NAME_TAKEN', { fields: { field: 'name' } });
    const row: Snapshot = { ...s, files: undefined, createdAt: new Date() };
    this.rows.set(s.id, row);
    return { ...row };
  }
  async findByRef(ref: string): Promise<Snapshot> {
    const hit = [...this.rows.values()].find((r) => r.id === ref || r.name === ref) ?? [...this.rows.values()].find((r) => r.id.startsWith(ref));
    if (hit === undefined) throw new NotFoundError('snapshot', ref, 'SNAPSHOT_NOT_FOUND');
    return { ...hit };
  }
  async findByName(name: string): Promise<Snapshot | undefined> {
    return [...this.rows.values()].find((r) => r.name === name);
  }
  async list(filter: { sourceVmId?: string } = {}): Promise<Snapshot[]> {
    return [...this.rows.values()].filter((r) => filter.sourceVmId === undefined || r.sourceVmId === filter.sourceVmId).reverse();
  }
  async markReady(id: string, files: SnapshotFiles): Promise<Snapshot> {
    const r = this.rows.get(id);
    if (r === undefined) throw new NotFoundError('snapshot', id, 'SNAPSHOT_NOT_FOUND');
    const next: Snapshot = { ...r, state: 'ready', files };
    this.rows.set(id, next);
    return { ...next };
  }
  async delete(id: string): Promise<boolean> {
    return this.rows.delete(id);
  }
  async clonesOf(id: string): Promise<string[]> {
    return [...this.clones.entries()].filter(([, s]) => s === id).map(([vm]) => vm).filter((vm) => this.vms === undefined || [...this.vms.rows.values()].some((v) => v.name === vm)).sort();
  }
}

/** privhelper's snapshot verbs: files per snapshot id, for VMs the fake host runs. */
export class FakeSnapshotHost implements SnapshotHost {
  readonly files = new Map<string, { vmId: string }>();
  readonly calls: string[] = [];
  failSnapshot: Error | undefined;

  failRestore: Error | undefined;

  constructor(
    private readonly running: (vmId: string) => boolean,
    private readonly host?: FakeHost,
  ) {}

  async snapshot(vmId: string, snapshotId: string): Promise<SnapshotFiles> {
    this.calls.push(`snapshot ${vmId} ${snapshotId}`);
    if (!this.running(vmId)) throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vmId} is not running`);
    // privhelper has begun writing when the save fails: the caller must clean up under the id.
    this.files.set(snapshotId, { vmId });
    if (this.failSnapshot !== undefined) throw this.failSnapshot;
    return { sizeBytes: 300 << 20, stateBytes: 260 << 20, stateSha256: 'ab'.repeat(32), pauseMs: 1200, qemuVersion: '7.2.0', accel: 'tcg' };
  }
  async createDisksFromSnapshot(vmId: string, snapshotId: string): Promise<{ rootDisk: string; workDisk: string }> {
    this.calls.push(`disks ${vmId} ${snapshotId}`);
    if (!this.files.has(snapshotId)) throw new NotFoundError('snapshot', snapshotId, 'SNAPSHOT_NOT_FOUND');
    return { rootDisk: `/helper/vms/${vmId}/root.qcow2`, workDisk: `/helper/vms/${vmId}/work.ext4` };
  }
  /** Restores through the fake host's launch, so the clone runs there like a booted VM. */
  async restoreSnapshot(input: LaunchInput, snapshotId: string): Promise<VmProcess> {
    this.calls.push(`restore ${input.vmId} ${snapshotId}`);
    if (this.failRestore !== undefined) throw this.failRestore;
    if (this.host === undefined) throw new Error('no fake host to restore on');
    return this.host.launch(input);
  }
  async deleteSnapshot(snapshotId: string): Promise<boolean> {
    this.calls.push(`delete ${snapshotId}`);
    return this.files.delete(snapshotId);
  }
}
