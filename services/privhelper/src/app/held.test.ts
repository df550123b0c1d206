import { describe, expect, it } from 'vitest';
import type { StopOutcome } from '../domain/hypervisor/driver.js';
import type { HeldDisks, HeldProcesses, HeldSnapshot, HeldTaps } from '../ports/stores.js';
import { listHeld, type ListHeldDeps } from './list-held.js';
import { releaseVm } from './release-vm.js';

/** privhelper's holdings as plain sets: disk dirs with their files, run dirs, taps, live pids. */
function host() {
  const disks = new Map<string, string[]>([['vm0a', ['root.qcow2', 'disks.json', 'suspend.state']], ['vm0b', ['root.qcow2.partial']]]);
  const runDirs = new Set(['vm0a', 'vm0c']);
  const taps = new Map([['vm0a', 'bt1'], ['vm0d', 'bt2']]);
  const pids = new Map([['vm0a', 4242]]);
  // vm0e's tap was deleted under privhelper: only its fence's nft elements are left.
  const fences = new Map([['vm0a', { tap: 'bt1', ipv4: '10.0.0.2', mac: '02:00:00:00:00:02' }], ['vm0e', { tap: 'bt9', ipv4: '10.0.0.9', mac: '02:00:00:00:00:09' }]]);
  const snapshots: HeldSnapshot[] = [
    { snapshotId: 'aa11', partial: false, inProgress: false, sizeBytes: 300 << 20 },
    { snapshotId: 'bb22', partial: true, inProgress: true, sizeBytes: 4096 },
  ];
  const calls: string[] = [];
  const deps: ListHeldDeps = {
    disks: {
      vmIds: async () => [...disks.keys()],
      files: async (id) => disks.get(id) ?? [],
      savedStateBytes: async (id) => ((disks.get(id) ?? []).includes('suspend.state') ? 1 << 20 : 0),
      removeVm: async (id) => ({ removed: disks.delete(id) }),
    } satisfies HeldDisks,
    snapshots: { held: async () => [...snapshots] },
    taps: {
      heldTaps: async () => new Map(taps),
      heldFences: () => new Map(fences),
      releaseTap: async (id) => {
        const tap = taps.get(id);
        taps.delete(id);
        fences.delete(id);
        return { tap };
      },
      dnsRecordNames: () => ['web', 'dev'],
    } satisfies HeldTaps,
    processes: async () =>
      ({
        runDirVmIds: async () => [...runDirs],
        find: async (id) => (pids.has(id) ? { pid: pids.get(id) ?? 0 } : undefined),
        kill: async (id): Promise<StopOutcome> => {
          calls.push(`kill ${id}`);
          return pids.delete(id) ? 'killed' : 'not_running';
        },
        remove: async (id) => {
          if (pids.has(id)) throw new Error('still running');
          return { removed: runDirs.delete(id) };
        },
      }) satisfies HeldProcesses,
  };
  return { deps, disks, runDirs, taps, pids, fences, calls };
}

const NO_FENCE = { fenceIpv4: '', fenceMac: '', fenceTap: '', savedStateBytes: 0 };

describe('ListHeld and ReleaseVm', () => {
  it('lists every VM id anything is held for, from each source, with the DNS names', async () => {
    const h = host();
    const res = await listHeld(h.deps);
    expect(res.vms).toEqual([
      { vmId: 'vm0a', diskDir: true, diskFiles: ['root.qcow2', 'disks.json', 'suspend.state'], runDir: true, tap: 'bt1', hypervisorPid: 4242, fenceIpv4: '10.0.0.2', fenceMac: '02:00:00:00:00:02', fenceTap: 'bt1', savedStateBytes: 1 << 20 },
      { vmId: 'vm0b', diskDir: true, diskFiles: ['root.qcow2.partial'], runDir: false, tap: '', hypervisorPid: 0, ...NO_FENCE },
      { vmId: 'vm0c', diskDir: false, diskFiles: [], runDir: true, tap: '', hypervisorPid: 0, ...NO_FENCE },
      { vmId: 'vm0d', diskDir: false, diskFiles: [], runDir: false, tap: 'bt2', hypervisorPid: 0, ...NO_FENCE },
      { vmId: 'vm0e', diskDir: false, diskFiles: [], runDir: false, tap: '', hypervisorPid: 0, fenceIpv4: '10.0.0.9', fenceMac: '02:00:00:00:00:09', fenceTap: 'bt9', savedStateBytes: 0 },
    ]);
    expect(res.dnsRecords).toEqual(['dev', 'web']);
    expect(res.snapshots.map((x) => `${x.snapshotId}${x.partial ? ' partial' : ''}${x.inProgress ? ' writing' : ''}`)).toEqual(['aa11', 'bb22 partial writing']);
  });

  it('releases everything of one VM, the process first, and is a no-op the second time', async () => {
    const h = host();
    expect(await releaseVm(h.deps, 'vm0a')).toEqual({ killedHypervisor: true, tap: 'bt1', removedDiskDir: true, removedRunDir: true });
    expect(h.calls).toEqual(['kill vm0a']);
    expect(await releaseVm(h.deps, 'vm0a')).toEqual({ killedHypervisor: false, tap: '', removedDiskDir: false, removedRunDir: false });
    expect((await listHeld(h.deps)).vms.map((v) => v.vmId)).toEqual(['vm0b', 'vm0c', 'vm0d', 'vm0e']);
  });

  it('releases a fence whose tap is gone (its nft elements are all that is held)', async () => {
    const h = host();
    expect(await releaseVm(h.deps, 'vm0e')).toEqual({ killedHypervisor: false, tap: '', removedDiskDir: false, removedRunDir: false });
    expect(h.fences.has('vm0e')).toBe(false);
    expect((await listHeld(h.deps)).vms.map((v) => v.vmId)).not.toContain('vm0e');
  });

  it('refuses an id that is not a VM id before touching anything', async () => {
    const h = host();
    await expect(releaseVm(h.deps, '../images')).rejects.toMatchObject({ kind: 'INVALID_ARGUMENT', reason: 'BAD_FIELD' });
    expect(h.calls).toEqual([]);
  });
});
