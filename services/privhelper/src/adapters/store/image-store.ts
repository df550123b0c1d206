import { chmod, chown, lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { HelperLayout } from '@banger/config';
import { FailedPreconditionError, NotFoundError } from '@banger/runtime/errors';
import { validateImageId } from '../../domain/store/ids.js';

export const ROOTFS = 'rootfs.ext4';
export const WORK_SEED = 'work-seed.ext4';
export const IMAGE_JSON = 'image.json';

export interface StoredImage {
  readonly image: string;
  readonly sizeBytes: number;
}

/**
 * privhelper's image store: `<imagesDir>/<image id>/`. Images are built here by root and never
 * handed to another uid; they are root:<client group>, readable so imaged can read manifests,
 * writable by root alone. Callers name an image by id; the store answers with paths that only
 * privhelper uses.
 */
export class ImageStore {
  constructor(
    private readonly layout: HelperLayout,
    private readonly clientGid: number,
  ) {}

  get root(): string {
    return this.layout.imagesDir;
  }

  dirOf(image: string): string {
    return path.join(this.layout.imagesDir, validateImageId(image));
  }

  /** The path of one of an image's files, checked to be a regular file (not a link, not a device). */
  async file(image: string, name: typeof ROOTFS | typeof WORK_SEED, field = 'image'): Promise<string> {
    const file = path.join(this.dirOf(image), name);
    const st = await lstat(file).catch(() => undefined);
    if (st === undefined) throw new NotFoundError('image', image, 'IMAGE_NOT_FOUND', { fields: { field, file: name } });
    if (!st.isFile()) throw new FailedPreconditionError('IMAGE_FILE_INVALID', `image ${image}: ${name} is not a regular file`, { fields: { field } });
    return file;
  }

  async exists(image: string): Promise<boolean> {
    return (await lstat(this.dirOf(image)).catch(() => undefined))?.isDirectory() ?? false;
  }

  async manifest(image: string): Promise<string> {
    return readFile(path.join(this.dirOf(image), IMAGE_JSON), 'utf8');
  }

  /** Directory 0750 and files 0640, group = client group: imaged reads, only root writes. */
  async share(image: string): Promise<void> {
    const dir = this.dirOf(image);
    for (const name of await readdir(dir)) {
      const p = path.join(dir, name);
      const st = await lstat(p);
      if (!st.isFile()) continue;
      await chown(p, 0, this.clientGid);
      await chmod(p, 0o640);
    }
    await chown(dir, 0, this.clientGid);
    await chmod(dir, 0o750);
  }

  /** Removes an image; `inUse` names the VMs (and snapshots) whose disks are still based on it (refused then). */
  async remove(image: string, inUse: readonly string[]): Promise<boolean> {
    const dir = this.dirOf(image);
    if (inUse.length > 0) {
      throw new FailedPreconditionError('IMAGE_IN_USE', `image ${image} backs the disks of ${inUse.length} VM(s) or snapshot(s) (${inUse.slice(0, 10).join(', ')}); delete them first`, {
        fields: { image, vms: inUse.slice(0, 10).join(',') },
      });
    }
    if (!(await this.exists(image))) return false;
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  async list(): Promise<StoredImage[]> {
    const out: StoredImage[] = [];
    for (const name of (await readdir(this.layout.imagesDir).catch(() => [] as string[])).sort()) {
      if (name.startsWith('.')) continue;
      let size = 0;
      for (const f of [ROOTFS, WORK_SEED]) size += (await stat(path.join(this.layout.imagesDir, name, f)).catch(() => undefined))?.blocks ?? 0;
      out.push({ image: name, sizeBytes: size * 512 });
    }
    return out;
  }
}
