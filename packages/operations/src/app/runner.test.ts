import { CancelledError, FailedPreconditionError, type OpEventBody } from '@banger/runtime';
import { migrate, OperationStore, StoreError, vmdSchema, type Db, type WatchItem } from '@banger/store';
import { pgliteFixture, silentLogger, type StoreFixture } from '@banger/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followOperation } from './follow.js';
import { recoverInterrupted } from './recover.js';
import { OperationRunner } from './runner.js';

let fixture: StoreFixture;
let db: Db;
let log: OperationStore;

beforeAll(async () => {
  fixture = pgliteFixture();
  db = await fixture.open();
  await migrate(db, vmdSchema, silentLogger);
  log = new OperationStore(db, { schema: 'vmd' });
}, 60_000);

afterAll(async () => {
  await db?.close();
  await fixture?.dispose();
});

let n = 0;
const nextId = (): string => `op-test${String(++n).padStart(8, '0')}`;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function types(opId: string): Promise<string[]> {
  return (await log.events(opId)).map((e) => `${e.seq}:${String(e.event['type'])}`);
}

describe('OperationRunner', () => {
  it('persists every event, finishes succeeded with the result, and keeps the target id', async () => {
    const runner = new OperationRunner({ log, logger: silentLogger, service: 'vmd' });
    const opId = nextId();
    const { done } = await runner.start({ opId, kind: 'vm_create', target: 'web' }, async (op) => {
      await op.emit({ type: 'accepted', opId, kind: 'vm_create', target: 'web', targetId: 'vm123' });
      await op.emit({ type: 'stage_started', stage: 'reserve', startedAt: new Date().toISOString() });
      await op.recordResource('tap', 'bt0');
      await op.emit({ type: 'stage_finished', stage: 'reserve', durationMs: 1, ok: true });
      await op.releaseResource('tap', 'bt0');
      return { id: 'vm123' };
    });
    const op = await done;
    expect(op).toMatchObject({ state: 'succeeded', lastSeq: 3, resources: [], result: { targetId: 'vm123', stage: 'reserve', value: { id: 'vm123' } } });
    expect(await types(opId)).toEqual(['1:accepted', '2:stage_started', '3:stage_finished']);
    expect(runner.describe(op)).toMatchObject({ stage: 'reserve', targetId: 'vm123', errorCode: undefined });
  });

  it('a failing work keeps its own failure event and the row carries code, stage and reason', async () => {
    const runner = new OperationRunner({ log, logger: silentLogger, service: 'vmd' });
    const opId = nextId();
    const { done } = await runner.start({ opId, kind: 'vm_create', target: 'web' }, async (op) => {
      await op.emit({ type: 'stage_started', stage: 'preflight', startedAt: new Date().toISOString() });
      throw new FailedPreconditionError('HOST_NOT_READY', 'no kvm', { fields: { check: 'kvm' } });
    });
    const op = await done;
    expect(op).toMatchObject({ state: 'failed', error: { reason: 'HOST_NOT_READY', message: 'no kvm', fields: { check: 'kvm' } } });
    const events = await log.events(opId);
    expect(events.at(-1)?.event).toMatchObject({ type: 'failure', stage: 'preflight', code: 'FAILED_PRECONDITION', reason: 'HOST_NOT_READY', opId });
    expect(runner.describe(op)).toMatchObject({ stage: 'preflight', errorCode: 'FAILED_PRECONDITION' });
  });

  it('tells onFinished the kind, final state, reason and duration of each operation (the metrics)', async () => {
    const records: { kind: string; state: string; reason: string | undefined; durationMs: number }[] = [];
    const runner = new OperationRunner({ log, logger: silentLogger, service: 'vmd', onFinished: (r) => records.push(r) });
    await (await runner.start({ opId: nextId(), kind: 'vm_create', target: 'a' }, async () => undefined)).done;
    await (
      await runner.start({ opId: nextId(), kind: 'vm_create', target: 'b' }, async () => {
        throw new FailedPreconditionError('IMAGE_NOT_READY', 'image is still building');
      })
    ).done;
    expect(records.map(({ kind, state, reason }) => ({ kind, state, reason }))).toEqual([
      { kind: 'vm_create', state: 'succeeded', reason: undefined },
      { kind: 'vm_create', state: 'failed', reason: 'IMAGE_NOT_READY' },
    ]);
    expect(records.every((r) => r.durationMs >= 0)).toBe(true);
  });

  it('writes the outcome once the database that died under the operation answers again, failure event included', async () => {
    let down = true;
    const unavailable = (): StoreError => new StoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'database unavailable: connect ECONNREFUSED');
    // The store while its server is dead: every write fails UNAVAILABLE until `down` is cleared.
    const flaky = new Proxy(log, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        const fn = v as (...a: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => (down && (prop === 'appendEvent' || prop === 'finish') ? Promise.reject(unavailable()) : fn.apply(target, args));
      },
    });
    const runner = new OperationRunner({ log: flaky, logger: silentLogger, service: 'vmd', finishRetryMs: 20 });
    const opId = nextId();
    down = false;
    const { done } = await runner.start({ opId, kind: 'vm_create', target: 'web' }, async (op) => {
      await op.emit({ type: 'stage_started', stage: 'disks', startedAt: new Date().toISOString() });
      down = true;
      await op.emit({ type: 'failure', code: 'UNAVAILABLE', reason: 'DATABASE_UNAVAILABLE', message: 'database unavailable', stage: 'disks', opId }).catch(() => undefined);
      throw unavailable();
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await log.get(opId)).state).toBe('running');
    down = false;
    const op = await done;
    expect(op).toMatchObject({ state: 'failed', error: { reason: 'DATABASE_UNAVAILABLE' } });
    expect(await types(opId)).toEqual(['1:stage_started', '2:failure']);
  });

  it('writes the failure and the outcome once when the database committed them but the answers were lost', async () => {
    const lost = (): StoreError => new StoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'database unavailable: connection terminated');
    const dropped = new Set<string>();
    // The first failure append and the first finish reach the log, then the connection drops.
    const flaky = new Proxy(log, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        const fn = v as (...a: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          const out = await fn.apply(target, args);
          const key = prop === 'appendEvent' && (args[1] as { type?: string }).type === 'failure' ? 'failure' : prop === 'finish' ? 'finish' : '';
          if (key && !dropped.has(key)) {
            dropped.add(key);
            throw lost();
          }
          return out;
        };
      },
    });
    const runner = new OperationRunner({ log: flaky, logger: silentLogger, service: 'vmd', finishRetryMs: 20 });
    const opId = nextId();
    const { done } = await runner.start({ opId, kind: 'vm_create', target: 'web' }, async (op) => {
      await op.emit({ type: 'stage_started', stage: 'disks', startedAt: new Date().toISOString() });
      await op.emit({ type: 'failure', code: 'INTERNAL', reason: 'DISK_FAILED', message: 'no disk', stage: 'disks', opId }).catch(() => undefined);
      throw new FailedPreconditionError('DISK_FAILED', 'no disk');
    });
    const op = await done;
    expect(dropped).toEqual(new Set(['failure', 'finish']));
    expect(op).toMatchObject({ state: 'failed', error: { reason: 'DISK_FAILED' } });
    expect(await types(opId)).toEqual(['1:stage_started', '2:failure']);
  });

  it('gives the final write up at shutdown, leaving the row to the next start-up', async () => {
    const failing = new Proxy(log, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        const fn = v as (...a: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => (prop === 'finish' ? Promise.reject(new StoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'database unavailable')) : fn.apply(target, args));
      },
    });
    const runner = new OperationRunner({ log: failing, logger: silentLogger, service: 'vmd', finishRetryMs: 20 });
    const opId = nextId();
    const { done } = await runner.start({ opId, kind: 'vm_create', target: 'web' }, async () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    await runner.shutdown(100);
    await expect(done).rejects.toMatchObject({ reason: 'DATABASE_UNAVAILABLE' });
    expect((await log.get(opId)).state).toBe('running');
  });

  it('keeps running when the watcher goes away, and a later follow replays everything', async () => {
    const runner = new OperationRunner({ log, logger: silentLogger, service: 'vmd' });
    const opId = nextId();
    const gate = deferred();
    const { done } = await runner.start({ opId, kind: 'vm_create', target: 'web' }, async (op) => {
      await op.emit({ type: 'stage_started', stage: 'a', startedAt: new Date().toISOString() });
      await gate.promise;
      await op.emit({ type: 'stage_finished', stage: 'a', durationMs: 1, ok: true });
    });
    const client = new AbortController();
    const seen: number[] = [];
    const first = followOperation(log, opId, async (e) => {
      seen.push(e.seq);
      client.abort(new CancelledError('CLIENT_CANCELLED', 'gone'));
    }, { signal: client.signal });
    await expect(first).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(seen).toEqual([1]);
    expect(runner.isRunning(opId)).toBe(true);
    gate.resolve();
    expect((await done).state).toBe('succeeded');
    const replayed: number[] = [];
    await followOperation(log, opId, async (e) => void replayed.push(e.seq));
    expect(replayed).toEqual([1, 2]);
  });

  it('cancel aborts the signal, refuses new stages, and ends the operation cancelled', async () => {
    const runner = new OperationRunner({ log, logger: silentLogger, service: 'vmd' });
    const opId = nextId();
    const started = deferred();
    const { done } = await runner.start({ opId, kind: 'vm_create', target: 'web' }, async (op) => {
      await op.emit({ type: 'stage_started', stage: 'a', startedAt: new Date().toISOString() });
      started.resolve();
      await new Promise((r) => op.signal.addEventListener('abort', r, { once: true }));
      await op.emit({ type: 'stage_finished', stage: 'a', durationMs: 1, ok: false });
      await op.emit({ type: 'stage_started', stage: 'b', startedAt: new Date().toISOString() });
    });
    await started.promise;
    const op = await runner.cancel(opId);
    expect(op).toMatchObject({ state: 'cancelled', error: { reason: 'OPERATION_CANCELLED' } });
    expect(await types(opId)).toEqual(['1:stage_started', '2:stage_finished', '3:failure']);
    expect(op).toBe(await done);
    await expect(runner.cancel(opId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'OPERATION_FINISHED' });
    await expect(runner.cancel('op-nothere00000')).rejects.toMatchObject({ code: 'NOT_FOUND', reason: 'OPERATION_NOT_FOUND' });
  });

  it('closes a cancelled operation whose work ignores the signal after the grace period', async () => {
    const runner = new OperationRunner({ log, logger: silentLogger, service: 'vmd', cancelGraceMs: 50 });
    const opId = nextId();
    const stuck = deferred();
    let late: unknown;
    const { done } = await runner.start({ opId, kind: 'vm_create', target: 'web' }, async (op) => {
      await op.recordResource('overlay', '/tmp/x.qcow2');
      await stuck.promise;
      await op.emit({ type: 'log_line', stage: 'a', stream: 'info', line: 'too late' }).catch((e: unknown) => (late = e));
    });
    const op = await runner.cancel(opId);
    expect(op.state).toBe('cancelled');
    const last = (await log.events(opId)).at(-1)?.event as OpEventBody;
    expect(last).toMatchObject({ type: 'failure', code: 'CANCELLED', leftovers: [{ kind: 'overlay', ref: '/tmp/x.qcow2' }] });
    stuck.resolve();
    await done;
    await new Promise((r) => setTimeout(r, 20));
    expect(late).toMatchObject({ reason: 'OPERATION_FINISHED' });
    expect((await log.get(opId)).lastSeq).toBe(1);
  });

  it('shutdown fails running operations with DAEMON_STOPPING', async () => {
    const runner = new OperationRunner({ log, logger: silentLogger, service: 'vmd', cancelGraceMs: 50 });
    const opId = nextId();
    await runner.start({ opId, kind: 'vm_create', target: 'web' }, () => new Promise(() => undefined));
    await runner.shutdown(1000);
    expect(await log.get(opId)).toMatchObject({ state: 'failed', error: { reason: 'DAEMON_STOPPING' } });
  });

  it('an op id that already has an operation is refused before any work starts', async () => {
    const runner = new OperationRunner({ log, logger: silentLogger, service: 'vmd' });
    const opId = nextId();
    await (await runner.start({ opId, kind: 'vm_create', target: 'a' }, async () => undefined)).done;
    let ran = false;
    await expect(runner.start({ opId, kind: 'vm_create', target: 'a' }, async () => void (ran = true))).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(ran).toBe(false);
  });
});

describe('recoverInterrupted', () => {
  it('appends an INTERRUPTED failure in the open stage, marks the op failed and replays it', async () => {
    const opId = nextId();
    await log.create(opId, 'vm_create', 'web');
    await log.appendEvent(opId, { type: 'stage_started', stage: 'network', startedAt: new Date().toISOString() });
    await log.recordResource(opId, { kind: 'tap', ref: 'bt7' });
    const marked = await recoverInterrupted(log, silentLogger);
    expect(marked.map((o) => o.opId)).toContain(opId);
    const items: WatchItem[] = [];
    for await (const item of log.watch(opId)) items.push(item);
    expect(items.map((i) => (i.type === 'event' ? String(i.event.event['type']) : i.operation.state))).toEqual(['stage_started', 'failure', 'failed']);
    expect(items[1]).toMatchObject({ event: { event: { reason: 'INTERRUPTED', code: 'ABORTED', stage: 'network', leftovers: [{ kind: 'tap', ref: 'bt7' }] } } });
    await expect(followOperation(log, opId, async () => undefined)).rejects.toMatchObject({ code: 'ABORTED', reason: 'INTERRUPTED' });
  });
});
