import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';

/**
 * A tiny Prometheus text-format (0.0.4) registry: counters, gauges (set or computed by a
 * callback at scrape time) and histograms with fixed buckets. No dependency, because the
 * daemons need a dozen series, not a client library.
 */

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels: Labels;
  value: number;
}

/** Default RPC latency buckets, in seconds: 1 ms .. 5 min (long streams and creates). */
export const RPC_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k] ?? '')}"`).join(',')}}`;
}

function keyOf(labelNames: readonly string[], labels: Labels): string {
  return JSON.stringify(labelNames.map((n) => labels[n] ?? ''));
}

function pick(labelNames: readonly string[], labels: Labels): Labels {
  const out: Record<string, string> = {};
  for (const n of labelNames) out[n] = labels[n] ?? '';
  return out;
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly labelNames: readonly string[],
  ) {
    if (!NAME_RE.test(name)) throw new Error(`invalid metric name ${name}`);
    for (const l of labelNames) if (!LABEL_RE.test(l) || l === 'le') throw new Error(`invalid label name ${l} on ${name}`);
  }

  protected header(): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
  }

  abstract render(): Promise<string>;
}

export class Counter extends Metric {
  private readonly values = new Map<string, Sample>();

  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'counter', labelNames);
  }

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    const key = keyOf(this.labelNames, labels);
    const s = this.values.get(key);
    if (s) s.value += by;
    else this.values.set(key, { labels: pick(this.labelNames, labels), value: by });
  }

  async render(): Promise<string> {
    return this.header() + [...this.values.values()].map((s) => `${this.name}${formatLabels(s.labels)} ${formatValue(s.value)}\n`).join('');
  }
}

export class Gauge extends Metric {
  private readonly values = new Map<string, Sample>();

  /** With `collect`, the samples are computed at each exposition (e.g. VMs per state). */
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    private readonly collect?: () => Sample[] | Promise<Sample[]>,
  ) {
    super(name, help, 'gauge', labelNames);
  }

  set(labels: Labels, value: number): void {
    this.values.set(keyOf(this.labelNames, labels), { labels: pick(this.labelNames, labels), value });
  }

  async render(): Promise<string> {
    const samples = this.collect ? await this.collect() : [...this.values.values()];
    return this.header() + samples.map((s) => `${this.name}${formatLabels(pick(this.labelNames, s.labels))} ${formatValue(s.value)}\n`).join('');
  }
}

interface HistogramSeries {
  labels: Labels;
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Metric {
  private readonly series = new Map<string, HistogramSeries>();
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, 'histogram', labelNames);
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => i > 0 && b === sorted[i - 1])) throw new Error(`histogram ${name}: buckets must be distinct and non-empty`);
    this.buckets = sorted.filter((b) => b !== Infinity);
  }

  observe(labels: Labels, value: number): void {
    const key = keyOf(this.labelNames, labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: pick(this.labelNames, labels), counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Counts per bucket are stored non-cumulatively and summed at exposition.
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count += 1;
  }

  async render(): Promise<string> {
    let out = this.header();
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i] ?? 0;
        out += `${this.name}_bucket${formatLabels({ ...s.labels, le: formatValue(b) })} ${cumulative}\n`;
      });
      out += `${this.name}_bucket${formatLabels({ ...s.labels, le: '+Inf' })} ${s.count}\n`;
      out += `${this.name}_sum${formatLabels(s.labels)} ${formatValue(s.sum)}\n`;
      out += `${this.name}_count${formatLabels(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: () => Sample[] | Promise<Sample[]>): Gauge {
    return this.add(new Gauge(name, help, labelNames, collect));
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** The whole registry in Prometheus text format. A failing gauge callback drops only its own metric. */
  async expose(onError?: (name: string, err: unknown) => void): Promise<string> {
    const parts = await Promise.all(
      [...this.metrics.values()].map((m) =>
        m.render().catch((err: unknown) => {
          onError?.(m.name, err);
          return '';
        }),
      ),
    );
    return parts.join('');
  }
}

/** Feeds banger_rpc_total and banger_rpc_duration_seconds from the interceptor's call records. */
export function rpcMetricsRecorder(registry: MetricsRegistry, service: string): (record: { method: string; code: number; durationMs: number }) => void {
  const total = registry.counter('banger_rpc_total', 'RPCs finished, by method and status code.', ['service', 'method', 'code']);
  const duration = registry.histogram('banger_rpc_duration_seconds', 'RPC duration from dispatch to status, in seconds.', ['service', 'method'], RPC_DURATION_BUCKETS);
  return (r) => {
    total.inc({ service, method: r.method, code: GRPC_CODE_NAMES[r.code] ?? String(r.code) });
    duration.observe({ service, method: r.method }, r.durationMs / 1000);
  };
}

const GRPC_CODE_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
];

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
  const onError = (metric: string, err: unknown): void => logger.warn({ err, metric }, 'metric collection failed');
  const flush = async (): Promise<void> => {
    if (!textfile) return;
    try {
      await writeFileAtomic(textfile, await registry.expose(onError));
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
        registry.expose(onError).then(
          (body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body),
          () => res.writeHead(500).end('metrics unavailable\n'),
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
