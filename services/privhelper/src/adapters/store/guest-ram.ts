import { constants, fstatSync, ftruncateSync } from 'node:fs';
import { close as closeCb } from 'node:fs';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { copyFdRangeAsync, memfdCreate, memfdSeal } from '@banger/sys';
import { FailedPreconditionError } from '@banger/runtime/errors';
import type { SnapshotRam } from '../../domain/hypervisor/snapshot.js';
import type { GuestRam } from '../../ports/stores.js';
import { sha256Of } from './saved-state.js';

const closeFd = promisify(closeCb);

/**
 * Guest RAM as memfds. A shared_ram VM's RAM is a fresh memfd its QEMU maps shared; a snapshot
 * of it copies that RAM (while paused) into a new memfd that is then sealed for good, the
 * template every clone of the snapshot maps copy-on-write, and writes it to a root-only file so
 * a restarted privhelper can load the template again (checked against its size and sha256).
 * The sealed templates stay open here for the snapshot's life; running clones hold their own
 * descriptor, so deleting a snapshot never pulls RAM from under a clone.
 */
export class GuestRamStore implements GuestRam {
  private readonly templates = new Map<string, { fd: number; bytes: number }>();

  fresh(bytes: number): number {
    const fd = memfdCreate('banger-guest-ram');
    try {
      ftruncateSync(fd, bytes);
      return fd;
    } catch (err) {
      void closeFd(fd).catch(() => undefined);
      throw err;
    }
  }

  async close(fd: number): Promise<void> {
    await closeFd(fd);
  }

  async capture(snapshotId: string, fromFd: number): Promise<void> {
    this.drop(snapshotId);
    const fd = memfdCreate(`banger-template-${snapshotId}`);
    try {
      await copyFdRangeAsync(fromFd, fd);
      memfdSeal(fd);
    } catch (err) {
      await closeFd(fd).catch(() => undefined);
      throw err;
    }
    this.templates.set(snapshotId, { fd, bytes: fstatSync(fd).size });
  }

  async persist(snapshotId: string, file: string): Promise<SnapshotRam> {
    const fd = this.templates.get(snapshotId)?.fd;
    if (fd === undefined) throw new FailedPreconditionError('NO_SHARED_RAM', `snapshot ${snapshotId}: no RAM was captured`, { fields: { snapshot_id: snapshotId } });
    const out = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const { bytes } = await copyFdRangeAsync(fd, out.fd);
      await out.sync();
      return { bytes, sha256: await sha256Of(file) };
    } finally {
      await out.close();
    }
  }

  async template(snapshotId: string, file: string, ram: SnapshotRam): Promise<number> {
    const cached = this.templates.get(snapshotId)?.fd;
    if (cached !== undefined) return cached;
    const corrupt = (why: string): FailedPreconditionError =>
      new FailedPreconditionError('STATE_CORRUPT', `snapshot ${snapshotId}: its RAM ${file} is refused: ${why}`, { fields: { snapshot_id: snapshotId, file } });
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
      throw corrupt(`it cannot be opened (${err.code ?? err.message})`);
    });
    try {
      const { size } = await fh.stat();
      if (size !== ram.bytes) throw corrupt(`it is ${size} bytes, its record says ${ram.bytes}`);
      if ((await sha256Of(file)) !== ram.sha256) throw corrupt('its sha256 does not match its record');
      await this.capture(snapshotId, fh.fd);
    } finally {
      await fh.close();
    }
    return this.templates.get(snapshotId)!.fd;
  }

  drop(snapshotId: string): void {
    const held = this.templates.get(snapshotId);
    if (held === undefined) return;
    this.templates.delete(snapshotId);
    void closeFd(held.fd).catch(() => undefined);
  }

  heldBytes(): number {
    let bytes = 0;
    for (const t of this.templates.values()) bytes += t.bytes;
    return bytes;
  }
}
