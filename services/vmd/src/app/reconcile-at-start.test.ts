import { describe, expect, it } from 'vitest';
import { reconcileAtStart, startupRetry } from './reconcile-at-start.js';

describe('reconcileAtStart', () => {
  it('retries a few seconds under systemd (ordered units), a bounded minute otherwise', () => {
    expect(startupRetry({ NOTIFY_SOCKET: '/run/systemd/notify' })).toEqual({ attempts: 5, intervalMs: 1000 });
    expect(startupRetry({})).toEqual({ attempts: 30, intervalMs: 2000 });
  });

  it('retries until the dependency answers, then stops', async () => {
    let calls = 0;
    const slept: number[] = [];
    const ok = await reconcileAtStart(
      async () => {
        if (++calls < 3) throw new Error('privhelper not up yet');
      },
      { attempts: 5, intervalMs: 7 },
      { sleep: async (ms) => void slept.push(ms) },
    );
    expect(ok).toBe(true);
    expect(calls).toBe(3);
    expect(slept).toEqual([7, 7]);
  });

  it('gives up after the bound without sleeping after the last attempt', async () => {
    let calls = 0;
    const slept: number[] = [];
    const ok = await reconcileAtStart(
      async () => {
        calls++;
        throw new Error('down');
      },
      { attempts: 1, intervalMs: 0 },
      { sleep: async (ms) => void slept.push(ms) },
    );
    expect([ok, calls, slept]).toEqual([false, 1, []]);
  });

  it('stops when the daemon is shutting down', async () => {
    const ac = new AbortController();
    let calls = 0;
    const ok = await reconcileAtStart(
      async () => {
        calls++;
        ac.abort();
        throw new Error('down');
      },
      { attempts: 30, intervalMs: 1 },
      { signal: ac.signal, sleep: async () => undefined },
    );
    expect([ok, calls]).toEqual([false, 1]);
  });
});
