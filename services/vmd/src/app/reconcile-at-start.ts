import { log } from '@banger/runtime/logging';

export interface StartupRetry {
  attempts: number;
  intervalMs: number;
}

/**
 * How hard start-up reconciliation tries. Under systemd the units order the daemons
 * (Type=notify, After=banger-privhelper): privhelper already serves when vmd starts, so the
 * first attempt normally succeeds; a few seconds of retries cover privhelper restarting at that
 * moment (RestartSec=2s). Started by hand or by a supervisor without that ordering, privhelper
 * may come up much later: retry for a bounded minute.
 */
export function startupRetry(env: NodeJS.ProcessEnv): StartupRetry {
  return env['NOTIFY_SOCKET'] ? { attempts: 5, intervalMs: 1000 } : { attempts: 30, intervalMs: 2000 };
}

/** Runs `reconcile` up to `retry.attempts` times; true once it succeeded. Stops early on `signal`. */
export async function reconcileAtStart(
  reconcile: () => Promise<unknown>,
  retry: StartupRetry,
  options: { signal?: AbortSignal; sleep?: (ms: number) => Promise<void> } = {},
): Promise<boolean> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
  for (let attempt = 1; attempt <= retry.attempts; attempt++) {
    if (options.signal?.aborted) return false;
    try {
      await reconcile();
      return true;
    } catch (err) {
      const last = attempt === retry.attempts;
      log().warn({ err, attempt, attempts: retry.attempts }, last ? 'reconciliation failed; giving up' : 'reconciliation failed; retrying');
      if (!last) await sleep(retry.intervalMs);
    }
  }
  return false;
}
