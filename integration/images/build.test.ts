import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage, buildRootfs, DEFAULT_IMAGES_DIR, loadRecipe, promoteRootfs, verifyKernel, type KernelIdentity, type ProgressEvent,
} from '@banger/imagekit';
import {
  bootTestGuest, ensureTestGuestArtifacts, guestUnsupportedReason, qga, waitForAgent, TEST_CACHE,
  type BootedGuest, type TestGuestArtifacts,
} from '../harness/guest.js';

const skip = guestUnsupportedReason();
if (skip) console.warn(`skipping image build tests: ${skip}`);

const kernel: KernelIdentity = { name: 'test', release: '6.1.0-0-cloud-amd64', packageVersion: '0' };

describe.skipIf(skip !== undefined)('rootfs builds and promotion', () => {
  let a: TestGuestArtifacts;
  let dir: string;
  let guest: BootedGuest | undefined;

  beforeAll(async () => {
    a = await ensureTestGuestArtifacts();
    dir = await mkdtemp(path.join(TEST_CACHE, 'build-test-'));
  }, 900_000);

  afterAll(async () => {
    await guest?.stop(5_000).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('buildImage is content-addressed: the second build of an unchanged recipe is a no-op', async () => {
    const kernelStaged = await verifyKernel(path.dirname(a.vmlinux));
    const events: ProgressEvent[] = [];
    const imagesRoot = path.join(dir, 'managed');
    const first = await buildImage({ recipe: 'debian-bookworm', kernel: kernelStaged, imagesRoot, cacheDir: TEST_CACHE, onProgress: (e) => events.push(e) });
    expect(first.noop).toBe(false);
    expect(first.manifest.fingerprint).toBe(a.fingerprint);
    expect(events.map((e) => e.stage)).toEqual(['base', 'artifacts', 'customize', 'mkfs', 'done']);
    const second = await buildImage({ recipe: 'debian-bookworm', kernel: kernelStaged, imagesRoot, cacheDir: TEST_CACHE });
    expect(second).toMatchObject({ noop: true, dir: first.dir });
    expect(await readdir(imagesRoot)).toEqual([path.basename(first.dir)]);
    await expect(buildImage({ recipe: '../x', kernel: kernelStaged, imagesRoot, cacheDir: TEST_CACHE })).rejects.toMatchObject({
      kind: 'INVALID_ARGUMENT', reason: 'BAD_RECIPE_NAME',
    });
  }, 300_000);

  it('a cancelled build leaves no partial output behind', async () => {
    const out = path.join(dir, 'cancel', 'rootfs.ext4');
    const ac = new AbortController();
    const recipe = await loadRecipe('debian-bookworm');
    const p = buildRootfs({
      recipe, kernel, outPath: out, cacheDir: TEST_CACHE, signal: ac.signal,
      onProgress: (e) => { if (e.stage === 'customize' || e.stage === 'mkfs') ac.abort(); },
    });
    // The stage check (ImageKitError) or the running tool (ProcError) notices first; both say BUILD_CANCELLED.
    await expect(p).rejects.toMatchObject({ reason: 'BUILD_CANCELLED' });
    expect(await readdir(path.dirname(out))).toEqual([]);
  }, 300_000);

  it('a failed build (unknown package) leaves no partial output behind', async () => {
    const images = path.join(dir, 'images');
    await cp(path.join(DEFAULT_IMAGES_DIR, 'recipes'), path.join(images, 'recipes'), { recursive: true });
    const file = path.join(images, 'recipes/debian-bookworm/recipe.json');
    const doc = JSON.parse(await readFile(file, 'utf8')) as { packages: string[] };
    doc.packages.push('banger-no-such-package');
    await writeFile(file, JSON.stringify(doc));
    const out = path.join(dir, 'fail', 'rootfs.ext4');
    const recipe = await loadRecipe('debian-bookworm', images);
    await expect(buildRootfs({ recipe, kernel, outPath: out, cacheDir: path.join(dir, 'cache') })).rejects.toMatchObject({
      code: 'INTERNAL', reason: 'TOOL_FAILED', tool: 'debootstrap',
    });
    expect(await readdir(path.dirname(out))).toEqual([]);
  }, 300_000);

  it('promotes a stopped guest root disk into a standalone image (and refuses while it runs)', async () => {
    guest = await bootTestGuest({ artifacts: a, dir: path.join(dir, 'promote-vm'), initMode: 'minimal' });
    await waitForAgent(guest.agentSock, 240_000, guest.console);
    const handle = (await qga(guest.agentSock, { execute: 'guest-file-open', arguments: { path: '/root/promoted-marker', mode: 'w' } })) as number;
    await qga(guest.agentSock, { execute: 'guest-file-write', arguments: { handle, 'buf-b64': Buffer.from('hello from vm\n').toString('base64') } });
    await qga(guest.agentSock, { execute: 'guest-file-close', arguments: { handle } });
    const overlay = path.join(guest.dir, 'root.qcow2');
    const out = path.join(dir, 'promoted.ext4');
    await expect(promoteRootfs({ overlay, outPath: out })).rejects.toMatchObject({ reason: 'DISK_IN_USE' });
    expect(await guest.stop(30_000)).toBe('graceful');
    guest = undefined;
    const res = await promoteRootfs({ overlay, outPath: out });
    expect(res.sizeBytes).toBeGreaterThan(0);
    const cat = spawnSync('debugfs', ['-R', 'cat /root/promoted-marker', out]);
    expect(cat.stdout.toString()).toBe('hello from vm\n');
    const fsck = spawnSync('e2fsck', ['-fn', out]);
    expect(fsck.status).toBe(0);
  }, 600_000);
});
