import { commonv1 } from '@banger/api';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ErrorCode } from '../errors.js';
import type { OpEventBody } from '../ops/events.js';

/** Domain operation kinds ('vm_create'...) to the wire enum and back. */
const KIND: Record<string, commonv1.OperationKind> = {
  vm_create: commonv1.OperationKind.OPERATION_KIND_VM_CREATE,
  vm_start: commonv1.OperationKind.OPERATION_KIND_VM_START,
  vm_stop: commonv1.OperationKind.OPERATION_KIND_VM_STOP,
  vm_restart: commonv1.OperationKind.OPERATION_KIND_VM_RESTART,
  vm_delete: commonv1.OperationKind.OPERATION_KIND_VM_DELETE,
  vm_resize_work_disk: commonv1.OperationKind.OPERATION_KIND_VM_RESIZE_WORK_DISK,
  vm_resume: commonv1.OperationKind.OPERATION_KIND_VM_RESUME,
  vm_suspend: commonv1.OperationKind.OPERATION_KIND_VM_SUSPEND,
  vm_snapshot: commonv1.OperationKind.OPERATION_KIND_VM_SNAPSHOT,
  vm_fork: commonv1.OperationKind.OPERATION_KIND_VM_FORK,
  image_build: commonv1.OperationKind.OPERATION_KIND_IMAGE_BUILD,
  image_promote: commonv1.OperationKind.OPERATION_KIND_IMAGE_PROMOTE,
  image_warm: commonv1.OperationKind.OPERATION_KIND_IMAGE_WARM,
  kernel_pull: commonv1.OperationKind.OPERATION_KIND_KERNEL_PULL,
};

export function operationKindToProto(kind: string): commonv1.OperationKind {
  return KIND[kind] ?? commonv1.OperationKind.OPERATION_KIND_UNSPECIFIED;
}

export function operationKindFromProto(kind: commonv1.OperationKind): string | undefined {
  return Object.entries(KIND).find(([, v]) => v === kind)?.[0];
}

const STREAM: Record<string, commonv1.LogStream> = {
  stdout: commonv1.LogStream.LOG_STREAM_STDOUT,
  stderr: commonv1.LogStream.LOG_STREAM_STDERR,
  console: commonv1.LogStream.LOG_STREAM_CONSOLE,
  info: commonv1.LogStream.LOG_STREAM_INFO,
};

export type CommonEventBody =
  | { $case: 'accepted'; value: commonv1.Accepted }
  | { $case: 'stageStarted'; value: commonv1.StageStarted }
  | { $case: 'stageFinished'; value: commonv1.StageFinished }
  | { $case: 'progress'; value: commonv1.Progress }
  | { $case: 'logLine'; value: commonv1.LogLine }
  | { $case: 'failure'; value: commonv1.Failure };

/**
 * The cases every service's OperationEvent shares (same field numbers in each package).
 * The final `result` case is service-specific and converted by the service itself.
 */
export function commonEventBodyToProto(body: Exclude<OpEventBody, { type: 'result' }>): CommonEventBody {
  switch (body.type) {
    case 'accepted':
      return { $case: 'accepted', value: { opId: body.opId, kind: operationKindToProto(body.kind), target: body.target, targetId: body.targetId ?? '' } };
    case 'stage_started':
      return { $case: 'stageStarted', value: { stage: body.stage, description: body.description ?? '', startedAt: new Date(body.startedAt) } };
    case 'stage_finished':
      return {
        $case: 'stageFinished',
        value: { stage: body.stage, durationMs: body.durationMs, ok: body.ok, skipped: body.skipped ?? false, message: body.message ?? '' },
      };
    case 'progress':
      return { $case: 'progress', value: { stage: body.stage, done: body.done, total: body.total, unit: body.unit, message: body.message ?? '' } };
    case 'log_line':
      return { $case: 'logLine', value: { stage: body.stage, stream: STREAM[body.stream] ?? commonv1.LogStream.LOG_STREAM_UNSPECIFIED, line: body.line } };
    case 'failure':
      return {
        $case: 'failure',
        value: {
          stage: body.stage,
          code: GrpcStatus[body.code as ErrorCode] ?? GrpcStatus.UNKNOWN,
          reason: body.reason,
          message: body.message,
          opId: body.opId,
          consoleTail: body.consoleTail ?? [],
          rolledBack: (body.rolledBack ?? []).map((r) => ({ kind: r.kind, id: r.ref })),
          leftovers: (body.leftovers ?? []).map((r) => ({ kind: r.kind, id: r.ref })),
          metadata: body.metadata ?? {},
        },
      };
  }
}
