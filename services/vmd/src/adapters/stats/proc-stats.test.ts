import { describe, expect, it } from 'vitest';
import { cpuTicks, ProcStats, rssBytes } from './proc-stats.js';

describe('proc stats', () => {
  it('parses ticks past a comm with spaces and parentheses', () => {
    const stat = '1234 (qemu (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 0 0';
    expect(cpuTicks(stat)).toBe(300);
  });
  it('reads VmRSS', () => expect(rssBytes('Name:\tq\nVmRSS:\t  2048 kB\n')).toBe(2048 * 1024));
  it('samples a real process and keeps history', async () => {
    const stats = new ProcStats(async () => [{ id: 'me', pid: process.pid }]);
    await stats.tick();
    await new Promise((r) => setTimeout(r, 50));
    await stats.tick();
    const h = stats.historyOf('me');
    expect(h).toHaveLength(2);
    expect(h[1]!.rssBytes).toBeGreaterThan(1024 * 1024);
  });
});
