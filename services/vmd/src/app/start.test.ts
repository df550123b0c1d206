import { UnavailableError } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { vmdHarness } from '../testing/harness.js';

/** A harness with one VM, created and stopped. */
async function stoppedVm() {
  const h = vmdHarness({ serviceMs: 10 });
  await h.create({ name: 'dev' });
  await h.stop('dev');
  return h;
}

describe('StartVm', () => {
  it('boots a stopped VM through network, boot, agent and services, back to running', async () => {
    const h = await stoppedVm();
    const { op, error } = await h.start('dev');
    expect(error).toBeUndefined();
    expect(op.events[0]).toMatchObject({ type: 'accepted', kind: 'vm_start', target: 'dev' });
    expect(op.stagesFinished()).toEqual(['network', 'boot', 'agent', 'services']);
    const vm = h.vm('dev');
    expect(vm?.state).toBe('running');
    expect(h.host.processes.get(vm?.id ?? '')?.pid).toBe(vm?.pid);
    expect(op.events.at(-1)).toMatchObject({ type: 'result' });
  });

  it("boots with the same boot files, disks and kernel arguments as the create did", async () => {
    const h = await stoppedVm();
    const first = h.lastLaunch();
    await h.start('dev');
    const again = h.lastLaunch();
    expect(again).toEqual(first);
  });

  it('refuses a VM that is already running, changing nothing', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const before = h.vm('dev');
    const { op, error } = await h.start('dev');
    expect(error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'VM_ALREADY_RUNNING' });
    expect(op.failure()).toMatchObject({ reason: 'VM_ALREADY_RUNNING' });
    expect(h.vm('dev')).toEqual(before);
    expect(h.host.processes.size).toBe(1);
  });

  it('refuses an unknown VM', async () => {
    const h = vmdHarness();
    expect((await h.start('nope')).error).toMatchObject({ code: 'NOT_FOUND' });
  });

  it.each([
    ['network', (h: Awaited<ReturnType<typeof stoppedVm>>) => h.host.failOn('ensureNetwork')],
    ['boot', (h: Awaited<ReturnType<typeof stoppedVm>>) => h.host.failOn('launch')],
    ['agent', (h: Awaited<ReturnType<typeof stoppedVm>>) => (h.agent.notReady = new UnavailableError('AGENT_UNREACHABLE', 'no agent'))],
    ['services', (h: Awaited<ReturnType<typeof stoppedVm>>) => h.agent.listening.clear()],
  ])('a failure in stage %s puts the VM back to rest: stopped, no process', async (stage, arrange) => {
    const h = await stoppedVm();
    arrange(h);
    const { op, error } = await h.start('dev');
    expect(error).toBeDefined();
    expect(op.failure()).toMatchObject({ stage });
    const vm = h.vm('dev');
    expect(vm).toMatchObject({ state: 'stopped', pid: null });
    expect(h.host.processes.size).toBe(0);
    // The VM's own disks stay; the tap the start took goes back to the pool (a stopped VM holds none).
    expect(h.host.overlays.size).toBe(1);
    expect(h.host.workDisks.size).toBe(1);
    expect(h.host.taps.size).toBe(0);
  });

  it('can start again after a failed start', async () => {
    const h = await stoppedVm();
    h.host.failOn('launch', undefined, 1);
    expect((await h.start('dev')).error).toBeDefined();
    expect((await h.start('dev')).error).toBeUndefined();
    expect(h.vm('dev')?.state).toBe('running');
  });
});
