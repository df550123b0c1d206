import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotQuota } from './snapshot-quota.js';

const KIB = 1024;

describe('snapshot quota ([privhelper] max_snapshot_total_gib)', () => {
  let root = '';
  const snapshotsDir = (): string => path.join(root, 'snapshots');
  const vmsDir = (): string => path.join(root, 'vms');
  const file = async (p: string, bytes: number): Promise<void> => {
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, Buffer.alloc(bytes, 1));
  };

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'snapshot-quota-'));
    await file(path.join(snapshotsDir(), 'snap-1', 'state.bin'), 64 * KIB);
    await file(path.join(snapshotsDir(), '.partial-snap-2', 'state.bin'), 32 * KIB);
    await file(path.join(vmsDir(), 'vm-a', 'suspend.state'), 16 * KIB);
    // A VM's own disks count against the work-disk quota, not this one.
    await file(path.join(vmsDir(), 'vm-a', 'work.ext4'), 512 * KIB);
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('counts snapshot dirs, partial ones and saved states, not the VMs disks', async () => {
    const used = await new SnapshotQuota({ snapshotsDir: snapshotsDir(), vmsDir: vmsDir(), maxBytes: 0 }).usedBytes();
    expect(used).toBeGreaterThanOrEqual(112 * KIB);
    expect(used).toBeLessThan(512 * KIB);
  });

  it('refuses what would go over the limit, naming the quota and the VM, and admits what fits; 0 is no limit', async () => {
    const q = (maxBytes: number): SnapshotQuota => new SnapshotQuota({ snapshotsDir: snapshotsDir(), vmsDir: vmsDir(), maxBytes });
    const used = await q(0).usedBytes();
    await expect(q(used + 100 * KIB).check({ vmId: 'vm-b' }, 101 * KIB)).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      reason: 'SNAPSHOT_QUOTA_EXCEEDED',
      fields: { vm_id: 'vm-b', limit: 'privhelper.max_snapshot_total_gib' },
      message: expect.stringContaining('max_snapshot_total_gib'),
    });
    await expect(q(used + 100 * KIB).check({ vmId: 'vm-b' }, 100 * KIB)).resolves.toBeUndefined();
    await expect(q(0).check({ vmId: 'vm-b' }, 1 << 40)).resolves.toBeUndefined();
  });
});
