import type { Snapshot } from '../domain/snapshot.js';
import { removeSnapshot, type DeleteSnapshotDeps } from './delete-snapshot.js';

/** A snapshot still `creating` after this long was left by a vmd that died while taking it. */
export const ABANDONED_SNAPSHOT_MS = 30 * 60_000;

export interface PruneSnapshotsCommand {
  /** Only snapshots created longer ago than this; 0 is any age. */
  olderThanMs: number;
  dryRun: boolean;
}

/**
 * PruneSnapshots: deletes the snapshots no VM was created from (older than the cut-off), and
 * rows a crashed snapshot left `creating` for longer than ABANDONED_SNAPSHOT_MS; a snapshot
 * still being taken is never touched. Ready warm snapshots are kept: no VM records being
 * created from them, yet they are what default creates restore from (image warm replaces
 * them, a create discards a stale one, `snapshot rm` deletes one).
 */
export class PruneSnapshots {
  constructor(private readonly deps: DeleteSnapshotDeps) {}

  async run(cmd: PruneSnapshotsCommand): Promise<Snapshot[]> {
    const { snapshots } = this.deps;
    const now = Date.now();
    const candidates: Snapshot[] = [];
    for (const s of await snapshots.list()) {
      if (s.kind === 'warm' && s.state === 'ready') continue;
      const age = now - s.createdAt.getTime();
      if (s.state === 'creating' ? age < Math.max(ABANDONED_SNAPSHOT_MS, cmd.olderThanMs) : age < cmd.olderThanMs) continue;
      if ((await snapshots.clonesOf(s.id)).length > 0) continue;
      candidates.push(s);
    }
    if (cmd.dryRun) return candidates;
    for (const s of candidates) await removeSnapshot(this.deps, s);
    return candidates;
  }
}
