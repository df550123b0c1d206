/**
 * Error kinds shared with the rest of banger; the lead maps `kind` to a gRPC code in one place.
 */
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
 * The only error the store lets escape: callers branch on `kind`/`reason`, never on driver
 * error shapes, so PostgreSQL and PGlite failures look the same to the daemons.
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly kind: ErrorKind;
  /** Stable UPPER_SNAKE reason, e.g. VM_NOT_FOUND, DATABASE_UNAVAILABLE. */
  readonly reason: string;
  readonly fields: Readonly<Record<string, string>>;

  constructor(
    kind: ErrorKind,
    reason: string,
    message: string,
    fields: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.reason = reason;
    this.fields = fields;
  }
}

export function isStoreError(err: unknown, kind?: ErrorKind): err is StoreError {
  return err instanceof StoreError && (kind === undefined || err.kind === kind);
}

interface DriverError {
  code?: unknown;
  constraint?: unknown;
  detail?: unknown;
  table?: unknown;
  column?: unknown;
  message?: unknown;
}

const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /terminating connection/i,
  /timeout exceeded when trying to connect/i,
  /connection (?:is )?closed/i,
  /client has encountered a connection error/i,
  /the database system is (?:starting up|shutting down|in recovery mode)/i,
];

/** `Key (name)=(web) already exists.` → { field: 'name', value: 'web' } */
function parseKeyDetail(detail: string): Record<string, string> {
  const m = /^Key \((.+?)\)=\((.*)\)/.exec(detail);
  if (!m?.[1]) return {};
  return m[2] === undefined ? { field: m[1] } : { field: m[1], value: m[2] };
}

/**
 * Translates a pg/PGlite/socket failure into a StoreError. Already-translated errors pass
 * through unchanged so that repositories can wrap freely.
 */
export function toStoreError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as DriverError;
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const detail = typeof e.detail === 'string' ? e.detail : '';
  const base: Record<string, string> = {};
  if (typeof e.table === 'string') base['table'] = e.table;
  if (typeof e.constraint === 'string') base['constraint'] = e.constraint;

  if (code === '23505') {
    return new StoreError('ALREADY_EXISTS', 'DUPLICATE_KEY', message, { ...base, ...parseKeyDetail(detail) }, { cause: err });
  }
  if (code === '23503' || code === '23001') {
    return new StoreError('FAILED_PRECONDITION', 'REFERENCED_ROW', message, { ...base, ...parseKeyDetail(detail) }, { cause: err });
  }
  if (code === '23502' || code === '23514' || code.startsWith('22')) {
    if (typeof e.column === 'string') base['field'] = e.column;
    return new StoreError('INVALID_ARGUMENT', 'INVALID_VALUE', message, base, { cause: err });
  }
  if (code === '40001' || code === '40P01') {
    return new StoreError('ABORTED', 'TRANSACTION_CONFLICT', message, base, { cause: err });
  }
  if (code === '57014') {
    return new StoreError('CANCELLED', 'QUERY_CANCELLED', message, base, { cause: err });
  }
  if (
    code.startsWith('08') ||
    code.startsWith('57P') ||
    code === '53300' ||
    UNAVAILABLE_ERRNO.has(code) ||
    UNAVAILABLE_MESSAGES.some((re) => re.test(message))
  ) {
    return new StoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', `database unavailable: ${message}`, code ? { code } : {}, {
      cause: err,
    });
  }
  if (/pool after calling end|PGlite is closed|store is closed/i.test(message)) {
    return new StoreError('UNAVAILABLE', 'STORE_CLOSED', 'store is closed', {}, { cause: err });
  }
  return new StoreError('INTERNAL', 'QUERY_FAILED', message, code ? { code } : {}, { cause: err });
}
