import { UnavailableError } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { vmdHarness } from '../testing/harness.js';

async function runningVm() {
  const h = vmdHarness({ serviceMs: 10 });
  await h.create({ name: 'dev' });
  return h;
}

describe('PauseVm and ResumeVm in memory', () => {
  it('pause stops the vCPUs and records paused; resume runs them again; the process stays', async () => {
    const h = await runningVm();
    const pid = h.vm('dev')?.pid;
    expect(await h.pause('dev')).toMatchObject({ state: 'paused', pid });
    expect(h.host.paused.size).toBe(1);
    expect((await h.pause('dev')).state).toBe('paused');
    const { op, error } = await h.resume('dev');
    expect(error).toBeUndefined();
    expect(op.stagesFinished()).toEqual(['resume']);
    expect(h.vm('dev')).toMatchObject({ state: 'running', pid });
    expect(h.host.paused.size).toBe(0);
  });

  it('a stopped VM cannot be paused or resumed, and nothing changes', async () => {
    const h = await runningVm();
    await h.stop('dev');
    await expect(h.pause('dev')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'VM_STATE_INVALID' });
    expect((await h.resume('dev')).error).toMatchObject({ reason: 'VM_STATE_INVALID' });
    expect(h.vm('dev')?.state).toBe('stopped');
    expect(h.host.calls.filter((c) => c.startsWith('pause') || c.startsWith('resume'))).toEqual([]);
  });
});

describe('SuspendVm and ResumeVm from disk', () => {
  it('suspend saves the state, ends the process and records suspended; resume restores through network, restore, agent, services', async () => {
    const h = await runningVm();
    const { op, error } = await h.suspend('dev');
    expect(error).toBeUndefined();
    expect(op.events[0]).toMatchObject({ type: 'accepted', kind: 'vm_suspend', target: 'dev' });
    expect(op.stagesFinished()).toEqual(['save']);
    expect(h.vm('dev')).toMatchObject({ state: 'suspended', pid: null });
    expect(h.host.processes.size).toBe(0);
    expect(h.host.saved.size).toBe(1);

    const started = await h.start('dev');
    expect(started.error).toMatchObject({ reason: 'VM_SUSPENDED' });
    expect(h.vm('dev')?.state).toBe('suspended');

    const resumed = await h.resume('dev');
    expect(resumed.error).toBeUndefined();
    expect(resumed.op.stagesFinished()).toEqual(['network', 'restore', 'agent', 'services']);
    expect(h.vm('dev')?.state).toBe('running');
    expect(h.host.saved.size).toBe(0);
    expect(h.host.processes.get(h.entity('dev')?.id ?? '')?.pid).toBe(h.vm('dev')?.pid);
  });

  it('a paused VM can be suspended', async () => {
    const h = await runningVm();
    await h.pause('dev');
    expect((await h.suspend('dev')).error).toBeUndefined();
    expect(h.vm('dev')?.state).toBe('suspended');
  });

  it('a failed save leaves the VM running as it was (vmd asks privhelper to resume it too)', async () => {
    const h = await runningVm();
    const before = h.vm('dev');
    await h.host.pause(h.entity('dev')?.id ?? '');
    h.host.failOn('suspend');
    const { op, error } = await h.suspend('dev');
    expect(error).toBeDefined();
    expect(op.failure()).toMatchObject({ stage: 'save' });
    expect(h.vm('dev')).toEqual(before);
    expect(h.host.paused.size).toBe(0);
  });

  it('a failed restore leaves no process and the VM suspended with its state, and can be retried', async () => {
    const h = await runningVm();
    await h.suspend('dev');
    h.host.failOn('restore', new UnavailableError('HOST_FAULT', 'restore failed (injected)'), 1);
    const { op, error } = await h.resume('dev');
    expect(error).toBeDefined();
    expect(op.failure()).toMatchObject({ stage: 'restore' });
    expect(h.vm('dev')).toMatchObject({ state: 'suspended', pid: null });
    expect(h.host.processes.size).toBe(0);
    expect(h.host.saved.size).toBe(1);
    expect((await h.resume('dev')).error).toBeUndefined();
    expect(h.vm('dev')?.state).toBe('running');
  });

  it('a restored guest whose agent never answers is killed and left stopped (its state is spent)', async () => {
    const h = await runningVm();
    await h.suspend('dev');
    h.agent.notReady = new UnavailableError('AGENT_UNREACHABLE', 'no agent');
    const { op } = await h.resume('dev');
    expect(op.failure()).toMatchObject({ stage: 'agent' });
    expect(h.vm('dev')).toMatchObject({ state: 'stopped', pid: null });
    expect(h.host.processes.size).toBe(0);
  });
});

describe('paused and suspended VMs across a vmd restart, and their deletion', () => {
  it('reconciliation keeps a suspended VM suspended (no process by design) and a paused one paused', async () => {
    const h = vmdHarness({ serviceMs: 10 });
    await h.create({ name: 'sus' });
    await h.create({ name: 'pau' });
    await h.suspend('sus');
    await h.pause('pau');
    const report = await h.reconcile([]);
    expect(report.vanished).toEqual([]);
    expect(h.vm('sus')?.state).toBe('suspended');
    expect(h.vm('pau')?.state).toBe('paused');
  });

  it('a suspend that finished while vmd was down is found at start-up: the VM is suspended, not stopped', async () => {
    const h = vmdHarness({ serviceMs: 10 });
    await h.create({ name: 'dev' });
    const id = h.entity('dev')?.id ?? '';
    await h.host.suspend(id);
    await h.reconcile([]);
    expect(h.vm('dev')).toMatchObject({ state: 'suspended', pid: null });
    expect((await h.resume('dev')).error).toBeUndefined();
    expect(h.vm('dev')?.state).toBe('running');
  });

  it('deleting a suspended VM removes it with its disks (its saved state lives with them)', async () => {
    const h = vmdHarness({ serviceMs: 10 });
    await h.create({ name: 'dev' });
    await h.suspend('dev');
    await h.delete('dev');
    expect(h.vms()).toEqual([]);
    expect(h.host.leftovers()).toEqual([]);
  });
});
