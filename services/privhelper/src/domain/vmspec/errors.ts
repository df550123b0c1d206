/** The error kinds the lead's runtime maps to gRPC codes (one shared vocabulary). */
export type ErrorKind =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'ABORTED'
  | 'INTERNAL'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED';

/**
 * Typed failure of a hypervisor/process/disk verb. Stands in for the runtime's BangerError
 * until it exists: callers branch on `kind` and `reason`, never on the message, and `fields`
 * names what was wrong (e.g. `{ field: 'memory_mib' }`) so the client can point at it.
 */
export class VmHostError extends Error {
  override readonly name = 'VmHostError';
  constructor(
    readonly kind: ErrorKind,
    readonly reason: string,
    message: string,
    readonly fields: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Shorthand for the common "this argument is wrong" error, which always names the field. */
export function invalid(field: string, reason: string, message: string): VmHostError {
  return new VmHostError('INVALID_ARGUMENT', reason, message, { field });
}
