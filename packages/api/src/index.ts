/**
 * @banger/api: the generated wire types of banger, one namespace per protobuf
 * package, so callers write `vmv1.VmServiceClient` or `commonv1.Operation` and
 * never deep-import from gen/.
 */
export * as commonv1 from '../gen/index.banger.common.v1.js';
export * as vmv1 from '../gen/index.banger.vm.v1.js';
export * as imagev1 from '../gen/index.banger.image.v1.js';
export * as helperv2 from '../gen/index.banger.helper.v2.js';
/** google.rpc: Status, ErrorInfo and the other error details, Code, and Any. */
export * as googleRpc from './google-rpc.js';
/** google.protobuf well-known types used by the contracts (Timestamp, Duration, Any). */
export * as googleProtobuf from '../gen/index.google.protobuf.js';

// The error model is used on every RPC path; export it flat as well.
export { Status } from '../gen/google/rpc/status.js';
export { ErrorInfo } from '../gen/google/rpc/error_details.js';
export { Code } from '../gen/google/rpc/code.js';
export { Any } from '../gen/google/protobuf/any.js';

export { descriptorSetPath, reflectionPackageDefinition, splitFileDescriptorSet } from './descriptors.js';

/** Full gRPC service names, e.g. for health checking and reflection. */
export const serviceNames = {
  vm: 'banger.vm.v1.VmService',
  image: 'banger.image.v1.ImageService',
  helper: 'banger.helper.v2.HelperService',
} as const;

/** Wire API version sent in `x-banger-api-version` and reported by GetServerInfo. */
export const apiVersion = '1';
export { apiReference, BUF_CURL_EXAMPLE } from './reference.js';
