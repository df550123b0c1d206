import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { runDaemon } from '../daemon.js';
import { MetricsRegistry, rpcMetricsRecorder, startMetricsExport } from '../metrics.js';
import type { InterceptorOptions } from './interceptor.js';
import { BangerServer } from './server.js';

export interface GrpcDaemonSpec {
  name: string;
  logger: Logger;
  socketPath: string;
  /** Socket file mode; the group (see socketGroup) decides who may connect. */
  socketMode: number;
  /** Group that owns the socket when it exists on this host (e.g. `banger`). */
  socketGroup?: string;
  /** Where the socket is bound before it is renamed into place (see ServeUnixOptions.stagingDir). */
  socketStagingDir?: string;
  serviceName: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  descriptorSetPath: string;
  logPrefix?: string;
  authorize?: InterceptorOptions['authorize'];
  onCallFinished?: InterceptorOptions['onCallFinished'];
  drainMs: number;
  /** Runs after the server has drained: close stores, stop timers. */
  onStop?: () => Promise<void>;
  /** Registry for daemon-specific metrics (e.g. vmd's VMs per state); RPC metrics are added to it. */
  metrics?: MetricsRegistry;
  /** Textfile directory; default `<socket dir>/metrics`, i.e. `<run_dir>/metrics`. */
  metricsDir?: string;
}

/**
 * `BANGER_METRICS_ADDR_<NAME>` beats `BANGER_METRICS_ADDR`; unset means no TCP port at all.
 * Not `BANGER_<NAME>_...`: that prefix belongs to the config sections [vmd], [imaged], [privhelper].
 */
function metricsAddr(name: string, env: NodeJS.ProcessEnv): string | undefined {
  return env[`BANGER_METRICS_ADDR_${name.toUpperCase()}`] || env['BANGER_METRICS_ADDR'] || undefined;
}

function lookupId(file: string, name: string): number | undefined {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [entry, , id] = line.split(':');
      if (entry === name && id !== undefined) return Number(id);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Gid of a group from /etc/group, or undefined when the group does not exist here. */
export function lookupGroupId(name: string): number | undefined {
  return lookupId('/etc/group', name);
}

/** Uid of a user from /etc/passwd, or undefined when the user does not exist here. */
export function lookupUserId(name: string): number | undefined {
  return lookupId('/etc/passwd', name);
}

/** Serves one banger gRPC service on its Unix socket until SIGTERM, then drains. */
export async function runGrpcDaemon(spec: GrpcDaemonSpec): Promise<void> {
  await runDaemon({
    name: spec.name,
    logger: spec.logger,
    drainMs: spec.drainMs,
    start: async () => {
      const options: ConstructorParameters<typeof BangerServer>[0] = {
        logger: spec.logger,
        serviceNames: [spec.serviceName],
        descriptorSetPath: spec.descriptorSetPath,
      };
      if (spec.logPrefix) options.logPrefix = spec.logPrefix;
      if (spec.authorize) options.authorize = spec.authorize;
      const registry = spec.metrics ?? new MetricsRegistry();
      registry.setDaemon(spec.name);
      const recordRpc = rpcMetricsRecorder(registry);
      const userHook = spec.onCallFinished;
      options.onCallFinished = userHook
        ? (record) => {
            recordRpc(record);
            userHook(record);
          }
        : recordRpc;
      const server = new BangerServer(options);
      server.addService(spec.definition, spec.implementation);
      const gid = spec.socketGroup ? lookupGroupId(spec.socketGroup) : undefined;
      const uid = process.getuid?.() ?? 0;
      await server.listen({
        socketPath: spec.socketPath,
        mode: spec.socketMode,
        ...(gid !== undefined ? { owner: { uid, gid } } : {}),
        ...(spec.socketStagingDir ? { stagingDir: spec.socketStagingDir } : {}),
      });
      const httpAddr = metricsAddr(spec.name, process.env);
      const metrics = await startMetricsExport({
        registry,
        logger: spec.logger,
        textfile: join(spec.metricsDir ?? join(dirname(spec.socketPath), 'metrics'), `${spec.name}.prom`),
        ...(httpAddr ? { httpAddr } : {}),
      });
      return {
        status: `serving on ${spec.socketPath}`,
        stop: async (graceMs) => {
          await server.shutdown(graceMs);
          await metrics.stop();
          await spec.onStop?.();
        },
      };
    },
  });
}
