import type { Queryable, SqlParam } from '../db.js';
import { StoreError, toStoreError } from '../errors.js';
import type { JsonObject } from '../json.js';
import { asObject, toJsonParam } from '../json.js';
import { alreadyExists, findByRef } from './ref.js';

/** vmd decides the state machine; the store only persists the label. */
export type VmState = 'creating' | 'stopped' | 'starting' | 'running' | 'stopping' | 'deleting' | 'error' | 'paused' | 'suspended';

export interface VmRecord {
  id: string;
  name: string;
  state: VmState;
  imageId: string;
  kernelId: string | null;
  vcpus: number;
  memoryMib: number;
  workDiskGib: number;
  /** Requested configuration beyond the sized resources (services, kernel args, keys...). */
  spec: JsonObject;
  /** What the running instance needs to be found again (sockets, paths); vmd-owned. */
  runtime: JsonObject;
  /** The VM's egress policy ({mode, cidrs, hostnames}); vmd validates it. */
  egress: JsonObject;
  ipv4: string | null;
  mac: string | null;
  tap: string | null;
  pid: number | null;
  createOpId: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  stoppedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface NewVm {
  id: string;
  name: string;
  state: VmState;
  imageId: string;
  kernelId?: string | null;
  vcpus: number;
  memoryMib: number;
  workDiskGib: number;
  spec?: JsonObject;
  runtime?: JsonObject;
  egress?: JsonObject;
  ipv4?: string | null;
  mac?: string | null;
  tap?: string | null;
  createOpId?: string | null;
}

export interface VmPatch {
  state?: VmState;
  kernelId?: string | null;
  vcpus?: number;
  memoryMib?: number;
  workDiskGib?: number;
  spec?: JsonObject;
  runtime?: JsonObject;
  egress?: JsonObject;
  ipv4?: string | null;
  mac?: string | null;
  tap?: string | null;
  pid?: number | null;
  startedAt?: Date | null;
  stoppedAt?: Date | null;
  lastUsedAt?: Date | null;
}

export interface ListVmsFilter {
  state?: VmState | readonly VmState[];
  imageId?: string;
}

interface VmRow {
  id: string;
  name: string;
  state: VmState;
  image_id: string;
  kernel_id: string | null;
  vcpus: number;
  memory_mib: number;
  work_disk_gib: number;
  spec: unknown;
  runtime: unknown;
  egress: unknown;
  ipv4: string | null;
  mac: string | null;
  tap: string | null;
  pid: number | null;
  create_op_id: string | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  stopped_at: Date | null;
  last_used_at: Date | null;
  [k: string]: unknown;
}

const T = 'vmd.vms';
const COLS = '*';

const PATCH_COLUMNS: { [K in keyof VmPatch]-?: [column: string, json: boolean] } = {
  state: ['state', false],
  kernelId: ['kernel_id', false],
  vcpus: ['vcpus', false],
  memoryMib: ['memory_mib', false],
  workDiskGib: ['work_disk_gib', false],
  spec: ['spec', true],
  runtime: ['runtime', true],
  egress: ['egress', true],
  ipv4: ['ipv4', false],
  mac: ['mac', false],
  tap: ['tap', false],
  pid: ['pid', false],
  startedAt: ['started_at', false],
  stoppedAt: ['stopped_at', false],
  lastUsedAt: ['last_used_at', false],
};

function toVm(r: VmRow): VmRecord {
  return {
    id: r.id,
    name: r.name,
    state: r.state,
    imageId: r.image_id,
    kernelId: r.kernel_id,
    vcpus: r.vcpus,
    memoryMib: r.memory_mib,
    workDiskGib: r.work_disk_gib,
    spec: asObject(r.spec),
    runtime: asObject(r.runtime),
    egress: asObject(r.egress),
    ipv4: r.ipv4,
    mac: r.mac,
    tap: r.tap,
    pid: r.pid,
    createOpId: r.create_op_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    stoppedAt: r.stopped_at,
    lastUsedAt: r.last_used_at,
  };
}

function notFound(ref: string): StoreError {
  return new StoreError('NOT_FOUND', 'VM_NOT_FOUND', `vm ${ref} not found`, { ref });
}

/**
 * vmd's VM rows. Name, address, MAC and tap are unique in the table, so two racing creates
 * cannot both reserve them: the loser gets ALREADY_EXISTS naming the field (VM_NAME_TAKEN...).
 */
export class VmStore {
  constructor(private readonly db: Queryable) {}

  async insert(vm: NewVm): Promise<VmRecord> {
    try {
      const { rows } = await this.db.query<VmRow>(
        `INSERT INTO ${T} (id, name, state, image_id, kernel_id, vcpus, memory_mib, work_disk_gib,
                           spec, runtime, ipv4, mac, tap, create_op_id, egress)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11::inet, $12, $13, $14, $15::jsonb)
         RETURNING ${COLS}`,
        [
          vm.id,
          vm.name,
          vm.state,
          vm.imageId,
          vm.kernelId ?? null,
          vm.vcpus,
          vm.memoryMib,
          vm.workDiskGib,
          toJsonParam(vm.spec ?? {}),
          toJsonParam(vm.runtime ?? {}),
          vm.ipv4 ?? null,
          vm.mac ?? null,
          vm.tap ?? null,
          vm.createOpId ?? null,
          toJsonParam(vm.egress ?? { mode: 'allow', cidrs: [], hostnames: [] }),
        ],
      );
      return toVm(rows[0] as VmRow);
    } catch (err) {
      const e = toStoreError(err);
      throw e.code === 'ALREADY_EXISTS' ? alreadyExists('vm', e) : e;
    }
  }

  async getById(id: string): Promise<VmRecord> {
    const { rows } = await this.db.query<VmRow>(`SELECT ${COLS} FROM ${T} WHERE id = $1`, [id]);
    if (!rows[0]) throw notFound(id);
    return toVm(rows[0]);
  }

  async getByName(name: string): Promise<VmRecord> {
    const { rows } = await this.db.query<VmRow>(`SELECT ${COLS} FROM ${T} WHERE name = $1`, [name]);
    if (!rows[0]) throw notFound(name);
    return toVm(rows[0]);
  }

  /** Name, id or unique id prefix; VM_NOT_FOUND or VM_REF_AMBIGUOUS (listing the matches). */
  async findByRef(ref: string): Promise<VmRecord> {
    return toVm(await findByRef<VmRow>({ db: this.db, table: T, entity: 'vm', ref, columns: COLS }));
  }

  async list(filter: ListVmsFilter = {}): Promise<VmRecord[]> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    if (filter.state !== undefined) {
      params.push(typeof filter.state === 'string' ? [filter.state] : filter.state);
      where.push(`state = ANY($${params.length}::text[])`);
    }
    if (filter.imageId !== undefined) {
      params.push(filter.imageId);
      where.push(`image_id = $${params.length}`);
    }
    const { rows } = await this.db.query<VmRow>(
      `SELECT ${COLS} FROM ${T} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY name`,
      params,
    );
    return rows.map(toVm);
  }

  /**
   * Applies a partial update. With `expectState` the write only happens if the VM is still in
   * one of those states (FAILED_PRECONDITION VM_STATE_CHANGED otherwise), guarding against a
   * concurrent transition made by another process.
   */
  async update(id: string, patch: VmPatch, opts: { expectState?: readonly VmState[] } = {}): Promise<VmRecord> {
    const sets: string[] = ['updated_at = now()'];
    const params: SqlParam[] = [id];
    for (const [key, value] of Object.entries(patch) as [keyof VmPatch, VmPatch[keyof VmPatch]][]) {
      if (value === undefined) continue;
      const [column, json] = PATCH_COLUMNS[key];
      params.push(json ? toJsonParam(value) : (value as SqlParam));
      const cast = json ? '::jsonb' : column === 'ipv4' ? '::inet' : '';
      sets.push(`${column} = $${params.length}${cast}`);
    }
    let guard = '';
    if (opts.expectState) {
      params.push(opts.expectState);
      guard = ` AND state = ANY($${params.length}::text[])`;
    }
    let rows: VmRow[];
    try {
      ({ rows } = await this.db.query<VmRow>(
        `UPDATE ${T} SET ${sets.join(', ')} WHERE id = $1${guard} RETURNING ${COLS}`,
        params,
      ));
    } catch (err) {
      const e = toStoreError(err);
      throw e.code === 'ALREADY_EXISTS' ? alreadyExists('vm', e) : e;
    }
    if (rows[0]) return toVm(rows[0]);
    const current = await this.getById(id);
    throw new StoreError(
      'FAILED_PRECONDITION',
      'VM_STATE_CHANGED',
      `vm ${current.name} is ${current.state}, expected ${(opts.expectState ?? []).join(' or ')}`,
      { vm_id: id, state: current.state },
    );
  }

  setState(id: string, state: VmState, patch: Omit<VmPatch, 'state'> = {}): Promise<VmRecord> {
    return this.update(id, { ...patch, state });
  }

  async touch(id: string): Promise<void> {
    const { rowCount } = await this.db.query(`UPDATE ${T} SET last_used_at = now() WHERE id = $1`, [id]);
    if (rowCount === 0) throw notFound(id);
  }

  async delete(id: string): Promise<void> {
    const { rowCount } = await this.db.query(`DELETE FROM ${T} WHERE id = $1`, [id]);
    if (rowCount === 0) throw notFound(id);
  }

  /** Addresses currently reserved, for picking the next free one in the configured CIDR. */
  async usedIpv4(): Promise<string[]> {
    const { rows } = await this.db.query<{ ip: string }>(
      `SELECT host(ipv4) AS ip FROM ${T} WHERE ipv4 IS NOT NULL ORDER BY ipv4`,
    );
    return rows.map((r) => r.ip);
  }
}
