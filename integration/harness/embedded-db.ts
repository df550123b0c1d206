import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bangerAccount } from './accounts.js';
import type { Stack } from './daemons.js';

/**
 * Runs SQL against a stopped daemon's embedded cluster, as the daemon's account (PostgreSQL
 * refuses root), in single-user mode: no server, no socket. For tests that doctor a row the
 * way an older build would have left it. Returns what the backend printed.
 */
export function embeddedSql(stack: Stack, daemon: 'vmd' | 'imaged', sql: string): string {
  const dataDir = stack.embeddedDbDir(daemon);
  if (stack.embeddedDbPid(daemon) !== undefined) throw new Error(`${daemon}'s embedded cluster is running: stop ${daemon} first`);
  const major = readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim();
  const { uid, gid } = bangerAccount();
  return execFileSync(join('/usr/lib/postgresql', major, 'bin', 'postgres'), ['--single', '-D', dataDir, 'postgres'], {
    input: `${sql.replace(/\s*\n\s*/g, ' ')}\n`,
    uid,
    gid,
    cwd: '/',
    env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
    encoding: 'utf8',
  });
}
