export type { Backend, Db, Queryable, QueryResult, Row, SqlParam } from './db.js';
export { StoreError, isStoreError, toStoreError } from './errors.js';
export type { JsonObject } from './json.js';
export type { OpenDbOptions } from './open.js';
export { openDb } from './open.js';
export { probeDb, type DbProbe } from './probe.js';
export { PgDb, redactUrl } from './adapters/pg.js';
export type { PgDbOptions } from './adapters/pg.js';
export { PgliteDb } from './adapters/pglite.js';
export { EmbeddedDb } from './adapters/embedded.js';
export type { EmbeddedDbOptions } from './adapters/embedded.js';
export { clusterPid } from './adapters/cluster.js';
export type { PgliteDbOptions } from './adapters/pglite.js';
export type { Migration, MigrationReport, SchemaDefinition } from './migrate.js';
export { migrate } from './migrate.js';
export { vmdSchema } from './schemas/vmd.js';
export { imagedSchema } from './schemas/imaged.js';
export { operationsMigrationSql } from './schemas/operations.js';
export { OperationStore } from './operations/store.js';
export type { FinishOptions, OperationStoreOptions } from './operations/store.js';
export { OperationHub } from './operations/hub.js';
export type { OperationUpdate } from './operations/hub.js';
export type { WatchOptions } from './operations/watch.js';
export type {
  FinalOperationState,
  ListOperationsFilter,
  Operation,
  OperationError,
  OperationEvent,
  OperationResource,
  OperationState,
  WatchItem,
} from './operations/types.js';
export { INTERRUPTED, OPERATION_STATES } from './operations/types.js';
export { VmStore } from './repositories/vms.js';
export type { ListVmsFilter, NewVm, VmPatch, VmRecord, VmState } from './repositories/vms.js';
export { ImageStore } from './repositories/images.js';
export type { ImagePatch, ImageRecord, NewImage } from './repositories/images.js';
export { KernelStore } from './repositories/kernels.js';
export type { KernelPatch, KernelRecord, NewKernel } from './repositories/kernels.js';
export { SnapshotRowStore } from './repositories/snapshots.js';
export type { NewSnapshot, SnapshotRecord, SnapshotState } from './repositories/snapshots.js';
