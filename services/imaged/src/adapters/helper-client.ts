import { helperv2 } from '@banger/api';
import { InternalError, ServiceClient } from '@banger/runtime';
import type { ImageManifest } from '@banger/imagekit';
import { builtFromManifest } from './image-files.js';
import type { BuiltImage, KernelInstaller, RootfsBuilder, RootfsProgress, StoreImages } from '../ports/images.js';

/** A package version as privhelper's store names it: Debian epochs (`1:2.3`) use `_`. */
export function storeVersion(packageVersion: string): string {
  return packageVersion.replace(/:/g, '_');
}

/**
 * privhelper over its Unix socket, as imaged uses it: image builds into privhelper's store, the
 * store's image removals and VM disk promotions, and kernel installs into its kernel store.
 * imaged names things (recipe, kernel name and version, image id, VM id); privhelper picks every
 * path. The op id of the current operation travels with each call; aborting `signal` cancels
 * a build stream, which privhelper turns into an aborted build.
 */
export class HelperClient implements RootfsBuilder, KernelInstaller, StoreImages {
  private readonly client: ServiceClient<typeof helperv2.HelperServiceService>;
  private readonly installed = new Map<string, Promise<void>>();

  constructor(socketPath: string) {
    this.client = new ServiceClient(helperv2.HelperServiceService, socketPath, { peer: 'privhelper' });
  }

  async build(
    req: { recipe: string; kernel: { name: string; packageVersion: string } },
    opts: { signal: AbortSignal; onProgress: (p: RootfsProgress) => Promise<void> },
  ): Promise<{ dir: string; image: string; built: BuiltImage }> {
    const stream = this.client.serverStream(
      'buildRootfs',
      helperv2.BuildRootfsRequest.fromPartial({ recipe: req.recipe, kernel: { name: req.kernel.name, version: storeVersion(req.kernel.packageVersion) } }),
      { signal: opts.signal },
    );
    let result: helperv2.BuildRootfsResult | undefined;
    for await (const msg of stream) {
      const ev = msg.event;
      if (ev?.$case === 'progress') await opts.onProgress({ step: ev.value.stage, done: ev.value.done, total: ev.value.total, message: ev.value.message ? `${ev.value.stage}: ${ev.value.message}` : ev.value.stage });
      else if (ev?.$case === 'result') result = ev.value;
    }
    if (!result) throw new InternalError('privhelper ended BuildRootfs without a result');
    let manifest: ImageManifest;
    try {
      manifest = JSON.parse(result.manifestJson) as ImageManifest;
    } catch (err) {
      throw new InternalError('privhelper answered BuildRootfs with an unreadable manifest', { cause: err });
    }
    return { dir: result.path, image: result.image, built: builtFromManifest(result.path, manifest) };
  }

  /**
   * Installs once per kernel per imaged process: ResolveImage asks on every VM create, and an
   * installed kernel stays installed until this process removes it (RemoveKernel below).
   */
  async installKernel(k: { name: string; packageVersion: string }): Promise<void> {
    const key = `${k.name}@${k.packageVersion}`;
    let done = this.installed.get(key);
    if (!done) {
      done = this.client.unary('installKernel', { kernel: { name: k.name, version: storeVersion(k.packageVersion) } }, { timeoutMs: 120_000 }).then(() => undefined);
      this.installed.set(key, done);
      done.catch(() => this.installed.delete(key));
    }
    await done;
  }

  async removeKernel(k: { name: string; packageVersion: string }): Promise<void> {
    this.installed.delete(`${k.name}@${k.packageVersion}`);
    await this.client.unary('removeKernel', { kernel: { name: k.name, version: storeVersion(k.packageVersion) } });
  }

  async removeImage(image: string): Promise<boolean> {
    return (await this.client.unary('removeImage', { image })).removed;
  }

  async promoteVmDisk(vmId: string, image: string, signal?: AbortSignal): Promise<{ dir: string; rootfsBytes: number; baseImage: string }> {
    const r = await this.client.unary('promoteVmDisk', { vmId, image }, { timeoutMs: 600_000, ...(signal ? { signal } : {}) });
    return { dir: r.path, rootfsBytes: r.rootfsBytes, baseImage: r.baseImage };
  }

  close(): void {
    this.client.close();
  }
}
