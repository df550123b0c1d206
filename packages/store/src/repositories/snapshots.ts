import type { Queryable, SqlParam } from '../db.js';
import { StoreError, toStoreError } from '../errors.js';
import type { JsonObject } from '../json.js';
import { asObject, toJsonParam } from '../json.js';
import { alreadyExists, findByRef } from './ref.js';

export type SnapshotState = 'creating' | 'ready';

export interface SnapshotRecord {
  id: string;
  name: string;
  state: SnapshotState;
  sourceVmId: string;
  sourceVmName: string;
  imageId: string;
  kernelId: string | null;
  vcpus: number;
  memoryMib: number;
  workDiskGib: number;
  /** The source VM's spec when the snapshot was taken (what a clone starts with). */
  spec: JsonObject;
  /** What privhelper reported of the files (sizes, sha256, pause, compat). */
  files: JsonObject;
  opId: string | null;
  createdAt: Date;
}

export type NewSnapshot = Omit<SnapshotRecord, 'createdAt' | 'files'> & { files?: JsonObject };

interface SnapshotRow {
  id: string;
  name: string;
  state: SnapshotState;
  source_vm_id: string;
  source_vm_name: string;
  image_id: string;
  kernel_id: string | null;
  vcpus: number;
  memory_mib: number;
  work_disk_gib: number;
  spec: unknown;
  files: unknown;
  op_id: string | null;
  created_at: Date;
  [k: string]: unknown;
}

const T = 'vmd.snapshots';

function toRecord(r: SnapshotRow): SnapshotRecord {
  return {
    id: r.id,
    name: r.name,
    state: r.state,
    sourceVmId: r.source_vm_id,
    sourceVmName: r.source_vm_name,
    imageId: r.image_id,
    kernelId: r.kernel_id,
    vcpus: r.vcpus,
    memoryMib: r.memory_mib,
    workDiskGib: r.work_disk_gib,
    spec: asObject(r.spec),
    files: asObject(r.files),
    opId: r.op_id,
    createdAt: r.created_at,
  };
}

/** vmd's snapshot rows. */
export class SnapshotRowStore {
  constructor(private readonly db: Queryable) {}

  async insert(s: NewSnapshot): Promise<SnapshotRecord> {
    const params: SqlParam[] = [s.id, s.name, s.state, s.sourceVmId, s.sourceVmName, s.imageId, s.kernelId, s.vcpus, s.memoryMib, s.workDiskGib, toJsonParam(s.spec), toJsonParam(s.files ?? {}), s.opId];
    try {
      const res = await this.db.query<SnapshotRow>(
        `INSERT INTO ${T} (id, name, state, source_vm_id, source_vm_name, image_id, kernel_id, vcpus, memory_mib, work_disk_gib, spec, files, op_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13) RETURNING *`,
        params,
      );
      return toRecord(res.rows[0]!);
    } catch (err) {
      const e = toStoreError(err);
      throw e.code === 'ALREADY_EXISTS' ? alreadyExists('snapshot', e, 'name') : e;
    }
  }

  async findByRef(ref: string): Promise<SnapshotRecord> {
    return toRecord(await findByRef<SnapshotRow>({ db: this.db, table: T, entity: 'snapshot', ref }));
  }

  async findByName(name: string): Promise<SnapshotRecord | undefined> {
    const res = await this.db.query<SnapshotRow>(`SELECT * FROM ${T} WHERE name = $1`, [name]);
    return res.rows[0] ? toRecord(res.rows[0]) : undefined;
  }

  async list(filter: { sourceVmId?: string } = {}): Promise<SnapshotRecord[]> {
    const res =
      filter.sourceVmId === undefined
        ? await this.db.query<SnapshotRow>(`SELECT * FROM ${T} ORDER BY created_at DESC, id`)
        : await this.db.query<SnapshotRow>(`SELECT * FROM ${T} WHERE source_vm_id = $1 ORDER BY created_at DESC, id`, [filter.sourceVmId]);
    return res.rows.map(toRecord);
  }

  /** Marks a snapshot finished with what privhelper reported of its files. */
  async markReady(id: string, files: JsonObject): Promise<SnapshotRecord> {
    const res = await this.db.query<SnapshotRow>(`UPDATE ${T} SET state = 'ready', files = $2::jsonb WHERE id = $1 RETURNING *`, [id, toJsonParam(files)]);
    if (!res.rows[0]) throw new StoreError('NOT_FOUND', 'SNAPSHOT_NOT_FOUND', `snapshot ${id} not found`, { ref: id });
    return toRecord(res.rows[0]);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query(`DELETE FROM ${T} WHERE id = $1`, [id])).rowCount > 0;
  }

  /** Names of the VMs created from a snapshot (their disks are overlays over its files). */
  async clonesOf(id: string): Promise<string[]> {
    const res = await this.db.query<{ name: string }>(`SELECT name FROM vmd.vms WHERE spec->>'fromSnapshot' = $1 ORDER BY name`, [id]);
    return res.rows.map((r) => r.name);
  }
}
