import * as commonv1 from '@banger/api/common';
import { mintOpId, RpcError, type ResponseStream } from '@banger/runtime';
import type { CommandContext } from './context.js';
import { UsageError } from './errors.js';
import type { StreamEvent } from './render/events.js';

export type OpsDaemon = 'vmd' | 'imaged';

/** Which daemon owns an operation kind: VM kinds live in vmd, image and kernel kinds in imaged. */
export function daemonForKind(kind: commonv1.OperationKind): OpsDaemon {
  return kind >= commonv1.OperationKind.OPERATION_KIND_IMAGE_BUILD ? 'imaged' : 'vmd';
}

/** The `--kind` spellings, from the wire enum itself (vm-create, ..., kernel-pull). */
function knownOpKinds(): string[] {
  return Object.values(commonv1.OperationKind)
    .filter((v): v is commonv1.OperationKind => typeof v === 'number' && v !== commonv1.OperationKind.OPERATION_KIND_UNSPECIFIED && v !== commonv1.OperationKind.UNRECOGNIZED)
    .map((v) => commonv1.operationKindToJSON(v).replace(/^OPERATION_KIND_/, '').toLowerCase().replaceAll('_', '-'));
}

export function parseOpKind(raw: string): commonv1.OperationKind {
  const v = commonv1.operationKindFromJSON(`OPERATION_KIND_${raw.toUpperCase().replaceAll('-', '_')}`);
  if (v === commonv1.OperationKind.UNRECOGNIZED || v === commonv1.OperationKind.OPERATION_KIND_UNSPECIFIED) {
    throw new UsageError(`--kind: unknown operation kind ${JSON.stringify(raw)}`, `use one of ${knownOpKinds().join(', ')}`);
  }
  return v;
}

export function parseOpState(raw: string): commonv1.OperationState {
  const v = commonv1.operationStateFromJSON(`OPERATION_STATE_${raw.toUpperCase()}`);
  if (v === commonv1.OperationState.UNRECOGNIZED || v === commonv1.OperationState.OPERATION_STATE_UNSPECIFIED) {
    throw new UsageError(`--state: unknown operation state ${JSON.stringify(raw)}`, 'use running, succeeded, failed or cancelled');
  }
  return v;
}

/**
 * Finds which daemon knows an op id: op ids do not say which service minted them, so ask vmd
 * first and imaged when vmd answers NOT_FOUND. vmd's error wins when neither knows it.
 */
export async function getOperation(ctx: CommandContext, opId: string): Promise<{ daemon: OpsDaemon; operation: commonv1.Operation }> {
  let first: unknown;
  for (const daemon of ['vmd', 'imaged'] as const) {
    try {
      const opts = ctx.callOptions();
      const res = daemon === 'vmd' ? await ctx.vmd().unary('getOperation', { opId }, opts) : await ctx.imaged().unary('getOperation', { opId }, opts);
      if (res.operation) return { daemon, operation: res.operation };
    } catch (err) {
      first ??= err;
      const retry = err instanceof RpcError && (err.codeName === 'NOT_FOUND' || err.codeName === 'UNAVAILABLE' || err.codeName === 'UNIMPLEMENTED');
      if (!retry) throw err;
    }
  }
  throw first;
}

/** WatchOperation on whichever daemon owns the operation; replays from `afterSeq`. */
export function watchOperation(ctx: CommandContext, daemon: OpsDaemon, opId: string, afterSeq = 0): ResponseStream<{ event?: StreamEvent | undefined }> {
  const opts = { opId: mintOpId() };
  return daemon === 'vmd'
    ? ctx.vmd().serverStream('watchOperation', { opId, afterSeq }, opts)
    : ctx.imaged().serverStream('watchOperation', { opId, afterSeq }, opts);
}

export async function listOperations(ctx: CommandContext, daemon: OpsDaemon, request: commonListRequest): Promise<commonv1.Operation[]> {
  const opts = ctx.callOptions();
  const res = daemon === 'vmd' ? await ctx.vmd().unary('listOperations', request, opts) : await ctx.imaged().unary('listOperations', request, opts);
  return res.operations;
}

export async function cancelOperation(ctx: CommandContext, daemon: OpsDaemon, opId: string): Promise<commonv1.Operation | undefined> {
  const opts = ctx.callOptions();
  const res = daemon === 'vmd' ? await ctx.vmd().unary('cancelOperation', { opId }, opts) : await ctx.imaged().unary('cancelOperation', { opId }, opts);
  return res.operation;
}

type commonListRequest = { states: commonv1.OperationState[]; kinds: commonv1.OperationKind[]; limit: number; target: string };
