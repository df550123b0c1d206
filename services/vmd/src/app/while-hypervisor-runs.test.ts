import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { whileHypervisorRuns } from './while-hypervisor-runs.js';

const vm = { id: 'vm1', name: 'dev' };
const proc = { pid: 42, agentSocket: '/a', consoleLog: '/c' };

describe('whileHypervisorRuns', () => {
  it('answers what the wait answers while the hypervisor runs', async () => {
    const host = { find: async () => proc };
    await expect(whileHypervisorRuns(host, vm, new AbortController().signal, async () => { await sleep(30); return 'ready'; }, 5)).resolves.toBe('ready');
  });

  it('fails at once with HYPERVISOR_EXITED when the hypervisor is gone, aborting the wait', async () => {
    let alive = true;
    const host = { find: async () => (alive ? proc : undefined) };
    let waitSignal: AbortSignal | undefined;
    const started = Date.now();
    const p = whileHypervisorRuns(host, vm, new AbortController().signal, (signal) => {
      waitSignal = signal;
      return new Promise<never>(() => undefined);
    }, 5);
    setTimeout(() => (alive = false), 20);
    await expect(p).rejects.toMatchObject({ reason: 'HYPERVISOR_EXITED', message: expect.stringContaining('vm dev') });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(waitSignal?.aborted).toBe(true);
  });

  it('keeps waiting while privhelper cannot be asked (that proves nothing)', async () => {
    const host = { find: async (): Promise<typeof proc> => { throw new Error('privhelper unavailable'); } };
    await expect(whileHypervisorRuns(host, vm, new AbortController().signal, async () => { await sleep(40); return 'ready'; }, 5)).resolves.toBe('ready');
  });

  it("passes the caller's abort on to the wait", async () => {
    const parent = new AbortController();
    const host = { find: async () => proc };
    const p = whileHypervisorRuns(host, vm, parent.signal, (signal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('cancelled')))), 5);
    parent.abort();
    await expect(p).rejects.toThrow('cancelled');
  });

  it('stops asking once the wait ended', async () => {
    let asked = 0;
    const host = { find: async () => (asked++, proc) };
    await whileHypervisorRuns(host, vm, new AbortController().signal, async () => { await sleep(20); }, 5);
    const after = asked;
    await sleep(40);
    expect(asked).toBe(after);
  });
});
