import { commonv1 } from '@banger/api';
import type { Operation } from '@banger/store';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { viewOf } from '../app/outcome.js';
import { listFilterFromProto, operationToProto } from './operation-convert.js';

const base: Operation = {
  opId: 'op-aaaaaaaaaaaa',
  kind: 'vm_create',
  target: 'web',
  state: 'running',
  error: null,
  result: null,
  resources: [{ kind: 'tap', ref: 'bt0' }],
  lastSeq: 3,
  createdAt: new Date('2026-01-01T00:00:00Z'),
  updatedAt: new Date('2026-01-01T00:00:01Z'),
  finishedAt: null,
};

describe('operationToProto', () => {
  it('shows a running operation with the live stage and no error or leftovers', () => {
    const p = operationToProto(viewOf(base, { stage: 'network', targetId: 'vm1' }));
    expect(p).toMatchObject({
      opId: base.opId,
      kind: commonv1.OperationKind.OPERATION_KIND_VM_CREATE,
      state: commonv1.OperationState.OPERATION_STATE_RUNNING,
      stage: 'network',
      targetId: 'vm1',
      lastSeq: 3,
      leftovers: [],
      error: undefined,
      finishedAt: undefined,
    });
  });

  it('shows a failed operation with its code, stage, reason and leftovers', () => {
    const failed: Operation = {
      ...base,
      state: 'failed',
      finishedAt: new Date('2026-01-01T00:00:02Z'),
      error: { reason: 'HOST_NOT_READY', message: 'no kvm', fields: { check: 'kvm' } },
      result: { code: 'FAILED_PRECONDITION', stage: 'preflight' },
    };
    const p = operationToProto(viewOf(failed));
    expect(p.state).toBe(commonv1.OperationState.OPERATION_STATE_FAILED);
    expect(p.error).toEqual({ code: GrpcStatus.FAILED_PRECONDITION, reason: 'HOST_NOT_READY', domain: 'banger.dev', message: 'no kvm', stage: 'preflight', metadata: { check: 'kvm' } });
    expect(p.leftovers).toEqual([{ kind: 'tap', id: 'bt0' }]);
    expect(p.finishedAt).toEqual(failed.finishedAt);
  });

  it('an INTERRUPTED operation (no outcome written) reads as ABORTED', () => {
    const p = operationToProto(viewOf({ ...base, state: 'failed', finishedAt: new Date(), error: { reason: 'INTERRUPTED', message: 'daemon stopped' } }));
    expect(p.error?.code).toBe(GrpcStatus.ABORTED);
  });
});

describe('listFilterFromProto', () => {
  it('maps states, kinds, target and limit; empty means any', () => {
    expect(listFilterFromProto({ states: [], kinds: [], limit: 0, target: '' })).toEqual({});
    expect(
      listFilterFromProto({
        states: [commonv1.OperationState.OPERATION_STATE_FAILED, commonv1.OperationState.OPERATION_STATE_CANCELLED],
        kinds: [commonv1.OperationKind.OPERATION_KIND_VM_CREATE],
        limit: 5,
        target: 'web',
      }),
    ).toEqual({ state: ['failed', 'cancelled'], kind: ['vm_create'], limit: 5, target: 'web' });
  });

  it('refuses unspecified enum values instead of treating them as "any"', () => {
    expect(() => listFilterFromProto({ states: [commonv1.OperationState.OPERATION_STATE_UNSPECIFIED], kinds: [], limit: 0, target: '' })).toThrow(/states/);
    expect(() => listFilterFromProto({ states: [], kinds: [commonv1.OperationKind.OPERATION_KIND_UNSPECIFIED], limit: 0, target: '' })).toThrow(/kinds/);
  });
});
