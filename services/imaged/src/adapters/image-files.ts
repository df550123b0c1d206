import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { SEED_MARKER, type ImageManifest } from '@banger/imagekit';
import { InternalError } from '@banger/runtime';
import type { BuiltImage, ImageFiles, StoreImages } from '../ports/images.js';

const execFileP = promisify(execFile);

/** image.json as the domain's BuiltImage. */
export function builtFromManifest(dir: string, m: ImageManifest): BuiltImage {
  return {
    recipe: m.recipe,
    fingerprint: m.fingerprint,
    kernel: { name: m.kernel.name, release: m.kernel.release, packageVersion: m.kernel.packageVersion },
    paths: {
      dir,
      rootfs: m.rootfs,
      workSeed: m.workSeed,
      kernelDir: m.kernel.dir,
      vmlinux: path.join(m.kernel.dir, 'vmlinux'),
      initrd: path.join(m.kernel.dir, 'initrd.img'),
    },
    rootfsBytes: m.rootfsBytes,
    workSeedFingerprint: m.workSeedFingerprint,
    initMode: m.initMode,
    inits: m.inits,
    kernelArgs: m.kernelArgs,
    services: m.services.map((s) => ({
      name: s.name,
      port: s.readiness.port,
      secretEnv: s.secretEnv ?? '',
      readiness: { kind: 'tcp', port: s.readiness.port, timeoutSeconds: s.readiness.timeoutSeconds },
    })),
  };
}

/**
 * Image directories in privhelper's store (`<state_dir>/helper/images/<id>/`, root-owned,
 * readable by privhelper's client group). imaged reads them (existence, the work seed's
 * marker) and changes them only through privhelper's verbs.
 */
export class HostImageFiles implements ImageFiles {
  constructor(
    private readonly imagesDir: string,
    private readonly store: StoreImages,
  ) {}

  async exists(p: string): Promise<boolean> {
    return (await stat(p).catch(() => null))?.isFile() ?? false;
  }

  /** The store's id of an image directory; only directories directly in the store are removable. */
  private imageId(dir: string): string {
    if (path.dirname(path.resolve(dir)) !== path.resolve(this.imagesDir)) {
      throw new InternalError(`image directory ${dir} is not in the image store ${this.imagesDir}`);
    }
    return path.basename(dir);
  }

  async remove(dir: string): Promise<void> {
    if (dir === '') return;
    await this.store.removeImage(this.imageId(dir));
  }

  /** The fingerprint the seed's own marker records (debugfs reads it without mounting); else a hash of the file. */
  async seedFingerprint(seedPath: string): Promise<string> {
    try {
      const { stdout } = await execFileP('debugfs', ['-R', `cat /${SEED_MARKER}`, seedPath], { maxBuffer: 1 << 20 });
      const fp = (JSON.parse(stdout) as { fingerprint?: unknown }).fingerprint;
      if (typeof fp === 'string' && /^[0-9a-f]{8,64}$/.test(fp)) return fp;
    } catch {
      // No debugfs, no marker or not JSON: fall back to the content hash below.
    }
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(seedPath)) hash.update(chunk as Buffer);
    return hash.digest('hex').slice(0, 32);
  }

  async promote(req: { vmId: string; id: string; signal?: AbortSignal }): Promise<{ dir: string; rootfs: string; workSeed: string; rootfsBytes: number; baseImage: string }> {
    const r = await this.store.promoteVmDisk(req.vmId, `promoted-${req.id}`, req.signal);
    return { dir: r.dir, rootfs: path.join(r.dir, 'rootfs.ext4'), workSeed: path.join(r.dir, 'work-seed.ext4'), rootfsBytes: r.rootfsBytes, baseImage: r.baseImage };
  }
}
