import path from 'node:path';
import { ImageStore, type Db, type ImageRecord, type JsonObject, type Queryable } from '@banger/store';
import type { GuestService, Image, ImagePaths, InitMode } from '../domain/image.js';
import type { ImageRepo, NewImageRecord } from '../ports/images.js';

function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : fallback;
}

/**
 * An image directory as it is now: rows written before privhelper's image store name the old
 * `<state>/images/<id>/`; `banger system upgrade` moves each image to `<store>/<id>/`, keeping
 * its id, so the row's paths are mapped by the directory name.
 */
function inStore(paths: ImagePaths, storeDir: string | undefined): ImagePaths {
  if (storeDir === undefined || paths.dir === '' || path.dirname(paths.dir) === storeDir) return paths;
  const dir = path.join(storeDir, path.basename(paths.dir));
  return { ...paths, dir, rootfs: path.join(dir, path.basename(paths.rootfs)), workSeed: path.join(dir, path.basename(paths.workSeed)) };
}

/** A stored row as a domain image; fields absent from older rows stay undefined or empty. */
export function imageFromRecord(r: ImageRecord, storeDir?: string): Image {
  const m = r.metadata;
  const kernel = (m['kernel'] ?? {}) as Record<string, unknown>;
  const inits = (m['inits'] ?? {}) as Partial<Record<InitMode, string>>;
  const initMode: InitMode = m['initMode'] === 'systemd' ? 'systemd' : 'minimal';
  return {
    id: r.id,
    name: r.name,
    recipe: r.recipe,
    fingerprint: r.fingerprint,
    initMode,
    inits: { systemd: inits.systemd ?? '/sbin/init', minimal: inits.minimal ?? '/sbin/banger-init' },
    kernelArgs: Array.isArray(m['kernelArgs']) ? (m['kernelArgs'] as string[]) : [],
    kernel: { id: r.kernelId, name: str(kernel['name']), release: str(kernel['release']), packageVersion: str(kernel['packageVersion']) },
    paths: inStore(
      {
        dir: str(r.paths['dir']),
        rootfs: str(r.paths['rootfs']),
        workSeed: str(r.paths['workSeed']),
        kernelDir: str(r.paths['kernelDir']),
        vmlinux: str(r.paths['vmlinux']),
        initrd: str(r.paths['initrd']),
      },
      storeDir,
    ),
    rootfsBytes: r.sizeBytes ?? 0,
    workSeedFingerprint: typeof m['workSeedFingerprint'] === 'string' && m['workSeedFingerprint'] !== '' ? m['workSeedFingerprint'] : undefined,
    services: Array.isArray(m['services']) ? (m['services'] as GuestService[]) : [],
    sourceVmId: r.sourceVmId,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
  };
}

function metadataOf(i: NewImageRecord): JsonObject {
  const m: JsonObject = {
    initMode: i.initMode,
    inits: i.inits,
    kernelArgs: i.kernelArgs,
    kernel: { name: i.kernel.name, release: i.kernel.release, packageVersion: i.kernel.packageVersion },
    services: i.services,
  };
  if (i.workSeedFingerprint) m['workSeedFingerprint'] = i.workSeedFingerprint;
  return m;
}

/** The image port over the store's ImageStore; renames (which the store has no verb for) are one UPDATE here. */
export class PgImageRepo implements ImageRepo {
  private readonly store: ImageStore;

  /** `storeDir`: privhelper's image store, where rows from before it are mapped to (see inStore). */
  constructor(
    private readonly db: Db,
    private readonly storeDir?: string,
  ) {
    this.store = new ImageStore(db);
  }

  async list(): Promise<Image[]> {
    return (await this.store.list()).map((r) => imageFromRecord(r, this.storeDir));
  }

  async findByRef(ref: string): Promise<Image> {
    return imageFromRecord(await this.store.findByRef(ref), this.storeDir);
  }

  async findByName(name: string): Promise<Image | null> {
    const { rows } = await this.db.query<{ id: string }>('SELECT id FROM imaged.images WHERE name = $1', [name]);
    return rows[0] ? imageFromRecord(await this.store.getById(rows[0].id), this.storeDir) : null;
  }

  async findByFingerprint(fingerprint: string): Promise<Image | null> {
    const r = await this.store.findByFingerprint(fingerprint);
    return r ? imageFromRecord(r, this.storeDir) : null;
  }

  async insert(image: NewImageRecord, displace?: { id: string; name: string }): Promise<Image> {
    return this.db.transaction(async (tx: Queryable) => {
      if (displace) await tx.query('UPDATE imaged.images SET name = $2, updated_at = now() WHERE id = $1', [displace.id, displace.name]);
      const r = await new ImageStore(tx).insert({
        id: image.id,
        name: image.name,
        fingerprint: image.fingerprint,
        recipe: image.recipe,
        kernelId: image.kernel.id,
        sourceVmId: image.sourceVmId,
        paths: { ...image.paths },
        metadata: metadataOf(image),
        sizeBytes: image.rootfsBytes,
      });
      return imageFromRecord(r, this.storeDir);
    });
  }

  async setWorkSeedFingerprint(id: string, fingerprint: string): Promise<Image> {
    return imageFromRecord(await this.store.update(id, { metadata: { workSeedFingerprint: fingerprint } }), this.storeDir);
  }

  async touch(id: string): Promise<void> {
    await this.store.update(id, { lastUsedAt: new Date() });
  }

  async delete(id: string): Promise<void> {
    await this.store.delete(id);
  }
}
