import { describe, expect, it } from 'vitest';
import type { Db } from './db.js';
import { probeDb } from './probe.js';

function fakeDb(query: () => Promise<unknown>): Db {
  return {
    backend: 'embedded-postgres',
    target: '/var/lib/banger/db/vmd-postgres',
    query: query as Db['query'],
    exec: async () => undefined,
    transaction: async () => {
      throw new Error('unused');
    },
    close: async () => undefined,
  };
}

describe('probeDb', () => {
  it('reports the backend, the target and a round trip when SELECT 1 answers', async () => {
    const p = await probeDb(fakeDb(async () => ({ rows: [{ '?column?': 1 }], rowCount: 1 })));
    expect(p).toMatchObject({ backend: 'embedded-postgres', target: '/var/lib/banger/db/vmd-postgres', reachable: true, error: '' });
    expect(p.roundTripMs).toBeGreaterThanOrEqual(0);
  });

  it('reports the error of a failing database, and a deadline for one that hangs', async () => {
    expect(await probeDb(fakeDb(async () => Promise.reject(new Error('connection refused'))))).toMatchObject({ reachable: false, error: 'connection refused' });
    expect(await probeDb(fakeDb(() => new Promise(() => undefined)), 20)).toMatchObject({ reachable: false, error: 'no answer within 20 ms' });
  });
});
