import { BangerError, type ErrorCode } from '@banger/runtime/errors';

/**
 * The only error the store lets escape, one of banger's errors: it is a BangerError with the
 * one code list, recognised by its class. Callers branch on `code`/`reason`, never on driver
 * error shapes, so PostgreSQL and PGlite failures look the same to the daemons. A driver's own
 * text is kept as the cause (logged), never as the message.
 */
export class StoreError extends BangerError {
  constructor(code: ErrorCode, reason: string, message: string, fields: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(code, reason, message, { fields, ...(options?.cause === undefined ? {} : { cause: options.cause }) });
  }
}

export function isStoreError(err: unknown, code?: ErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
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
 * Translates a pg/PGlite/socket failure into a StoreError whose message is the store's own
 * words (the driver's text stays in `cause`). Already-translated errors pass
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
    const key = { ...base, ...parseKeyDetail(detail) };
    return new StoreError('ALREADY_EXISTS', 'DUPLICATE_KEY', `duplicate ${key['field'] ?? 'key'}`, key, { cause: err });
  }
  if (code === '23503' || code === '23001') {
    return new StoreError('FAILED_PRECONDITION', 'REFERENCED_ROW', 'the row is referenced by another', { ...base, ...parseKeyDetail(detail) }, { cause: err });
  }
  if (code === '23502' || code === '23514' || code.startsWith('22')) {
    if (typeof e.column === 'string') base['field'] = e.column;
    return new StoreError('INVALID_ARGUMENT', 'INVALID_VALUE', `invalid value${base['field'] ? ` for ${base['field']}` : ''}`, base, { cause: err });
  }
  if (code === '40001' || code === '40P01') {
    return new StoreError('ABORTED', 'TRANSACTION_CONFLICT', 'the transaction conflicted with another; retry', base, { cause: err });
  }
  if (code === '57014') {
    return new StoreError('CANCELLED', 'QUERY_CANCELLED', 'the query was cancelled', base, { cause: err });
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
  return new StoreError('INTERNAL', 'QUERY_FAILED', 'query failed', code ? { code } : {}, { cause: err });
}
