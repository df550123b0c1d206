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

/** Gives a tree the test (root) touched back to an account, as `chown -R` does (links not followed). */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  const { lchown, readdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) await lchown(join(e.parentPath, e.name), uid, gid);
  await lchown(dir, uid, gid);
}
