import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { VmHostError } from '../../domain/vmspec/errors.js';
import { compatMismatch, SAVED_STATE_SCHEMA, type SavedStateCompat, type SavedStateMeta } from '../../domain/hypervisor/saved-state.js';

const STATE = 'suspend.state';
const META = 'suspend.json';

/** Every file a saved state may leave in a VM's disk dir; it means nothing without the disks, so removing a disk removes these too. */
export const SAVED_STATE_FILES = [STATE, `${STATE}.partial`, META, `${META}.partial`] as const;

/**
 * A suspended VM's saved state (device state and guest RAM, as QEMU's migration stream wrote
 * it) in the VM's own root-only disk directory, on disk so it survives a reboot and is deleted
 * with the VM. The stream is written under a `.partial` name and the record (what it can be
 * restored on, its size and sha256) goes last, so a crash mid-save leaves no state that looks
 * whole. Before a restore the file is checked against its record: a truncated, corrupted or
 * foreign file is refused, naming it.
 */
export class SavedStateStore {
  constructor(private readonly dirOf: (vmId: string) => string) {}

  private paths(vmId: string): { state: string; partial: string; meta: string } {
    const dir = this.dirOf(vmId);
    return { state: path.join(dir, STATE), partial: path.join(dir, `${STATE}.partial`), meta: path.join(dir, META) };
  }

  /** A fresh `.partial` file for QEMU to write into (root-only, never following a link). */
  async openForSave(vmId: string): Promise<FileHandle> {
    const p = this.paths(vmId);
    if ((await stat(this.dirOf(vmId)).catch(() => undefined)) === undefined) {
      throw new VmHostError('FAILED_PRECONDITION', 'VM_DISKS_MISSING', `vm ${vmId} has no disk directory to save its state in`, { vm_id: vmId });
    }
    await rm(p.partial, { force: true });
    return open(p.partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  }

  /** Seals a written `.partial`: fsync, hash, record, rename. */
  async commit(vmId: string, fh: FileHandle, compat: SavedStateCompat, saveMs: number): Promise<SavedStateMeta> {
    const p = this.paths(vmId);
    await fh.sync();
    const { size } = await fh.stat();
    if (size === 0) throw new VmHostError('INTERNAL', 'STATE_SAVE_FAILED', `vm ${vmId}: QEMU wrote an empty state`, { vm_id: vmId });
    const meta: SavedStateMeta = { schema: SAVED_STATE_SCHEMA, vmId, sizeBytes: size, sha256: await sha256Of(p.partial), savedAt: new Date().toISOString(), saveMs, compat };
    await rename(p.partial, p.state);
    await writeFile(`${p.meta}.partial`, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
    await rename(`${p.meta}.partial`, p.meta);
    return meta;
  }

  /** The record of a VM's saved state, or undefined when it has none (a partial save is none). */
  async meta(vmId: string): Promise<SavedStateMeta | undefined> {
    const text = await readFile(this.paths(vmId).meta, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as SavedStateMeta;
    } catch {
      throw corrupt(vmId, this.paths(vmId).meta, 'its record is not JSON');
    }
  }

  /**
   * Opens the state for a restore on a host and spec described by `here`, after checking the
   * file against its record (schema, owner VM, size, sha256) and the record against `here`.
   */
  async openForRestore(vmId: string, here: SavedStateCompat): Promise<{ fh: FileHandle; meta: SavedStateMeta }> {
    const p = this.paths(vmId);
    const meta = await this.meta(vmId);
    if (meta === undefined) throw new VmHostError('FAILED_PRECONDITION', 'NO_SAVED_STATE', `vm ${vmId} has no saved state`, { vm_id: vmId });
    if (meta.schema !== SAVED_STATE_SCHEMA || meta.vmId !== vmId || typeof meta.sha256 !== 'string') throw corrupt(vmId, p.meta, `its record is not a schema ${SAVED_STATE_SCHEMA} record of this VM`);
    const mismatch = compatMismatch(meta.compat, here);
    if (mismatch !== undefined) {
      throw new VmHostError('FAILED_PRECONDITION', 'STATE_INCOMPATIBLE', `saved state ${p.state} cannot be restored here: ${mismatch.what} was ${mismatch.saved}, is ${mismatch.now}`, {
        vm_id: vmId,
        file: p.state,
        field: mismatch.what,
      });
    }
    const fh = await open(p.state, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
      throw corrupt(vmId, p.state, `it cannot be opened (${err.code ?? err.message})`);
    });
    try {
      const { size } = await fh.stat();
      if (size !== meta.sizeBytes) throw corrupt(vmId, p.state, `it is ${size} bytes, its record says ${meta.sizeBytes} (truncated or replaced)`);
      if ((await sha256Of(p.state)) !== meta.sha256) throw corrupt(vmId, p.state, 'its sha256 does not match its record (corrupted or replaced)');
      return { fh, meta };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Deletes the saved state (after a restore, or when the VM is discarded); absent is fine. */
  async discard(vmId: string): Promise<boolean> {
    const p = this.paths(vmId);
    const had = (await stat(p.meta).catch(() => undefined)) !== undefined;
    for (const f of [p.meta, `${p.meta}.partial`, p.state, p.partial]) await rm(f, { force: true });
    return had;
  }

  /** Removes a `.partial` a failed save left. */
  async dropPartial(vmId: string): Promise<void> {
    await rm(this.paths(vmId).partial, { force: true });
  }
}

function corrupt(vmId: string, file: string, why: string): VmHostError {
  return new VmHostError('FAILED_PRECONDITION', 'STATE_CORRUPT', `saved state ${file} of vm ${vmId} is refused: ${why}`, { vm_id: vmId, file });
}

/** sha256 of a root-owned file, read without following a link. */
export async function sha256Of(file: string): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const h = createHash('sha256');
    for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) h.update(chunk as Buffer);
    return h.digest('hex');
  } finally {
    await fh.close();
  }
}
