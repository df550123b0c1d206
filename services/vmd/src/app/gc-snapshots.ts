import { log } from '@banger/runtime/logging';
import type { Operation } from '@banger/store/operations';
import type { Snapshot } from '../domain/snapshot.js';
import type { HeldSnapshot, HostHoldings } from '../ports/host.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import type { GcAction } from './collect-garbage.js';
import type { VmLocks } from './vm-locks.js';

/** Operations that write snapshot files: while one runs, files without a row may be its own. */
const WRITES_SNAPSHOTS: readonly string[] = ['vm_snapshot', 'vm_fork', 'image_warm'];

export interface GcSnapshot {
  snapshotId: string;
  /** The row's name ("" when there is no row). */
  name: string;
  /** files: a finished dir no row owns; partial: a `.partial-` dir; row: a `creating` row whose operation is gone. */
  what: 'files' | 'partial' | 'row';
  action: GcAction;
  detail: string;
  graceLeftMs: number;
  sizeBytes: number;
}

/** What snapshot and saved-state files occupy, as privhelper counted them. */
export interface GcSpace {
  snapshots: number;
  snapshotBytes: number;
  partialSnapshotBytes: number;
  savedStates: number;
  savedStateBytes: number;
}

export interface SnapshotGarbageDeps {
  snapshots: SnapshotRepository;
  snapshotHost: Pick<SnapshotHost, 'deleteSnapshot'>;
  locks: VmLocks;
  graceMs: number;
  now?: () => number;
}

/**
 * A `creating` row nothing will finish: the operation that took it is not running (failed,
 * interrupted by a vmd that died) or was never recorded. `snapshot prune` and the janitor
 * decide it the same way, so neither waits out an arbitrary age.
 */
export function abandonedSnapshotRow(s: Pick<Snapshot, 'state' | 'opId'>, running: readonly Pick<Operation, 'opId'>[]): boolean {
  return s.state === 'creating' && (s.opId === null || !running.some((o) => o.opId === s.opId));
}

export function snapshotSpace(held: HostHoldings): GcSpace {
  const done = held.snapshots.filter((x) => !x.partial);
  const states = held.vms.filter((v) => v.savedStateBytes > 0);
  const sum = (xs: readonly { sizeBytes: number }[]): number => xs.reduce((n, x) => n + x.sizeBytes, 0);
  return {
    snapshots: done.length,
    snapshotBytes: sum(done),
    partialSnapshotBytes: sum(held.snapshots.filter((x) => x.partial)),
    savedStates: states.length,
    savedStateBytes: states.reduce((n, v) => n + v.savedStateBytes, 0),
  };
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The janitor's pass over snapshots: a `creating` row whose operation is gone loses its files
 * and then its row (as the failed snapshot's own rollback would have), and snapshot files no
 * row names are removed once seen for the grace, never while privhelper writes them or an
 * operation that writes snapshots runs. privhelper's files go first: a crash between the two
 * steps leaves a row without files, which the next pass finishes.
 */
export class SnapshotGarbage {
  private readonly firstSeen = new Map<string, number>();

  constructor(private readonly deps: SnapshotGarbageDeps) {}

  async run(held: readonly HeldSnapshot[], running: readonly Operation[], dryRun: boolean): Promise<GcSnapshot[]> {
    const rows = await this.deps.snapshots.list();
    const out: GcSnapshot[] = [];
    const writing = new Set(held.filter((x) => x.inProgress).map((x) => x.snapshotId));
    for (const s of rows.filter((r) => abandonedSnapshotRow(r, running))) {
      const size = held.filter((x) => x.snapshotId === s.id).reduce((n, x) => n + x.sizeBytes, 0);
      out.push(await this.abandonedRow(s, size, writing.has(s.id), dryRun));
    }
    const ids = new Set(rows.map((r) => r.id));
    const snapshotOpRuns = running.some((o) => WRITES_SNAPSHOTS.includes(o.kind));
    const seen = new Set<string>();
    for (const h of held.filter((x) => !ids.has(x.snapshotId))) {
      seen.add(h.snapshotId);
      out.push(await this.stray(h, snapshotOpRuns, dryRun));
    }
    for (const key of [...this.firstSeen.keys()]) if (!seen.has(key)) this.firstSeen.delete(key);
    return out;
  }

  private async abandonedRow(s: Snapshot, sizeBytes: number, writing: boolean, dryRun: boolean): Promise<GcSnapshot> {
    const item: GcSnapshot = { snapshotId: s.id, name: s.name, what: 'row', action: 'would_remove', detail: `its operation ${s.opId ?? '(none)'} is not running`, graceLeftMs: 0, sizeBytes };
    if (writing || this.deps.locks.isBusy(s.sourceVmId)) return { ...item, action: 'busy', detail: writing ? 'privhelper is still writing its files' : 'an operation on its VM is in flight' };
    if (dryRun) return item;
    return this.remove(item, s.sourceVmId, async () => {
      const now = await this.deps.snapshots.findByRef(s.id).catch(() => undefined);
      if (now?.state !== 'creating') return;
      await this.deps.snapshotHost.deleteSnapshot(s.id);
      await this.deps.snapshots.delete(s.id);
    });
  }

  private async stray(h: HeldSnapshot, snapshotOpRuns: boolean, dryRun: boolean): Promise<GcSnapshot> {
    const now = (this.deps.now ?? Date.now)();
    const first = this.firstSeen.get(h.snapshotId) ?? now;
    this.firstSeen.set(h.snapshotId, first);
    const item: GcSnapshot = { snapshotId: h.snapshotId, name: '', what: h.partial ? 'partial' : 'files', action: 'grace', detail: 'no snapshot row names it', graceLeftMs: Math.max(0, first + this.deps.graceMs - now), sizeBytes: h.sizeBytes };
    if (h.inProgress) return { ...item, action: 'busy', detail: 'privhelper is writing it' };
    if (snapshotOpRuns) return { ...item, action: 'busy', detail: 'a snapshot operation that could own it is in flight' };
    if (item.graceLeftMs > 0) return item;
    if (dryRun) return { ...item, action: 'would_remove' };
    const done = await this.remove(item, undefined, async () => {
      if ((await this.deps.snapshots.findByRef(h.snapshotId).catch(() => undefined))?.id === h.snapshotId) throw Object.assign(new Error('a row names it now'), { reason: 'VM_BUSY' });
      await this.deps.snapshotHost.deleteSnapshot(h.snapshotId);
    });
    if (done.action === 'removed') this.firstSeen.delete(h.snapshotId);
    return done;
  }

  private async remove(item: GcSnapshot, lockVmId: string | undefined, fn: () => Promise<void>): Promise<GcSnapshot> {
    try {
      await (lockVmId === undefined ? fn() : this.deps.locks.with(lockVmId, 'gc', fn));
      log().info({ snapshot_id: item.snapshotId, what: item.what, size_bytes: item.sizeBytes }, 'snapshot leftover removed');
      return { ...item, action: 'removed', detail: '' };
    } catch (err) {
      log().warn({ err, snapshot_id: item.snapshotId, what: item.what }, 'snapshot leftover removal failed; retried on the next pass');
      return { ...item, action: (err as { reason?: string }).reason === 'VM_BUSY' ? 'busy' : 'failed', detail: errText(err) };
    }
  }
}
