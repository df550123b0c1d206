import { setTimeout as sleep } from 'node:timers/promises';
import { VmHostError } from '../../domain/vmspec/errors.js';
import type { QmpClient } from './qmp.js';

/** The fd name QEMU files a migration descriptor under (getfd), on either side. */
const FD_NAME = 'banger-state';

/**
 * Saves a paused VM's device state and RAM into `fd` (a root-owned file privhelper opened): the
 * descriptor reaches QEMU with getfd, because the jail's seccomp filter (spawn=deny) kills QEMU
 * on `exec:` and QEMU 7.2 has no `file:` URI. Resolves when QEMU reports `completed`.
 */
export async function saveStateToFd(qmp: QmpClient, fd: number, timeoutMs: number): Promise<void> {
  await qmp.passFd(FD_NAME, fd);
  await qmp.migrateToFd(FD_NAME);
  await waitForMigration(qmp, timeoutMs, 'save');
}

/**
 * Loads a state file into a QEMU started with `-incoming defer`; it stays paused until `cont`
 * (a `cont` sent before `completed` is lost, HOST-FACTS). A truncated or foreign stream fails
 * here with QEMU's own words.
 */
export async function loadStateFromFd(qmp: QmpClient, fd: number, timeoutMs: number): Promise<void> {
  await qmp.passFd(FD_NAME, fd);
  await qmp.migrateIncomingFromFd(FD_NAME);
  await waitForMigration(qmp, timeoutMs, 'restore');
}

async function waitForMigration(qmp: QmpClient, timeoutMs: number, what: 'save' | 'restore'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // While QEMU loads an incoming stream its monitor answers late (the load runs in its main
    // loop, slower still on a loaded host), so one query may take up to what is left.
    const st = await qmp.queryMigrate(Math.max(5000, deadline - Date.now()));
    if (st.status === 'completed') return;
    if (st.status === 'failed' || st.status === 'cancelled') {
      throw new VmHostError('INTERNAL', what === 'save' ? 'STATE_SAVE_FAILED' : 'STATE_RESTORE_FAILED', `migration ${st.status}: ${st['error-desc'] ?? 'QEMU gave no reason'}`);
    }
    if (Date.now() > deadline) throw new VmHostError('DEADLINE_EXCEEDED', 'QMP_TIMEOUT', `state ${what} did not complete within ${timeoutMs} ms (status ${st.status ?? 'none'})`);
    await sleep(20);
  }
}
