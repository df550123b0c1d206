import type { Backend, Db } from './db.js';

/** What `banger doctor` shows about a daemon's database (the wire's DatabaseStatus). */
export interface DbProbe {
  backend: Backend;
  target: string;
  reachable: boolean;
  roundTripMs: number;
  error: string;
}

/**
 * One `SELECT 1` with a deadline: a daemon that serves opened its database at start, but the
 * cluster or the external server can go away later, and an operator asks the daemon, not the
 * database (the embedded cluster's socket is the daemon user's alone).
 */
export async function probeDb(db: Db, timeoutMs = 2000): Promise<DbProbe> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.query('SELECT 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { backend: db.backend, target: db.target, reachable: true, roundTripMs: Math.round(performance.now() - started), error: '' };
  } catch (err) {
    return { backend: db.backend, target: db.target, reachable: false, roundTripMs: Math.round(performance.now() - started), error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
