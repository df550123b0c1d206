import { execFileSync } from 'node:child_process';

/**
 * The `banger` system user for tests that drop privileges, created when missing (idempotent,
 * root only). Answers `{ skip }` when this process is not root.
 */
export function ensureBangerUser(): { uid: number; gid: number } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'needs root to create the banger user and drop to it' };
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'banger'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('sh', ['-c', 'getent group banger >/dev/null || groupadd -r banger; id banger >/dev/null 2>&1 || useradd -r -g banger -s /usr/sbin/nologin banger']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/**
 * Runs `fn` while this (root) process holds extra supplementary groups, so a test can see
 * whether a child kept them.
 */
export async function withSupplementaryGroups<T>(groups: readonly number[], fn: () => Promise<T>): Promise<T> {
  const { getgroups, setgroups } = process;
  if (getgroups === undefined || setgroups === undefined) throw new Error('process.setgroups is not available here');
  const saved = getgroups();
  setgroups([...groups]);
  try {
    return await fn();
  } finally {
    setgroups(saved);
  }
}
