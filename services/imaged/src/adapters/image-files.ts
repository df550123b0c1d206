import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { confinePath, IMAGE_MANIFEST, isImageKitError, promoteRootfs, SEED_MARKER, type ImageManifest } from '@banger/imagekit';
import { InternalError, InvalidArgumentError, NotFoundError } from '@banger/runtime';
import type { Image } from '../domain/image.js';
import type { BuiltImage, ImageFiles } from '../ports/images.js';

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

/** Image directories under <state_dir>/images; nothing outside it is ever removed. */
export class HostImageFiles implements ImageFiles {
  /** `vmsDir`: VM disks (<state_dir>/vms); promotion reads root disks only from there. */
  constructor(
    private readonly imagesDir: string,
    private readonly vmsDir: string,
  ) {}

  async readBuilt(dir: string): Promise<BuiltImage> {
    const inside = await confinePath(this.imagesDir, dir);
    let text: string;
    try {
      text = await readFile(path.join(inside, IMAGE_MANIFEST), 'utf8');
    } catch (err) {
      throw new InternalError(`built image ${dir} has no readable ${IMAGE_MANIFEST}`, { cause: err });
    }
    return builtFromManifest(inside, JSON.parse(text) as ImageManifest);
  }

  async exists(p: string): Promise<boolean> {
    return (await stat(p).catch(() => null))?.isFile() ?? false;
  }

  async remove(dir: string): Promise<void> {
    if (dir === '') return;
    const inside = await confinePath(this.imagesDir, dir);
    if (inside === path.resolve(this.imagesDir)) throw new InternalError('refusing to remove the images directory itself');
    await rm(inside, { recursive: true, force: true });
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

  async promote(req: { overlay: string; id: string; base: Image; signal?: AbortSignal }): Promise<{ dir: string; rootfs: string; workSeed: string; rootfsBytes: number }> {
    let overlay: string;
    try {
      overlay = await confinePath(this.vmsDir, req.overlay);
    } catch (err) {
      if (isImageKitError(err, 'PATH_ESCAPE')) throw new InvalidArgumentError('root_disk_path', `must lie inside ${this.vmsDir}: ${err.message}`, 'PATH_ESCAPE');
      throw err;
    }
    if (!(await this.exists(overlay))) throw new NotFoundError('root disk', req.overlay, 'ROOT_DISK_NOT_FOUND', { fields: { field: 'root_disk_path' } });
    const dir = await confinePath(this.imagesDir, `promoted-${req.id}`);
    await mkdir(dir, { recursive: true });
    try {
      const rootfs = path.join(dir, 'rootfs.ext4');
      const format = overlay.endsWith('.qcow2') ? 'qcow2' : 'raw';
      const r = await promoteRootfs({ overlay, outPath: rootfs, format, ...(req.signal ? { signal: req.signal } : {}) });
      const workSeed = path.join(dir, 'work-seed.ext4');
      await copyFile(req.base.paths.workSeed, workSeed);
      return { dir, rootfs, workSeed, rootfsBytes: r.sizeBytes };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
}
