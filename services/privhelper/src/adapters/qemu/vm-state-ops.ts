import type { StateOptions } from '../../domain/hypervisor/driver.js';
import { VmHostError } from '../../domain/vmspec/errors.js';
import { loadStateFromFd, saveStateToFd } from './migration.js';
import { QmpClient } from './qmp.js';

/** Runs `fn` on a fresh QMP connection to a VM's socket, closing it after. */
async function withQmp<T>(socket: string, vmId: string, fn: (qmp: QmpClient) => Promise<T>): Promise<T> {
  const qmp = await QmpClient.connect(socket, 5000).catch((err: unknown) => {
    throw new VmHostError('UNAVAILABLE', 'QMP_UNAVAILABLE', `vm ${vmId}: its QEMU does not answer on QMP`, { vm_id: vmId }, { cause: err });
  });
  try {
    return await fn(qmp);
  } finally {
    qmp.close();
  }
}

/** QMP `stop`; returns whether the VM was running before (a paused VM stays paused). */
export function pauseVcpus(socket: string, vmId: string): Promise<boolean> {
  return withQmp(socket, vmId, async (qmp) => {
    const was = (await qmp.queryStatus()).running;
    if (was) await qmp.stop();
    return was;
  });
}

/** QMP `cont`; refused for a VM still waiting for its incoming state (it would run uninitialised). */
export function resumeVcpus(socket: string, vmId: string): Promise<boolean> {
  return withQmp(socket, vmId, async (qmp) => {
    const st = await qmp.queryStatus();
    if (st.running) return false;
    if (st.status === 'inmigrate') throw new VmHostError('FAILED_PRECONDITION', 'VM_AWAITS_STATE', `vm ${vmId} is waiting for its saved state`, { vm_id: vmId });
    await qmp.cont();
    return true;
  });
}

/** Pauses the VM and writes its whole state (devices and RAM) into `fd`; QEMU stays, paused. */
export function saveVmState(socket: string, vmId: string, fd: number, timeoutMs: number): Promise<void> {
  return withQmp(socket, vmId, async (qmp) => {
    if ((await qmp.queryStatus()).running) await qmp.stop();
    await saveStateToFd(qmp, fd, timeoutMs);
  });
}

/**
 * A snapshot of a VM that keeps running: `stop`, the whole state into `fd`, `whilePaused`, then
 * `cont` when it ran before. After an outgoing migration QEMU has flushed and released its
 * disks (postmigrate); `cont` takes them back, so what `whilePaused` copies is exactly what the
 * saved RAM expects. The vCPUs run again even when the save or the copy fails.
 */
export function snapshotVmState(socket: string, vmId: string, fd: number, timeoutMs: number, whilePaused: () => Promise<void>, opts: StateOptions = {}): Promise<{ pauseMs: number }> {
  return withQmp(socket, vmId, async (qmp) => {
    const wasRunning = (await qmp.queryStatus()).running;
    // Only for this save: a later suspend of the same QEMU must stream the RAM again.
    if (opts.ignoreShared === true) await qmp.setMigrationCapabilities({ 'x-ignore-shared': true });
    const stopped = Date.now();
    try {
      if (wasRunning) await qmp.stop();
      await saveStateToFd(qmp, fd, timeoutMs);
      await whilePaused();
    } finally {
      try {
        if (opts.ignoreShared === true) await qmp.setMigrationCapabilities({ 'x-ignore-shared': false });
      } finally {
        if (wasRunning) await qmp.cont();
      }
    }
    return { pauseMs: Date.now() - stopped };
  });
}

/** Feeds a saved state into a QEMU started with `-incoming defer`, then lets the vCPUs run. */
export function loadVmState(socket: string, vmId: string, fd: number, timeoutMs: number, opts: StateOptions = {}): Promise<void> {
  return withQmp(socket, vmId, async (qmp) => {
    if (opts.ignoreShared === true) await qmp.setMigrationCapabilities({ 'x-ignore-shared': true });
    await loadStateFromFd(qmp, fd, timeoutMs);
    await qmp.cont();
  });
}

/** QMP `quit` of a VM whose state was saved. */
export function quitVm(socket: string, vmId: string): Promise<void> {
  return withQmp(socket, vmId, (qmp) => qmp.quit());
}
