import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GcReport } from './collect-garbage.js';
import { Janitor } from './janitor.js';

const clean: GcReport = { dryRun: false, leftovers: [], orphans: [], dnsDrift: [], realigned: [], snapshots: [], space: undefined, helperReachable: true, pending: false };

describe('janitor schedule', () => {
  afterEach(() => vi.useRealTimers());

  it('runs at once, then every interval while nothing is pending, and retries every few seconds while privhelper is down', async () => {
    vi.useFakeTimers();
    const reports: GcReport[] = [{ ...clean, helperReachable: false, pending: true }, { ...clean, helperReachable: false, pending: true }, clean, clean];
    const at: number[] = [];
    const start = Date.now();
    const janitor = new Janitor({ run: async () => (at.push(Date.now() - start), reports.shift() ?? clean) }, { intervalMs: 60_000, retryMs: 5000 });
    janitor.start();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(5000);
    await vi.advanceTimersByTimeAsync(5000);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(at).toEqual([0, 5000, 10_000, 70_000]);
    await janitor.stop();
  });

  it('comes back when the first orphan in grace becomes removable, not a whole interval later', async () => {
    vi.useFakeTimers();
    const inGrace: GcReport = { ...clean, pending: true, orphans: [{ vmId: 'x', held: ['run dir'], scope: 'vm', action: 'grace', detail: '', graceLeftMs: 20_000 }] };
    const reports = [inGrace, clean];
    const at: number[] = [];
    const start = Date.now();
    const janitor = new Janitor({ run: async () => (at.push(Date.now() - start), reports.shift() ?? clean) }, { intervalMs: 60_000, retryMs: 5000 });
    janitor.start();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(20_250);
    expect(at).toEqual([0, 20_250]);
    await janitor.stop();
  });

  it('keeps going after a pass throws, and stops for good', async () => {
    vi.useFakeTimers();
    let n = 0;
    const janitor = new Janitor(
      {
        run: async () => {
          n++;
          throw new Error('database unavailable');
        },
      },
      { intervalMs: 60_000, retryMs: 5000 },
    );
    janitor.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(n).toBe(3);
    await janitor.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(n).toBe(3);
  });
});
