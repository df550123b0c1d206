import { execFileSync } from 'node:child_process';

export interface Account {
  uid: number;
  gid: number;
}

function lookup(): Account | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'banger'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', 'banger'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/**
 * The unprivileged `banger` system account that attacker halves of tests run as, created if
 * missing (idempotent; a concurrent creator winning the race is fine). Needs root.
 */
export function ensureBangerAccount(): Account {
  const found = lookup();
  if (found) return found;
  const run = (cmd: string, args: string[]): void => {
    try {
      execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      // exit 9: the group or user already exists (another test file made it first)
      if ((err as { status?: number }).status !== 9) throw err;
    }
  };
  run('groupadd', ['-r', 'banger']);
  run('useradd', ['-r', '-g', 'banger', '-s', '/usr/sbin/nologin', 'banger']);
  const made = lookup();
  if (!made) throw new Error('useradd reported success but the banger account is missing');
  return made;
}

export const isRoot = process.getuid?.() === 0;
