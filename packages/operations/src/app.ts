/**
 * The operations package without its gRPC handlers: what use cases and domain code may import
 * (nothing here loads grpc-js or a database driver).
 */
export type { OperationLog } from './ports.js';
export { OperationRunner, type OperationHandle, type OperationWork, type StartOperation, type OperationRunnerOptions } from './app/runner.js';
export { followOperation, operationError, type FollowOptions } from './app/follow.js';
export { viewOf, outcomeOf, openStage, INTERRUPTED_CODE, type FailureBody, type OperationOutcome, type OperationView } from './app/outcome.js';
export { recoverInterrupted } from './app/recover.js';
export { schedulePruning, OPERATION_RETENTION_MS, PRUNE_INTERVAL_MS } from './app/prune.js';
