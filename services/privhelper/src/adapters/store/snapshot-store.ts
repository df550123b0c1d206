import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { run } from '@banger/proc';
import { AlreadyExistsError, FailedPreconditionError } from '@banger/runtime/errors';
import { VmHostError } from '../../domain/vmspec/errors.js';
import { sha256Of } from './saved-state.js';
import { allocatedBytes } from './stored-bytes.js';
import type { HeldSnapshot, HeldSnapshots, SnapshotDraft, SnapshotFiles } from '../../ports/stores.js';
import type { SavedStateCompat } from '../../domain/hypervisor/saved-state.js';
import { SNAPSHOT_SCHEMA, validateSnapshotId, type SnapshotMeta, type SnapshotRam, type SnapshotView } from '../../domain/hypervisor/snapshot.js';

const STATE = 'state.bin';
const ROOT = 'root.qcow2';
const WORK = 'work.ext4';
const RECORD = 'snapshot.json';
const RAM = 'ram.bin';
const PARTIAL_PREFIX = '.partial-';

/** Copies one disk file keeping its holes (and sharing extents where the filesystem can). */
export type DiskCopier = (from: string, to: string) => Promise<void>;

/** `cp` as root, between two of privhelper's root-only directories: it parses nothing the guest wrote. */
export const sparseCopy: DiskCopier = async (from, to) => {
  await run('cp', ['--sparse=always', '--reflink=auto', '--no-dereference', '--', from, to], { timeoutMs: 600_000 });
};

/**
 * Named snapshots in privhelper's root-only `<snapshotsDir>/<id>/`: `state.bin` (QEMU's
 * migration stream, written through a descriptor), frozen copies of the VM's root overlay and
 * work disk, and `snapshot.json` written last. Everything is built in `.partial-<id>/` and
 * renamed into place, so a crash leaves only a partial directory (swept at start), never a
 * snapshot that looks whole. The caller names the snapshot; every path is chosen here.
 */
export class SnapshotStore implements SnapshotFiles, HeldSnapshots {
  /** Ids this process is writing now: their `.partial-` directories are not leftovers. */
  private readonly writing = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly copy: DiskCopier = sparseCopy,
  ) {}

  dirOf(snapshotId: string): string {
    return path.join(this.root, validateSnapshotId(snapshotId));
  }

  /** Starts a snapshot: ALREADY_EXISTS when the id is taken or being written. */
  async begin(snapshotId: string): Promise<SnapshotDraft> {
    const final = this.dirOf(snapshotId);
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    if ((await lstat(final).catch(() => undefined)) !== undefined) throw taken(snapshotId);
    const dir = this.partialOf(snapshotId);
    await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? taken(snapshotId) : err;
    });
    this.writing.add(snapshotId);
    try {
      const state = await open(path.join(dir, STATE), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      return { snapshotId, dir, state };
    } catch (err) {
      this.writing.delete(snapshotId);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private partialOf(snapshotId: string): string {
    return path.join(this.root, `${PARTIAL_PREFIX}${validateSnapshotId(snapshotId)}`);
  }

  /** Freezes the VM's disks into the draft; call while the VM's vCPUs are stopped and its block devices flushed. */
  async copyDisks(draft: SnapshotDraft, from: { root: string; work?: string | undefined }): Promise<void> {
    await this.copy(from.root, path.join(draft.dir, ROOT));
    if (from.work !== undefined) await this.copy(from.work, path.join(draft.dir, WORK));
  }

  ramPath(draft: SnapshotDraft): string {
    return path.join(draft.dir, RAM);
  }

  /** A finished snapshot's RAM file (shared_ram sources only). */
  ramFile(meta: SnapshotMeta): string {
    return path.join(this.dirOf(meta.snapshotId), meta.ram?.file ?? RAM);
  }

  /** Seals the draft: fsync and hash the state, write the record, rename the directory into place. */
  async commit(draft: SnapshotDraft, input: { sourceVmId: string; compat: SavedStateCompat; pauseMs: number; ram?: SnapshotRam | undefined }): Promise<SnapshotView> {
    await draft.state.sync();
    const { size } = await draft.state.stat();
    if (size === 0) throw new VmHostError('INTERNAL', 'STATE_SAVE_FAILED', `snapshot ${draft.snapshotId}: QEMU wrote an empty state`, { snapshot_id: draft.snapshotId });
    const hasWork = (await lstat(path.join(draft.dir, WORK)).catch(() => undefined)) !== undefined;
    const meta: SnapshotMeta = {
      schema: SNAPSHOT_SCHEMA,
      snapshotId: draft.snapshotId,
      sourceVmId: input.sourceVmId,
      stateBytes: size,
      stateSha256: await sha256Of(path.join(draft.dir, STATE)),
      disks: { root: ROOT, ...(hasWork ? { work: WORK } : {}) },
      savedAt: new Date().toISOString(),
      pauseMs: input.pauseMs,
      compat: input.compat,
      ...(input.ram !== undefined ? { ram: { file: RAM, ...input.ram } } : {}),
    };
    await writeFile(path.join(draft.dir, RECORD), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(draft.dir, this.dirOf(draft.snapshotId));
    this.writing.delete(draft.snapshotId);
    return { ...meta, sizeBytes: await allocatedBytes(this.dirOf(draft.snapshotId)) };
  }

  /** A finished snapshot's frozen disk files, for a clone's copies. */
  frozenDisks(meta: SnapshotMeta): { root: string; work?: string } {
    const dir = this.dirOf(meta.snapshotId);
    return { root: path.join(dir, ROOT), ...(meta.disks.work !== undefined ? { work: path.join(dir, WORK) } : {}) };
  }

  /**
   * Opens a snapshot's state for a restore after checking it against its record: a missing,
   * truncated, corrupted or replaced file is STATE_CORRUPT naming the snapshot and the file.
   */
  async openState(meta: SnapshotMeta): Promise<FileHandle> {
    const file = path.join(this.dirOf(meta.snapshotId), STATE);
    const corrupt = (why: string): FailedPreconditionError =>
      new FailedPreconditionError('STATE_CORRUPT', `snapshot ${meta.snapshotId}: its state ${file} is refused: ${why}`, { fields: { snapshot_id: meta.snapshotId, file } });
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
      throw corrupt(`it cannot be opened (${err.code ?? err.message})`);
    });
    try {
      const { size } = await fh.stat();
      if (size !== meta.stateBytes) throw corrupt(`it is ${size} bytes, its record says ${meta.stateBytes} (truncated or replaced)`);
      if ((await sha256Of(file)) !== meta.stateSha256) throw corrupt('its sha256 does not match its record (corrupted or replaced)');
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Removes a draft that will not be committed. */
  async abort(draft: SnapshotDraft): Promise<void> {
    await draft.state.close().catch(() => undefined);
    try {
      await rm(draft.dir, { recursive: true, force: true });
    } finally {
      this.writing.delete(draft.snapshotId);
    }
  }

  /** One snapshot's record, or undefined when there is none (a partial one is none). */
  async describe(snapshotId: string): Promise<SnapshotView | undefined> {
    const dir = this.dirOf(snapshotId);
    const text = await readFile(path.join(dir, RECORD), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    let meta: SnapshotMeta;
    try {
      meta = JSON.parse(text) as SnapshotMeta;
    } catch {
      throw new FailedPreconditionError('SNAPSHOT_CORRUPT', `snapshot ${snapshotId}: its record ${path.join(dir, RECORD)} is not JSON`, { fields: { snapshot_id: snapshotId } });
    }
    if (meta.schema !== SNAPSHOT_SCHEMA || meta.snapshotId !== snapshotId) {
      throw new FailedPreconditionError('SNAPSHOT_CORRUPT', `snapshot ${snapshotId}: its record is not a schema ${SNAPSHOT_SCHEMA} record of this snapshot`, { fields: { snapshot_id: snapshotId } });
    }
    return { ...meta, sizeBytes: await allocatedBytes(dir) };
  }

  /** Every finished snapshot; one whose record cannot be read is left out (DescribeSnapshot names it). */
  async list(): Promise<SnapshotView[]> {
    const names = (await readdir(this.root).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
    const out: SnapshotView[] = [];
    for (const n of names) {
      const v = await this.describe(n).catch(() => undefined);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  /**
   * Deletes a snapshot's directory, and a partial one of the same id unless this process is
   * writing it (its own save removes that on failure); absent is fine.
   */
  async remove(snapshotId: string): Promise<boolean> {
    const dir = this.dirOf(snapshotId);
    let had = (await lstat(dir).catch(() => undefined)) !== undefined;
    await rm(dir, { recursive: true, force: true });
    if (!this.writing.has(snapshotId)) {
      const partial = this.partialOf(snapshotId);
      had = (await lstat(partial).catch(() => undefined)) !== undefined || had;
      await rm(partial, { recursive: true, force: true });
    }
    return had;
  }

  /** Every directory in the root, finished or partial, read from disk (ListHeld). */
  async held(): Promise<HeldSnapshot[]> {
    const out: HeldSnapshot[] = [];
    for (const n of (await readdir(this.root).catch(() => [] as string[])).sort()) {
      const partial = n.startsWith(PARTIAL_PREFIX);
      if (n.startsWith('.') && !partial) continue;
      const snapshotId = partial ? n.slice(PARTIAL_PREFIX.length) : n;
      const sizeBytes = await allocatedBytes(path.join(this.root, n)).catch(() => 0);
      out.push({ snapshotId, partial, inProgress: partial && this.writing.has(snapshotId), sizeBytes });
    }
    return out;
  }

  /**
   * Start-up step: a `.partial-` directory was left by a privhelper that died mid-snapshot
   * (every snapshot runs inside one process), so nothing can finish it.
   */
  async sweepPartials(): Promise<string[]> {
    const left = (await readdir(this.root).catch(() => [] as string[])).filter((n) => n.startsWith(PARTIAL_PREFIX));
    for (const n of left) await rm(path.join(this.root, n), { recursive: true, force: true });
    return left;
  }
}

function taken(snapshotId: string): AlreadyExistsError {
  return new AlreadyExistsError('snapshot', snapshotId, 'SNAPSHOT_EXISTS', { fields: { snapshot_id: snapshotId } });
}
