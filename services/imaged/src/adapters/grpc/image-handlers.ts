import { imagev1 } from '@banger/api';
import { durationToMs, serverStream, unary } from '@banger/runtime';
import type { BuildImage } from '../../app/images/build-image.js';
import type { ImageQueries } from '../../app/images/image-queries.js';
import type { PromoteImage } from '../../app/images/promote-image.js';
import type { ResolveImage } from '../../app/images/resolve-image.js';
import type { OperationRunner } from '@banger/operations';
import type { OperationLog } from '@banger/operations';
import { storedImageEventToProto } from './events.js';
import { imageToProto, initModeFromProto, recipeToProto, resolvedToProto } from './image-convert.js';
import { streamOperation } from '@banger/operations';

export interface ImageRpcDeps {
  runner: OperationRunner;
  operations: OperationLog;
  buildImage: BuildImage;
  resolveImage: ResolveImage;
  images: ImageQueries;
  promoteImage: PromoteImage;
}

/** Image RPCs: proto → command → use case → proto. BuildImage streams its durable operation. */
export function imageHandlers(deps: ImageRpcDeps): Record<string, unknown> {
  return {
    buildImage: serverStream<imagev1.BuildImageRequest, imagev1.BuildImageResponse>(async (req, ctx, send) => {
      const cmd = { recipe: req.recipe, name: req.name, kernel: req.kernel, initMode: initModeFromProto(req.initMode), force: req.force };
      // A refused request (bad recipe name, unknown recipe) starts no operation and creates nothing.
      await deps.buildImage.preflight(cmd);
      await streamOperation(deps, ctx, { kind: 'image_build', target: cmd.name || cmd.recipe, cancelOnDetach: req.cancelOnDetach }, (op) => deps.buildImage.run(cmd, op), (event) =>
        send({ event: storedImageEventToProto(event) }),
      );
    }),
    listRecipes: unary(async (): Promise<imagev1.ListRecipesResponse> => ({ recipes: (await deps.images.listRecipes()).map(recipeToProto) })),
    listImages: unary(async (req: imagev1.ListImagesRequest): Promise<imagev1.ListImagesResponse> => {
      const wantsReady = req.states.length === 0 || req.states.includes(imagev1.ImageState.IMAGE_STATE_READY);
      return { images: wantsReady ? (await deps.images.list()).map(imageToProto) : [] };
    }),
    getImage: unary(async (req: imagev1.GetImageRequest): Promise<imagev1.GetImageResponse> => ({ image: imageToProto(await deps.images.get(req.ref)) })),
    deleteImage: unary(async (req: imagev1.DeleteImageRequest): Promise<imagev1.DeleteImageResponse> => ({ image: imageToProto(await deps.images.delete(req.ref)) })),
    pruneImages: unary(async (req: imagev1.PruneImagesRequest): Promise<imagev1.PruneImagesResponse> => ({
      deleted: (await deps.images.prune(durationToMs(req.olderThan, 'older_than') /* unset: any age */, req.dryRun)).map(imageToProto),
    })),
    promoteImage: unary(async (req: imagev1.PromoteImageRequest, ctx): Promise<imagev1.PromoteImageResponse> => ({
      image: imageToProto(await deps.promoteImage.run({ vmId: req.vmId, rootDiskPath: req.rootDiskPath, name: req.name, baseImage: req.baseImage }, ctx.signal)),
    })),
    resolveImage: unary(async (req: imagev1.ResolveImageRequest): Promise<imagev1.ResolveImageResponse> => resolvedToProto(await deps.resolveImage.resolve(req.ref, req.kernel))),
  };
}
