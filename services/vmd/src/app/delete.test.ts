import { describe, expect, it } from 'vitest';
import { vmdHarness } from '../testing/harness.js';

describe('DeleteVm', () => {
  it('stops a running VM and removes every host resource, its row and its DNS record', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.create({ name: 'keep' });
    const id = h.vm('dev')?.id ?? '';
    const { vm } = await h.delete('dev');
    expect(vm).toMatchObject({ id, name: 'dev' });
    expect(h.vm('dev')).toBeUndefined();
    expect(h.host.leftovers().filter((l) => l.includes(id))).toEqual([]);
    expect(h.host.dns.map((r) => r.name)).toEqual(['keep']);
    expect(h.vm('keep')?.state).toBe('running');
  });

  it('deletes a stopped VM', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.stop('dev');
    await h.delete('dev');
    expect(h.vms()).toEqual([]);
    expect(h.host.leftovers()).toEqual([]);
  });

  it('kills instead of waiting with force', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.delete('dev', { force: true });
    expect(h.host.stops.at(-1)?.timeoutMs).toBeLessThanOrEqual(1);
  });

  it('keeps a half-deleted VM as deleting, and a retry removes what is left', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    h.host.failOn('removeWorkDisk', undefined, 1);
    await expect(h.delete('dev')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(h.vm('dev')?.state).toBe('deleting');
    await h.delete('dev');
    expect(h.vms()).toEqual([]);
    expect(h.host.leftovers()).toEqual([]);
  });

  it('refuses an unknown VM and changes nothing', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await expect(h.delete('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(h.vm('dev')?.state).toBe('running');
  });
});
