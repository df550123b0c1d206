import { setTimeout as sleep } from 'node:timers/promises';
import { FailedPreconditionError } from '@banger/runtime/errors';
import type { HostHelper } from '../ports/host.js';

/** How often a wait on the guest asks privhelper whether the hypervisor still runs. */
export const HYPERVISOR_POLL_MS = 1000;

/**
 * Runs a wait on the guest (its agent, its services) only while its hypervisor runs: when the
 * hypervisor exits first (killed, crashed), the wait fails at once with HYPERVISOR_EXITED
 * instead of waiting out its own timeout, minutes under TCG, with nothing left to wait for. A
 * privhelper that cannot be asked proves nothing, so the wait goes on.
 */
export async function whileHypervisorRuns<T>(
  host: Pick<HostHelper, 'find'>,
  vm: { id: string; name: string },
  parent: AbortSignal,
  wait: (signal: AbortSignal) => Promise<T>,
  pollMs = HYPERVISOR_POLL_MS,
): Promise<T> {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  const exited = (async (): Promise<never> => {
    for (;;) {
      await sleep(pollMs, undefined, { signal: ac.signal });
      const proc = await host.find(vm.id).catch(() => 'unknown' as const);
      if (proc === undefined) {
        const err = new FailedPreconditionError('HYPERVISOR_EXITED', `the hypervisor of vm ${vm.name} exited before the guest was ready`, { fields: { vm: vm.name } });
        ac.abort(err);
        throw err;
      }
    }
  })();
  // Its rejection is either the error raced below or the abort of a wait that already ended.
  exited.catch(() => undefined);
  try {
    return await Promise.race([wait(ac.signal), exited]);
  } finally {
    ac.abort();
    parent.removeEventListener('abort', onAbort);
  }
}
