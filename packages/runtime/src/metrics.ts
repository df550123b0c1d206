import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BUILD_COMMIT } from './compiled.js';
import { BANGER_VERSION } from './version.js';

/**
 * One prom-client registry per daemon: the default process and Node runtime metrics
 * (`process_*`, `nodejs_*`), `banger_build_info`, and the daemon's own series. Every series
 * carries `daemon="vmd|imaged|privhelper"` as a default label: `service` and `job` belong to
 * the Prometheus target (the example config sets them), so they never appear here.
 */

/** RPC latency buckets, in seconds: 1 ms .. 5 min (long streams and creates). */
export const RPC_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;
/** Operation (VM create, image build, kernel pull) buckets, in seconds: 0.1 s .. 1 h. */
export const OPERATION_DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600] as const;

/** The commit this process runs: the one `npm run build` bundled, else `BANGER_COMMIT`, else "unknown" (tsx). */
export function buildCommit(env: NodeJS.ProcessEnv = process.env): string {
  return BUILD_COMMIT ?? (env['BANGER_COMMIT'] || 'unknown');
}

export interface Sample {
  labels: Readonly<Record<string, string>>;
  value: number;
}

export class MetricsRegistry {
  readonly registry = new Registry();
  /** Told when a computed gauge fails; that gauge is empty for the scrape, the rest still goes out. */
  onCollectError: ((metric: string, err: unknown) => void) | undefined;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'banger_build_info', help: 'The banger build this daemon runs (always 1).', labelNames: ['version', 'commit'], registers: [this.registry] }).set(
      { version: BANGER_VERSION, commit: buildCommit() },
      1,
    );
  }

  /** Labels every series of this registry with the daemon's name. */
  setDaemon(name: string): void {
    this.registry.setDefaultLabels({ daemon: name });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets: [...buckets], registers: [this.registry] });
  }

  /** With `collect`, the samples are computed at each scrape (e.g. VMs per state). */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: () => Sample[] | Promise<Sample[]>): Gauge<L> {
    const onError = (err: unknown): void => this.onCollectError?.(name, err);
    return new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      ...(collect
        ? {
            async collect(this: Gauge<L>) {
              this.reset();
              try {
                for (const s of await collect()) this.set(s.labels as Partial<Record<L, string>>, s.value);
              } catch (err) {
                onError(err);
              }
            },
          }
        : {}),
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The whole registry in Prometheus text format. */
  expose(): Promise<string> {
    return this.registry.metrics();
  }
}

const GRPC_CODE_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
];

/** Feeds the RPC series from the interceptor's call records: count and duration, failures by reason. */
export function rpcMetricsRecorder(registry: MetricsRegistry): (record: { method: string; code: number; durationMs: number; reason?: string | undefined }) => void {
  const total = registry.counter('banger_rpc_total', 'RPCs finished, by method and status code.', ['method', 'code']);
  const failures = registry.counter('banger_rpc_failures_total', 'RPCs that ended with an error, by method, status code and banger reason.', ['method', 'code', 'reason']);
  const duration = registry.histogram('banger_rpc_duration_seconds', 'RPC duration from dispatch to status, in seconds.', ['method'], RPC_DURATION_BUCKETS);
  return (r) => {
    const code = GRPC_CODE_NAMES[r.code] ?? String(r.code);
    total.inc({ method: r.method, code });
    if (r.code !== 0) failures.inc({ method: r.method, code, reason: r.reason || code });
    duration.observe({ method: r.method }, r.durationMs / 1000);
  };
}

/** What the OperationRunner reports when an operation ends. */
export interface OperationRecord {
  kind: string;
  state: string;
  reason: string | undefined;
  durationMs: number;
}

/** Feeds the long-running operation series: duration by kind and final state, failures by reason. */
export function operationMetricsRecorder(registry: MetricsRegistry): (record: OperationRecord) => void {
  const duration = registry.histogram('banger_operation_duration_seconds', 'Durable operations (vm create, image build...) from start to final state, in seconds.', ['kind', 'state'], OPERATION_DURATION_BUCKETS);
  const failures = registry.counter('banger_operation_failures_total', 'Operations that ended failed or cancelled, by kind and reason.', ['kind', 'reason']);
  return (r) => {
    duration.observe({ kind: r.kind, state: r.state }, r.durationMs / 1000);
    if (r.state !== 'succeeded') failures.inc({ kind: r.kind, reason: r.reason || r.state.toUpperCase() });
  };
}

/** Writes `text` to `file` via a temporary file and rename, so a collector never reads half a file. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(file), `.${process.pid}.${Date.now()}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Only loopback: metrics must never open a port reachable from outside unless asked twice. */
export function parseMetricsAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[(::1)\]|(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost)):(\d{1,5})$/.exec(addr.trim());
  const port = Number(m?.[3]);
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`metrics address must be a loopback HOST:PORT such as 127.0.0.1:9464, got "${addr}"`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

export interface MetricsExportOptions {
  registry: MetricsRegistry;
  logger: Logger;
  /** node_exporter textfile: `<run_dir>/metrics/<daemon>.prom`; rewritten every intervalMs. */
  textfile?: string;
  intervalMs?: number;
  /** Loopback HOST:PORT for an HTTP `/metrics` endpoint; off when undefined. */
  httpAddr?: string;
}

export interface MetricsExport {
  /** The HTTP endpoint's bound address, when one was asked for and could bind. */
  readonly httpAddress: { host: string; port: number } | undefined;
  /** Writes the file once more and stops the timer and the endpoint. */
  stop(): Promise<void>;
}

/** Periodic textfile exposition plus an optional loopback HTTP endpoint; failures are logged, never fatal. */
export async function startMetricsExport(options: MetricsExportOptions): Promise<MetricsExport> {
  const { registry, logger, textfile } = options;
  registry.onCollectError = (metric, err) => logger.warn({ err, metric }, 'metric collection failed');
  const flush = async (): Promise<void> => {
    if (!textfile) return;
    try {
      await writeFileAtomic(textfile, await registry.expose());
    } catch (err) {
      logger.warn({ err, file: textfile }, 'metrics textfile write failed');
    }
  };
  await flush();
  const timer = textfile ? setInterval(() => void flush(), options.intervalMs ?? 15_000) : undefined;
  timer?.unref();

  let server: Server | undefined;
  let httpAddress: { host: string; port: number } | undefined;
  if (options.httpAddr) {
    try {
      const { host, port } = parseMetricsAddr(options.httpAddr);
      const srv = createServer((req, res) => {
        if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
          res.writeHead(404).end('not found\n');
          return;
        }
        registry.expose().then(
          (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
          (err: unknown) => {
            logger.warn({ err }, 'metric collection failed');
            res.writeHead(500).end('metrics unavailable\n');
          },
        );
      });
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, host, () => resolve());
      });
      srv.unref();
      const a = srv.address();
      httpAddress = typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port };
      server = srv;
      logger.info({ metrics_addr: `${httpAddress.host}:${httpAddress.port}` }, 'metrics endpoint listening');
    } catch (err) {
      logger.warn({ err, metrics_addr: options.httpAddr }, 'metrics endpoint not started');
    }
  }
  return {
    httpAddress,
    async stop() {
      if (timer) clearInterval(timer);
      await flush();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}
