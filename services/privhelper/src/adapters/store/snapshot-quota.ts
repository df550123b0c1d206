import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ResourceExhaustedError } from '@banger/runtime/errors';
import { Mutex } from '../net/mutex.js';
import { SAVED_STATE_FILES } from './saved-state.js';
import { allocatedBytes, allocatedBytesOf } from './stored-bytes.js';

/**
 * `[privhelper] max_snapshot_total_gib`: snapshot directories (finished and partial) and
 * suspended VMs' saved states together, counted from privhelper's own roots, so a snapshot or
 * a suspend that would take them over the limit is refused before anything is written.
 */
export class SnapshotQuota {
  private readonly lock = new Mutex();

  constructor(private readonly opts: { snapshotsDir: string; vmsDir: string; maxBytes: number }) {}

  /** Bytes the snapshot root and every VM's saved state occupy now. */
  async usedBytes(): Promise<number> {
    const { snapshotsDir, vmsDir } = this.opts;
    let total = 0;
    for (const n of await readdir(snapshotsDir).catch(() => [] as string[])) total += await allocatedBytes(path.join(snapshotsDir, n)).catch(() => 0);
    for (const id of (await readdir(vmsDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'))) {
      total += await allocatedBytesOf(SAVED_STATE_FILES.map((f) => path.join(vmsDir, id, f)));
    }
    return total;
  }

  /** RESOURCE_EXHAUSTED (SNAPSHOT_QUOTA_EXCEEDED) naming the limit when `bytes` more would go over it; 0 is no limit. */
  async check(what: { vmId: string }, bytes: number): Promise<void> {
    const limit = this.opts.maxBytes;
    if (limit <= 0) return;
    await this.lock.run(async () => {
      const used = await this.usedBytes();
      if (used + bytes > limit) {
        throw new ResourceExhaustedError(
          'SNAPSHOT_QUOTA_EXCEEDED',
          `vm ${what.vmId}: snapshots and saved states would take ${used + bytes} bytes (${used} stored, up to ${bytes} more), over [privhelper] max_snapshot_total_gib (${limit} bytes)`,
          { fields: { vm_id: what.vmId, limit: 'privhelper.max_snapshot_total_gib', used_bytes: used, needed_bytes: bytes } },
        );
      }
    });
  }
}
