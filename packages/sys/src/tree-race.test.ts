import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dir } from './index.js';
import { peerCredAvailable } from './peercred.js';
import { leakedSince, openFds } from './test-support/fds.js';
import { Swapper } from './test-support/swapper.js';
import { ensureBangerAccount, isRoot, type Account } from './test-support/users.js';

// Root walks a tree that the banger uid can write while a banger process swaps a
// subdirectory and a symlink to a root-owned victim directory (RENAME_EXCHANGE in a tight
// loop). The victim's names, contents, owners and modes must come out unchanged. The same
// harness run against naive path walks must damage the victim, or it proves nothing.

const ITERATIONS = 300;
const FILES = 24;
const TREE_UID = 4242;

if (!isRoot) console.warn('tree-race: skipped: needs root to create the banger account and act as two uids');
const canRun = isRoot && peerCredAvailable();

let base: string;
let victim: string;
let account: Account;
let swapper: Swapper;

function buildVictim(): void {
  rmSync(victim, { recursive: true, force: true });
  mkdirSync(victim, { mode: 0o755 });
  for (let i = 0; i < FILES; i++) writeFileSync(join(victim, `f${i}`), `victim ${i}\n`, { mode: 0o644 });
}

/** What is wrong with the victim directory now (empty: intact). */
function victimDamage(): string[] {
  const problems: string[] = [];
  const top = lstatSync(victim);
  if (top.uid !== 0 || top.gid !== 0 || (top.mode & 0o7777) !== 0o755) problems.push(`victim dir is ${top.uid}:${top.gid} ${(top.mode & 0o7777).toString(8)}`);
  const names = readdirSync(victim).sort();
  if (names.length !== FILES) problems.push(`victim holds ${names.length} files, not ${FILES}`);
  for (let i = 0; i < FILES; i++) {
    const p = join(victim, `f${i}`);
    try {
      const st = lstatSync(p);
      if (st.uid !== 0 || st.gid !== 0 || (st.mode & 0o7777) !== 0o644) problems.push(`f${i} is ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`);
      if (readFileSync(p, 'utf8') !== `victim ${i}\n`) problems.push(`f${i} content changed`);
    } catch {
      problems.push(`f${i} is gone`);
    }
  }
  return problems;
}

/** tree-N/{sub/ (FILES files), sub.link -> victim}, all owned by banger so banger can swap. */
function buildTree(n: number, mode = 0o755): string {
  const tree = join(base, `tree-${n}`);
  mkdirSync(tree, { mode });
  chmodSync(tree, mode);
  const sub = join(tree, 'sub');
  mkdirSync(sub, { mode });
  chmodSync(sub, mode);
  for (let i = 0; i < FILES; i++) writeFileSync(join(sub, `f${i}`), 'tree\n');
  symlinkSync(victim, join(tree, 'sub.link'));
  for (const p of [tree, sub, ...readdirSync(sub).map((f) => join(sub, f))]) chownSync(p, account.uid, account.gid);
  lchownSync(join(tree, 'sub.link'), account.uid, account.gid);
  return tree;
}

interface RaceResult {
  damagedIterations: number;
  firstDamage: string[];
  swaps: number;
  iterations: number;
}

/**
 * Runs `walk(n, tree)` ITERATIONS times, each while the swapper races it, restoring the victim
 * after any damage. `stopAtFirstDamage` ends early (for the naive walks).
 */
async function race(walk: (n: number, tree: string) => void, opts: { stopAtFirstDamage?: boolean; treeMode?: number } = {}): Promise<RaceResult> {
  const result: RaceResult = { damagedIterations: 0, firstDamage: [], swaps: 0, iterations: 0 };
  for (let n = 0; n < ITERATIONS; n++) {
    const tree = buildTree(n, opts.treeMode);
    await swapper.go(join(tree, 'sub'), join(tree, 'sub.link'), victim);
    try {
      walk(n, tree);
    } finally {
      result.swaps += (await swapper.stop()).swaps;
    }
    result.iterations++;
    rmSync(tree, { recursive: true, force: true });
    const damage = victimDamage();
    if (damage.length > 0) {
      result.damagedIterations++;
      if (result.firstDamage.length === 0) result.firstDamage = damage;
      buildVictim();
      if (opts.stopAtFirstDamage === true) break;
    }
  }
  return result;
}

/** The walk everyone writes first: lstat, then act on `path/name` strings. */
function naiveRemove(path: string): void {
  try {
    const st = lstatSync(path);
    if (!st.isDirectory()) return unlinkSync(path);
    for (const name of readdirSync(path)) naiveRemove(join(path, name));
    rmdirSync(path);
  } catch {
    // the tree changed under us: carry on, as such code usually does
  }
}

function naiveChown(path: string, uid: number, gid: number): void {
  try {
    lchownSync(path, uid, gid);
    if (!lstatSync(path).isDirectory()) return;
    for (const name of readdirSync(path)) naiveChown(join(path, name), uid, gid);
  } catch {
    // the tree changed under us
  }
}

describe.skipIf(!canRun)('tree walks under a symlink-swapping attacker', () => {
  let root: Dir;

  beforeAll(() => {
    account = ensureBangerAccount();
    base = mkdtempSync(join(tmpdir(), 'banger-sys-race-'));
    chmodSync(base, 0o755);
    victim = join(base, 'victim');
    buildVictim();
    swapper = Swapper.start(account);
    root = Dir.open(base);
  });

  afterAll(async () => {
    root?.close();
    await swapper?.close();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  /** Races `walk` ITERATIONS times; the victim must never be touched and no fd may leak. */
  async function expectSafeUnderRace(label: string, walk: (n: number, tree: string) => void, treeMode?: number): Promise<void> {
    const before = openFds();
    const r = await race(walk, treeMode === undefined ? {} : { treeMode });
    console.info(`${label}: ${r.iterations} iterations, ${r.swaps} attacker swaps, damaged: ${r.damagedIterations}`);
    expect(r.firstDamage).toEqual([]);
    expect(r.iterations).toBe(ITERATIONS);
    expect(r.swaps).toBeGreaterThan(ITERATIONS);
    expect(leakedSince(before)).toEqual([]);
  }

  it('removeTree deletes the tree and nothing of the victim', { timeout: 120_000 }, async () => {
    await expectSafeUnderRace('removeTree', (n, tree) => {
      root.removeTree(`tree-${n}`);
      expect(() => lstatSync(tree)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    });
  });

  it('chownTree chowns the tree and nothing of the victim', { timeout: 120_000 }, async () => {
    // 0777 so the attacker keeps its write access after the tree has been chowned away from it.
    await expectSafeUnderRace(
      'chownTree',
      (n, tree) => {
        using d = root.openDir(`tree-${n}`);
        d.chownTree(TREE_UID, TREE_UID);
        // The top is chowned through its fd before any entry; what the attacker keeps moving it
        // can hide from the walk (its own files), but never redirect the walk outside.
        expect(lstatSync(tree).uid).toBe(TREE_UID);
      },
      0o777,
    );
  });

  it('the same harness catches a naive path-walking remove', { timeout: 120_000 }, async () => {
    const r = await race((_n, tree) => naiveRemove(tree), { stopAtFirstDamage: true });
    console.info(`naive remove: damaged the victim after ${r.iterations} iterations: ${r.firstDamage.slice(0, 3).join('; ')}`);
    expect(r.firstDamage).not.toEqual([]);
  });

  it('the same harness catches a naive path-walking lchown', { timeout: 120_000 }, async () => {
    const r = await race((_n, tree) => naiveChown(tree, TREE_UID, TREE_UID), { stopAtFirstDamage: true, treeMode: 0o777 });
    console.info(`naive chown: damaged the victim after ${r.iterations} iterations: ${r.firstDamage.slice(0, 3).join('; ')}`);
    expect(r.firstDamage).not.toEqual([]);
  });
});
