/** The error kinds the lead's runtime maps to gRPC codes (one shared vocabulary). */
export type NetErrorKind =
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
 * Typed failure of a network verb (bridge, tap, NAT, DNS). Kind-shaped so the runtime's
 * `toBangerError` keeps the classification; callers branch on `kind`/`reason`, never on the
 * message, and `fields.field` names the request field at fault.
 */
export class NetError extends Error {
  override readonly name = 'NetError';
  constructor(
    readonly kind: NetErrorKind,
    readonly reason: string,
    message: string,
    readonly fields: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** "This argument is wrong": always names the field so the client can point at it. */
export function invalidArg(field: string, reason: string, message: string): NetError {
  return new NetError('INVALID_ARGUMENT', reason, `${field}: ${message}`, { field });
}

export function isNetError(err: unknown): err is NetError {
  return err instanceof NetError;
}
