/**
 * google.rpc error model (Status, ErrorInfo, BadRequest, ... and Code) plus the
 * google.protobuf.Any that Status.details holds, in one namespace because
 * encoding `grpc-status-details-bin` needs all of them together.
 */
export * from '../gen/index.google.rpc.js';
export { Any } from '../gen/google/protobuf/any.js';
