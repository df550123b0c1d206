import { validateSnapshotRef, type Snapshot } from '../domain/snapshot.js';
import type { SnapshotRepository } from '../ports/snapshots.js';

/** The snapshot a user named (name, id or id prefix), the reference checked before it reaches a query. */
export function findSnapshot(snapshots: Pick<SnapshotRepository, 'findByRef'>, ref: string, field = 'ref'): Promise<Snapshot> {
  return snapshots.findByRef(validateSnapshotRef(ref, field));
}
