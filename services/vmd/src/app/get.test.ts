import { describe, expect, it } from 'vitest';
import type { VmJail } from '../ports/host.js';
import { vmdHarness } from '../testing/harness.js';

const jail: VmJail = {
  uid: 2_000_000_001,
  gid: 2_000_000_001,
  layersApplied: ['uid', 'no_new_privs', 'namespaces', 'seccomp', 'cgroup'],
  layersSkipped: [],
  seccompMode: 2,
  capEff: '0000000000000000',
  noNewPrivs: true,
  ownNamespaces: ['mnt', 'net', 'ipc', 'uts'],
  memoryLimitBytes: 768 * 1024 * 1024,
  pidsMax: 256,
  cpuWeight: 1024,
};

describe('GetVm', () => {
  it("reports a running VM's live jail from the host", async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const id = h.vm('dev')?.id ?? '';
    h.host.processes.set(id, { ...h.host.processes.get(id)!, jail });
    expect(await h.get('dev')).toMatchObject({ vm: { name: 'dev', state: 'running' }, jail });
  });

  it('reports no jail for a stopped VM and does not ask the host', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.stop('dev');
    const calls: string[] = [];
    const find = h.host.find.bind(h.host);
    h.host.find = async (vmId) => {
      calls.push(vmId);
      return find(vmId);
    };
    expect(await h.get('dev')).toMatchObject({ vm: { state: 'stopped' }, jail: undefined });
    expect(calls).toEqual([]);
  });

  it('a running VM whose process the host no longer finds shows no jail rather than failing', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    h.host.processes.clear();
    expect(await h.get('dev')).toMatchObject({ vm: { state: 'running' }, jail: undefined });
  });
});
