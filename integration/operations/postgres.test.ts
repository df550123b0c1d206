import * as grpc from '@grpc/grpc-js';
import { commonv1, vmv1 } from '@banger/api';
import { OP_ID_PATTERN, RpcError } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../harness/daemons.js';
import { postgresAvailability, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { drain, failureOf, getOperation, summary, vmClient, waitFor, type VmClient } from './helpers.js';

const avail = await postgresAvailability();
if (!avail.ok) console.warn(`SKIPPED durable operations on PostgreSQL: ${avail.reason}`);

describe.skipIf(!avail.ok)('durable operations in vmd on a real PostgreSQL server', () => {
  let server: PostgresServer;
  let stack: Stack;
  let vmd: VmClient;

  beforeAll(async () => {
    server = await startPostgres();
    const url = await server.createDatabase();
    stack = await createStack({ extraConfig: `[database]\nurl = "${url}"` });
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
    await server?.dispose();
  });

  it('both daemons use the PostgreSQL backend, each in its own schema', () => {
    expect(stack.daemons.vmd?.logs.find((l) => l.msg === 'database opened')).toMatchObject({ backend: 'postgres' });
    expect(stack.daemons.imaged?.logs.find((l) => l.msg === 'database opened')).toMatchObject({ backend: 'postgres' });
  });

  it('a CreateVm is an operation: GetOperation shows it failed, WatchOperation replays the same events', async () => {
    const live = await drain(vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'web' })));
    const opId = live.events[0]?.opId ?? '';
    expect(opId).toMatch(OP_ID_PATTERN);
    expect(failureOf(live.events)).toMatchObject({ stage: 'preflight', opId });
    const op = await getOperation(vmd, opId);
    expect(op).toMatchObject({ opId, state: commonv1.OperationState.OPERATION_STATE_FAILED, target: 'web', lastSeq: live.events.length });
    const replay = await drain(vmd.serverStream('watchOperation', { opId, afterSeq: 0 }));
    expect(summary(replay.events)).toEqual(summary(live.events));
    expect(replay.error?.reason).toBe(live.error?.reason);
  });

  it('cancel_on_detach: a client that goes away cancels its create', async () => {
    const helper = stack.daemons.privhelper?.child;
    if (!helper?.pid) throw new Error('privhelper not running');
    process.kill(helper.pid, 'SIGSTOP');
    let opId = '';
    try {
      const stream = vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'rm', cancelOnDetach: true }));
      for await (const res of stream) {
        opId = res.event?.opId ?? '';
        // Breaking out of the loop alone does not tell the server; cancelling the call does.
        stream.cancel();
        break;
      }
      const op = await waitFor(async () => {
        const o = await getOperation(vmd, opId);
        return o.state === commonv1.OperationState.OPERATION_STATE_RUNNING ? undefined : o;
      }, 30_000);
      expect(op).toMatchObject({ state: commonv1.OperationState.OPERATION_STATE_CANCELLED, error: { reason: 'CLIENT_DETACHED', code: grpc.status.CANCELLED } });
    } finally {
      process.kill(helper.pid, 'SIGCONT');
    }
  });

  it('answers UNAVAILABLE with an op id while the database is down, and recovers when it is back', async () => {
    await server.stop();
    try {
      for (const call of [
        () => vmd.unary('listOperations', { states: [], kinds: [], limit: 0, target: '' }),
        () => vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({})),
      ]) {
        const err = (await call().catch((e: unknown) => e)) as RpcError;
        expect(err).toBeInstanceOf(RpcError);
        expect([err.code, err.reason]).toEqual([grpc.status.UNAVAILABLE, 'DATABASE_UNAVAILABLE']);
        expect(err.opId).toMatch(OP_ID_PATTERN);
      }
      const create = await drain(vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'nodb' })));
      expect(create.events).toEqual([]);
      expect(create.error?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      await server.start();
    }
    const after = await waitFor(async () => vmd.unary('listOperations', { states: [], kinds: [], limit: 0, target: '' }).catch(() => undefined));
    expect(after.operations.length).toBeGreaterThan(0);
  });
});
