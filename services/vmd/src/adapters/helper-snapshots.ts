import { helperv2 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import type { SnapshotFiles } from '../domain/snapshot.js';
import type { SnapshotHost } from '../ports/snapshots.js';

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

  close(): void {
    this.client.close();
  }
}
