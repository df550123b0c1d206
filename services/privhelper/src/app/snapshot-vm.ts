import { FailedPreconditionError } from '@banger/runtime/errors';
import type { Hypervisor } from '../domain/hypervisor/driver.js';
import { compatOf } from '../domain/hypervisor/saved-state.js';
import { validateSnapshotId, type SnapshotView } from '../domain/hypervisor/snapshot.js';
import { validateVmId } from '../domain/vmspec/spec.js';
import type { GuestRam, SnapshotDraft, SnapshotFiles } from '../ports/stores.js';
import { checkGuestMemory, type GuestMemoryQuotaDeps } from './guest-memory-quota.js';
import { SAVE_TIMEOUT_MS } from './suspend-vm.js';

export interface SnapshotVmDeps {
  hypervisor: () => Promise<Hypervisor>;
  snapshots: SnapshotFiles;
  /** The VM's disk files, chosen by privhelper's disk store from the validated id. */
  diskPaths: (vmId: string) => { root: string; work: string };
  /** Refuses (RESOURCE_EXHAUSTED) when `bytes` more would not fit beside the VMs' disks. */
  checkRoom: (vmId: string, bytes: number) => Promise<void>;
  host: () => Promise<{ accel: string; qemuVersion: string }>;
  /** Bytes the VM's disks hold now (what their copies will take at most). */
  diskBytes: (vmId: string) => Promise<number>;
  ram: GuestRam;
  /** [privhelper] max_guest_memory_percent: a shared_ram snapshot's template is held host RAM. */
  memory: GuestMemoryQuotaDeps;
}

/**
 * SnapshotHypervisor: a named snapshot of a running VM, which keeps running. Its vCPUs stop,
 * its device state and RAM go through a descriptor into a root-owned file, its root overlay
 * and work disk are copied while it is paused (QEMU has flushed them and holds them still),
 * then it runs again. The snapshot is sealed (sha256, what it can be restored on) and renamed
 * into place last; a failure at any step removes the partial snapshot and the VM runs on.
 */
export class SnapshotVm {
  constructor(private readonly deps: SnapshotVmDeps) {}

  async run(vmId: string, snapshotId: string): Promise<SnapshotView> {
    const { deps } = this;
    validateVmId(vmId);
    validateSnapshotId(snapshotId);
    const hv = await deps.hypervisor();
    const launched = await hv.launched(vmId);
    if (launched === undefined) throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vmId} is not running`, { fields: { vm_id: vmId } });
    const compat = compatOf(launched.spec, launched.baseImage, { accel: launched.accel, qemuVersion: (await deps.host()).qemuVersion });
    await deps.checkRoom(vmId, (launched.spec.memoryMib + 16) * 1024 * 1024 + (await deps.diskBytes(vmId)));
    const disks = deps.diskPaths(vmId);
    // A shared_ram source: the stream leaves its RAM out (x-ignore-shared); the RAM is copied
    // into a sealed template while paused and written to the snapshot's RAM file after.
    const shared = launched.spec.sharedRam === true;
    if (shared) await checkGuestMemory(deps.memory, launched.spec.memoryMib, `the RAM template of snapshot ${snapshotId}`);
    const ramFh = shared ? await hv.openRam(vmId) : undefined;
    let draft: SnapshotDraft | undefined;
    try {
      draft = await deps.snapshots.begin(snapshotId);
      const d = draft;
      const { pauseMs } = await hv.saveAndContinue(
        vmId,
        d.state.fd,
        SAVE_TIMEOUT_MS,
        async () => {
          if (ramFh !== undefined) await deps.ram.capture(snapshotId, ramFh.fd);
          await deps.snapshots.copyDisks(d, { root: disks.root, work: launched.spec.workDisk ? disks.work : undefined });
        },
        { ignoreShared: shared },
      );
      const ram = shared ? await deps.ram.persist(snapshotId, deps.snapshots.ramPath(d)) : undefined;
      return await deps.snapshots.commit(d, { sourceVmId: vmId, compat, pauseMs, ram });
    } catch (err) {
      deps.ram.drop(snapshotId);
      if (draft !== undefined) await deps.snapshots.abort(draft);
      throw err;
    } finally {
      await draft?.state.close().catch(() => undefined);
      await ramFh?.close();
    }
  }
}
