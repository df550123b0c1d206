import type { OperationLog } from '@banger/operations/app';
import type { Snapshot } from '../domain/snapshot.js';
import { removeSnapshot, type DeleteSnapshotDeps } from './delete-snapshot.js';
import { abandonedSnapshotRow } from './gc-snapshots.js';

export interface PruneSnapshotsCommand {
  /** Only snapshots created longer ago than this; 0 is any age. */
  olderThanMs: number;
  dryRun: boolean;
}

export interface PruneSnapshotsDeps extends DeleteSnapshotDeps {
  operations: Pick<OperationLog, 'list'>;
}

/**
 * PruneSnapshots: deletes the snapshots no VM was created from (older than the cut-off), and
 * rows a snapshot whose operation is gone left `creating`, whatever their age (the janitor
 * decides those the same way); a snapshot still being taken is never touched. Ready warm
 * snapshots are kept: no VM records being created from them, yet they are what default
 * creates restore from (image warm replaces them, a create discards a stale one, `snapshot rm`
 * deletes one).
 */
export class PruneSnapshots {
  constructor(private readonly deps: PruneSnapshotsDeps) {}

  async run(cmd: PruneSnapshotsCommand): Promise<Snapshot[]> {
    const { snapshots, operations } = this.deps;
    const now = Date.now();
    const running = await operations.list({ state: 'running', limit: 1000 });
    const candidates: Snapshot[] = [];
    for (const s of await snapshots.list()) {
      if (s.kind === 'warm' && s.state === 'ready') continue;
      if (s.state === 'creating' ? !abandonedSnapshotRow(s, running) : now - s.createdAt.getTime() < cmd.olderThanMs) continue;
      if ((await snapshots.clonesOf(s.id)).length > 0) continue;
      candidates.push(s);
    }
    if (cmd.dryRun) return candidates;
    for (const s of candidates) await removeSnapshot(this.deps, s);
    return candidates;
  }
}
