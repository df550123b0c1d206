import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { UnimplementedError } from '../errors.js';
import { bidiStream, clientStream, serverStream, unary } from './handlers.js';

/**
 * Completes a partial implementation: every RPC of the definition that a daemon does not
 * implement yet answers UNIMPLEMENTED (reason NOT_IMPLEMENTED) through the normal path, with
 * an op id and a completion log line. Nothing pretends to work.
 */
export function implementService(
  definition: ServiceDefinition,
  serviceName: string,
  implemented: Record<string, unknown>,
): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const [key, method] of Object.entries(definition)) {
    const given = implemented[key];
    if (given !== undefined) {
      out[key] = given as UntypedServiceImplementation[string];
      continue;
    }
    const rpcName = method.path.split('/').pop() ?? key;
    const fail = async (): Promise<never> => {
      throw new UnimplementedError(`${serviceName}.${rpcName}`);
    };
    if (method.requestStream && !method.responseStream) out[key] = clientStream(fail);
    else out[key] = method.requestStream ? bidiStream(fail) : method.responseStream ? serverStream(fail) : unary(fail);
  }
  for (const key of Object.keys(implemented)) {
    if (!(key in definition)) throw new Error(`${serviceName}: handler ${key} matches no RPC`);
  }
  return out;
}
