/**
 * The one error hierarchy of banger. Domain code throws these; exactly one function
 * (grpc/status.ts) maps them to the wire. `reason` is a stable UPPER_SNAKE identifier clients
 * may branch on; `fields` travel as ErrorInfo metadata; `cause` is logged, never sent.
 */
export const ERROR_CODES = [
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorFields = Readonly<Record<string, string>>;

export interface BangerErrorOptions {
  fields?: Record<string, string | number | boolean | undefined>;
  cause?: unknown;
}

const REASON_PATTERN = /^[A-Z][A-Z0-9_]*$/;

export class BangerError extends Error {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly fields: ErrorFields;

  constructor(code: ErrorCode, reason: string, message: string, options: BangerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!REASON_PATTERN.test(reason)) throw new TypeError(`error reason must be UPPER_SNAKE, got ${reason}`);
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.fields ?? {})) if (v !== undefined) fields[k] = String(v);
    this.fields = fields;
  }
}

/** Bad input from the caller. `field` names the offending request field so users can fix it. */
export class InvalidArgumentError extends BangerError {
  readonly field: string;
  constructor(field: string, message: string, reason = 'INVALID_FIELD', options: BangerErrorOptions = {}) {
    super('INVALID_ARGUMENT', reason, `${field}: ${message}`, { ...options, fields: { field, ...options.fields } });
    this.field = field;
  }
}

export class NotFoundError extends BangerError {
  constructor(what: string, ref: string, reason = 'NOT_FOUND', options: BangerErrorOptions = {}) {
    super('NOT_FOUND', reason, `${what} ${JSON.stringify(ref)} not found`, { ...options, fields: { kind: what, ref, ...options.fields } });
  }
}

export class AlreadyExistsError extends BangerError {
  constructor(what: string, ref: string, reason = 'ALREADY_EXISTS', options: BangerErrorOptions = {}) {
    super('ALREADY_EXISTS', reason, `${what} ${JSON.stringify(ref)} already exists`, { ...options, fields: { kind: what, ref, ...options.fields } });
  }
}

/** The system is not in a state that allows the operation (VM not running, kernel in use...). */
export class FailedPreconditionError extends BangerError {
  constructor(reason: string, message: string, options: BangerErrorOptions = {}) {
    super('FAILED_PRECONDITION', reason, message, options);
  }
}

export class PermissionDeniedError extends BangerError {
  constructor(reason: string, message: string, options: BangerErrorOptions = {}) {
    super('PERMISSION_DENIED', reason, message, options);
  }
}

/** A dependency (database, downstream daemon, host tool) cannot be reached right now; retrying may help. */
export class UnavailableError extends BangerError {
  constructor(reason: string, message: string, options: BangerErrorOptions = {}) {
    super('UNAVAILABLE', reason, message, options);
  }
}

export class ResourceExhaustedError extends BangerError {
  constructor(reason: string, message: string, options: BangerErrorOptions = {}) {
    super('RESOURCE_EXHAUSTED', reason, message, options);
  }
}

/** Another operation holds the resource (VM busy); the caller may retry later. */
export class AbortedError extends BangerError {
  constructor(reason: string, message: string, options: BangerErrorOptions = {}) {
    super('ABORTED', reason, message, options);
  }
}

export class DeadlineExceededError extends BangerError {
  constructor(reason: string, message: string, options: BangerErrorOptions = {}) {
    super('DEADLINE_EXCEEDED', reason, message, options);
  }
}

export class CancelledError extends BangerError {
  constructor(reason = 'CANCELLED', message = 'operation cancelled', options: BangerErrorOptions = {}) {
    super('CANCELLED', reason, message, options);
  }
}

/** A handler that a later milestone implements. It says so plainly instead of pretending. */
export class UnimplementedError extends BangerError {
  constructor(what: string, options: BangerErrorOptions = {}) {
    super('UNIMPLEMENTED', 'NOT_IMPLEMENTED', `${what} is not implemented yet`, options);
  }
}

/**
 * A bug or an unexpected failure. Its message and cause are logged with the op id; the client
 * is only told "internal error" (see publicMessage), so nothing internal leaks to the wire.
 */
export class InternalError extends BangerError {
  constructor(message = 'internal error', options: BangerErrorOptions = {}) {
    super('INTERNAL', 'INTERNAL', message, options);
  }
}

interface KindShapedError {
  kind: string;
  reason: string;
  message: string;
  fields?: Record<string, unknown>;
}

interface RpcErrorShape {
  codeName: string;
  reason: string;
  details: string;
  errorMetadata: Readonly<Record<string, string>>;
  peer?: string | undefined;
  unreachable?: boolean;
}

/** The reason a daemon gives when a downstream daemon it needs cannot be reached. */
const UNREACHABLE_REASON: Readonly<Record<string, string>> = {
  privhelper: 'HELPER_UNAVAILABLE',
  imaged: 'IMAGED_UNAVAILABLE',
  vmd: 'VMD_UNAVAILABLE',
};

/** `HELPER_UNAVAILABLE` for privhelper, …: what a caller sees when `peer` could not be reached. */
export function unreachableReason(peer: string): string {
  return UNREACHABLE_REASON[peer] ?? `${peer.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_UNAVAILABLE`;
}

/** RpcError (grpc/client.ts) by shape, to keep this module free of transport imports. */
function isDownstreamRpcError(err: unknown): err is Error & RpcErrorShape {
  if (!(err instanceof Error) || err.name !== 'RpcError') return false;
  const e = err as Error & Partial<RpcErrorShape>;
  return typeof e.codeName === 'string' && (ERROR_CODES as readonly string[]).includes(e.codeName) && typeof e.reason === 'string' && REASON_PATTERN.test(e.reason) && typeof e.details === 'string';
}

function isKindShaped(err: unknown): err is KindShapedError {
  if (!(err instanceof Error)) return false;
  const e = err as Error & Partial<KindShapedError>;
  return typeof e.kind === 'string' && (ERROR_CODES as readonly string[]).includes(e.kind) && typeof e.reason === 'string' && REASON_PATTERN.test(e.reason);
}

/**
 * Normalises anything thrown into a BangerError. Adapter errors that carry `kind`/`reason`
 * (store, network, hypervisor modules) keep their classification; anything else is INTERNAL
 * with a plain message, the original kept as `cause` for the log.
 */
export function toBangerError(err: unknown): BangerError {
  if (err instanceof BangerError) return err;
  if (isDownstreamRpcError(err)) {
    if (err.unreachable === true && err.peer !== undefined) {
      // The downstream daemon itself did not answer: say which one, so the client does not
      // read the UNAVAILABLE as "the daemon I called is down".
      return new UnavailableError(unreachableReason(err.peer), `${err.peer} is unavailable: ${err.details}`, { fields: { daemon: err.peer }, cause: err });
    }
    // A downstream daemon's answer (same op id): keep its code and reason, not INTERNAL.
    return new BangerError(err.codeName as ErrorCode, err.reason, err.details, { fields: { ...err.errorMetadata }, cause: err });
  }
  if (isKindShaped(err)) {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(err.fields ?? {})) if (v !== undefined && v !== null) fields[k] = typeof v === 'object' ? JSON.stringify(v) : String(v as string | number | boolean);
    return new BangerError(err.kind as ErrorCode, err.reason, err.message, { fields, cause: err });
  }
  return new InternalError('internal error', { cause: err });
}

/** What a client is told of an INTERNAL failure, whatever its own message says. */
export const INTERNAL_MESSAGE = 'internal error';

/** Longest message that leaves a daemon (UTF-8 bytes); the wire also carries it in trailers. */
export const MAX_MESSAGE_BYTES = 512;

/** Cuts `text` to at most `maxBytes` UTF-8 bytes on a character boundary, marking the cut with "…". */
export function clipBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const room = Math.max(0, maxBytes - 3);
  let out = '';
  let used = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (used + n > room) break;
    out += ch;
    used += n;
  }
  return `${out}…`;
}

/**
 * A caller's input quoted for an error message: JSON-escaped (a NUL or newline shows as
 * such) and cut short, so echoing input never makes an error large.
 */
export function excerpt(value: string, maxChars = 48): string {
  const cut = [...value];
  const shown = cut.length > maxChars ? `${cut.slice(0, maxChars).join('')}…` : value;
  return JSON.stringify(shown);
}

/** The message a client may see for an error: a plain one for INTERNAL, else its own, bounded. */
export function publicMessage(err: BangerError): string {
  return err.code === 'INTERNAL' ? INTERNAL_MESSAGE : clipBytes(err.message, MAX_MESSAGE_BYTES);
}
