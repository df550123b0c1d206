import type { Queryable, Row } from '../db.js';
import { StoreError } from '../errors.js';

export interface RefLookup<R extends Row> {
  db: Queryable;
  table: string;
  /** Entity label used in reasons and messages: 'vm' → VM_NOT_FOUND. */
  entity: string;
  ref: string;
  /** Columns to select (with casts), e.g. `*, host(ipv4) AS ipv4`. */
  columns?: string;
  limit?: number;
  map?: (row: R) => R;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Resolves what a user typed: exact id, then exact name, then a unique id prefix. An ambiguous
 * prefix lists the candidates so the CLI can show them.
 */
export async function findByRef<R extends Row>(l: RefLookup<R>): Promise<R> {
  const cols = l.columns ?? '*';
  const upper = l.entity.toUpperCase();
  if (l.ref === '') {
    throw new StoreError('INVALID_ARGUMENT', `${upper}_REF_EMPTY`, `empty ${l.entity} reference`, { field: 'ref' });
  }
  const exact = await l.db.query<R>(
    `SELECT ${cols} FROM ${l.table} WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1`,
    [l.ref],
  );
  if (exact.rows[0]) return exact.rows[0];
  const prefix = await l.db.query<R>(
    `SELECT ${cols} FROM ${l.table} WHERE id LIKE $1 ESCAPE '\\' ORDER BY id LIMIT 11`,
    [`${escapeLike(l.ref)}%`],
  );
  const matches = prefix.rows;
  if (matches.length === 1 && matches[0]) return matches[0];
  if (matches.length === 0) {
    throw new StoreError('NOT_FOUND', `${upper}_NOT_FOUND`, `${l.entity} ${l.ref} not found`, { ref: l.ref });
  }
  const listed = matches.slice(0, 10).map((m) => `${String(m['id'])} (${String(m['name'])})`);
  const more = matches.length > 10 ? ', ...' : '';
  throw new StoreError(
    'INVALID_ARGUMENT',
    `${upper}_REF_AMBIGUOUS`,
    `${l.entity} reference ${l.ref} is ambiguous: matches ${listed.join(', ')}${more}`,
    { ref: l.ref, matches: matches.slice(0, 10).map((m) => String(m['id'])).join(',') },
  );
}

/** Re-labels a generic duplicate-key error with the entity and the field that clashed. */
export function alreadyExists(entity: string, err: StoreError, fallbackField = 'id'): StoreError {
  const field = err.fields['field'] ?? fallbackField;
  const value = err.fields['value'];
  const reason = `${entity.toUpperCase()}_${field.toUpperCase()}_TAKEN`;
  const msg = value === undefined ? `${entity} ${field} already in use` : `${entity} ${field} ${value} already in use`;
  return new StoreError('ALREADY_EXISTS', reason, msg, { ...err.fields, field }, { cause: err });
}
