import { lstat, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildAs, buildSummary, builtImage } from './attacks/vm.js';
import { securityUnavailableReason, useHarness, type SecurityHarness } from './harness.js';
import { miniRootTar, seedBuildCache } from './lib/build-inputs.js';
import { evidence } from './lib/evidence.js';

/**
 * Issue 11, items 3 and 4: v1's BuildRootfs ran as root over a caller-writable cache
 * (`<cache>/debootstrap/<key>.tar`, `<cache>/npm/...`): a poisoned tar ran the attacker's code
 * in the build chroot, a tar symlink overwrote a host file, a poisoned npm artifact went into
 * every image. v2 keeps the cache in `<cache>/helper/` (root 0700), checks each tarball
 * against a sha256 index root wrote, and pins the npm artifact by sha256. Each test shows the
 * attacker's write refused, then tampers with the cache as root (an older shared cache, a
 * damaged disk) to prove privhelper refuses what does not match. The build is cancelled by
 * the attacker once privhelper has judged the cache (no debootstrap or npm download runs).
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: build cache: ${skip}`);

/**
 * Shell run as root inside the build chroot if the tar were used: mounts proc, reaches the
 * host through /proc/$PPID/root and writes `marker` (what v1's chroot allowed).
 */
function chrootEscapePayload(marker: string): string {
  return [
    '/bin/busybox mount -t proc proc /proc',
    `/bin/busybox echo "written by uid $(/bin/busybox id -u) from the build chroot" > /proc/$PPID/root${marker}`,
    '/bin/busybox umount /proc',
  ].join('\n');
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

/** The attacker's writes where the cache now lives (and where it used to): the errno of each. */
async function attackerCacheWrites(h: SecurityHarness, file: string): Promise<Record<string, string>> {
  return {
    [`write ${path.relative(h.cacheDir, file)}`]: await h.attacker.writeError(file),
    'rename <cache>/helper': await h.attacker.renameError(h.helper.cacheRoot, `${h.helper.cacheRoot}.aside`),
    'mkdir <cache>/debootstrap (v1 path)': await h.attacker.mkdirError(path.join(h.cacheDir, 'debootstrap')),
  };
}

describe.skipIf(skip !== undefined)('security: BuildRootfs consumes only trusted inputs', () => {
  const ctx = useHarness({ guest: true, buildCache: true });

  for (const kind of ['payload', 'symlink'] as const) {
    const title =
      kind === 'payload'
        ? 'poisoned debootstrap tar (chroot escape payload): the attacker cannot plant it; swapped in by root after indexing, it is refused and never extracted'
        : 'debootstrap tar with a symlink where the npm artifact is copied: the attacker cannot plant it; swapped in by root, it is refused';
    it(title, async () => {
      const { h } = ctx;
      const cache = await seedBuildCache(h.helper);
      const v = await h.victims();
      const before = await h.hostSnapshot(v);
      const marker = path.join(v.dir, 'PWNED');
      const writes = await attackerCacheWrites(h, cache.tar);
      expect(Object.values(writes), JSON.stringify(writes)).toEqual(['EACCES', 'EACCES', 'EACCES']);
      await rm(cache.tar);
      await miniRootTar(cache.tar, kind === 'payload' ? chrootEscapePayload(marker) : null, kind === 'symlink' ? { 'usr/local/bin/opencode': path.join(v.dir, 'sudoers') } : {});
      const logsBefore = h.helperLogs.length;
      const r = await buildAs(h, h.tiny.ref, { cancelAfter: 1 });
      await new Promise((res) => setTimeout(res, 1500));
      const judged = h.helperLogs.slice(logsBefore).find((l) => l.msg === 'debootstrap cache entry does not match its index; rebuilding it');
      const tarLeft = await exists(cache.tar);
      const markerText = await readFile(marker, 'utf8').catch(() => '');
      const seen = `attacker: ${Object.entries(writes).map(([k, e]) => `${k} ${e}`).join(', ')}; root-swapped tar: build ${buildSummary(r)}; privhelper: ${judged ? `"${judged.msg}"` : 'no index verdict logged'}; tar ${tarLeft ? 'still there' : 'removed'}; marker ${markerText ? `written: ${markerText.trim()}` : 'absent'}`;
      evidence(seen);
      expect(await h.hostChanges(v, before), seen).toEqual([]);
      expect({ judged: judged !== undefined, tarLeft }, seen).toEqual({ judged: true, tarLeft: false });
      expect(builtImage(r), seen).toBeUndefined();
    });
  }

  it("poisoned npm artifact: the attacker cannot plant it; swapped in by root, it fails the recipe's sha256 pin and is deleted, not copied", async () => {
    const { h } = ctx;
    const cache = await seedBuildCache(h.helper);
    const writes = await attackerCacheWrites(h, cache.artifact);
    expect(Object.values(writes), JSON.stringify(writes)).toEqual(['EACCES', 'EACCES', 'EACCES']);
    // Replace the link (the machine-wide cache's file is never written through).
    await rm(cache.artifact);
    await writeFile(cache.artifact, '#!/bin/sh\necho attacker-controlled opencode\n', { mode: 0o755 });
    const r = await buildAs(h, h.tiny.ref, { cancelAfter: 2 });
    await new Promise((res) => setTimeout(res, 1500));
    const left = await exists(cache.artifact);
    const images = await h.attacker.call('listImages', {});
    const seen = `attacker: ${Object.entries(writes).map(([k, e]) => `${k} ${e}`).join(', ')}; root-swapped artifact: build ${buildSummary(r)}; artifact ${left ? 'still there' : 'deleted by privhelper'}; store: ${images.ok ? images.res.images.map((i) => i.image).join(', ') : '?'}`;
    evidence(seen);
    expect({ left, built: builtImage(r) }, seen).toEqual({ left: false, built: undefined });
    expect(images.ok && images.res.images.map((i) => i.image), seen).toEqual([h.guestImage.id]);
  });
});
