import * as grpc from '@grpc/grpc-js';
import { commonv1, vmv1 } from '@banger/api';
import { OP_ID_PATTERN, RpcError } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../harness/daemons.js';
import { drain, failureOf, getOperation, summary, vmClient, waitFor, type VmClient } from './helpers.js';

const { OperationState, OperationKind } = commonv1;

describe('durable operations in vmd (embedded database)', () => {
  let stack: Stack;
  let vmd: VmClient;

  beforeAll(async () => {
    stack = await createStack();
    await stack.start('privhelper');
    await stack.start('imaged');
    await stack.start('vmd');
    vmd = vmClient(stack);
  });

  afterAll(async () => {
    const helperPid = stack?.daemons.privhelper?.child.pid;
    if (helperPid) process.kill(helperPid, 'SIGCONT');
    vmd?.close();
    await stack?.close();
  });

  it('logs its backend and runs the embedded database by default', () => {
    const opened = stack.daemons.vmd?.logs.find((l) => l.msg === 'database opened');
    expect(opened).toMatchObject({ backend: 'embedded-postgres' });
    expect(stack.daemons.imaged?.logs.find((l) => l.msg === 'database opened')).toMatchObject({ backend: 'embedded-postgres' });
  });

  it('a CreateVm is an operation: GetOperation shows it failed, WatchOperation replays the same events', async () => {
    const live = await drain(vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'web' })));
    const opId = live.events[0]?.opId ?? '';
    expect(opId).toMatch(OP_ID_PATTERN);
    expect(live.error?.opId).toBe(opId);
    expect(live.events.map((e) => e.seq)).toEqual(live.events.map((_, i) => i + 1));
    expect(failureOf(live.events)).toMatchObject({ stage: 'preflight', opId });

    const op = await getOperation(vmd, opId);
    expect(op).toMatchObject({
      opId,
      kind: OperationKind.OPERATION_KIND_VM_CREATE,
      target: 'web',
      state: OperationState.OPERATION_STATE_FAILED,
      stage: 'preflight',
      lastSeq: live.events.length,
      error: { reason: live.error?.reason, code: live.error?.code },
    });
    expect(op.finishedAt).toBeInstanceOf(Date);

    const replay = await drain(vmd.serverStream('watchOperation', { opId, afterSeq: 0 }));
    expect(summary(replay.events)).toEqual(summary(live.events));
    expect(replay.events.map((e) => e.time?.getTime())).toEqual(live.events.map((e) => e.time?.getTime()));
    expect(replay.error?.reason).toBe(live.error?.reason);

    const tail = await drain(vmd.serverStream('watchOperation', { opId, afterSeq: 2 }));
    expect(summary(tail.events)).toEqual(summary(live.events.slice(2)));
  });

  it('a client that disconnects after the first event only detaches: the operation still finishes', async () => {
    const helper = stack.daemons.privhelper?.child;
    if (!helper?.pid) throw new Error('privhelper not running');
    // A stopped privhelper holds the path stage's host probe, so the operation is still running when we leave.
    process.kill(helper.pid, 'SIGSTOP');
    let opId = '';
    try {
      const stream = vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'detached' }));
      for await (const res of stream) {
        opId = res.event?.opId ?? '';
        // Breaking out of the loop alone does not tell the server; cancelling the call does.
        stream.cancel();
        break;
      }
      expect(opId).toMatch(OP_ID_PATTERN);
      expect((await getOperation(vmd, opId)).state).toBe(OperationState.OPERATION_STATE_RUNNING);
    } finally {
      process.kill(helper.pid, 'SIGCONT');
    }
    const op = await waitFor(async () => {
      const o = await getOperation(vmd, opId);
      return o.state === OperationState.OPERATION_STATE_RUNNING ? undefined : o;
    });
    expect(op.state).toBe(OperationState.OPERATION_STATE_FAILED);
    const replay = await drain(vmd.serverStream('watchOperation', { opId, afterSeq: 0 }));
    expect(replay.events[0]?.body).toMatchObject({ $case: 'accepted', value: { opId } });
    expect(replay.events.map((e) => e.seq)).toEqual(Array.from({ length: op.lastSeq }, (_, i) => i + 1));
    expect(failureOf(replay.events)?.stage).toBe('preflight');
  });

  it('CancelOperation cancels a running operation; finished and unknown ones are refused', async () => {
    const helper = stack.daemons.privhelper?.child;
    if (!helper?.pid) throw new Error('privhelper not running');
    process.kill(helper.pid, 'SIGSTOP');
    let opId = '';
    try {
      const stream = vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'cancelme' }));
      const watched = drain(stream);
      opId = (await waitFor(async () => (await vmd.unary('listOperations', { states: [OperationState.OPERATION_STATE_RUNNING], kinds: [], limit: 0, target: 'cancelme' })).operations[0]?.opId));
      const res = await vmd.unary('cancelOperation', { opId });
      expect(res.operation).toMatchObject({ opId, state: OperationState.OPERATION_STATE_CANCELLED, error: { code: grpc.status.CANCELLED } });
      const ended = await watched;
      expect(ended.error?.code).toBe(grpc.status.CANCELLED);
      expect(failureOf(ended.events)).toMatchObject({ code: grpc.status.CANCELLED, opId });
    } finally {
      process.kill(helper.pid, 'SIGCONT');
    }
    const again = (await vmd.unary('cancelOperation', { opId }).catch((e: unknown) => e)) as RpcError;
    expect([again.code, again.reason]).toEqual([grpc.status.FAILED_PRECONDITION, 'OPERATION_FINISHED']);
    const unknown = (await vmd.unary('cancelOperation', { opId: 'op-aaaaaaaaaaaa' }).catch((e: unknown) => e)) as RpcError;
    expect([unknown.code, unknown.reason]).toEqual([grpc.status.NOT_FOUND, 'OPERATION_NOT_FOUND']);
    expect(unknown.opId).toMatch(OP_ID_PATTERN);
  });

  it('ListOperations filters by state, kind and target', async () => {
    const all = await vmd.unary('listOperations', { states: [], kinds: [], limit: 0, target: '' });
    expect(all.operations.length).toBeGreaterThanOrEqual(3);
    const failed = await vmd.unary('listOperations', { states: [OperationState.OPERATION_STATE_FAILED], kinds: [], limit: 0, target: '' });
    expect(failed.operations.length).toBeGreaterThan(0);
    expect(failed.operations.every((o) => o.state === OperationState.OPERATION_STATE_FAILED)).toBe(true);
    const cancelled = await vmd.unary('listOperations', { states: [OperationState.OPERATION_STATE_CANCELLED], kinds: [], limit: 0, target: '' });
    expect(cancelled.operations.map((o) => o.target)).toEqual(['cancelme']);
    const creates = await vmd.unary('listOperations', { states: [], kinds: [OperationKind.OPERATION_KIND_VM_CREATE], limit: 0, target: '' });
    expect(creates.operations.length).toBe(all.operations.length);
    const deletes = await vmd.unary('listOperations', { states: [], kinds: [OperationKind.OPERATION_KIND_VM_DELETE], limit: 0, target: '' });
    expect(deletes.operations).toEqual([]);
    const byTarget = await vmd.unary('listOperations', { states: [], kinds: [], limit: 0, target: 'web' });
    expect(byTarget.operations.map((o) => o.target)).toEqual(['web']);
    const limited = await vmd.unary('listOperations', { states: [], kinds: [], limit: 1, target: '' });
    expect(limited.operations).toHaveLength(1);
    const bad = (await vmd.unary('listOperations', { states: [OperationState.OPERATION_STATE_UNSPECIFIED], kinds: [], limit: 0, target: '' }).catch((e: unknown) => e)) as RpcError;
    expect([bad.code, bad.reason]).toEqual([grpc.status.INVALID_ARGUMENT, 'INVALID_OPERATION_STATE']);
  });

  it('ListVms answers from the empty table; GetVm and TouchVm of an unknown VM are NOT_FOUND with an op id', async () => {
    expect((await vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}))).vms).toEqual([]);
    for (const method of ['getVm', 'touchVm'] as const) {
      const err = (await vmd.unary(method, { ref: 'ghost', includeSecrets: false }).catch((e: unknown) => e)) as RpcError;
      expect(err).toBeInstanceOf(RpcError);
      expect([err.code, err.reason]).toEqual([grpc.status.NOT_FOUND, 'VM_NOT_FOUND']);
      expect(err.opId).toMatch(OP_ID_PATTERN);
    }
  });

  it('imaged serves its operations from its own store', async () => {
    const { imagev1 } = await import('@banger/api');
    const { ServiceClient } = await import('@banger/runtime');
    const imaged = new ServiceClient(imagev1.ImageServiceService, stack.socket('imaged'));
    try {
      expect((await imaged.unary('listOperations', { states: [], kinds: [], limit: 0, target: '' })).operations).toEqual([]);
      const err = (await imaged.unary('getOperation', { opId: 'op-aaaaaaaaaaaa' }).catch((e: unknown) => e)) as RpcError;
      expect([err.code, err.reason]).toEqual([grpc.status.NOT_FOUND, 'OPERATION_NOT_FOUND']);
    } finally {
      imaged.close();
    }
  });

  it('after vmd is killed mid-operation, the restarted daemon marks it INTERRUPTED and replays it', async () => {
    const helper = stack.daemons.privhelper?.child;
    if (!helper?.pid) throw new Error('privhelper not running');
    process.kill(helper.pid, 'SIGSTOP');
    let opId = '';
    let before: vmv1.OperationEvent[] = [];
    try {
      const stream = vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'killed' }));
      const seen: vmv1.OperationEvent[] = [];
      for await (const res of stream) {
        if (res.event) seen.push(res.event);
        // The `path` stage blocks on the stopped privhelper (its host probe; preflight reuses the answer).
        if (res.event?.body?.$case === 'stageStarted' && res.event.body.value.stage === 'path') break;
      }
      before = seen;
      opId = seen[0]?.opId ?? '';
      await stack.stop('vmd', 'SIGKILL');
    } finally {
      process.kill(helper.pid, 'SIGCONT');
    }
    vmd.close();
    await stack.start('vmd');
    vmd = vmClient(stack);
    const logs = stack.daemons.vmd?.logs ?? [];
    expect(logs.find((l) => l.msg === 'interrupted operations marked failed')).toMatchObject({ op_ids: [opId] });

    const op = await getOperation(vmd, opId);
    expect(op).toMatchObject({
      state: OperationState.OPERATION_STATE_FAILED,
      error: { reason: 'INTERRUPTED', code: grpc.status.ABORTED },
    });
    const replay = await drain(vmd.serverStream('watchOperation', { opId, afterSeq: 0 }));
    expect(summary(replay.events.slice(0, before.length))).toEqual(summary(before));
    expect(failureOf(replay.events)).toMatchObject({ reason: 'INTERRUPTED', stage: 'path', opId, code: grpc.status.ABORTED });
    expect(replay.events).toHaveLength(before.length + 1);
    expect(replay.error).toMatchObject({ reason: 'INTERRUPTED', code: grpc.status.ABORTED });
  });
});
