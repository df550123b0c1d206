import { SnapshotRowStore, type JsonObject, type Queryable, type SnapshotRecord } from '@banger/store';
import type { NewSnapshot, Snapshot, SnapshotFiles } from '../domain/snapshot.js';
import type { SnapshotRepository } from '../ports/snapshots.js';

const num = (o: JsonObject, k: string): number => (typeof o[k] === 'number' ? o[k] : 0);
const str = (o: JsonObject, k: string): string => (typeof o[k] === 'string' ? o[k] : '');

function snapshotOf(r: SnapshotRecord): Snapshot {
  const f = r.files;
  return {
    id: r.id,
    name: r.name,
    state: r.state,
    sourceVmId: r.sourceVmId,
    sourceVmName: r.sourceVmName,
    imageId: r.imageId,
    imageName: str(r.spec, 'imageName'),
    imageFingerprint: str(r.spec, 'imageFingerprint'),
    kind: r.spec['kind'] === 'warm' ? 'warm' : 'named',
    kernelId: r.kernelId,
    vcpus: r.vcpus,
    memoryMib: r.memoryMib,
    workDiskGib: r.workDiskGib,
    files:
      r.state === 'ready'
        ? { sizeBytes: num(f, 'sizeBytes'), stateBytes: num(f, 'stateBytes'), stateSha256: str(f, 'stateSha256'), pauseMs: num(f, 'pauseMs'), qemuVersion: str(f, 'qemuVersion'), accel: str(f, 'accel') }
        : undefined,
    opId: r.opId,
    createdAt: r.createdAt,
  };
}

/** Snapshot rows in vmd's database, as the domain's Snapshot. */
export class PgSnapshotRepo implements SnapshotRepository {
  private readonly rows: SnapshotRowStore;

  constructor(db: Queryable) {
    this.rows = new SnapshotRowStore(db);
  }

  async insert(s: NewSnapshot): Promise<Snapshot> {
    const { imageName, imageFingerprint, kind, ...rest } = s;
    return snapshotOf(await this.rows.insert({ ...rest, spec: { imageName, imageFingerprint, kind } }));
  }

  async findByRef(ref: string): Promise<Snapshot> {
    return snapshotOf(await this.rows.findByRef(ref));
  }

  async findByName(name: string): Promise<Snapshot | undefined> {
    const r = await this.rows.findByName(name);
    return r === undefined ? undefined : snapshotOf(r);
  }

  async list(filter: { sourceVmId?: string } = {}): Promise<Snapshot[]> {
    return (await this.rows.list(filter)).map(snapshotOf);
  }

  async markReady(id: string, files: SnapshotFiles): Promise<Snapshot> {
    return snapshotOf(await this.rows.markReady(id, { ...files }));
  }

  delete(id: string): Promise<boolean> {
    return this.rows.delete(id);
  }

  clonesOf(id: string): Promise<string[]> {
    return this.rows.clonesOf(id);
  }
}
