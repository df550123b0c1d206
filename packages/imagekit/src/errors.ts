/** gRPC-aligned error kinds; the lead maps these onto the shared BangerError hierarchy. */
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
 * The one error type imagekit throws, so callers can branch on a stable `reason`
 * (e.g. CHECKSUM_MISMATCH, PATH_ESCAPE) instead of parsing messages.
 */
export class ImageKitError extends Error {
  override readonly name = 'ImageKitError';
  constructor(
    readonly kind: ErrorKind,
    readonly reason: string,
    message: string,
    readonly fields: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isImageKitError(e: unknown, reason?: string): e is ImageKitError {
  return e instanceof ImageKitError && (reason === undefined || e.reason === reason);
}

/** Turns an aborted signal into a CANCELLED error so every build step stops the same way. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new ImageKitError('CANCELLED', 'BUILD_CANCELLED', 'operation cancelled');
  }
}
