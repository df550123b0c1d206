import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient } from '../../services/privhelper/src/adapters/qemu/qmp.js';
import { READY_MARKER, STOP_MARKER, tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { HelperFixture, helperUnavailableReason } from '../privhelper/setup.js';
import { waitForConsole } from '../harness/guest.js';

/*
 * Issue 15 step 4, privhelper's side: a named snapshot of a running jailed tiny guest. The guest
 * must keep running as the same machine (same pid, no second boot on its console, its PID 1
 * still answers ctrl-alt-del with the stop marker), and the snapshot must be sealed in
 * privhelper's root-only directory with frozen disk copies (the 1 GiB work disk copied sparse).
 */

const skip = (await helperUnavailableReason({ qemu: true })) ?? (await tinyGuestUnavailableReason()) ?? undefined;
if (skip) console.warn(`[skip] snapshot checks: ${skip}`);

const GUEST_MIB = 256;
const GiB = 1024 ** 3;

async function qmpStatus(socket: string): Promise<string> {
  const qmp = await QmpClient.connect(socket);
  try {
    return (await qmp.queryStatus()).status;
  } finally {
    qmp.close();
  }
}

describe.skipIf(skip !== undefined)('privhelper: a named snapshot of a running jailed tiny guest', () => {
  let f: HelperFixture;
  const vmId = `snp-${randomBytes(2).toString('hex')}`;
  const snapId = `${vmId}-s1`;
  let proc: helperv2.HypervisorProcess;
  let spec: helperv2.HypervisorSpec;
  const cloneId = `${vmId}-c`;
  const snapDir = (id = snapId): string => `${f.helperState}/snapshots/${id}`;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    f = await HelperFixture.start({ vm: [`default_memory_mib = ${GUEST_MIB}`, 'max_memory_mib = 512'] });
    const kernel = await f.installTinyKernel();
    await f.putImage('img-snp');
    await f.call('ensureBridge', { bridge: f.bridge, gatewayCidr: f.gatewayCidr, mtu: 0 });
    await f.call('acquireTap', { vmId, bridge: f.bridge });
    await f.call('createOverlay', { vmId, image: 'img-snp' });
    await f.call('createWorkDisk', { vmId, image: 'img-snp', sizeBytes: GiB });
    spec = helperv2.HypervisorSpec.fromPartial({
      vmId,
      kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
      memoryMib: GUEST_MIB,
      vcpus: 1,
      kernel,
      cmdline: [{ key: 'panic', value: '-1' }],
      workDisk: true,
      network: { mac: '02:42:0a:d5:02:01' },
    });
    proc = (await f.call('launchHypervisor', { spec })).process!;
    f.qemuPids.add(proc.pid);
    await waitForConsole(proc.sockets!.consoleLogPath, READY_MARKER, 180_000);
  }, 300_000);

  afterAll(async () => {
    if (process.env['SNAPSHOT_TIMINGS'] === '1') console.log('[timings]', JSON.stringify(timings));
    await f?.close();
  });

  it('snapshots the running VM, which keeps running as the same process; the snapshot is sealed, root-only, with sparse disk copies', async () => {
    const t = Date.now();
    const { snapshot } = await f.call('snapshotHypervisor', { vmId, snapshotId: snapId });
    timings['snapshot_call_ms'] = Date.now() - t;
    timings['pause_ms'] = (snapshot!.pauseDuration?.seconds ?? 0) * 1000 + Math.floor((snapshot!.pauseDuration?.nanos ?? 0) / 1e6);
    timings['state_bytes'] = snapshot!.stateBytes;
    timings['size_bytes'] = snapshot!.sizeBytes;
    expect(snapshot).toMatchObject({ snapshotId: snapId, sourceVmId: vmId, machine: 'microvm', memoryMib: GUEST_MIB, vcpus: 1, baseImage: 'img-snp', accel: 'tcg', workDisk: true, mac: '02:42:0a:d5:02:01' });
    expect(await qmpStatus(proc.sockets!.controlPath)).toBe('running');
    expect((await f.call('findHypervisor', { vmId })).process?.pid).toBe(proc.pid);

    expect((await readdir(snapDir())).sort()).toEqual(['root.qcow2', 'snapshot.json', 'state.bin', 'work.ext4']);
    const dir = await stat(snapDir());
    expect({ uid: dir.uid, mode: dir.mode & 0o777 }).toEqual({ uid: 0, mode: 0o700 });
    const state = await stat(`${snapDir()}/state.bin`);
    expect({ uid: state.uid, mode: state.mode & 0o777, size: state.size }).toEqual({ uid: 0, mode: 0o600, size: snapshot!.stateBytes });
    expect(createHash('sha256').update(await readFile(`${snapDir()}/state.bin`)).digest('hex')).toBe(snapshot!.stateSha256);
    const root = await readFile(`${snapDir()}/root.qcow2`);
    expect(root.subarray(0, 4).toString('latin1')).toBe('QFI\xfb');
    const work = await stat(`${snapDir()}/work.ext4`);
    expect(work.size).toBe(GiB);
    expect(work.blocks * 512).toBeLessThan(GiB / 4);
    expect(snapshot!.sizeBytes).toBeLessThan(snapshot!.stateBytes + GiB / 4);

    expect((await f.call('describeSnapshot', { snapshotId: snapId })).snapshot?.stateSha256).toBe(snapshot!.stateSha256);
    expect((await f.call('listSnapshotFiles', {})).snapshots.map((s) => s.snapshotId)).toEqual([snapId]);
  }, 120_000);

  it('a clone gets copies of the frozen disks; a truncated, corrupted or incompatible state is refused naming the snapshot, and nothing runs', async () => {
    await f.call('acquireTap', { vmId: cloneId, bridge: f.bridge });
    const disks = await f.call('createDisksFromSnapshot', { vmId: cloneId, snapshotId: snapId });
    expect(disks.rootPath).toBe(`${f.helperState}/vms/${cloneId}/root.qcow2`);
    expect((await stat(disks.workPath)).size).toBe(GiB);
    expect(await f.refused('createDisksFromSnapshot', { vmId: cloneId, snapshotId: snapId })).toMatchObject({ reason: 'DISKS_EXIST' });
    const clone = { ...spec, vmId: cloneId, network: { mac: '02:42:0a:d5:02:02' } };
    const incompatible = await f.refused('restoreSnapshot', { spec: { ...clone, memoryMib: GUEST_MIB + 64 }, snapshotId: snapId });
    expect(incompatible).toMatchObject({ reason: 'STATE_INCOMPATIBLE' });
    expect(incompatible.message).toContain(`snapshot ${snapId}`);
    const stateFile = `${snapDir()}/state.bin`;
    const good = await readFile(stateFile);
    try {
      await truncate(stateFile, good.length - 4096);
      const truncated = await f.refused('restoreSnapshot', { spec: clone, snapshotId: snapId });
      expect(truncated).toMatchObject({ reason: 'STATE_CORRUPT' });
      expect(truncated.message).toContain(`snapshot ${snapId}`);
      const flipped = Buffer.from(good);
      const at = Math.floor(flipped.length / 3);
      flipped[at] = (flipped[at] ?? 0) ^ 0xff;
      await writeFile(stateFile, flipped);
      expect(await f.refused('restoreSnapshot', { spec: clone, snapshotId: snapId })).toMatchObject({ reason: 'STATE_CORRUPT' });
    } finally {
      await writeFile(stateFile, good, { mode: 0o600 });
    }
    await expect(f.call('findHypervisor', { vmId: cloneId })).rejects.toMatchObject({ reason: 'VM_NOT_RUNNING' });
    await expect(stat(f.vmRunDir(cloneId))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 120_000);

  it('the clone restored from the snapshot is the snapshotted machine (no boot of its own) while the source runs on', async () => {
    const clone = { ...spec, vmId: cloneId, network: { mac: '02:42:0a:d5:02:02' } };
    const t = Date.now();
    const res = await f.call('restoreSnapshot', { spec: clone, snapshotId: snapId });
    timings['restore_ms'] = Date.now() - t;
    f.qemuPids.add(res.process!.pid);
    expect(await qmpStatus(res.process!.sockets!.controlPath)).toBe('running');
    expect(await qmpStatus(proc.sockets!.controlPath)).toBe('running');
    await sleep(1000);
    expect(await readFile(res.process!.sockets!.consoleLogPath, 'utf8')).not.toContain(READY_MARKER);
    const stopped = await f.call('stopHypervisor', { vmId: cloneId, timeout: { seconds: 20, nanos: 0 } });
    expect(stopped).toMatchObject({ wasRunning: true, forced: false });
    expect(await readFile(res.process!.sockets!.consoleLogPath, 'utf8')).toContain(STOP_MARKER);
    expect((await f.call('describeSnapshot', { snapshotId: snapId })).snapshot?.stateSha256).toBeDefined();
    await f.call('releaseVm', { vmId: cloneId });
  }, 120_000);

  it('refuses a taken id, a bad id and a VM that does not run, leaving nothing new behind', async () => {
    expect(await f.refused('snapshotHypervisor', { vmId, snapshotId: snapId })).toMatchObject({ reason: 'SNAPSHOT_EXISTS' });
    expect(await f.refused('snapshotHypervisor', { vmId, snapshotId: '../vms' })).toMatchObject({ reason: 'BAD_FIELD' });
    expect(await f.refused('snapshotHypervisor', { vmId: 'not-here', snapshotId: 'snp-other' })).toMatchObject({ reason: 'VM_NOT_RUNNING' });
    expect(await readdir(`${f.helperState}/snapshots`)).toEqual([snapId]);
    expect(await qmpStatus(proc.sockets!.controlPath)).toBe('running');
  });

  it('a second snapshot of the same VM works too; the guest is still the one that booted once and stops cleanly', async () => {
    await f.call('snapshotHypervisor', { vmId, snapshotId: `${snapId}b` });
    await sleep(500);
    const log = await readFile(proc.sockets!.consoleLogPath, 'utf8');
    expect(log.split(READY_MARKER).length - 1).toBe(1);
    expect(await f.call('deleteSnapshot', { snapshotId: `${snapId}b` })).toEqual({ deleted: true });
    expect(await f.call('deleteSnapshot', { snapshotId: `${snapId}b` })).toEqual({ deleted: false });
    await expect(stat(snapDir(`${snapId}b`))).rejects.toMatchObject({ code: 'ENOENT' });
    const stopped = await f.call('stopHypervisor', { vmId, timeout: { seconds: 20, nanos: 0 } });
    expect(stopped).toMatchObject({ wasRunning: true, forced: false });
    expect(await readFile(proc.sockets!.consoleLogPath, 'utf8')).toContain(STOP_MARKER);
  }, 120_000);

  it('the snapshot outlives its VM and holds its image: deleting the VM\'s disks leaves it, the image cannot go until deleteSnapshot', async () => {
    expect(await f.call('removeOverlay', { vmId })).toMatchObject({ removed: true });
    await f.call('removeWorkDisk', { vmId });
    expect((await f.call('describeSnapshot', { snapshotId: snapId })).snapshot?.snapshotId).toBe(snapId);
    const held = await f.refused('removeImage', { image: 'img-snp' });
    expect(held).toMatchObject({ reason: 'IMAGE_IN_USE' });
    expect(held.message).toContain(`snapshot ${snapId}`);
    expect(await f.call('deleteSnapshot', { snapshotId: snapId })).toEqual({ deleted: true });
    expect(await f.call('removeImage', { image: 'img-snp' })).toMatchObject({ removed: true });
    expect(await readdir(`${f.helperState}/snapshots`)).toEqual([]);
  });
});
