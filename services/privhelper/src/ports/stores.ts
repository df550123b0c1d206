import type { FileHandle } from 'node:fs/promises';
import type { SavedStateCompat, SavedStateMeta } from '../domain/hypervisor/saved-state.js';
import type { SnapshotRam, SnapshotView } from '../domain/hypervisor/snapshot.js';
import type { LaunchInput, StopOutcome } from '../domain/hypervisor/driver.js';
import type { KernelRef } from '../domain/store/ids.js';

/** The VM's disks opened for a launch; close once the hypervisor holds its own descriptors. */
export type LaunchDisks = LaunchInput['disks'] & { close(): Promise<void> };

/** privhelper's kernel store, as the launch use case needs it. */
export interface KernelFiles {
  paths(ref: KernelRef, field?: string): Promise<{ vmlinux: string; initrd: string }>;
}

/** privhelper's per-VM disks, as the launch use case needs them. */
export interface VmDisks {
  openForLaunch(vmId: string, withWork: boolean): Promise<LaunchDisks>;
}

/** Which tap privhelper assigned to a VM (AcquireTap); undefined when none. */
export interface TapAssignments {
  tapOf(vmId: string): string | undefined;
  readonly netns?: string | undefined;
}

/** What runs now, for host-wide quotas. */
export interface RunningVms {
  runningMemoryMib(): Promise<number>;
}

/** What privhelper holds per VM on the host, and how to give it up (ListHeld, ReleaseVm). */
export interface HeldDisks {
  vmIds(): Promise<string[]>;
  files(vmId: string): Promise<string[]>;
  /** Bytes the VM's saved state (suspend) occupies in its directory; 0 when none. */
  savedStateBytes(vmId: string): Promise<number>;
  removeVm(vmId: string): Promise<{ removed: boolean }>;
}

/** A snapshot directory as ListHeld reports it: finished, or `.partial-` (being written when `inProgress`). */
export interface HeldSnapshot {
  snapshotId: string;
  partial: boolean;
  inProgress: boolean;
  sizeBytes: number;
}

/** privhelper's snapshot root, as ListHeld sees it. */
export interface HeldSnapshots {
  held(): Promise<HeldSnapshot[]>;
}

/** A VM's fence as ListHeld reports it: the tap, address and MAC its nft elements pin. */
export interface HeldFence {
  tap: string;
  ipv4: string;
  mac: string;
}

export interface HeldTaps {
  /** VM id → its marked tap, as the kernel shows it. */
  heldTaps(): Promise<ReadonlyMap<string, string>>;
  /** VM id → the fence privhelper applied for it (its nft elements), with or without its tap. */
  heldFences(): ReadonlyMap<string, HeldFence>;
  /** Unfences the VM (its nft elements go) and returns its tap, if any, to the pool. */
  releaseTap(vmId: string): Promise<{ tap: string | undefined }>;
  dnsRecordNames(): readonly string[];
}

export interface HeldProcesses {
  /** VM ids with a run directory. */
  runDirVmIds(): Promise<string[]>;
  find(vmId: string): Promise<{ pid: number } | undefined>;
  kill(vmId: string): Promise<StopOutcome>;
  /** Deletes the run dir of a VM that does not run. */
  remove(vmId: string): Promise<{ removed: boolean }>;
}

/** A VM's saved state on disk (suspend): sealed with its record, checked before a restore. */
export interface SavedStates {
  openForSave(vmId: string): Promise<FileHandle>;
  commit(vmId: string, fh: FileHandle, compat: SavedStateCompat, saveMs: number): Promise<SavedStateMeta>;
  openForRestore(vmId: string, here: SavedStateCompat): Promise<{ fh: FileHandle; meta: SavedStateMeta }>;
  discard(vmId: string): Promise<boolean>;
  dropPartial(vmId: string): Promise<void>;
}

/** A snapshot being written: its directory stays hidden until commit renames it into place. */
export interface SnapshotDraft {
  readonly snapshotId: string;
  readonly dir: string;
  readonly state: FileHandle;
}

/** privhelper's snapshot directory, as the snapshot use case needs it. */
export interface SnapshotFiles {
  begin(snapshotId: string): Promise<SnapshotDraft>;
  copyDisks(draft: SnapshotDraft, from: { root: string; work?: string | undefined }): Promise<void>;
  /** Where the draft's RAM file goes (a shared_ram source). */
  ramPath(draft: SnapshotDraft): string;
  commit(draft: SnapshotDraft, input: { sourceVmId: string; compat: SavedStateCompat; pauseMs: number; ram?: SnapshotRam | undefined }): Promise<SnapshotView>;
  abort(draft: SnapshotDraft): Promise<void>;
}

/** Guest RAM memfds (adapters/store/guest-ram.ts): fresh ones for shared_ram VMs, sealed templates of snapshots. */
export interface GuestRam {
  /** A new zeroed memfd of `bytes`; the caller closes it (the VM's QEMU keeps its own). */
  fresh(bytes: number): number;
  close(fd: number): Promise<void>;
  /** Copies a paused VM's RAM into a new memfd and seals it, as the template of `snapshotId`. */
  capture(snapshotId: string, fromFd: number): Promise<void>;
  /** Writes the captured template to a new root-only file; its size and sha256. */
  persist(snapshotId: string, file: string): Promise<SnapshotRam>;
  /** The sealed template of a snapshot, loaded from its file (checked) when not held yet. */
  template(snapshotId: string, file: string, ram: SnapshotRam): Promise<number>;
  /** Forgets a template (snapshot deleted or never committed); running clones keep theirs. */
  drop(snapshotId: string): void;
  /** Bytes of all templates held now: host RAM that counts against the guest memory quota. */
  heldBytes(): number;
}
