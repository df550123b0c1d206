/**
 * @banger/client: a TypeScript client for banger's daemons. `new BangerClient()` connects to
 * the sockets of a standard install (or the ones you name); errors are RpcError.
 */
export { BangerClient, type ClientOptions, type ExecOptions, type ImageService, type VmService } from './banger-client.js';
export { OperationCall } from './operation-call.js';
export { resolveSockets, DEFAULT_RUN_DIR, type SocketOptions } from './sockets.js';
export { RpcError, type CallOptions, type ResponseStream } from '@banger/runtime/client';
/** The wire types, one namespace per protobuf package (vmv1.Vm, imagev1.Image, commonv1.ServerInfo). */
export { commonv1, imagev1, vmv1 } from '@banger/api';
