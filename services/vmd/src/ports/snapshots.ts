import type { NewSnapshot, Snapshot, SnapshotFiles } from '../domain/snapshot.js';
import type { LaunchInput, VmProcess } from './host.js';

/** vmd's snapshot rows (PgSnapshotRepo). */
export interface SnapshotRepository {
  /** ALREADY_EXISTS (SNAPSHOT_NAME_TAKEN) when the name is taken. */
  insert(s: NewSnapshot): Promise<Snapshot>;
  /** Name, id or unique id prefix (validated); NOT_FOUND, or INVALID_ARGUMENT when ambiguous. */
  findByRef(ref: string): Promise<Snapshot>;
  findByName(name: string): Promise<Snapshot | undefined>;
  /** Newest first. */
  list(filter?: { sourceVmId?: string }): Promise<Snapshot[]>;
  markReady(id: string, files: SnapshotFiles): Promise<Snapshot>;
  delete(id: string): Promise<boolean>;
  /** Names of the VMs whose disks are overlays over this snapshot's files. */
  clonesOf(id: string): Promise<string[]>;
}

/** privhelper's snapshot verbs. */
export interface SnapshotHost {
  /** Pauses the VM, saves its state and RAM, freezes its disks, continues it; nothing is left on failure. */
  snapshot(vmId: string, snapshotId: string): Promise<SnapshotFiles>;
  /** Deletes the snapshot's files; false when there were none. */
  deleteSnapshot(snapshotId: string): Promise<boolean>;
  /** Gives a new VM copies of the snapshot's frozen disks; answers their paths. */
  createDisksFromSnapshot(vmId: string, snapshotId: string): Promise<{ rootDisk: string; workDisk: string }>;
  /** Starts the new VM from the snapshot's state (checked first); nothing runs on failure. */
  restoreSnapshot(input: LaunchInput, snapshotId: string): Promise<VmProcess>;
}
