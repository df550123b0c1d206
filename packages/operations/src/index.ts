export * from './app.js';
export { operationHandlers, type OperationRpcDeps } from './grpc/operations.js';
export { operationToProto, listFilterFromProto, type ListOperationsRequestLike } from './grpc/operation-convert.js';
export { streamOperation, type StreamOperationDeps } from './grpc/stream-operation.js';
