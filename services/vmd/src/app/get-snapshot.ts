import type { Snapshot } from '../domain/snapshot.js';
import type { SnapshotRepository } from '../ports/snapshots.js';
import { findSnapshot } from './find-snapshot.js';

/** GetSnapshot: one snapshot, with the VMs created from it. */
export class GetSnapshot {
  constructor(private readonly deps: { snapshots: SnapshotRepository }) {}

  async run(cmd: { ref: string }): Promise<{ snapshot: Snapshot; clones: string[] }> {
    const snapshot = await findSnapshot(this.deps.snapshots, cmd.ref);
    return { snapshot, clones: await this.deps.snapshots.clonesOf(snapshot.id) };
  }
}
