import * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { reflectionPackageDefinition } from '@banger/api';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { BangerError } from '../errors.js';
import { adoptOrMintOpId, OP_ID_METADATA_KEY } from '../opid.js';
import { guardRequestDecoding, refuseUndecodable } from './decode-guard.js';
import { bangerServerInterceptor, type InterceptorOptions } from './interceptor.js';
import { serveUnix, type ServeUnixOptions, type UnixListener } from './serve-unix.js';
import { statusFromError } from './status.js';

export interface BangerServerOptions {
  logger: Logger;
  /** Fully qualified service names, marked SERVING in grpc.health.v1 once listening. */
  serviceNames: string[];
  /** Raw FileDescriptorSet (`buf build --as-file-descriptor-set`) for server reflection. */
  descriptorSetPath: string;
  logPrefix?: string;
  authorize?: InterceptorOptions['authorize'];
  onCallFinished?: InterceptorOptions['onCallFinished'];
}

interface HandlerLike {
  func: unknown;
  serialize: (value: unknown) => Buffer;
  deserialize: (bytes: Buffer) => unknown;
  type: 'unary' | 'clientStream' | 'serverStream' | 'bidi';
  path: string;
}

/**
 * grpc-js answers unknown methods itself, before any interceptor, with a bare UNIMPLEMENTED
 * and no trailers. We want the op id and ErrorInfo on that path too, so unknown paths are
 * routed to a bidi handler (raw bytes) that fails through the normal interceptor chain.
 * `_retrieveHandler` is private in grpc-js's typings; the unknown-method test guards it.
 */
function routeUnknownMethods(server: grpc.Server): void {
  const target = server as unknown as { _retrieveHandler(path: string): HandlerLike | null };
  const original = target._retrieveHandler.bind(server);
  if (typeof original !== 'function') throw new Error('grpc-js internals changed: _retrieveHandler missing');
  target._retrieveHandler = (path: string) =>
    original(path) ?? {
      type: 'bidi',
      path,
      serialize: (value) => value as Buffer,
      deserialize: (bytes) => bytes,
      func: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const opId = adoptOrMintOpId(call.metadata.get(OP_ID_METADATA_KEY)[0]).opId;
        const err = new BangerError('UNIMPLEMENTED', 'UNKNOWN_METHOD', `unknown method ${path}`, { fields: { method: path } });
        call.emit('error', statusFromError(err, opId));
      },
    };
}

/**
 * A grpc-js server with banger's dispatch interceptor, health checking, reflection and
 * unknown-method handling, served on a Unix socket.
 */
export class BangerServer {
  readonly grpc: grpc.Server;
  readonly health: HealthImplementation;
  private readonly serviceNames: string[];
  private listener: UnixListener | undefined;

  constructor(private readonly options: BangerServerOptions) {
    const interceptorOptions: InterceptorOptions = { logger: options.logger, logPrefix: options.logPrefix ?? 'rpc' };
    if (options.authorize) interceptorOptions.authorize = options.authorize;
    if (options.onCallFinished) interceptorOptions.onCallFinished = options.onCallFinished;
    this.grpc = new grpc.Server({ interceptors: [bangerServerInterceptor(interceptorOptions)] });
    routeUnknownMethods(this.grpc);
    this.serviceNames = options.serviceNames;
    this.health = new HealthImplementation(Object.fromEntries(['', ...options.serviceNames].map((s) => [s, 'NOT_SERVING'])));
    this.health.addToServer(this.grpc);
    // Raw descriptors (not proto-loader's merged ones), filtered to this daemon's services so a
    // client does not discover the other daemons' services here.
    const descriptors = reflectionPackageDefinition(options.descriptorSetPath) as unknown as PackageDefinition;
    new ReflectionService(descriptors, { services: [...options.serviceNames, 'grpc.health.v1.Health'] }).addToServer(this.grpc);
  }

  /** Adds a service whose undecodable requests are refused as INVALID_ARGUMENT (see decode-guard.ts). */
  addService<D extends grpc.ServiceDefinition>(definition: D, implementation: grpc.UntypedServiceImplementation): void {
    this.grpc.addService(guardRequestDecoding(definition), refuseUndecodable(definition, implementation));
  }

  async listen(options: ServeUnixOptions): Promise<UnixListener> {
    this.listener = await serveUnix(this.grpc, { ...options, logger: this.options.logger });
    for (const name of ['', ...this.serviceNames]) this.health.setStatus(name, 'SERVING');
    return this.listener;
  }

  /** Stops accepting, lets in-flight calls finish until the deadline, then cancels the rest. */
  async shutdown(graceMs: number): Promise<void> {
    for (const name of ['', ...this.serviceNames]) this.health.setStatus(name, 'NOT_SERVING');
    await this.listener?.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.logger.warn({ grace_ms: graceMs }, 'drain deadline passed; cancelling remaining calls');
        this.grpc.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.grpc.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
