import { describe, expect, it } from 'vitest';
import { sampleVm } from '../../testing/sample-vm.js';
import { vmToJson } from '../../domain/vm.js';
import { VmEvents } from './events.js';
import { VmView } from './vm-convert.js';

const events = new VmEvents(new VmView());

describe('VmEvents', () => {
  it('keeps the store-assigned seq and time and converts the body', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const ev = events.stored({ opId: 'op-aaaaaaaaaaaa', seq: 7, at, event: { type: 'stage_finished', stage: 'boot', durationMs: 12, ok: true } });
    expect(ev).toMatchObject({ opId: 'op-aaaaaaaaaaaa', seq: 7, time: at, body: { $case: 'stageFinished', value: { stage: 'boot', durationMs: 12, ok: true } } });
  });

  it('turns a result into the final Vm, dates revived', () => {
    const vm = sampleVm();
    const ev = events.stored({ opId: 'op-aaaaaaaaaaaa', seq: 9, at: new Date(), event: { type: 'result', result: { vm: vmToJson(vm) } } });
    expect(ev.body).toMatchObject({ $case: 'vm', value: { id: vm.id, name: vm.name, createdAt: vm.createdAt, image: { name: 'debian-bookworm' } } });
  });

  it('replays a result an older vmd kept as a store row', () => {
    const row = { id: 'abc', name: 'web', state: 'running', imageId: 'img1', kernelId: null, vcpus: 1, memoryMib: 512, workDiskGib: 4, spec: { imageName: 'debian' }, runtime: {}, ipv4: '10.0.0.2', mac: null, tap: null, pid: 7, createOpId: null, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', startedAt: null, stoppedAt: null, lastUsedAt: null };
    const ev = events.stored({ opId: 'op-aaaaaaaaaaaa', seq: 9, at: new Date(), event: { type: 'result', result: { vm: row } } });
    expect(ev.body).toMatchObject({ $case: 'vm', value: { id: 'abc', name: 'web', image: { id: 'img1', name: 'debian' }, workDiskSizeBytes: 4 * 1024 ** 3 } });
  });

  it('turns a fork result into a ForkResult with its clones and failures', () => {
    const vm = sampleVm();
    const failed = [{ name: 'web-2', stage: 'identity', reason: 'CLONE_IDENTITY_FAILED', message: 'no' }];
    const ev = events.stored({ opId: 'op-aaaaaaaaaaaa', seq: 30, at: new Date(), event: { type: 'result', result: { fork: { source: 'web', clones: [vmToJson(vm)], failed, pauseMs: 812 } } } });
    expect(ev.body).toMatchObject({ $case: 'fork', value: { source: 'web', clones: [{ id: vm.id, name: vm.name }], failed, pauseMs: 812 } });
  });
});
