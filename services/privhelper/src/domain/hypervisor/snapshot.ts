import { invalid } from '../vmspec/errors.js';
import { VM_ID_RE } from '../vmspec/spec.js';
import type { SavedStateCompat } from './saved-state.js';

export const SNAPSHOT_SCHEMA = 1;

/**
 * A named snapshot as privhelper recorded it when it sealed one: the state file's size and
 * sha256, the disk copies it froze, and what the state can only be restored on. The record is
 * written last, inside a directory renamed into place, so a crash never leaves one that looks whole.
 */
export interface SnapshotMeta {
  readonly schema: number;
  readonly snapshotId: string;
  readonly sourceVmId: string;
  readonly stateBytes: number;
  readonly stateSha256: string;
  /** Disk copies in the snapshot directory (root overlay; work disk when the VM had one). */
  readonly disks: { readonly root: string; readonly work?: string };
  readonly savedAt: string;
  /** vCPUs stopped, in ms: the save plus the disk copies. */
  readonly pauseMs: number;
  readonly compat: SavedStateCompat;
  /** Present when the source ran with shared_ram: its RAM, outside the (small) state stream. */
  readonly ram?: SnapshotRam & { readonly file: string };
}

/** A snapshot's RAM file: what a template loaded from it must match. */
export interface SnapshotRam {
  readonly bytes: number;
  readonly sha256: string;
}

/** A snapshot record with what its files occupy now. */
export type SnapshotView = SnapshotMeta & { readonly sizeBytes: number };

/** Snapshot ids follow VM ids ([a-z0-9-], 1-64): the id becomes a directory name under privhelper's root. */
export function validateSnapshotId(id: unknown): string {
  if (typeof id !== 'string' || !VM_ID_RE.test(id)) throw invalid('snapshot_id', 'BAD_FIELD', 'snapshot id must be 1-64 characters of [a-z0-9-], not starting or ending with -');
  return id;
}
