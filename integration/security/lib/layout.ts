import { bangerLayout, type BangerLayout, type LayoutDir } from '@banger/config';
import type { Account } from '../../harness/accounts.js';

/** banger's three configured roots inside a throwaway tree (createStack's state/run/cache). */
export interface BangerTree {
  readonly top: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly cacheDir: string;
}

/**
 * The layout `banger system install` and the tmpfiles.d file create, for this tree: the same
 * `bangerLayout` the installer, the harness (`applyLayout` in createStack) and privhelper's
 * start-up check use, so a change to the layout reaches the suite without touching it.
 */
export function treeLayout(tree: BangerTree): BangerLayout {
  return bangerLayout({ paths: { stateDir: tree.stateDir, runDir: tree.runDir, cacheDir: tree.cacheDir } });
}

/** The uid and gid a layout directory must have on disk. */
export function expectedIds(d: LayoutDir, account: Account): { uid: number; gid: number } {
  return { uid: d.owner === 'daemon' ? account.uid : 0, gid: d.group === 'root' ? 0 : account.gid };
}
