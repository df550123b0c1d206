import { validateRef, type RefRule } from '@banger/runtime/ids';

export type SnapshotState = 'creating' | 'ready';

/** `named`: a user's (vm snapshot). `warm`: vmd's ready snapshot of an image and shape (image warm), what a default create restores from. */
export type SnapshotKind = 'named' | 'warm';

/** What privhelper reported of a snapshot's files when it sealed them. */
export interface SnapshotFiles {
  sizeBytes: number;
  stateBytes: number;
  stateSha256: string;
  pauseMs: number;
  qemuVersion: string;
  accel: string;
}

/**
 * A named snapshot of a VM: vmd's row (name, what it was taken of, its shape); the files are
 * privhelper's, under the same id. It outlives its source VM: its disks are its own copies.
 */
export interface Snapshot {
  id: string;
  name: string;
  state: SnapshotState;
  sourceVmId: string;
  sourceVmName: string;
  imageId: string;
  imageName: string;
  /** The image's fingerprint when the source booted it ('' for rows from before it was kept): a warm snapshot whose image changed since is stale. */
  imageFingerprint: string;
  kind: SnapshotKind;
  /** `name/version` of the kernel the source booted. */
  kernelId: string | null;
  vcpus: number;
  memoryMib: number;
  workDiskGib: number;
  /** Unset while it is being taken. */
  files: SnapshotFiles | undefined;
  opId: string | null;
  createdAt: Date;
}

export type NewSnapshot = Omit<Snapshot, 'createdAt' | 'files'>;

/** What a user may type to name a snapshot: a name, an id or an id prefix. */
export const SNAPSHOT_REF_RULE: RefRule = { entity: 'snapshot', maxLength: 64, pattern: /^[A-Za-z0-9._-]+$/, allowed: 'a snapshot name, id or id prefix' };

export function validateSnapshotRef(ref: string, field = 'ref'): string {
  return validateRef(ref, field, SNAPSHOT_REF_RULE);
}

/** A snapshot as its JSON result (the CLI's --json). */
export function snapshotToJson(s: Snapshot, clones: readonly string[] = []): Record<string, unknown> {
  return { ...(JSON.parse(JSON.stringify(s)) as Record<string, unknown>), clones: [...clones] };
}

/** A snapshot back from its JSON result (a replayed operation event). */
export function snapshotFromJson(json: Record<string, unknown>): { snapshot: Snapshot; clones: string[] } {
  const { clones, createdAt, ...rest } = json;
  return {
    snapshot: { ...(rest as unknown as Omit<Snapshot, 'createdAt'>), createdAt: new Date(typeof createdAt === 'string' ? createdAt : 0) },
    clones: Array.isArray(clones) ? clones.filter((c): c is string => typeof c === 'string') : [],
  };
}
