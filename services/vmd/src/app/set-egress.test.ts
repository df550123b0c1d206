import { describe, expect, it } from 'vitest';
import { vmdHarness } from '../testing/harness.js';

const list = { mode: 'list' as const, cidrs: ['198.51.100.0/24'], hostnames: ['example.com'] };

describe('egress policy through the VM lifecycle', () => {
  it('a create fences the tap with the VM\'s address, MAC and policy, stored with the VM', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev', egress: list });
    const vm = h.entity('dev')!;
    expect(vm.egress).toEqual(list);
    expect(h.host.fences.get(vm.id)).toEqual({ ipv4: vm.network.ipv4, mac: vm.network.mac, egress: list });
    expect(h.host.calls.indexOf(`acquireTap ${vm.id}`)).toBeLessThan(h.host.calls.indexOf(`fenceVm ${vm.id}`));
    expect(h.host.calls.indexOf(`fenceVm ${vm.id}`)).toBeLessThan(h.host.calls.findIndex((c) => c.startsWith('launch')));
  });

  it('changing a running VM applies at once; a stopped one keeps it for its next start', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const id = h.entity('dev')!.id;
    const r = await h.setEgress('dev', { mode: 'deny', cidrs: [], hostnames: [] });
    expect(r.applied).toBe(true);
    expect(r.vm.egress.mode).toBe('deny');
    expect(h.host.fences.get(id)?.egress.mode).toBe('deny');
    await h.stop('dev');
    const calls = h.host.calls.length;
    expect((await h.setEgress('dev', list)).applied).toBe(false);
    expect(h.host.calls.slice(calls)).not.toContain(`fenceVm ${id}`);
    await h.start('dev');
    expect(h.host.fences.get(id)?.egress).toEqual(list);
  });

  it('a policy the host refuses changes nothing', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    h.host.failOn('fenceVm');
    await expect(h.setEgress('dev', list)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(h.entity('dev')?.egress.mode).toBe('allow');
  });

  it('delete releases the tap, and the fence with it', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const id = h.entity('dev')!.id;
    await h.delete('dev', { force: true });
    expect(h.host.fences.has(id)).toBe(false);
  });
});
