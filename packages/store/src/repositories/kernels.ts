import type { Queryable } from '../db.js';
import { StoreError, toStoreError } from '../errors.js';
import type { JsonObject } from '../json.js';
import { asObject, toJsonParam } from '../json.js';
import { alreadyExists, findByRef } from './ref.js';

export interface KernelRecord {
  id: string;
  name: string;
  version: string;
  /** Content address (catalog entry + artefact checksums): a re-pull of the same kernel matches. */
  fingerprint: string;
  /** Artefact paths: vmlinux, bzImage, initrd, modules... */
  paths: Record<string, string>;
  metadata: JsonObject;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewKernel {
  id: string;
  name: string;
  version?: string;
  fingerprint: string;
  paths?: Record<string, string>;
  metadata?: JsonObject;
}

export interface KernelPatch {
  paths?: Record<string, string>;
  metadata?: JsonObject;
  version?: string;
}

interface KernelRow {
  id: string;
  name: string;
  version: string;
  fingerprint: string;
  paths: unknown;
  metadata: unknown;
  created_at: Date;
  updated_at: Date;
  [k: string]: unknown;
}

const T = 'imaged.kernels';

function toKernel(r: KernelRow): KernelRecord {
  return {
    id: r.id,
    name: r.name,
    version: r.version,
    fingerprint: r.fingerprint,
    paths: asObject(r.paths) as Record<string, string>,
    metadata: asObject(r.metadata),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function notFound(ref: string): StoreError {
  return new StoreError('NOT_FOUND', 'KERNEL_NOT_FOUND', `kernel ${ref} not found`, { ref });
}

/** imaged's kernel rows. */
export class KernelStore {
  constructor(private readonly db: Queryable) {}

  async insert(k: NewKernel): Promise<KernelRecord> {
    try {
      const { rows } = await this.db.query<KernelRow>(
        `INSERT INTO ${T} (id, name, version, fingerprint, paths, metadata)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb) RETURNING *`,
        [k.id, k.name, k.version ?? '', k.fingerprint, toJsonParam(k.paths ?? {}), toJsonParam(k.metadata ?? {})],
      );
      return toKernel(rows[0] as KernelRow);
    } catch (err) {
      const e = toStoreError(err);
      throw e.code === 'ALREADY_EXISTS' ? alreadyExists('kernel', e) : e;
    }
  }

  async getById(id: string): Promise<KernelRecord> {
    const { rows } = await this.db.query<KernelRow>(`SELECT * FROM ${T} WHERE id = $1`, [id]);
    if (!rows[0]) throw notFound(id);
    return toKernel(rows[0]);
  }

  /** null instead of NOT_FOUND: a missing fingerprint is the normal "not built yet" answer. */
  async findByFingerprint(fingerprint: string): Promise<KernelRecord | null> {
    const { rows } = await this.db.query<KernelRow>(`SELECT * FROM ${T} WHERE fingerprint = $1`, [fingerprint]);
    return rows[0] ? toKernel(rows[0]) : null;
  }

  async findByRef(ref: string): Promise<KernelRecord> {
    return toKernel(await findByRef<KernelRow>({ db: this.db, table: T, entity: 'kernel', ref }));
  }

  async list(): Promise<KernelRecord[]> {
    const { rows } = await this.db.query<KernelRow>(`SELECT * FROM ${T} ORDER BY name`);
    return rows.map(toKernel);
  }

  async update(id: string, patch: KernelPatch): Promise<KernelRecord> {
    const { rows } = await this.db.query<KernelRow>(
      `UPDATE ${T} SET paths = COALESCE($2::jsonb, paths), metadata = COALESCE($3::jsonb, metadata),
              version = COALESCE($4, version), updated_at = now()
       WHERE id = $1 RETURNING *`,
      [
        id,
        patch.paths ? toJsonParam(patch.paths) : null,
        patch.metadata ? toJsonParam(patch.metadata) : null,
        patch.version ?? null,
      ],
    );
    if (!rows[0]) throw notFound(id);
    return toKernel(rows[0]);
  }

  /** FAILED_PRECONDITION KERNEL_IN_USE while an image still references the kernel. */
  async delete(id: string): Promise<void> {
    let rowCount: number;
    try {
      ({ rowCount } = await this.db.query(`DELETE FROM ${T} WHERE id = $1`, [id]));
    } catch (err) {
      const e = toStoreError(err);
      if (e.reason === 'REFERENCED_ROW') {
        throw new StoreError('FAILED_PRECONDITION', 'KERNEL_IN_USE', `kernel ${id} is used by an image`, {
          kernel_id: id,
        }, { cause: err });
      }
      throw e;
    }
    if (rowCount === 0) throw notFound(id);
  }
}
