import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bangerLayout, helperRoots, type BangerLayout, type LayoutIds } from '@banger/config';
import { toBangerError, type BangerError } from '@banger/runtime/errors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareHelperRoots } from './helper-roots.js';

const asRoot = process.getuid?.() === 0;
if (!asRoot) console.warn('[skip] prepareHelperRoots tests: need root (they chown directories to other uids)');

const NOBODY = 65534;
const IDS: LayoutIds = { daemonUid: NOBODY, daemonGid: NOBODY, clientGid: NOBODY };

function refusal(f: () => void): BangerError {
  try {
    f();
  } catch (err) {
    return toBangerError(err);
  }
  throw new Error('expected prepareHelperRoots to refuse');
}

describe.skipIf(!asRoot)('prepareHelperRoots (real directories under a temp dir)', () => {
  let tmp = '';
  let layout: BangerLayout;

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'banger-roots-'));
    layout = bangerLayout({ paths: { stateDir: path.join(tmp, 'state'), cacheDir: path.join(tmp, 'cache'), runDir: path.join(tmp, 'run') } });
  });
  afterEach(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('creates every helper directory root-owned with the layout mode and group, and is idempotent', async () => {
    prepareHelperRoots(layout, IDS);
    const mine = layout.dirs.filter((d) => helperRoots(layout.helper).some((r) => d.path === r || d.path.startsWith(`${r}/`)));
    expect(mine.length).toBeGreaterThanOrEqual(8);
    for (const d of mine) {
      const st = await lstat(d.path);
      expect({ path: d.path, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }).toEqual({ path: d.path, uid: 0, gid: d.group === 'root' ? 0 : NOBODY, mode: d.mode });
    }
    // A mode changed by hand is put back on the next start; nothing else moves.
    await chmod(layout.helper.vmsDir, 0o755);
    prepareHelperRoots(layout, IDS);
    expect((await lstat(layout.helper.vmsDir)).mode & 0o7777).toBe(0o700);
    // Daemon directories are not privhelper's to make.
    expect(await readdir(path.join(tmp, 'state'))).toEqual(['helper']);
  });

  it('refuses a top directory owned by another uid (an older layout), naming the path and the fix', async () => {
    await mkdir(path.join(tmp, 'state'), { mode: 0o755 });
    await chown(path.join(tmp, 'state'), NOBODY, NOBODY);
    const e = refusal(() => prepareHelperRoots(layout, IDS));
    expect(e).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'HELPER_ROOT_UNSAFE', fields: { path: path.join(tmp, 'state') } });
    expect(e.message).toMatch(new RegExp(`owned by uid ${NOBODY}`));
    expect(e.fields['fix']).toMatch(/banger system upgrade|chown root:root/);
    expect(await readdir(path.join(tmp, 'state'))).toEqual([]);
  });

  it('refuses a helper root another uid owns, and one that is a symlink', async () => {
    await mkdir(layout.helper.cacheRoot, { recursive: true, mode: 0o700 });
    await chown(layout.helper.cacheRoot, NOBODY, NOBODY);
    const owned = refusal(() => prepareHelperRoots(layout, IDS));
    expect(owned).toMatchObject({ reason: 'HELPER_ROOT_UNSAFE', fields: { path: layout.helper.cacheRoot } });
    expect(owned.fields['fix']).toMatch(/rm -rf|banger system upgrade/);
    expect((await lstat(layout.helper.cacheRoot)).uid).toBe(NOBODY);

    await rm(layout.helper.cacheRoot, { recursive: true });
    await mkdir(path.join(tmp, 'elsewhere'));
    await symlink(path.join(tmp, 'elsewhere'), layout.helper.cacheRoot);
    const linked = refusal(() => prepareHelperRoots(layout, IDS));
    expect(linked).toMatchObject({ reason: 'HELPER_ROOT_UNSAFE', fields: { path: layout.helper.cacheRoot } });
    expect(linked.message).toMatch(/is not a directory/);
    expect(await readdir(path.join(tmp, 'elsewhere'))).toEqual([]);
  });

  it('refuses a group- or world-writable top that is not sticky, and a writable directory above it', async () => {
    await mkdir(path.join(tmp, 'cache'), { mode: 0o755 });
    await chmod(path.join(tmp, 'cache'), 0o775);
    expect(refusal(() => prepareHelperRoots(layout, IDS))).toMatchObject({ reason: 'HELPER_ROOT_UNSAFE', fields: { path: path.join(tmp, 'cache') } });
    await chmod(path.join(tmp, 'cache'), 0o757);
    expect(refusal(() => prepareHelperRoots(layout, IDS)).message).toMatch(/writable by everyone/);
    await chmod(path.join(tmp, 'cache'), 0o755);

    // A component above the tops: anyone able to write there could swap the whole tree.
    await chmod(tmp, 0o777);
    const above = refusal(() => prepareHelperRoots(layout, IDS));
    expect(above).toMatchObject({ reason: 'HELPER_ROOT_UNSAFE', fields: { path: tmp } });
    expect(above.fields['fix']).toContain(tmp);
  });

  it('accepts a sticky group-writable top, like the run directory the daemons put their sockets in', async () => {
    await mkdir(path.join(tmp, 'run'), { mode: 0o755 });
    await chown(path.join(tmp, 'run'), 0, NOBODY);
    await chmod(path.join(tmp, 'run'), 0o1775);
    prepareHelperRoots(layout, IDS);
    expect((await lstat(layout.helper.runVmsDir)).uid).toBe(0);
    expect((await lstat(path.join(tmp, 'run'))).mode & 0o7777).toBe(0o1775);
  });
});
