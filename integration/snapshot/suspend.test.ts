import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient } from '../../services/privhelper/src/adapters/qemu/qmp.js';
import { READY_MARKER, STOP_MARKER, tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { HelperFixture, helperUnavailableReason } from '../privhelper/setup.js';
import { waitForConsole } from '../harness/guest.js';

/*
 * Issue 15, privhelper's side: pause/resume in memory, suspend to a root-owned state file on disk
 * and restore from it, through the jailed QEMU (the stream goes by getfd: spawn=deny kills
 * `exec:`). One tiny guest for the file. The restored guest proves it is the same running
 * machine, not a reboot: its console (a fresh file per launch) shows no boot, and its PID 1 still
 * has the ctrl-alt-del trap it set at boot, so StopHypervisor makes it print the stop marker.
 */

const skip = (await helperUnavailableReason({ qemu: true })) ?? (await tinyGuestUnavailableReason()) ?? undefined;
if (skip) console.warn(`[skip] suspend/restore checks: ${skip}`);

const GUEST_MIB = 256;

async function qmpStatus(socket: string): Promise<string> {
  const qmp = await QmpClient.connect(socket);
  try {
    return (await qmp.queryStatus()).status;
  } finally {
    qmp.close();
  }
}

describe.skipIf(skip !== undefined)('privhelper: pause, resume, suspend to disk and restore a jailed tiny guest', () => {
  let f: HelperFixture;
  const vmId = `sus-${randomBytes(2).toString('hex')}`;
  let spec: helperv2.HypervisorSpec;
  let proc: helperv2.HypervisorProcess;
  const stateFile = (): string => `${f.helperState}/vms/${vmId}/suspend.state`;
  const metaFile = (): string => `${f.helperState}/vms/${vmId}/suspend.json`;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    f = await HelperFixture.start({ vm: [`default_memory_mib = ${GUEST_MIB}`, 'max_memory_mib = 512'] });
    const kernel = await f.installTinyKernel();
    await f.putImage('img-sus');
    await f.call('ensureBridge', { bridge: f.bridge, gatewayCidr: f.gatewayCidr, mtu: 0 });
    await f.call('acquireTap', { vmId, bridge: f.bridge });
    await f.call('createOverlay', { vmId, image: 'img-sus' });
    spec = helperv2.HypervisorSpec.fromPartial({
      vmId,
      kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
      memoryMib: GUEST_MIB,
      vcpus: 1,
      kernel,
      cmdline: [{ key: 'panic', value: '-1' }],
      workDisk: false,
      network: { mac: '02:42:0a:d5:01:01' },
    });
    proc = (await f.call('launchHypervisor', { spec })).process!;
    f.qemuPids.add(proc.pid);
    await waitForConsole(proc.sockets!.consoleLogPath, READY_MARKER, 180_000);
  }, 300_000);

  afterAll(async () => {
    if (process.env['SNAPSHOT_TIMINGS'] === '1') console.log('[timings]', JSON.stringify(timings));
    await f?.close();
  });

  it('pause stops the vCPUs in memory and resume runs them again; both are idempotent', async () => {
    let t = Date.now();
    expect(await f.call('pauseHypervisor', { vmId })).toEqual({ wasRunning: true });
    timings['pause_ms'] = Date.now() - t;
    expect(await qmpStatus(proc.sockets!.controlPath)).toBe('paused');
    expect(await f.call('pauseHypervisor', { vmId })).toEqual({ wasRunning: false });
    t = Date.now();
    expect(await f.call('resumeHypervisor', { vmId })).toEqual({ wasPaused: true });
    timings['resume_ms'] = Date.now() - t;
    expect(await qmpStatus(proc.sockets!.controlPath)).toBe('running');
    expect(await f.call('resumeHypervisor', { vmId })).toEqual({ wasPaused: false });
    expect((await f.call('findHypervisor', { vmId })).process?.pid).toBe(proc.pid);
  });

  it('suspend writes a root-only state file with its record and ends QEMU; nothing to restore is refused for a running or unknown VM', async () => {
    const t = Date.now();
    const { state } = await f.call('suspendHypervisor', { vmId });
    timings['suspend_ms'] = Date.now() - t;
    expect(state).toMatchObject({ vmId, machine: 'microvm', memoryMib: GUEST_MIB, vcpus: 1, baseImage: 'img-sus', accel: 'tcg', cpuModel: 'max' });
    const st = await stat(stateFile());
    timings['state_bytes'] = st.size;
    expect(st.size).toBe(state!.sizeBytes);
    expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid: 0, mode: 0o600 });
    expect(state!.sha256).toMatch(/^[0-9a-f]{64}$/);
    await expect(f.call('findHypervisor', { vmId })).rejects.toMatchObject({ reason: 'VM_NOT_RUNNING' });
    expect((await f.call('describeSavedState', { vmId })).state?.sizeBytes).toBe(st.size);
    expect((await f.refused('suspendHypervisor', { vmId })).reason).toBe('VM_NOT_RUNNING');
    expect((await f.refused('pauseHypervisor', { vmId })).reason).toBe('VM_NOT_RUNNING');
  });

  it('a restore for another shape, a truncated, a corrupted or a foreign state file is refused naming the file, and nothing runs', async () => {
    const incompatible = await f.refused('restoreHypervisor', { spec: { ...spec, memoryMib: GUEST_MIB + 64 } });
    expect(incompatible).toMatchObject({ reason: 'STATE_INCOMPATIBLE' });
    expect(incompatible.message).toContain('memoryMib');
    const good = await readFile(stateFile());
    const meta = await readFile(metaFile(), 'utf8');
    try {
      await truncate(stateFile(), good.length - 4096);
      const truncated = await f.refused('restoreHypervisor', { spec });
      expect(truncated).toMatchObject({ reason: 'STATE_CORRUPT' });
      expect(truncated.message).toContain(stateFile());

      const flipped = Buffer.from(good);
      const at = Math.floor(flipped.length / 2);
      flipped[at] = (flipped[at] ?? 0) ^ 0xff;
      await writeFile(stateFile(), flipped);
      expect(await f.refused('restoreHypervisor', { spec })).toMatchObject({ reason: 'STATE_CORRUPT' });

      await writeFile(stateFile(), good);
      await writeFile(metaFile(), meta.replace(vmId, 'someone-else'));
      expect(await f.refused('restoreHypervisor', { spec })).toMatchObject({ reason: 'STATE_CORRUPT' });
    } finally {
      await writeFile(stateFile(), good, { mode: 0o600 });
      await writeFile(metaFile(), meta, { mode: 0o600 });
    }
    await expect(f.call('findHypervisor', { vmId })).rejects.toMatchObject({ reason: 'VM_NOT_RUNNING' });
  });

  it('a stream QEMU cannot load (whose record matches it) fails the restore with no process left and the state kept', async () => {
    const good = await readFile(stateFile());
    const meta = await readFile(metaFile(), 'utf8');
    try {
      const garbage = randomBytes(good.length);
      await writeFile(stateFile(), garbage);
      await writeFile(metaFile(), meta.replace(/"sha256": "[0-9a-f]+"/, `"sha256": "${createHash('sha256').update(garbage).digest('hex')}"`));
      expect(await f.refused('restoreHypervisor', { spec })).toMatchObject({ reason: 'STATE_RESTORE_FAILED' });
      await expect(f.call('findHypervisor', { vmId })).rejects.toMatchObject({ reason: 'VM_NOT_RUNNING' });
      await expect(stat(f.vmRunDir(vmId))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await f.call('describeSavedState', { vmId })).state).toBeDefined();
    } finally {
      await writeFile(stateFile(), good, { mode: 0o600 });
      await writeFile(metaFile(), meta, { mode: 0o600 });
    }
  });

  it('the state survives a privhelper restart with its run dir cleared; restore brings back the same running guest and deletes the state', async () => {
    await f.restartDaemon();
    await rm(f.vmRunDir(vmId), { recursive: true, force: true });
    const t = Date.now();
    const res = await f.call('restoreHypervisor', { spec });
    timings['restore_ms'] = Date.now() - t;
    f.qemuPids.add(res.process!.pid);
    expect(await qmpStatus(res.process!.sockets!.controlPath)).toBe('running');
    expect((await f.call('describeSavedState', { vmId })).state).toBeUndefined();
    await expect(stat(stateFile())).rejects.toMatchObject({ code: 'ENOENT' });
    await sleep(1000);
    expect(await readFile(res.process!.sockets!.consoleLogPath, 'utf8')).not.toContain(READY_MARKER);
    const stopped = await f.call('stopHypervisor', { vmId, timeout: { seconds: 20, nanos: 0 } });
    expect(stopped).toMatchObject({ wasRunning: true, forced: false });
    expect(await readFile(res.process!.sockets!.consoleLogPath, 'utf8')).toContain(STOP_MARKER);
  }, 120_000);

  it('removing a suspended VM\'s disk removes its saved state with it: the disk dir goes', async () => {
    const again = (await f.call('launchHypervisor', { spec })).process!;
    f.qemuPids.add(again.pid);
    await waitForConsole(again.sockets!.consoleLogPath, READY_MARKER, 180_000);
    await f.call('suspendHypervisor', { vmId });
    await stat(stateFile());
    expect(await f.call('removeOverlay', { vmId })).toMatchObject({ removed: true });
    await expect(stat(`${f.helperState}/vms/${vmId}`)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 240_000);
});
