import { helperv2 } from '@banger/api';
import { InvalidArgumentError, serverStream, unary } from '@banger/runtime';
import { validateImageId, validateKernelRef } from '../../domain/store/ids.js';
import type { ImageBuilder } from '../store/image-builder.js';
import type { ImageStore } from '../store/image-store.js';
import type { VmDiskStore } from '../store/vm-disks.js';

export interface ImageHandlerDeps {
  builder: ImageBuilder;
  images: ImageStore;
  disks: VmDiskStore;
  /** Snapshots whose frozen root overlay is over an image (they hold it like a VM's disk). */
  snapshotsUsing?: (image: string) => Promise<string[]>;
}

/**
 * BuildRootfs (the root-only part of an image build: debootstrap, chroot, mkfs) of an
 * allow-listed recipe for an installed kernel, into privhelper's image store; RemoveImage,
 * PromoteVmDisk and ListImages on that store. Progress streams as it happens; a cancelled
 * call aborts the build and nothing partial remains.
 */
export function imageHandlers(deps: ImageHandlerDeps): Record<string, unknown> {
  return {
    buildRootfs: serverStream<helperv2.BuildRootfsRequest, helperv2.BuildRootfsResponse>(async (req, ctx, send) => {
      const kernel = validateKernelRef(req.kernel);
      if (req.init !== helperv2.GuestInit.GUEST_INIT_UNSPECIFIED) {
        throw new InvalidArgumentError('init', 'must be unspecified: the image carries both PID 1s and the launch picks one (init=)', 'FIELD_NOT_ACCEPTED');
      }
      const started = Date.now();
      let chain: Promise<void> = Promise.resolve();
      const r = await deps.builder.build(
        { recipe: req.recipe, kernel },
        {
          signal: ctx.signal,
          logger: ctx.logger,
          onProgress: (e) => {
            chain = chain.then(() =>
              send({ event: { $case: 'progress', value: { stage: e.stage, done: e.done, total: e.total, unit: 'steps', message: e.detail ?? '' } } }).catch(() => undefined),
            );
          },
        },
      );
      await chain;
      ctx.logger.info({ recipe: req.recipe, image: r.image, unchanged: r.unchanged, duration_ms: Date.now() - started }, 'rootfs built');
      await send({
        event: {
          $case: 'result',
          value: { image: r.image, manifestJson: r.manifestJson, rootfsBytes: r.rootfsBytes, durationMs: Date.now() - started, unchanged: r.unchanged, path: r.dir },
        },
      });
    }),
    removeImage: unary(async (req: helperv2.RemoveImageRequest): Promise<helperv2.RemoveImageResponse> => {
      const image = validateImageId(req.image);
      const snapshots = (await deps.snapshotsUsing?.(image)) ?? [];
      return { removed: await deps.images.remove(image, [...(await deps.disks.vmsUsingImage(image)), ...snapshots.map((id) => `snapshot ${id}`)]) };
    }),
    promoteVmDisk: unary(async (req: helperv2.PromoteVmDiskRequest): Promise<helperv2.PromoteVmDiskResponse> => {
      const r = await deps.builder.promote(req.vmId, req.image);
      return { image: r.image, rootfsBytes: r.rootfsBytes, baseImage: r.baseImage, path: r.dir };
    }),
    listImages: unary(async (): Promise<helperv2.ListImagesResponse> => ({ images: await deps.images.list() })),
  };
}
