import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { explainUnsafe, helperRoots, unsafeComponent, type BangerLayout, type LayoutDir, type LayoutIds } from '@banger/config';
import { FailedPreconditionError } from '@banger/runtime/errors';

function unsafe(path: string, why: string, fix: string): FailedPreconditionError {
  return new FailedPreconditionError('HELPER_ROOT_UNSAFE', `${path} ${why}; privhelper keeps root's files only where no other uid can write. Fix: ${fix}`, {
    fields: { path, fix },
  });
}

/**
 * The commands that give a top directory the owner and mode the layout wants: the shared run
 * directory stays group-writable and sticky (the daemons bind their sockets there), so
 * "make it 0755" would be the wrong advice for it.
 */
function layoutFix(layout: BangerLayout, top: string, ids: LayoutIds): string {
  const d = layout.dirs.find((x) => x.path === top);
  const gid = d?.group === 'daemon' ? ids.daemonGid : d?.group === 'client' ? ids.clientGid : 0;
  const mode = (d?.mode ?? 0o755).toString(8).padStart(4, '0');
  return `chown root:${gid} ${top} && chmod ${mode} ${top}`;
}

function inHelperRoots(layout: BangerLayout, p: string): boolean {
  return helperRoots(layout.helper).some((r) => p === r || p.startsWith(`${r}/`));
}

function ensureOne(d: LayoutDir, ids: LayoutIds): void {
  const gid = d.group === 'client' ? ids.clientGid : d.group === 'daemon' ? ids.daemonGid : 0;
  const st = lstatSync(d.path, { throwIfNoEntry: false });
  if (st === undefined) {
    mkdirSync(d.path, { mode: d.mode & 0o777 });
  } else if (st.isSymbolicLink() || !st.isDirectory()) {
    throw unsafe(d.path, 'is not a directory', `remove it (privhelper did not make it): rm -rf ${d.path}`);
  } else if (st.uid !== 0) {
    throw unsafe(
      d.path,
      `is owned by uid ${st.uid}`,
      `an older banger layout is converted with \`banger system upgrade\`; otherwise remove it (privhelper did not make it): rm -rf ${d.path}`,
    );
  }
  // Root made it (just now or earlier) inside a directory only root can write: fixing its
  // group and mode here cannot be raced.
  chownSync(d.path, 0, gid);
  chmodSync(d.path, d.mode);
}

/**
 * Creates privhelper's roots and their subdirectories as the layout says, or refuses to start,
 * naming the path and the fix, when any of them, or any directory above them, could be written
 * by another uid (an older layout made the tops `banger:banger`). Runs once at start-up, as
 * root, before any verb is served.
 */
export function prepareHelperRoots(layout: BangerLayout, ids: LayoutIds): void {
  for (const root of helperRoots(layout.helper)) {
    const top = dirname(root);
    mkdirSync(top, { recursive: true, mode: 0o755 });
    const bad = unsafeComponent(top, { stickyAllowedAtLeaf: true });
    if (bad) {
      throw unsafe(
        bad.path,
        bad.why,
        bad.path === top ? `\`banger system upgrade\` converts an older layout; or: ${layoutFix(layout, top, ids)}` : `make ${bad.path} root-owned and writable only by root (${explainUnsafe(bad)})`,
      );
    }
  }
  for (const d of layout.dirs) if (inHelperRoots(layout, d.path)) ensureOne(d, ids);
}
