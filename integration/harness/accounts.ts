import { execFileSync } from 'node:child_process';

export interface Account {
  readonly uid: number;
  readonly gid: number;
}

let cached: Account | undefined;

/**
 * The `banger` system account the unprivileged daemons run as, as `banger system install`
 * would create it (a system user with its own group), made once per machine when missing.
 * Tests run as root; they start vmd and imaged as this account and run attacker steps as it.
 */
export function bangerAccount(): Account {
  if (cached) return cached;
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'banger'], { encoding: 'utf8' }).trim());
  try {
    cached = { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('sh', ['-c', 'getent group banger >/dev/null || groupadd -r banger; id banger >/dev/null 2>&1 || useradd -r -g banger -d /nonexistent -s /usr/sbin/nologin banger']);
    cached = { uid: id('-u'), gid: id('-g') };
  }
  return cached;
}
