import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { findKernel, isImageKitError, loadKernelCatalog, pullKernel, type AptState, type StagedKernel as KitStagedKernel } from '@banger/imagekit';
import type { Logger } from 'pino';
import type { CatalogKernel } from '../domain/kernel.js';
import type { KernelSource, KernelStaging, PullProgress, StagedEntry, StagedKernel } from '../ports/images.js';

function artifact(k: KitStagedKernel, key: 'vmlinux' | 'vmlinuz' | 'initrd'): { path: string; sha256: string; sizeBytes: number } {
  const rec = k.manifest.artifacts[key];
  return { path: k[key], sha256: rec.sha256, sizeBytes: rec.size };
}

/** A staged kernel as imaged records it; its fingerprint covers the catalog name, the package version and every staged file. */
export function stagedFromKit(k: KitStagedKernel): StagedKernel {
  const m = k.manifest;
  const files = (['vmlinux', 'vmlinuz', 'initrd', 'config'] as const).map((a) => `${a}=${m.artifacts[a].sha256}`);
  return {
    name: m.name,
    release: m.release,
    package: m.package,
    packageVersion: m.packageVersion,
    hypervisors: [...m.hypervisors],
    fingerprint: createHash('sha256').update([m.name, m.packageVersion, ...files].join('\n')).digest('hex'),
    dir: k.dir,
    modulesDir: k.modulesDir,
    vmlinux: artifact(k, 'vmlinux'),
    vmlinuz: artifact(k, 'vmlinuz'),
    initrd: artifact(k, 'initrd'),
  };
}

/** imagekit's catalog and pull, run by imaged itself (apt-get download and dpkg-deb -x need no root). */
export class ImagekitKernelSource implements KernelSource, KernelStaging {
  constructor(private readonly opts: { imagesDir: string; kernelsDir: string; logger: Logger; apt?: AptState }) {}

  private catalogFile(): string {
    return path.join(this.opts.imagesDir, 'kernels.json');
  }

  async catalog(): Promise<CatalogKernel[]> {
    const c = await loadKernelCatalog(this.catalogFile());
    return c.kernels.map((k) => ({ name: k.name, description: k.description, package: k.source.package, hypervisors: [...k.hypervisors] }));
  }

  async defaultKernel(): Promise<string> {
    const first = (await this.catalog())[0];
    if (!first) throw new Error('the kernel catalog is empty');
    return first.name;
  }

  async pull(name: string, opts: { signal: AbortSignal; onProgress: (p: PullProgress) => void }): Promise<{ kernel: StagedKernel; alreadyPresent: boolean }> {
    const entry = findKernel(await loadKernelCatalog(this.catalogFile()), name);
    const run = (aptUpdate: boolean): ReturnType<typeof pullKernel> =>
      pullKernel({
        entry,
        kernelsDir: this.opts.kernelsDir,
        imagesDir: this.opts.imagesDir,
        aptUpdate,
        ...(this.opts.apt ? { apt: this.opts.apt } : {}),
        signal: opts.signal,
        logger: this.opts.logger,
        onProgress: (e) => opts.onProgress({ step: e.stage, done: e.done, total: e.total, ...(e.detail ? { detail: e.detail } : {}) }),
      });
    // Empty or stale apt lists on a fresh machine: refresh once and retry.
    const k = await run(false).catch((e: unknown) => {
      if (isImageKitError(e) && e.kind === 'UNAVAILABLE' && !opts.signal.aborted) return run(true);
      throw e;
    });
    return { kernel: stagedFromKit(k), alreadyPresent: k.alreadyPresent };
  }

  /** `<kernelsDir>/<name>/<version>` staged versions and `<kernelsDir>/<name>/.pull-*` work dirs. */
  async list(): Promise<StagedEntry[]> {
    const out: StagedEntry[] = [];
    const dirs = async (p: string): Promise<string[]> => (await readdir(p, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).map((d) => d.name);
    for (const name of await dirs(this.opts.kernelsDir)) {
      for (const v of await dirs(path.join(this.opts.kernelsDir, name))) out.push({ name, dir: path.join(this.opts.kernelsDir, name, v), partial: v.startsWith('.pull-') });
    }
    return out;
  }

  async removeEntry(entry: StagedEntry): Promise<void> {
    if (path.dirname(path.dirname(entry.dir)) !== this.opts.kernelsDir) throw new Error(`refusing to remove ${JSON.stringify(entry.dir)} outside the kernel staging dir`);
    await rm(entry.dir, { recursive: true, force: true });
  }

  async remove(name: string): Promise<void> {
    // Names come from kernel rows, which only catalog names reach; still never leave kernelsDir.
    if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(name)) throw new Error(`refusing to remove kernel directory ${JSON.stringify(name)}`);
    await rm(path.join(this.opts.kernelsDir, name), { recursive: true, force: true });
  }
}
