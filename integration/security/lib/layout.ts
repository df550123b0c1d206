import { chmod, chown, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../../harness/daemons.js';
import type { Account } from './account.js';

/** One `d PATH MODE USER GROUP -` line of tmpfiles.d, as `banger system install` applies it. */
export interface TmpfilesDir {
  readonly path: string;
  readonly mode: number;
  readonly user: string;
  readonly group: string;
}

export const TMPFILES = path.join(REPO_ROOT, 'deploy', 'systemd', 'banger.tmpfiles.conf');

export function parseTmpfiles(text: string): TmpfilesDir[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[0] === 'd' && f[1]?.startsWith('/'))
    .map((f) => ({ path: f[1] ?? '', mode: parseInt(f[2] ?? '755', 8), user: f[3] ?? 'root', group: f[4] ?? 'root' }));
}

/** banger's three configured roots inside a throwaway tree (createStack's state/run/cache). */
export interface BangerTree {
  readonly top: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly cacheDir: string;
}

/** Where a production path lands in the throwaway tree: the configured roots map onto the stack's. */
export function inTree(tree: BangerTree, hostPath: string): string {
  const roots: [string, string][] = [
    ['/var/lib/banger', tree.stateDir],
    ['/run/banger', tree.runDir],
    ['/var/cache/banger', tree.cacheDir],
  ];
  for (const [prod, mine] of roots) {
    if (hostPath === prod || hostPath.startsWith(`${prod}/`)) return path.join(mine, hostPath.slice(prod.length));
  }
  return path.join(tree.top, hostPath);
}

function idOf(name: string, account: Account, kind: 'user' | 'group'): number {
  if (name === 'root') return 0;
  if (name === 'banger') return kind === 'user' ? account.uid : account.gid;
  throw new Error(`tmpfiles names ${kind} ${name}; the security harness knows only root and banger`);
}

/**
 * Creates every directory of deploy/systemd/banger.tmpfiles.conf inside `tree`, with the mode
 * and owner the file gives it, exactly as `banger system install` and systemd-tmpfiles would on
 * a host. Reading the real file keeps the suite honest when the layout changes: a fix that
 * makes a directory root-owned shows up here without touching the tests.
 */
export async function applyTmpfiles(tree: BangerTree, account: Account): Promise<TmpfilesDir[]> {
  const dirs = parseTmpfiles(await readFile(TMPFILES, 'utf8'));
  for (const d of dirs) {
    const p = inTree(tree, d.path);
    await mkdir(path.dirname(p), { recursive: true, mode: 0o755 });
    await mkdir(p, { recursive: true, mode: d.mode });
    await chmod(p, d.mode);
    await chown(p, idOf(d.user, account, 'user'), idOf(d.group, account, 'group'));
  }
  return dirs;
}
