import type { handleServerStreamingCall, handleUnaryCall, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../errors.js';
import { serverStream, unary } from './handlers.js';

/** Stands in for a request the generated decoder refused (e.g. a uint64 above 2^53). */
class UndecodableRequest {
  constructor(readonly detail: string) {}
}

/**
 * grpc-js answers a request its deserializer throws on with a bare INTERNAL, logged as a daemon
 * failure. A caller's bytes are the caller's fault, so the decoder here never throws: the
 * failure travels to the handler as a value and is refused as INVALID_ARGUMENT through the
 * normal path (op id, status details, one completion line).
 */
export function guardRequestDecoding<D extends ServiceDefinition>(definition: D): D {
  const out: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(definition)) {
    out[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return new UndecodableRequest(err instanceof Error ? err.message : String(err));
        }
      },
    };
  }
  return out as D;
}

/** Wraps every handler so an UndecodableRequest is refused before the handler sees it. */
export function refuseUndecodable(definition: ServiceDefinition, implementation: UntypedServiceImplementation): UntypedServiceImplementation {
  const refusal = async (req: UndecodableRequest): Promise<never> => {
    throw new InvalidArgumentError('request', `cannot be decoded: ${req.detail}`, 'UNDECODABLE_REQUEST');
  };
  const refuseUnary = unary(refusal);
  const refuseStream = serverStream(refusal);
  const out: UntypedServiceImplementation = {};
  for (const [key, handler] of Object.entries(implementation)) {
    if (definition[key]?.responseStream) {
      const h = handler as handleServerStreamingCall<unknown, unknown>;
      out[key] = ((call) => (call.request instanceof UndecodableRequest ? refuseStream(call as never) : h(call))) as handleServerStreamingCall<unknown, unknown>;
    } else {
      const h = handler as handleUnaryCall<unknown, unknown>;
      out[key] = ((call, callback) =>
        call.request instanceof UndecodableRequest ? refuseUnary(call as never, callback as never) : h(call, callback)) as handleUnaryCall<unknown, unknown>;
    }
  }
  return out;
}
