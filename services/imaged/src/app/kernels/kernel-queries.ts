import { NotFoundError } from '@banger/runtime/errors';
import type { CatalogKernel, Kernel } from '../../domain/kernel.js';
import { validateKernelName } from '../../domain/refs.js';
import type { ImageRepo, KernelInstaller, KernelRepo, KernelSource } from '../../ports/images.js';

/** A kernel as listed: installed (with the images using it) or only in the catalog. */
export type KernelListing =
  | { state: 'installed'; kernel: Kernel; catalog: CatalogKernel | undefined; usedByImages: string[] }
  | { state: 'available'; catalog: CatalogKernel };

export interface KernelQueryDeps {
  kernels: KernelRepo;
  images: Pick<ImageRepo, 'list'>;
  source: KernelSource;
  installer: Pick<KernelInstaller, 'removeKernel'>;
}

/** ListKernels, GetKernel and DeleteKernel: reads of the kernel table plus the checked-in catalog. */
export class KernelQueries {
  constructor(private readonly deps: KernelQueryDeps) {}

  async list(includeAvailable: boolean): Promise<KernelListing[]> {
    const [installed, catalog, images] = await Promise.all([this.deps.kernels.list(), this.deps.source.catalog(), this.deps.images.list()]);
    const out: KernelListing[] = installed.map((kernel) => ({
      state: 'installed',
      kernel,
      catalog: catalog.find((c) => c.name === kernel.name),
      usedByImages: images.filter((i) => i.kernel.id === kernel.id).map((i) => i.name),
    }));
    if (includeAvailable) {
      for (const c of catalog) if (!installed.some((k) => k.name === c.name)) out.push({ state: 'available', catalog: c });
    }
    return out;
  }

  async get(name: string): Promise<KernelListing> {
    validateKernelName(name);
    const found = (await this.list(true)).find((l) => (l.state === 'installed' ? l.kernel.name : l.catalog.name) === name);
    if (!found) throw new NotFoundError('kernel', name, 'KERNEL_NOT_FOUND');
    return found;
  }

  /** Row first (the store refuses while an image uses the kernel), then the staged files. */
  async delete(name: string): Promise<Kernel> {
    validateKernelName(name);
    const kernel = await this.deps.kernels.findByName(name);
    if (!kernel) throw new NotFoundError('kernel', name, 'KERNEL_NOT_FOUND');
    await this.deps.kernels.delete(kernel.id);
    await this.deps.installer.removeKernel(kernel);
    await this.deps.source.remove(kernel.name);
    return kernel;
  }
}
