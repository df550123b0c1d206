import { chmod, chown, lstat, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createOverlayRequest, vmId } from './attacks/requests.js';
import { buildAs, buildSummary, builtImage, outcomeLine, verdict } from './attacks/vm.js';
import { securityUnavailableReason, useHarness } from './harness.js';
import { racerLine } from './lib/attacker.js';
import { imageIdFor } from './lib/build-inputs.js';
import { evidence } from './lib/evidence.js';

/**
 * Issue 11, items 3 (the `.building-<pid>` directory) and 4 (the hand-over walk): v1 built
 * and then lchowned by path inside the caller-owned images dir. v2 builds in
 * `<state>/helper/build` (root 0700) into the image store (root:banger 0750) and hands
 * nothing over: images stay root's. The cache is a legitimate one (root-seeded), so only the
 * races are in play. Racers keep running for every build.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: build races: ${skip}`);

describe.skipIf(skip !== undefined)('security: races around BuildRootfs output directories', () => {
  const ctx = useHarness({ guest: true, buildCache: true });

  /**
   * v1: a racer (inotify) renamed `<images>/<name>.building-<pid>` away the moment it appeared
   * and put a symlink to the victim dir there; root built into the victim dir and handed it to
   * banger. v2: the racer's watch on the build root is refused; a second racer watches the
   * image store (group banger may read it) for the new image and tries to steal it. Two real
   * builds (the second after RemoveImage) run with both racers on.
   */
  it('build and store directories raced (inotify steal, every build): the victim directory is unchanged and the image stays root\'s', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const onBuild = await h.attacker.racer('steal', [h.helper.buildDir, '', v.dir]);
    const onStore = await h.attacker.racer('steal', [h.helper.imagesDir, 'debian-bookworm', v.dir]);
    const outcomes: string[] = [];
    let image = '';
    for (let i = 0; i < 2; i++) {
      const r = await buildAs(h, h.tiny.ref);
      outcomes.push(buildSummary(r));
      image = builtImage(r)?.image ?? '';
      if (i === 0 && image) outcomes.push(`RemoveImage: ${outcomeLine(await h.attacker.call('removeImage', { image }))}`);
    }
    const build = await onBuild.stop();
    const store = await onStore.stop();
    const dir = path.join(h.helper.imagesDir, image);
    const st = image ? await lstat(dir) : undefined;
    const entries = image ? await readdir(dir) : [];
    const owners = await Promise.all(entries.map(async (e) => `${e} ${(await lstat(path.join(dir, e))).uid}`));
    const seen = `${outcomes.join(' | ')}; build-root ${racerLine(build)}; store ${racerLine(store)}; image dir ${st ? `${st.uid}:${st.gid} ${(st.mode & 0o777).toString(8)}` : 'missing'} (${owners.join(', ')})`;
    evidence(seen);
    expect(await h.hostChanges(v, before), seen).toEqual([]);
    expect(image, seen).toBe(await imageIdFor(h.tiny.identity));
    expect({ build: [build.hits, build.lastErrno], store: [store.hits, store.fails > 0 ? store.lastErrno : 'no attempt'] }, seen).toEqual({ build: [0, 'EACCES'], store: [0, 'EACCES'] });
    expect([st?.uid, st?.gid, (st?.mode ?? 0) & 0o777], seen).toEqual([0, h.account.gid, 0o750]);
    expect(owners.every((o) => o.endsWith(' 0')), seen).toBe(true);
    await h.attacker.call('removeImage', { image });
  });

  /**
   * v1: BuildRootfs for an image that already existed was a no-op that still handed the
   * directory over, lchowning every entry by path while a racer exchanged a subdirectory with a
   * symlink to the victim dir. v2: the attacker cannot pre-create that directory (EACCES), and
   * the exchange racer on it is refused for the whole call. The same trap planted by root
   * (image.json to make the build a no-op, 2000 symlinks, `sub` and a rootfs.ext4 that is a
   * symlink to a victim) is not followed: the no-op build only re-shares regular files.
   */
  it('an existing image dir with 2000 links, a subdirectory exchanged with a symlink (loop) and a linked rootfs: victims stay root-owned and unchanged', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = await imageIdFor(h.tiny.identity);
    const dir = path.join(h.helper.imagesDir, id);
    const attackerMkdir = await h.attacker.mkdirError(dir);
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'image.json'), JSON.stringify({ schema: 1, recipe: 'debian-bookworm', rootfsBytes: 1 }));
    for (const name of v.dirEntries) await writeFile(path.join(dir, 'sub', name), 'decoy\n');
    for (let i = 0; i < 2000; i++) await symlink(path.join(v.dir, 'passwd'), path.join(dir, `f${String(i).padStart(5, '0')}`));
    await symlink(v.secret, path.join(dir, 'rootfs.ext4'));
    await symlink(v.dir, path.join(dir, 'sub.link'));
    await chown(dir, 0, h.account.gid);
    await chmod(dir, 0o750);
    const racer = await h.attacker.racer('exchange', [path.join(dir, 'sub'), path.join(dir, 'sub.link'), '20']);
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) outcomes.push(buildSummary(await buildAs(h, h.tiny.ref)));
    const raced = await racer.stop();
    const overlay = await h.attacker.call('createOverlay', createOverlayRequest(vmId('trap'), id));
    const seen = `attacker mkdir of the image dir: ${attackerMkdir}; builds: ${outcomes.join(' | ')}; ${racerLine(raced)}; CreateOverlay on it: ${outcomeLine(overlay)}`;
    evidence(seen);
    expect(await h.hostChanges(v, before), seen).toEqual([]);
    expect(attackerMkdir).toBe('EACCES');
    expect({ swaps: raced.swaps, errno: raced.lastErrno }, seen).toEqual({ swaps: 0, errno: 'EACCES' });
    expect(verdict(overlay)).toBe('FAILED_PRECONDITION IMAGE_FILE_INVALID');
    expect(outcomes.every((o) => o.includes('(unchanged)')), seen).toBe(true);
    await h.attacker.call('removeImage', { image: id });
  });
});
