import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helperv2, imagev1 } from '@banger/api';
import { RpcError, ServiceClient } from '@banger/runtime';
import { createStack, type Stack } from '../harness/daemons.js';
import { embeddedSql } from '../harness/embedded-db.js';
import { guestUnsupportedReason, TEST_CACHE, TEST_KERNEL, TEST_RECIPE } from '../harness/guest.js';

const skip = guestUnsupportedReason();
if (skip) console.warn(`skipping imaged integration tests: ${skip}`);

type ImageClient = ServiceClient<typeof imagev1.ImageServiceService>;
type Event = imagev1.OperationEvent;

async function drain(stream: AsyncIterable<{ event?: Event | undefined }>, onEvent?: (e: Event) => void): Promise<{ events: Event[]; error: RpcError | undefined }> {
  const events: Event[] = [];
  try {
    for await (const res of stream) {
      if (!res.event) continue;
      events.push(res.event);
      onEvent?.(res.event);
    }
    return { events, error: undefined };
  } catch (err) {
    if (err instanceof RpcError) return { events, error: err };
    throw err;
  }
}

/** `case:stage` of stage events, in order. */
function stages(events: Event[]): string[] {
  return events
    .filter((e) => e.body?.$case === 'stageStarted' || e.body?.$case === 'stageFinished')
    .map((e) => `${e.body?.$case === 'stageStarted' ? 'start' : 'end'}:${(e.body?.value as { stage: string }).stage}`);
}

function finished(events: Event[], stage: string): { durationMs: number; skipped: boolean; message: string } | undefined {
  for (const e of events) if (e.body?.$case === 'stageFinished' && e.body.value.stage === stage) return e.body.value;
  return undefined;
}

describe.skipIf(skip !== undefined)('imaged: kernels and images end to end (privhelper + imaged)', () => {
  let stack: Stack;
  let client: ImageClient;
  let helper: ServiceClient<typeof helperv2.HelperServiceService>;
  let imageId = '';
  const timings: Record<string, number> = {};
  /** privhelper's image store and build root: images live there, root's, not in imaged's state. */
  const store = (): string => join(stack.dir, 'state', 'helper', 'images');
  const buildRoot = (): string => join(stack.dir, 'state', 'helper', 'build');

  beforeAll(async () => {
    stack = await createStack();
    // Share the machine-wide cache (debootstrap base, npm artifacts) with the other image suites.
    stack.env['BANGER_PATHS_CACHE_DIR'] = TEST_CACHE;
    await stack.start('privhelper');
    await stack.start('imaged');
    client = new ServiceClient(imagev1.ImageServiceService, stack.socket('imaged'));
    helper = new ServiceClient(helperv2.HelperServiceService, stack.socket('privhelper'));
  });

  afterAll(async () => {
    console.info('imaged suite timings (ms):', JSON.stringify(timings));
    client?.close();
    helper?.close();
    await stack?.close();
  });

  it('refuses a bad recipe name with INVALID_ARGUMENT and an op id, creating nothing', async () => {
    const { events, error } = await drain(client.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: '../etc' })));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ codeName: 'INVALID_ARGUMENT', reason: 'BAD_RECIPE_NAME' });
    expect(error?.opId).toMatch(/^op-/);
    const unknown = await drain(client.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'no-such-recipe' })));
    expect(unknown.error).toMatchObject({ codeName: 'NOT_FOUND', reason: 'RECIPE_NOT_FOUND' });
    expect(await readdir(store())).toEqual([]);
    expect((await client.unary('listImages', imagev1.ListImagesRequest.fromPartial({}))).images).toEqual([]);
    expect((await client.unary('listOperations', imagev1.ListOperationsRequest.fromPartial({}))).operations).toEqual([]);
  });

  it('refuses PullKernel force (not honoured) by field, before any operation', async () => {
    const { events, error } = await drain(client.serverStream('pullKernel', imagev1.PullKernelRequest.fromPartial({ name: 'debian-bookworm-cloud', force: true })));
    expect(events).toEqual([]);
    expect(error).toMatchObject({ codeName: 'INVALID_ARGUMENT', reason: 'FIELD_NOT_SUPPORTED' });
    expect(error?.message).toMatch(/^force: /);
    expect((await client.unary('listOperations', imagev1.ListOperationsRequest.fromPartial({}))).operations).toEqual([]);
  });

  it('PullKernel streams stages with progress, installs the kernel into privhelper\'s store and records it; a second pull is a no-op', async () => {
    let t = performance.now();
    const first = await drain(client.serverStream('pullKernel', imagev1.PullKernelRequest.fromPartial({ name: TEST_KERNEL })));
    timings['pull_kernel'] = Math.round(performance.now() - t);
    expect(first.error).toBeUndefined();
    expect(first.events[0]?.body).toMatchObject({ $case: 'accepted', value: { opId: first.events[0]?.opId, target: TEST_KERNEL } });
    expect(stages(first.events)).toEqual(['start:download', 'end:download', 'start:install', 'end:install', 'start:register', 'end:register']);
    expect(first.events.some((e) => e.body?.$case === 'progress')).toBe(true);
    const result = first.events.at(-1)?.body;
    expect(result?.$case).toBe('kernel');
    const kernel = result?.$case === 'kernel' ? result.value : undefined;
    expect(kernel?.kernel).toMatchObject({ name: TEST_KERNEL, state: imagev1.KernelState.KERNEL_STATE_INSTALLED });
    expect(kernel?.kernel?.vmlinux?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(kernel?.kernel?.vmlinux?.path ?? '/nonexistent')).toBe(true);
    expect(existsSync(kernel?.kernel?.initrd?.path ?? '/nonexistent')).toBe(true);
    // The copy that boots is privhelper's, verified against the manifest imaged wrote.
    const installed = (await helper.unary('listKernels', {})).kernels;
    expect(installed.map((k) => k.ref?.name)).toEqual([TEST_KERNEL]);
    expect(installed[0]?.vmlinuxSha256).toBe(kernel?.kernel?.vmlinux?.sha256);
    const version = installed[0]?.ref?.version ?? '';
    const vmlinux = statSync(join(stack.dir, 'state', 'helper', 'kernels', TEST_KERNEL, version, 'vmlinux'));
    // World-readable: each VM's jailed QEMU (a uid of its own) reads it through a bind mount.
    expect([vmlinux.uid, vmlinux.mode & 0o777, vmlinux.nlink]).toEqual([0, 0o644, 1]);

    t = performance.now();
    const second = await drain(client.serverStream('pullKernel', imagev1.PullKernelRequest.fromPartial({ name: TEST_KERNEL })));
    timings['pull_kernel_again'] = Math.round(performance.now() - t);
    expect(second.error).toBeUndefined();
    expect(finished(second.events, 'register')).toMatchObject({ skipped: true });
    expect(finished(second.events, 'install')).toMatchObject({ skipped: false });
    expect((await helper.unary('listKernels', {})).kernels).toHaveLength(1);
    expect(second.events.at(-1)?.body).toMatchObject({ $case: 'kernel', value: { unchanged: true } });

    const listed = await client.unary('listKernels', imagev1.ListKernelsRequest.fromPartial({ includeAvailable: true }));
    expect(listed.kernels.map((k) => [k.name, k.state])).toEqual(
      expect.arrayContaining([[TEST_KERNEL, imagev1.KernelState.KERNEL_STATE_INSTALLED], ['debian-bookworm-generic', imagev1.KernelState.KERNEL_STATE_AVAILABLE]]),
    );
  });

  it('BuildImage streams the op id first, then stages with durations, then the image; a rebuild says unchanged', async () => {
    let t = performance.now();
    const build = await drain(client.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: TEST_RECIPE })));
    timings['build_image'] = Math.round(performance.now() - t);
    expect(build.error).toBeUndefined();
    const opId = build.events[0]?.opId;
    expect(build.events[0]?.body).toMatchObject({ $case: 'accepted', value: { opId, target: TEST_RECIPE } });
    expect(stages(build.events)).toEqual([
      'start:resolve', 'end:resolve', 'start:kernel', 'end:kernel', 'start:fingerprint', 'end:fingerprint',
      'start:rootfs', 'end:rootfs', 'start:register', 'end:register',
    ]);
    expect(finished(build.events, 'kernel')).toMatchObject({ skipped: true });
    expect(finished(build.events, 'rootfs')?.durationMs).toBeGreaterThan(0);
    const progress = build.events.filter((e) => e.body?.$case === 'progress').map((e) => (e.body?.value as { message: string }).message);
    expect(progress.length).toBeGreaterThan(2);
    const last = build.events.at(-1)?.body;
    const image = last?.$case === 'image' ? last.value : undefined;
    expect(image).toMatchObject({ unchanged: false, image: { name: TEST_RECIPE, recipe: TEST_RECIPE, kernel: TEST_KERNEL } });
    imageId = image?.image?.id ?? '';
    expect(image?.image?.workSeedFingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(existsSync(image?.image?.rootfsPath ?? '/nonexistent')).toBe(true);
    // Built by root straight into its store: root's files, readable by its client group only.
    expect(dirname(dirname(image?.image?.rootfsPath ?? ''))).toBe(store());
    const rootfs = statSync(image?.image?.rootfsPath ?? '/nonexistent');
    expect([rootfs.uid, rootfs.mode & 0o777]).toEqual([0, 0o640]);
    expect((await helper.unary('listImages', {})).images.map((i) => i.image)).toEqual([basename(dirname(image?.image?.rootfsPath ?? ''))]);
    expect(await readdir(buildRoot())).toEqual([]);
    expect(await stack.waitForLog((l) => l.op_id === opId && l.service === 'privhelper')).toBeTruthy();

    t = performance.now();
    const again = await drain(client.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: TEST_RECIPE })));
    timings['build_image_unchanged'] = Math.round(performance.now() - t);
    expect(again.error).toBeUndefined();
    expect(finished(again.events, 'rootfs')).toMatchObject({ skipped: true });
    expect(finished(again.events, 'rootfs')?.message).toMatch(/unchanged/);
    expect(again.events.at(-1)?.body).toMatchObject({ $case: 'image', value: { unchanged: true, image: { id: imageId } } });
    expect((await client.unary('listImages', imagev1.ListImagesRequest.fromPartial({}))).images.map((i) => i.id)).toEqual([imageId]);
    const recipes = (await client.unary('listRecipes', imagev1.ListRecipesRequest.fromPartial({}))).recipes;
    expect(recipes.find((r) => r.name === TEST_RECIPE)).toMatchObject({ kernel: TEST_KERNEL, fingerprint: image?.image?.fingerprint });
    const kernel = (await client.unary('getKernel', imagev1.GetKernelRequest.fromPartial({ name: TEST_KERNEL }))).kernel;
    expect(kernel?.usedByImages).toEqual([TEST_RECIPE]);
  });

  it('ResolveImage gives vmd existing files, for the default image and by name', async () => {
    const byDefault = await client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref: '' }));
    const byName = await client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref: TEST_RECIPE }));
    expect(byName).toEqual(byDefault);
    expect(byDefault.image?.id).toBe(imageId);
    for (const p of [byDefault.rootfsPath, byDefault.kernelPath, byDefault.initrdPath, byDefault.workSeedPath]) {
      expect(p.startsWith(join(stack.dir, 'state', 'helper'))).toBe(true);
      expect(existsSync(p)).toBe(true);
    }
    // What vmd names in CreateOverlay / LaunchHypervisor instead of those paths.
    const installed = (await helper.unary('listKernels', {})).kernels[0]?.ref;
    expect(byDefault.storeImage).toBe(basename(dirname(byDefault.rootfsPath)));
    expect(byDefault).toMatchObject({ kernel: installed?.name, kernelStoreVersion: installed?.version });
    expect(byDefault.kernelPath).toBe(join(stack.dir, 'state', 'helper', 'kernels', installed?.name ?? '', installed?.version ?? '', 'vmlinux'));
    expect(byDefault).toMatchObject({ initPath: '/sbin/banger-init', kernel: TEST_KERNEL, initMode: imagev1.InitMode.INIT_MODE_MINIMAL });
    expect(byDefault.workSeedFingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(byDefault.defaultServices[0]).toMatchObject({ name: 'opencode', port: 4096, secretEnv: 'OPENCODE_SERVER_PASSWORD', readiness: { check: { $case: 'tcp', value: { port: 4096 } } } });
    await expect(client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref: 'nope' }))).rejects.toMatchObject({ codeName: 'NOT_FOUND' });
  });

  it('an image row recorded before workSeedFingerprint existed is healed on first ResolveImage (and the fix persists)', async () => {
    const before = await client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref: TEST_RECIPE }));
    await stack.stop('imaged');
    // Make the row look like one written by an older imaged: no workSeedFingerprint in metadata.
    const out = embeddedSql(stack, 'imaged', `UPDATE imaged.images SET metadata = metadata - 'workSeedFingerprint' WHERE id = '${imageId}' RETURNING metadata ? 'workSeedFingerprint' AS has`);
    expect(out).toMatch(/has = "f"/);
    await stack.start('imaged');
    client.close();
    client = new ServiceClient(imagev1.ImageServiceService, stack.socket('imaged'));
    expect((await client.unary('getImage', imagev1.GetImageRequest.fromPartial({ ref: imageId }))).image?.workSeedFingerprint).toBe('');
    const healed = await client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref: TEST_RECIPE }));
    expect(healed.workSeedFingerprint).toBe(before.workSeedFingerprint);
    expect(await stack.waitForLog((l) => l.service === 'imaged' && l.msg === 'image metadata healed' && l['field'] === 'workSeedFingerprint')).toBeTruthy();
    expect((await client.unary('getImage', imagev1.GetImageRequest.fromPartial({ ref: imageId }))).image?.workSeedFingerprint).toBe(before.workSeedFingerprint);
  });

  it('privhelper BuildRootfs takes a recipe name and an installed kernel, refusing anything else before writing', async () => {
    const installed = (await helper.unary('listKernels', {})).kernels[0]?.ref;
    const good = { recipe: TEST_RECIPE, kernel: installed };
    const cases: [Partial<helperv2.BuildRootfsRequest>, string, string, string][] = [
      [{ recipe: '../etc' }, 'INVALID_ARGUMENT', 'BAD_RECIPE_NAME', 'recipe'],
      [{ recipe: '/etc/passwd' }, 'INVALID_ARGUMENT', 'BAD_RECIPE_NAME', 'recipe'],
      [{ recipe: 'no-such-recipe' }, 'NOT_FOUND', 'RECIPE_NOT_FOUND', 'recipe'],
      [{ kernel: undefined }, 'INVALID_ARGUMENT', 'KERNEL_REQUIRED', 'kernel'],
      [{ kernel: { name: '../etc', version: '1' } }, 'INVALID_ARGUMENT', 'BAD_KERNEL_REF', 'kernel.name'],
      [{ kernel: { name: TEST_KERNEL, version: '../../../../etc' } }, 'INVALID_ARGUMENT', 'BAD_KERNEL_REF', 'kernel.version'],
      [{ kernel: { name: TEST_KERNEL, version: '0.0-never-installed' } }, 'NOT_FOUND', 'KERNEL_NOT_INSTALLED', 'kernel'],
    ];
    const before = await readdir(store());
    for (const [over, codeName, reason, field] of cases) {
      const r = await drain(helper.serverStream('buildRootfs', helperv2.BuildRootfsRequest.fromPartial({ ...good, ...over })) as AsyncIterable<{ event?: undefined }>);
      expect(r.error, JSON.stringify(over)).toMatchObject({ codeName, reason });
      if (codeName === 'INVALID_ARGUMENT') expect(r.error?.errorMetadata['field'], JSON.stringify(over)).toBe(field);
      expect(r.error?.opId).toMatch(/^op-/);
    }
    expect(await readdir(store())).toEqual(before);
    expect(await readdir(buildRoot())).toEqual([]);
  });

  it('PromoteImage turns a stopped VM root disk (named by VM id) into a new image that inherits kernel and services', async () => {
    const base = await client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref: TEST_RECIPE }));
    // As vmd does at create: the VM's overlay is privhelper's, over the store image.
    await helper.unary('createOverlay', { vmId: 'vm-promote', image: base.storeImage });
    await expect(
      client.unary('promoteImage', imagev1.PromoteImageRequest.fromPartial({ vmId: 'vm-promote', rootDiskPath: '/etc/passwd', name: 'escaped', baseImage: TEST_RECIPE })),
    ).rejects.toMatchObject({ codeName: 'INVALID_ARGUMENT', reason: 'FIELD_NOT_ACCEPTED', errorMetadata: { field: 'root_disk_path' } });
    await expect(
      client.unary('promoteImage', imagev1.PromoteImageRequest.fromPartial({ vmId: 'vm-without-disks', name: 'nothing', baseImage: TEST_RECIPE })),
    ).rejects.toMatchObject({ codeName: 'FAILED_PRECONDITION', reason: 'NO_ROOT_DISK' });
    expect((await client.unary('listImages', imagev1.ListImagesRequest.fromPartial({}))).images.map((i) => i.name)).toEqual([TEST_RECIPE]);
    const t = performance.now();
    const promoted = (await client.unary('promoteImage', imagev1.PromoteImageRequest.fromPartial({ vmId: 'vm-promote', name: 'my-dev-box', baseImage: TEST_RECIPE }))).image;
    timings['promote'] = Math.round(performance.now() - t);
    expect(promoted).toMatchObject({ name: 'my-dev-box', recipe: '', promotedFromVm: 'vm-promote', source: imagev1.ImageSource.IMAGE_SOURCE_PROMOTED, kernel: TEST_KERNEL });
    const r = await client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref: 'my-dev-box' }));
    expect(r.rootfsPath).not.toBe(base.rootfsPath);
    expect(dirname(dirname(r.rootfsPath))).toBe(store());
    expect(r.storeImage).toMatch(/^promoted-/);
    expect(r).toMatchObject({ kernelPath: base.kernelPath, initrdPath: base.initrdPath, workSeedFingerprint: base.workSeedFingerprint, initPath: base.initPath });
    expect(statSync(r.rootfsPath).size).toBe(statSync(base.rootfsPath).size);
    expect(existsSync(r.workSeedPath)).toBe(true);
    await expect(
      client.unary('promoteImage', imagev1.PromoteImageRequest.fromPartial({ vmId: 'vm-promote', name: 'my-dev-box', baseImage: TEST_RECIPE })),
    ).rejects.toMatchObject({ codeName: 'ALREADY_EXISTS' });
    // The base backs the VM's disk: privhelper refuses to remove it, and imaged keeps its row.
    await expect(client.unary('deleteImage', imagev1.DeleteImageRequest.fromPartial({ ref: TEST_RECIPE }))).rejects.toMatchObject({ codeName: 'FAILED_PRECONDITION', reason: 'IMAGE_IN_USE' });
    expect((await client.unary('getImage', imagev1.GetImageRequest.fromPartial({ ref: TEST_RECIPE }))).image?.id).toBe(imageId);
    expect(existsSync(base.rootfsPath)).toBe(true);
    await helper.unary('removeOverlay', { vmId: 'vm-promote' });
    await client.unary('deleteImage', imagev1.DeleteImageRequest.fromPartial({ ref: 'my-dev-box' }));
    expect(existsSync(r.rootfsPath)).toBe(false);
  });

  it('GetImage and DeleteImage round trip; a kernel in use cannot be deleted until its image is gone', async () => {
    const got = await client.unary('getImage', imagev1.GetImageRequest.fromPartial({ ref: imageId.slice(0, 8) }));
    expect(got.image?.name).toBe(TEST_RECIPE);
    await expect(client.unary('deleteKernel', imagev1.DeleteKernelRequest.fromPartial({ name: TEST_KERNEL }))).rejects.toMatchObject({
      codeName: 'FAILED_PRECONDITION',
      reason: 'KERNEL_IN_USE',
    });
    const dir = join(got.image?.rootfsPath ?? '', '..');
    const deleted = await client.unary('deleteImage', imagev1.DeleteImageRequest.fromPartial({ ref: TEST_RECIPE }));
    expect(deleted.image?.id).toBe(imageId);
    expect(existsSync(dir)).toBe(false);
    await expect(client.unary('getImage', imagev1.GetImageRequest.fromPartial({ ref: imageId }))).rejects.toMatchObject({ codeName: 'NOT_FOUND' });
  });

  it('a cancelled build leaves no image directory and no row', async () => {
    const ac = new AbortController();
    const t = performance.now();
    const stream = client.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: TEST_RECIPE, cancelOnDetach: true }), { signal: ac.signal });
    const r = await drain(stream, (e) => {
      // Late enough that privhelper has a temp tree and a partial image to clean up.
      if (e.body?.$case === 'progress' && e.body.value.stage === 'rootfs' && /^(customize|mkfs)/.test(e.body.value.message)) ac.abort();
    }).catch((err: unknown) => ({ events: [] as Event[], error: err }));
    timings['cancelled_build'] = Math.round(performance.now() - t);
    expect(r.error).toBeDefined();
    expect(r.events.some((e) => e.body?.$case === 'progress' && /^(customize|mkfs)/.test(e.body.value.message))).toBe(true);
    const opId = await stream.opId;
    let op: imagev1.GetOperationResponse['operation'];
    for (let i = 0; i < 300; i++) {
      op = (await client.unary('getOperation', imagev1.GetOperationRequest.fromPartial({ opId: opId ?? '' }))).operation;
      if (op && op.finishedAt) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(op?.finishedAt).toBeDefined();
    expect(op?.error?.reason).toMatch(/CANCEL|DETACH/);
    expect((await client.unary('listImages', imagev1.ListImagesRequest.fromPartial({}))).images).toEqual([]);
    // privhelper may still be unwinding debootstrap's temp tree: give it a moment.
    const leftovers = async (): Promise<string[]> => [...(await readdir(store())), ...(await readdir(buildRoot()))];
    for (let i = 0; i < 100 && (await leftovers()).length > 0; i++) await new Promise((res) => setTimeout(res, 100));
    expect(await leftovers()).toEqual([]);
  });
});
