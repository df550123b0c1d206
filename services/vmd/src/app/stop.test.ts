import { describe, expect, it } from 'vitest';
import { vmdHarness } from '../testing/harness.js';

describe('StopVm', () => {
  it('stops a running VM with the given grace period and records it at rest', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const id = h.vm('dev')?.id ?? '';
    const { vm } = await h.stop('dev', 12_000);
    expect(vm).toMatchObject({ name: 'dev', state: 'stopped', pid: null });
    expect(h.host.stops).toEqual([{ vmId: id, timeoutMs: 12_000 }]);
    expect(h.host.processes.size).toBe(0);
    expect(h.host.taps.size).toBe(0);
    expect(h.vm('dev')).toMatchObject({ state: 'stopped', pid: null });
    // The row forgets the tap it gave back (the column is unique: the next VM may get that tap).
    expect(h.vm('dev')?.tap).toBeNull();
  });

  it('leaves a stopped VM alone and asks the host nothing', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.stop('dev');
    h.host.stops.length = 0;
    const { vm } = await h.stop('dev');
    expect(vm.state).toBe('stopped');
    expect(h.host.stops).toEqual([]);
  });

  it('finds the VM by id prefix', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const id = h.vm('dev')?.id ?? '';
    expect((await h.stop(id.slice(0, 5))).vm.name).toBe('dev');
  });

  it('refuses an unknown VM', async () => {
    const h = vmdHarness();
    await expect(h.stop('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps the VM stopping when the host cannot stop it, so a retry can finish', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    h.host.failOn('stop', undefined, 1);
    await expect(h.stop('dev')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(h.vm('dev')?.state).toBe('stopping');
    expect((await h.stop('dev')).vm.state).toBe('stopped');
  });

  it('says whether the VM had to be killed after its grace period', async () => {
    const h = vmdHarness();
    await h.create({ name: 'a' });
    await h.create({ name: 'b' });
    expect((await h.stop('a')).forced).toBe(false);
    h.host.stopForces = true;
    const b = await h.stop('b', 0);
    expect(b.forced).toBe(true);
    expect(h.host.stops.at(-1)).toMatchObject({ timeoutMs: 0 });
    expect(b.vm.state).toBe('stopped');
    // An already stopped VM was not killed by this call.
    expect((await h.stop('b')).forced).toBe(false);
  });
});
