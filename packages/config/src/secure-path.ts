import { lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Whether root may act inside a directory: every component from `/` down must be owned by
 * root and writable by no one else, except that a sticky directory (like /tmp or banger's run
 * directory) may be group- or world-writable, because no other uid can rename or replace a
 * root-owned entry inside it. A symlink on the way is refused: after a rename it could point
 * anywhere. Like OpenSSH's StrictModes check, applied to what root writes into.
 */

export interface UnsafePath {
  readonly path: string;
  readonly uid: number;
  readonly mode: number;
  readonly why: string;
}

function describe(path: string, st: Stats, why: string): UnsafePath {
  return { path, uid: st.uid, mode: st.mode & 0o7777, why };
}

/** The first unsafe component of `path` (absolute), or undefined when root may write in it. */
export function unsafeComponent(path: string, opts: { stickyAllowedAtLeaf?: boolean } = {}): UnsafePath | undefined {
  const abs = resolve(path);
  const chain: string[] = [];
  for (let p = abs; ; p = dirname(p)) {
    chain.unshift(p);
    if (p === dirname(p)) break;
  }
  for (const p of chain) {
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      return { path: p, uid: -1, mode: 0, why: `cannot be examined (${code})` };
    }
    if (st.isSymbolicLink()) return describe(p, st, 'is a symbolic link');
    if (!st.isDirectory()) return describe(p, st, 'is not a directory');
    if (st.uid !== 0) return describe(p, st, `is owned by uid ${st.uid}, not root`);
    const writable = (st.mode & 0o022) !== 0;
    const sticky = (st.mode & 0o1000) !== 0;
    const leaf = p === abs;
    if (writable && !(sticky && (!leaf || opts.stickyAllowedAtLeaf === true))) {
      return describe(p, st, `is writable by ${(st.mode & 0o002) !== 0 ? 'everyone' : 'its group'}`);
    }
  }
  return undefined;
}

/** Every entry under `dir` (not following symlinks) that a non-root uid owns or may write. */
export function unsafeEntriesUnder(dir: string, limit = 20, skip: ReadonlySet<string> = new Set()): UnsafePath[] {
  const out: UnsafePath[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      if (out.length >= limit) return;
      if (skip.has(name)) continue;
      const p = join(d, name);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.uid !== 0) out.push(describe(p, st, `is owned by uid ${st.uid}`));
      else if (!st.isSymbolicLink() && (st.mode & 0o022) !== 0 && !((st.mode & 0o1000) !== 0 && st.isDirectory())) out.push(describe(p, st, 'is writable by others'));
      else if (st.isSymbolicLink()) {
        // A link out of the tree runs whatever its target is: the target must be root's too.
        const bad = unsafeLinkTarget(dir, p);
        if (bad) out.push(bad);
      }
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** For a link under `root` pointing outside it: the first unsafe component of its target, if any. */
function unsafeLinkTarget(root: string, link: string): UnsafePath | undefined {
  let target: string;
  try {
    target = realpathSync(link);
  } catch {
    return undefined; // dangling: nothing to run
  }
  const realRoot = realpathSync(root);
  if (target === realRoot || target.startsWith(`${realRoot}/`)) return undefined;
  const st = lstatSync(target, { throwIfNoEntry: false });
  if (!st) return undefined;
  const dirBad = unsafeComponent(st.isDirectory() ? target : dirname(target), { stickyAllowedAtLeaf: true });
  if (dirBad) return { ...dirBad, path: link, why: `links to ${target}, and ${dirBad.path} ${dirBad.why}` };
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) return describe(link, st, `links to ${target}, which ${st.uid !== 0 ? `is owned by uid ${st.uid}` : 'is writable by others'}`);
  return undefined;
}

/** One line for an operator: what is wrong and the command that fixes it. */
export function explainUnsafe(u: UnsafePath): string {
  return `${u.path} ${u.why} (mode ${u.mode.toString(8).padStart(4, '0')})`;
}
