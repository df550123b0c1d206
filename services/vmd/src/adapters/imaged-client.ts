import { imagev1 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import type { ImageCatalog, ResolvedImage } from '../ports/images.js';

/** imaged over its Unix socket; the current op id travels with every call. */
export class ImagedClient implements ImageCatalog {
  private readonly client: ServiceClient<typeof imagev1.ImageServiceService>;

  constructor(socketPath: string) {
    this.client = new ServiceClient(imagev1.ImageServiceService, socketPath);
  }

  async resolve(ref: string): Promise<ResolvedImage> {
    const res = await this.client.unary('resolveImage', imagev1.ResolveImageRequest.fromPartial({ ref }), { timeoutMs: 30_000 });
    return { id: res.image?.id ?? '', name: res.image?.name ?? ref };
  }

  close(): void {
    this.client.close();
  }
}
