import type { Snapshot } from '../domain/snapshot.js';
import type { SnapshotRepository } from '../ports/snapshots.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/** ListSnapshots: snapshots newest first, each with the VMs created from it. */
export class ListSnapshots {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; snapshots: SnapshotRepository }) {}

  async run(cmd: { source: string }): Promise<{ snapshot: Snapshot; clones: string[] }[]> {
    const { snapshots, vms } = this.deps;
    const filter = cmd.source === '' ? {} : { sourceVmId: (await findVm(vms, cmd.source, 'source')).id };
    const rows = await snapshots.list(filter);
    return Promise.all(rows.map(async (snapshot) => ({ snapshot, clones: await snapshots.clonesOf(snapshot.id) })));
  }
}
