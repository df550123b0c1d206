import { describe, expect, it } from 'vitest';
import { StoreError } from '../errors.js';
import type { NewVm } from '../repositories/vms.js';
import { VmStore } from '../repositories/vms.js';
import type { SuiteContext } from './context.js';
import { rejection } from './context.js';

export function newVm(id: string, name: string, extra: Partial<NewVm> = {}): NewVm {
  return { id, name, state: 'creating', imageId: 'img-1', vcpus: 1, memoryMib: 512, workDiskGib: 2, ...extra };
}

export function vmTests(ctx: SuiteContext): void {
  describe('VmStore', () => {
    it('inserts and reads back a typed record', async () => {
      const vms = new VmStore(ctx.db());
      const created = await vms.insert(
        newVm('a1b2c3', 'web', { ipv4: '172.30.0.2', mac: '02:00:00:00:00:02', tap: 'bg-a1b2c3', spec: { services: ['opencode'] } }),
      );
      expect(created).toMatchObject({ id: 'a1b2c3', name: 'web', state: 'creating', ipv4: '172.30.0.2', pid: null });
      expect(created.createdAt).toBeInstanceOf(Date);
      expect(await vms.getByName('web')).toEqual(created);
      expect((await vms.getById('a1b2c3')).spec).toEqual({ services: ['opencode'] });
      expect(await vms.usedIpv4()).toEqual(['172.30.0.2']);
    });

    it('lets exactly one of many concurrent creates with the same name win', async () => {
      const vms = new VmStore(ctx.db());
      const attempts = Array.from({ length: 8 }, (_, i) => vms.insert(newVm(`id-${i}`, 'same-name')));
      const results = await Promise.allSettled(attempts);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(7);
      for (const l of lost) {
        expect(l.reason).toBeInstanceOf(StoreError);
        expect(l.reason).toMatchObject({ code: 'ALREADY_EXISTS', reason: 'VM_NAME_TAKEN' });
        expect((l.reason as StoreError).fields).toMatchObject({ field: 'name', value: 'same-name' });
      }
      expect((await vms.list()).map((v) => v.name)).toEqual(['same-name']);
    });

    it('refuses a second VM on a reserved address', async () => {
      const vms = new VmStore(ctx.db());
      await vms.insert(newVm('v1', 'one', { ipv4: '172.30.0.5' }));
      const err = (await rejection(vms.insert(newVm('v2', 'two', { ipv4: '172.30.0.5' })))) as StoreError;
      expect([err.code, err.reason, err.fields['field']]).toEqual(['ALREADY_EXISTS', 'VM_IPV4_TAKEN', 'ipv4']);
    });

    it('resolves name, id and unique id prefix; ambiguous prefixes list the matches', async () => {
      const vms = new VmStore(ctx.db());
      await vms.insert(newVm('abc123', 'alpha'));
      await vms.insert(newVm('abd456', 'beta'));
      await vms.insert(newVm('x_%9', 'gamma'));
      expect((await vms.findByRef('alpha')).id).toBe('abc123');
      expect((await vms.findByRef('abd456')).name).toBe('beta');
      expect((await vms.findByRef('abc')).name).toBe('alpha');
      const amb = (await rejection(vms.findByRef('ab'))) as StoreError;
      expect([amb.code, amb.reason]).toEqual(['INVALID_ARGUMENT', 'VM_REF_AMBIGUOUS']);
      expect(amb.fields['matches']).toBe('abc123,abd456');
      expect(amb.message).toContain('abc123 (alpha)');
      const nf = (await rejection(vms.findByRef('zzz'))) as StoreError;
      expect([nf.code, nf.reason]).toEqual(['NOT_FOUND', 'VM_NOT_FOUND']);
      const wild = (await rejection(vms.findByRef('x%'))) as StoreError;
      expect(wild.reason).toBe('VM_NOT_FOUND');
      expect((await vms.findByRef('x_')).name).toBe('gamma');
    });

    it('updates state with an optional guard, touches and deletes', async () => {
      const vms = new VmStore(ctx.db());
      await vms.insert(newVm('v1', 'one'));
      const started = new Date(Date.now() - 1000);
      const running = await vms.setState('v1', 'running', { pid: 4242, startedAt: started, runtime: { qmp: '/run/x' } });
      expect(running).toMatchObject({ state: 'running', pid: 4242, runtime: { qmp: '/run/x' } });
      expect(running.startedAt?.getTime()).toBe(started.getTime());
      const guard = (await rejection(vms.update('v1', { state: 'starting' }, { expectState: ['stopped'] }))) as StoreError;
      expect([guard.code, guard.reason, guard.fields['state']]).toEqual(['FAILED_PRECONDITION', 'VM_STATE_CHANGED', 'running']);
      await vms.update('v1', { state: 'stopped', pid: null }, { expectState: ['running'] });
      expect((await vms.list({ state: 'stopped' })).map((v) => v.id)).toEqual(['v1']);
      expect(await vms.list({ state: ['running', 'creating'] })).toEqual([]);
      await vms.touch('v1');
      expect((await vms.getById('v1')).lastUsedAt).toBeInstanceOf(Date);
      await vms.delete('v1');
      expect(((await rejection(vms.getById('v1'))) as StoreError).reason).toBe('VM_NOT_FOUND');
      expect(((await rejection(vms.delete('v1'))) as StoreError).code).toBe('NOT_FOUND');
      expect(((await rejection(vms.update('v1', { pid: 1 }))) as StoreError).code).toBe('NOT_FOUND');
    });
  });
}
