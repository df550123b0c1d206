import type { Queryable } from '../db.js';
import { StoreError, toStoreError } from '../errors.js';
import type { JsonObject } from '../json.js';
import { asObject, toJsonParam } from '../json.js';
import { alreadyExists, findByRef } from './ref.js';

export interface ImageRecord {
  id: string;
  name: string;
  /** Recipe fingerprint (recipe files, packages, kernel): an unchanged rebuild finds this row. */
  fingerprint: string;
  recipe: string | null;
  kernelId: string | null;
  /** Set when the image was promoted from a VM's root disk. */
  sourceVmId: string | null;
  /** Artefact paths: rootfs, work seed... */
  paths: Record<string, string>;
  /** Open-ended facts (work seed fingerprint, init mode, services); filled lazily when new. */
  metadata: JsonObject;
  sizeBytes: number | null;
  createdAt: Date;
  updatedAt: Date;
  lastUsedAt: Date | null;
}

export interface NewImage {
  id: string;
  name: string;
  fingerprint: string;
  recipe?: string | null;
  kernelId?: string | null;
  sourceVmId?: string | null;
  paths?: Record<string, string>;
  metadata?: JsonObject;
  sizeBytes?: number | null;
}

export interface ImagePatch {
  paths?: Record<string, string>;
  /** Merged into the stored metadata (top-level keys), so lazy fields never drop others. */
  metadata?: JsonObject;
  sizeBytes?: number;
  lastUsedAt?: Date;
}

interface ImageRow {
  id: string;
  name: string;
  fingerprint: string;
  recipe: string | null;
  kernel_id: string | null;
  source_vm_id: string | null;
  paths: unknown;
  metadata: unknown;
  size_bytes: number | bigint | null;
  created_at: Date;
  updated_at: Date;
  last_used_at: Date | null;
  [k: string]: unknown;
}

const T = 'imaged.images';

function toImage(r: ImageRow): ImageRecord {
  return {
    id: r.id,
    name: r.name,
    fingerprint: r.fingerprint,
    recipe: r.recipe,
    kernelId: r.kernel_id,
    sourceVmId: r.source_vm_id,
    paths: asObject(r.paths) as Record<string, string>,
    metadata: asObject(r.metadata),
    sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastUsedAt: r.last_used_at,
  };
}

function notFound(ref: string): StoreError {
  return new StoreError('NOT_FOUND', 'IMAGE_NOT_FOUND', `image ${ref} not found`, { ref });
}

/** imaged's managed images. */
export class ImageStore {
  constructor(private readonly db: Queryable) {}

  async insert(i: NewImage): Promise<ImageRecord> {
    try {
      const { rows } = await this.db.query<ImageRow>(
        `INSERT INTO ${T} (id, name, fingerprint, recipe, kernel_id, source_vm_id, paths, metadata, size_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9) RETURNING *`,
        [
          i.id,
          i.name,
          i.fingerprint,
          i.recipe ?? null,
          i.kernelId ?? null,
          i.sourceVmId ?? null,
          toJsonParam(i.paths ?? {}),
          toJsonParam(i.metadata ?? {}),
          i.sizeBytes ?? null,
        ],
      );
      return toImage(rows[0] as ImageRow);
    } catch (err) {
      const e = toStoreError(err);
      if (e.code === 'ALREADY_EXISTS') throw alreadyExists('image', e);
      if (e.reason === 'REFERENCED_ROW') {
        throw new StoreError('FAILED_PRECONDITION', 'KERNEL_NOT_FOUND', `kernel ${i.kernelId ?? ''} not found`, {
          kernel_id: i.kernelId ?? '',
        }, { cause: err });
      }
      throw e;
    }
  }

  async getById(id: string): Promise<ImageRecord> {
    const { rows } = await this.db.query<ImageRow>(`SELECT * FROM ${T} WHERE id = $1`, [id]);
    if (!rows[0]) throw notFound(id);
    return toImage(rows[0]);
  }

  async findByFingerprint(fingerprint: string): Promise<ImageRecord | null> {
    const { rows } = await this.db.query<ImageRow>(`SELECT * FROM ${T} WHERE fingerprint = $1`, [fingerprint]);
    return rows[0] ? toImage(rows[0]) : null;
  }

  async findByRef(ref: string): Promise<ImageRecord> {
    return toImage(await findByRef<ImageRow>({ db: this.db, table: T, entity: 'image', ref }));
  }

  async list(filter: { kernelId?: string } = {}): Promise<ImageRecord[]> {
    const { rows } =
      filter.kernelId === undefined
        ? await this.db.query<ImageRow>(`SELECT * FROM ${T} ORDER BY name`)
        : await this.db.query<ImageRow>(`SELECT * FROM ${T} WHERE kernel_id = $1 ORDER BY name`, [filter.kernelId]);
    return rows.map(toImage);
  }

  async update(id: string, patch: ImagePatch): Promise<ImageRecord> {
    const { rows } = await this.db.query<ImageRow>(
      `UPDATE ${T} SET paths = COALESCE($2::jsonb, paths), metadata = metadata || COALESCE($3::jsonb, '{}'::jsonb),
              size_bytes = COALESCE($4, size_bytes), last_used_at = COALESCE($5, last_used_at), updated_at = now()
       WHERE id = $1 RETURNING *`,
      [
        id,
        patch.paths ? toJsonParam(patch.paths) : null,
        patch.metadata ? toJsonParam(patch.metadata) : null,
        patch.sizeBytes ?? null,
        patch.lastUsedAt ?? null,
      ],
    );
    if (!rows[0]) throw notFound(id);
    return toImage(rows[0]);
  }

  async delete(id: string): Promise<void> {
    const { rowCount } = await this.db.query(`DELETE FROM ${T} WHERE id = $1`, [id]);
    if (rowCount === 0) throw notFound(id);
  }
}
