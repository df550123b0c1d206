import { helperv2 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import type { SnapshotFiles } from '../domain/snapshot.js';
import type { LaunchInput, VmProcess } from '../ports/host.js';
import type { SnapshotHost } from '../ports/snapshots.js';
import { specOf, toProcess } from './helper-client.js';

/** privhelper's snapshot verbs over its Unix socket; the current op id travels with every call. */
export class HelperSnapshots implements SnapshotHost {
  private readonly client: ServiceClient<typeof helperv2.HelperServiceService>;

  constructor(socketPath: string) {
    this.client = new ServiceClient(helperv2.HelperServiceService, socketPath, { peer: 'privhelper' });
  }

  async snapshot(vmId: string, snapshotId: string): Promise<SnapshotFiles> {
    const s = (await this.client.unary('snapshotHypervisor', { vmId, snapshotId }, { timeoutMs: 600_000 })).snapshot;
    const d = s?.pauseDuration;
    return {
      sizeBytes: s?.sizeBytes ?? 0,
      stateBytes: s?.stateBytes ?? 0,
      stateSha256: s?.stateSha256 ?? '',
      pauseMs: d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : 0,
      qemuVersion: s?.qemuVersion ?? '',
      accel: s?.accel ?? '',
    };
  }

  async deleteSnapshot(snapshotId: string): Promise<boolean> {
    return (await this.client.unary('deleteSnapshot', { snapshotId }, { timeoutMs: 120_000 })).deleted;
  }

  async createDisksFromSnapshot(vmId: string, snapshotId: string): Promise<{ rootDisk: string; workDisk: string }> {
    const res = await this.client.unary('createDisksFromSnapshot', { vmId, snapshotId }, { timeoutMs: 600_000 });
    return { rootDisk: res.rootPath, workDisk: res.workPath };
  }

  async restoreSnapshot(input: LaunchInput, snapshotId: string): Promise<VmProcess> {
    const res = await this.client.unary('restoreSnapshot', helperv2.RestoreSnapshotRequest.fromPartial({ spec: specOf(input), snapshotId }), { timeoutMs: 180_000 });
    return toProcess(res.process);
  }

  close(): void {
    this.client.close();
  }
}
