import { describe, expect, it } from 'vitest';
import type { StoreError } from '../errors.js';
import { OperationStore } from '../operations/store.js';
import type { WatchItem } from '../operations/types.js';
import type { SuiteContext } from './context.js';
import { rejection, sleep } from './context.js';

async function collect(it: AsyncIterable<WatchItem>): Promise<WatchItem[]> {
  const out: WatchItem[] = [];
  for await (const item of it) out.push(item);
  return out;
}

function summary(items: WatchItem[]): string[] {
  return items.map((i) =>
    i.type === 'event' ? `${i.event.seq}:${String(i.event.event['stage'])}` : `end:${i.operation.state}:${i.operation.error?.reason ?? ''}`,
  );
}

export function operationTests(ctx: SuiteContext): void {
  describe('OperationStore', () => {
    it('creates, appends events with atomic seqs, and finishes', async () => {
      const ops = new OperationStore(ctx.db(), { schema: 'vmd' });
      const op = await ops.create('op-1', 'vm.create', 'web');
      expect(op).toMatchObject({ opId: 'op-1', kind: 'vm.create', target: 'web', state: 'running', lastSeq: 0, finishedAt: null });
      const dup = (await rejection(ops.create('op-1', 'vm.create', 'web'))) as StoreError;
      expect([dup.code, dup.reason]).toEqual(['ALREADY_EXISTS', 'OPERATION_ALREADY_EXISTS']);
      const appended = await Promise.all(Array.from({ length: 20 }, (_, i) => ops.appendEvent('op-1', { stage: `s${i}` })));
      expect(appended.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect((await ops.events('op-1', 18)).map((e) => e.seq)).toEqual([19, 20]);
      const done = await ops.finish('op-1', 'failed', { error: { reason: 'BOOT_TIMEOUT', message: 'no console', fields: { stage: 'boot' } } });
      expect(done).toMatchObject({ state: 'failed', lastSeq: 20, error: { reason: 'BOOT_TIMEOUT', fields: { stage: 'boot' } } });
      expect(done.finishedAt).toBeInstanceOf(Date);
      const late = (await rejection(ops.appendEvent('op-1', { stage: 'late' }))) as StoreError;
      expect([late.code, late.reason]).toEqual(['FAILED_PRECONDITION', 'OPERATION_FINISHED']);
      expect(((await rejection(ops.finish('op-1', 'succeeded'))) as StoreError).reason).toBe('OPERATION_FINISHED');
      expect(((await rejection(ops.get('nope'))) as StoreError).reason).toBe('OPERATION_NOT_FOUND');
      expect(((await rejection(ops.appendEvent('nope', {}))) as StoreError).reason).toBe('OPERATION_NOT_FOUND');
      expect(((await rejection(ops.events('nope'))) as StoreError).code).toBe('NOT_FOUND');
    });

    it('lists by state and kind, newest first', async () => {
      const ops = new OperationStore(ctx.db(), { schema: 'imaged' });
      await ops.create('o1', 'image.build', 'default');
      await ops.create('o2', 'kernel.pull', 'debian');
      await ops.create('o3', 'image.build', 'other');
      await ops.finish('o1', 'succeeded', { result: { imageId: 'i1' } });
      await ops.finish('o2', 'cancelled');
      expect((await ops.list()).map((o) => o.opId)).toEqual(['o3', 'o2', 'o1']);
      expect((await ops.list({ state: 'running' })).map((o) => o.opId)).toEqual(['o3']);
      expect((await ops.list({ kind: 'image.build' })).map((o) => o.opId)).toEqual(['o3', 'o1']);
      expect((await ops.list({ kind: 'image.build', state: ['succeeded', 'failed'] })).map((o) => o.opId)).toEqual(['o1']);
      expect((await ops.list({ target: 'debian' })).map((o) => o.opId)).toEqual(['o2']);
      expect((await ops.list({ limit: 1 })).map((o) => o.opId)).toEqual(['o3']);
      expect((await ops.get('o1')).result).toEqual({ imageId: 'i1' });
    });

    it('prunes finished operations by age only', async () => {
      const ops = new OperationStore(ctx.db(), { schema: 'vmd' });
      await ops.create('old', 'vm.create', 'a');
      await ops.appendEvent('old', { stage: 'x' });
      await ops.finish('old', 'succeeded');
      await sleep(400);
      await ops.create('new', 'vm.create', 'b');
      await ops.finish('new', 'succeeded');
      await ops.create('live', 'vm.create', 'c');
      expect(await ops.pruneFinished(200)).toBe(1);
      expect((await ops.list()).map((o) => o.opId).sort()).toEqual(['live', 'new']);
      const { rows } = await ctx.db().query("SELECT count(*) AS n FROM vmd.operation_events WHERE op_id = 'old'");
      expect(rows[0]?.['n']).toBe(0);
      expect(await ops.pruneFinished(0)).toBe(1);
    });

    it('records and releases resources', async () => {
      const ops = new OperationStore(ctx.db(), { schema: 'vmd' });
      await ops.create('op', 'vm.create', 'web');
      await ops.recordResource('op', { kind: 'tap', ref: 'bg-1' });
      await ops.recordResource('op', { kind: 'overlay', ref: '/var/lib/banger/vms/1/root.qcow2', detail: { size: 1 } });
      await ops.releaseResource('op', 'tap', 'bg-1');
      expect((await ops.get('op')).resources).toEqual([{ kind: 'overlay', ref: '/var/lib/banger/vms/1/root.qcow2', detail: { size: 1 } }]);
      expect(((await rejection(ops.recordResource('x', { kind: 'tap', ref: 'y' }))) as StoreError).code).toBe('NOT_FOUND');
    });

    it('watch replays stored events, follows live ones and ends when the op finishes', async () => {
      const ops = new OperationStore(ctx.db(), { schema: 'vmd' });
      await ops.create('op', 'vm.create', 'web');
      await ops.appendEvent('op', { stage: 'validate' });
      const watching = collect(ops.watch('op'));
      const resumed = collect(ops.watch('op', { afterSeq: 1 }));
      await sleep(50);
      await ops.appendEvent('op', { stage: 'reserve' });
      await Promise.all([ops.appendEvent('op', { stage: 'network' }), ops.appendEvent('op', { stage: 'disks' })]);
      await ops.finish('op', 'succeeded');
      const items = summary(await watching);
      expect(items[0]).toBe('1:validate');
      expect(items[1]).toBe('2:reserve');
      expect(items.slice(2, 4).map((s) => s.split(':')[0])).toEqual(['3', '4']);
      expect(items.slice(4)).toEqual(['end:succeeded:']);
      expect(summary(await resumed).slice(0, 1)).toEqual(['2:reserve']);
      expect(ops.hub.watcherCount()).toBe(0);
      const again = summary(await collect(ops.watch('op')));
      expect(again).toEqual(items);
    });

    it('a watcher that goes away leaves the operation running and can re-attach', async () => {
      const ops = new OperationStore(ctx.db(), { schema: 'vmd' });
      await ops.create('op', 'vm.create', 'web');
      const ac = new AbortController();
      const first = ops.watch('op', { signal: ac.signal });
      await ops.appendEvent('op', { stage: 'one' });
      const got = await first.next();
      expect(got.done).toBe(false);
      const pending = first.next();
      ac.abort();
      expect((await pending).done).toBe(true);
      expect(ops.hub.watcherCount('op')).toBe(0);
      await ops.appendEvent('op', { stage: 'two' });
      await ops.finish('op', 'succeeded');
      expect(summary(await collect(ops.watch('op')))).toEqual(['1:one', '2:two', 'end:succeeded:']);
      expect(((await rejection(collect(ops.watch('missing')))) as StoreError).reason).toBe('OPERATION_NOT_FOUND');
    });

    it('after a daemon restart, interrupted operations fail with INTERRUPTED and replay their events', async () => {
      let ops = new OperationStore(ctx.db(), { schema: 'vmd' });
      await ops.create('op-a', 'vm.create', 'web');
      await ops.appendEvent('op-a', { stage: 'reserve' });
      await ops.recordResource('op-a', { kind: 'tap', ref: 'bg-web' });
      await ops.appendEvent('op-a', { stage: 'network' });
      await ops.create('op-done', 'vm.stop', 'db');
      await ops.finish('op-done', 'succeeded');

      const db = await ctx.restart();
      ops = new OperationStore(db, { schema: 'vmd' });
      const interrupted = await ops.markInterrupted();
      expect(interrupted.map((o) => o.opId)).toEqual(['op-a']);
      expect(interrupted[0]).toMatchObject({
        state: 'failed',
        error: { reason: 'INTERRUPTED' },
        resources: [{ kind: 'tap', ref: 'bg-web' }],
      });
      expect(await ops.markInterrupted()).toEqual([]);
      expect(summary(await collect(ops.watch('op-a')))).toEqual(['1:reserve', '2:network', 'end:failed:INTERRUPTED']);
      expect((await ops.get('op-done')).state).toBe('succeeded');
    });
  });
}
