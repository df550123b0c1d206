/**
 * Sends `sig` to the child's process group (its pid, as the leader of its own group) or only
 * to the child when it shares ours. Answers false when nothing was there to signal.
 */
export function signalChild(pid: number, group: boolean, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(group ? -pid : pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * SIGTERM now, SIGKILL after `graceMs` unless nothing is left by then: for a group, no member
 * (the group id stays reserved while any member lives, so the late SIGKILL reaches only our
 * stragglers); for a lone child, `alive()` (its pid may already be reused once reaped).
 */
export function terminate(pid: number, group: boolean, graceMs: number, alive: () => boolean): void {
  if (!signalChild(pid, group, 'SIGTERM')) return;
  setTimeout(() => {
    if (group ? signalChild(pid, true, 0) : alive()) signalChild(pid, group, 'SIGKILL');
  }, graceMs);
}
