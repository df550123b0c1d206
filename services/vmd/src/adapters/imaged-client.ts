import { imagev1 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import type { ImageCatalog, ResolvedImage } from '../ports/images.js';

/** Proto ResolveImageResponse → what vmd boots from. */
export function resolvedImageFromProto(res: imagev1.ResolveImageResponse, ref: string): ResolvedImage {
  return {
    id: res.image?.id ?? '',
    name: res.image?.name ?? ref,
    fingerprint: res.fingerprint,
    rootfsPath: res.rootfsPath,
    kernelPath: res.kernelPath,
    initrdPath: res.initrdPath,
    kernel: { name: res.kernel, version: res.kernelVersion },
    workSeedPath: res.workSeedPath,
    workSeedFingerprint: res.workSeedFingerprint,
    initPath: res.initPath,
    kernelArgs: res.kernelArgs,
    storeImage: res.storeImage,
    storeKernel: { name: res.kernel, version: res.kernelStoreVersion },
    services: res.defaultServices.map((s) => {
      const check = s.readiness?.check;
      const timeout = s.readiness?.timeout;
      return {
        name: s.name,
        port: check?.$case === 'tcp' ? check.value.port || s.port : s.port,
        readiness: check ? 'tcp' : 'none',
        timeoutSeconds: timeout ? timeout.seconds : 180,
        secretEnv: s.secretEnv,
      };
    }),
  };
}

/** imaged over its Unix socket; the current op id travels with every call. */
export class ImagedClient implements ImageCatalog {
  private readonly client: ServiceClient<typeof imagev1.ImageServiceService>;

  constructor(socketPath: string) {
    this.client = new ServiceClient(imagev1.ImageServiceService, socketPath, { peer: 'imaged' });
  }

  async resolve(ref: string, kernel = ''): Promise<ResolvedImage> {
    const res = await this.client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref, kernel }), { timeoutMs: 30_000 });
    return resolvedImageFromProto(res, ref);
  }

  async promote(input: { vmId: string; name: string; baseImage: string }): Promise<{ id: string; name: string; fingerprint: string }> {
    const res = await this.client.unary('promoteImage', { ...input, rootDiskPath: '' }, { timeoutMs: 600_000 });
    return { id: res.image?.id ?? '', name: res.image?.name ?? input.name, fingerprint: res.image?.fingerprint ?? '' };
  }

  close(): void {
    this.client.close();
  }
}
