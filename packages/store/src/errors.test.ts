import { describe, expect, it } from 'vitest';
import { BangerError, publicMessage } from '@banger/runtime/errors';
import { StoreError, toStoreError } from './errors.js';

function driverError(props: Record<string, unknown>, message = 'driver failure'): Error {
  return Object.assign(new Error(message), props);
}

describe('toStoreError', () => {
  it.each([
    [{ code: 'ECONNREFUSED' }, 'connect ECONNREFUSED /tmp/x/.s.PGSQL.5432'],
    [{ code: 'ENOENT' }, 'connect ENOENT /tmp/x/.s.PGSQL.5432'],
    [{ code: '57P01' }, 'terminating connection due to administrator command'],
    [{ code: '57P03' }, 'the database system is starting up'],
    [{ code: '08006' }, 'connection failure'],
    [{}, 'Connection terminated unexpectedly'],
    [{}, 'timeout exceeded when trying to connect'],
  ])('maps %j %s to UNAVAILABLE', (props, message) => {
    const e = toStoreError(driverError(props, message));
    expect([e.code, e.reason]).toEqual(['UNAVAILABLE', 'DATABASE_UNAVAILABLE']);
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('maps a unique violation to ALREADY_EXISTS with the key', () => {
    const e = toStoreError(
      driverError({ code: '23505', constraint: 'vms_name_key', table: 'vms', detail: 'Key (name)=(web) already exists.' }),
    );
    expect(e.code).toBe('ALREADY_EXISTS');
    expect(e.fields).toEqual({ table: 'vms', constraint: 'vms_name_key', field: 'name', value: 'web' });
  });

  it('keeps StoreErrors and maps unknown failures to INTERNAL', () => {
    const own = new StoreError('NOT_FOUND', 'VM_NOT_FOUND', 'vm x not found');
    expect(toStoreError(own)).toBe(own);
    expect(toStoreError(driverError({ code: '42601' })).code).toBe('INTERNAL');
    expect(toStoreError('weird').reason).toBe('QUERY_FAILED');
    expect(toStoreError(new Error('Cannot use a pool after calling end on the pool')).reason).toBe('STORE_CLOSED');
  });

  it('is one of banger\'s errors, and keeps the driver\'s text out of its message', () => {
    const raw = driverError({ code: '22021' }, 'invalid byte sequence for encoding "UTF8": 0x00');
    const e = toStoreError(raw);
    expect(e).toBeInstanceOf(BangerError);
    expect([e.code, e.reason]).toEqual(['INVALID_ARGUMENT', 'INVALID_VALUE']);
    expect(e.message).not.toContain('UTF8');
    expect(e.cause).toBe(raw);
    const internal = toStoreError(driverError({ code: '42601' }, 'syntax error at or near "SELEC"'));
    expect(internal.message).not.toContain('SELEC');
    expect(publicMessage(internal)).toBe('internal error');
  });
});
