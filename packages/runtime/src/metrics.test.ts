import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsRegistry, operationMetricsRecorder, parseMetricsAddr, rpcMetricsRecorder, startMetricsExport } from './metrics.js';
import { BANGER_VERSION } from './version.js';

const silent = pino({ level: 'silent' });

describe('MetricsRegistry (prom-client)', () => {
  it('carries process and Node runtime metrics and banger_build_info, all labelled with the daemon', async () => {
    const r = new MetricsRegistry();
    r.setDaemon('vmd');
    const text = await r.expose();
    expect(text).toContain(`banger_build_info{version="${BANGER_VERSION}",commit="unknown",daemon="vmd"} 1\n`);
    expect(text).toMatch(/^process_resident_memory_bytes\{daemon="vmd"\} \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{daemon="vmd"\} /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes\{daemon="vmd"\} \d+/m);
    expect(text).not.toMatch(/service="/);
  });

  it('computes gauges at scrape time; a failing one is empty and reported, the rest still goes out', async () => {
    const r = new MetricsRegistry({ defaultMetrics: false });
    let n = 1;
    r.gauge('banger_vms', 'VMs by state.', ['state'], () => [{ labels: { state: 'running' }, value: n }]);
    r.gauge('broken', 'Fails.', ['state'], () => Promise.reject(new Error('db down')));
    const failed: string[] = [];
    r.onCollectError = (name) => failed.push(name);
    n = 4;
    const text = await r.expose();
    expect(text).toContain('banger_vms{state="running"} 4\n');
    expect(text).toContain('# TYPE broken gauge\n');
    expect(text).not.toMatch(/^broken /m);
    expect(failed).toEqual(['broken']);
  });

  it('records RPCs: count by code, duration in seconds, failures by banger reason', async () => {
    const r = new MetricsRegistry({ defaultMetrics: false });
    r.setDaemon('vmd');
    const record = rpcMetricsRecorder(r);
    const m = '/banger.vm.v1.VmService/ListVms';
    record({ method: m, code: 0, durationMs: 3 });
    record({ method: m, code: 5, durationMs: 2000, reason: 'VM_NOT_FOUND' });
    record({ method: m, code: 14, durationMs: 1 });
    const text = await r.expose();
    expect(text).toContain(`banger_rpc_total{method="${m}",code="OK",daemon="vmd"} 1\n`);
    expect(text).toContain(`banger_rpc_total{method="${m}",code="NOT_FOUND",daemon="vmd"} 1\n`);
    expect(text).toContain(`banger_rpc_failures_total{method="${m}",code="NOT_FOUND",reason="VM_NOT_FOUND",daemon="vmd"} 1\n`);
    expect(text).toContain(`banger_rpc_failures_total{method="${m}",code="UNAVAILABLE",reason="UNAVAILABLE",daemon="vmd"} 1\n`);
    expect(text).not.toMatch(/banger_rpc_failures_total\{[^}]*code="OK"/);
    expect(text).toContain(`banger_rpc_duration_seconds_bucket{le="0.005",daemon="vmd",method="${m}"} 2\n`);
    expect(text).toContain(`banger_rpc_duration_seconds_bucket{le="2.5",daemon="vmd",method="${m}"} 3\n`);
    expect(text).toContain(`banger_rpc_duration_seconds_sum{daemon="vmd",method="${m}"} 2.004\n`);
  });

  it('records operations: duration by kind and state, failures by reason', async () => {
    const r = new MetricsRegistry({ defaultMetrics: false });
    const record = operationMetricsRecorder(r);
    record({ kind: 'vm.create', state: 'succeeded', reason: undefined, durationMs: 12_000 });
    record({ kind: 'vm.create', state: 'failed', reason: 'BOOT_TIMEOUT', durationMs: 30_000 });
    record({ kind: 'image.build', state: 'cancelled', reason: undefined, durationMs: 500 });
    const text = await r.expose();
    expect(text).toContain('banger_operation_duration_seconds_count{kind="vm.create",state="succeeded"} 1\n');
    expect(text).toContain('banger_operation_duration_seconds_bucket{le="30",kind="vm.create",state="failed"} 1\n');
    expect(text).toContain('banger_operation_failures_total{kind="vm.create",reason="BOOT_TIMEOUT"} 1\n');
    expect(text).toContain('banger_operation_failures_total{kind="image.build",reason="CANCELLED"} 1\n');
    expect(text).not.toMatch(/banger_operation_failures_total\{[^}]*succeeded/);
  });
});

describe('parseMetricsAddr', () => {
  it('accepts only loopback addresses', () => {
    expect(parseMetricsAddr('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseMetricsAddr('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseMetricsAddr('0.0.0.0:9464')).toThrow(/loopback/);
    expect(() => parseMetricsAddr('10.0.0.1:9464')).toThrow(/loopback/);
    expect(() => parseMetricsAddr('127.0.0.1:99999')).toThrow(/loopback/);
  });
});

describe('startMetricsExport', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('writes the textfile atomically and serves /metrics on loopback', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'banger-metrics-'));
    dirs.push(dir);
    const r = new MetricsRegistry({ defaultMetrics: false });
    const c = r.counter('hits_total', 'Hits.');
    c.inc();
    const file = join(dir, 'metrics', 'vmd.prom');
    const exp = await startMetricsExport({ registry: r, logger: silent, textfile: file, httpAddr: '127.0.0.1:0', intervalMs: 60_000 });
    expect(await readFile(file, 'utf8')).toContain('hits_total 1\n');
    const port = exp.httpAddress?.port ?? 0;
    expect(port).toBeGreaterThan(0);
    const get = (path: string) =>
      new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
        })
          .on('error', reject)
          .end();
      });
    const body = await get('/metrics');
    expect(body.status).toBe(200);
    expect(body.type).toContain('version=0.0.4');
    expect(body.text).toContain('hits_total 1\n');
    expect((await get('/other')).status).toBe(404);
    c.inc();
    await exp.stop();
    expect(await readFile(file, 'utf8')).toContain('hits_total 2\n');
    expect(await readdir(join(dir, 'metrics'))).toEqual(['vmd.prom']);
  });
});
