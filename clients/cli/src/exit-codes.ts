import { status } from '@grpc/grpc-js';

/**
 * The one mapping from gRPC status to the CLI's exit codes, so scripts can branch on the kind
 * of failure without parsing messages. Documented in clients/cli/README.md; keep both in step.
 */
export const EXIT = {
  OK: 0,
  GENERIC: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  CONFLICT: 4,
  PRECONDITION: 5,
  PERMISSION: 6,
  UNAVAILABLE: 7,
  TIMEOUT: 8,
  UNIMPLEMENTED: 9,
  RESOURCE_EXHAUSTED: 10,
  INTERRUPTED: 130,
} as const;

const BY_STATUS: Readonly<Record<number, number>> = {
  [status.OK]: EXIT.OK,
  [status.CANCELLED]: EXIT.GENERIC,
  [status.UNKNOWN]: EXIT.GENERIC,
  [status.INTERNAL]: EXIT.GENERIC,
  [status.DATA_LOSS]: EXIT.GENERIC,
  [status.INVALID_ARGUMENT]: EXIT.USAGE,
  [status.OUT_OF_RANGE]: EXIT.USAGE,
  [status.NOT_FOUND]: EXIT.NOT_FOUND,
  [status.ALREADY_EXISTS]: EXIT.CONFLICT,
  [status.ABORTED]: EXIT.CONFLICT,
  [status.FAILED_PRECONDITION]: EXIT.PRECONDITION,
  [status.PERMISSION_DENIED]: EXIT.PERMISSION,
  [status.UNAUTHENTICATED]: EXIT.PERMISSION,
  [status.UNAVAILABLE]: EXIT.UNAVAILABLE,
  [status.DEADLINE_EXCEEDED]: EXIT.TIMEOUT,
  [status.UNIMPLEMENTED]: EXIT.UNIMPLEMENTED,
  [status.RESOURCE_EXHAUSTED]: EXIT.RESOURCE_EXHAUSTED,
};

export function exitCodeForStatus(code: number): number {
  return BY_STATUS[code] ?? EXIT.GENERIC;
}
