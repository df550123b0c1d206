import { FailedPreconditionError } from '@banger/runtime/errors';
import type { Snapshot } from '../domain/snapshot.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import { findSnapshot } from './find-snapshot.js';

export interface DeleteSnapshotDeps {
  snapshots: SnapshotRepository;
  snapshotHost: SnapshotHost;
}

/**
 * DeleteSnapshot: clones depend on a snapshot (their disks are overlays over its frozen files,
 * which is what makes a clone cheap), so one with clones is refused, naming them. The files go
 * first, then the row: a crash between the two leaves a row whose files are gone, which a
 * second delete finishes (privhelper's delete is idempotent).
 */
export class DeleteSnapshot {
  constructor(private readonly deps: DeleteSnapshotDeps) {}

  async run(cmd: { ref: string }): Promise<Snapshot> {
    const s = await findSnapshot(this.deps.snapshots, cmd.ref);
    await removeSnapshot(this.deps, s);
    return s;
  }
}

/** Refuses a snapshot that clones depend on; otherwise deletes its files, then its row. */
export async function removeSnapshot(deps: DeleteSnapshotDeps, s: Snapshot): Promise<void> {
  const clones = await deps.snapshots.clonesOf(s.id);
  if (clones.length > 0) {
    throw new FailedPreconditionError('SNAPSHOT_IN_USE', `snapshot ${s.name} has clones that depend on its files: ${clones.join(', ')}; delete them first`, {
      fields: { snapshot: s.name, clones: clones.join(',') },
    });
  }
  await deps.snapshotHost.deleteSnapshot(s.id);
  await deps.snapshots.delete(s.id);
}
