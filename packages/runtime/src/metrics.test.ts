import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { escapeLabelValue, formatValue, MetricsRegistry, parseMetricsAddr, rpcMetricsRecorder, startMetricsExport } from './metrics.js';

const silent = pino({ level: 'silent' });

describe('text format', () => {
  it('escapes backslash, quote and newline in label values and help', async () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const r = new MetricsRegistry();
    r.counter('x_total', 'help with \\ and\nnewline', ['v']).inc({ v: 'say "hi"\n' });
    expect(await r.expose()).toBe('# HELP x_total help with \\\\ and\\nnewline\n# TYPE x_total counter\nx_total{v="say \\"hi\\"\\n"} 1\n');
  });

  it('formats special values', () => {
    expect([formatValue(Infinity), formatValue(-Infinity), formatValue(NaN), formatValue(0.25)]).toEqual(['+Inf', '-Inf', 'NaN', '0.25']);
  });

  it('keeps one series per label set and orders labels by declaration', async () => {
    const r = new MetricsRegistry();
    const c = r.counter('calls_total', 'Calls.', ['method', 'code']);
    c.inc({ code: 'OK', method: '/a' });
    c.inc({ method: '/a', code: 'OK' }, 2);
    c.inc({ method: '/b', code: 'NOT_FOUND' });
    const text = await r.expose();
    expect(text).toContain('calls_total{method="/a",code="OK"} 3\n');
    expect(text).toContain('calls_total{method="/b",code="NOT_FOUND"} 1\n');
    expect(() => c.inc({}, -1)).toThrow(/cannot decrease/);
  });

  it('renders cumulative histogram buckets with +Inf, _sum and _count', async () => {
    const r = new MetricsRegistry();
    const h = r.histogram('lat_seconds', 'Latency.', ['m'], [0.1, 1, 0.5]);
    for (const v of [0.05, 0.1, 0.3, 0.7, 2]) h.observe({ m: 'x' }, v);
    expect(await r.expose()).toBe(
      [
        '# HELP lat_seconds Latency.',
        '# TYPE lat_seconds histogram',
        'lat_seconds_bucket{m="x",le="0.1"} 2',
        'lat_seconds_bucket{m="x",le="0.5"} 3',
        'lat_seconds_bucket{m="x",le="1"} 4',
        'lat_seconds_bucket{m="x",le="+Inf"} 5',
        'lat_seconds_sum{m="x"} 3.15',
        'lat_seconds_count{m="x"} 5',
        '',
      ].join('\n'),
    );
  });

  it('computes callback gauges at exposition and drops only a failing one', async () => {
    const r = new MetricsRegistry();
    let n = 1;
    r.gauge('vms', 'VMs.', ['state'], () => [{ labels: { state: 'running' }, value: n }]);
    r.gauge('broken', 'Broken.', [], () => Promise.reject(new Error('db down')));
    const set = r.gauge('plain', 'Plain.');
    set.set({}, 7);
    n = 4;
    const failed: string[] = [];
    const text = await r.expose((name) => failed.push(name));
    expect(text).toContain('vms{state="running"} 4\n');
    expect(text).toContain('plain 7\n');
    expect(text).not.toContain('broken');
    expect(failed).toEqual(['broken']);
  });

  it('refuses bad names, reserved labels and duplicates', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter('bad-name', 'x')).toThrow(/invalid metric name/);
    expect(() => r.histogram('h', 'x', ['le'], [1])).toThrow(/invalid label name/);
    r.counter('dup', 'x');
    expect(() => r.gauge('dup', 'x')).toThrow(/registered twice/);
  });

  it('records RPCs with the status code name and seconds', async () => {
    const r = new MetricsRegistry();
    const record = rpcMetricsRecorder(r, 'vmd');
    record({ method: '/banger.vm.v1.VmService/ListVms', code: 0, durationMs: 3 });
    record({ method: '/banger.vm.v1.VmService/ListVms', code: 5, durationMs: 2000 });
    const text = await r.expose();
    expect(text).toContain('banger_rpc_total{service="vmd",method="/banger.vm.v1.VmService/ListVms",code="OK"} 1\n');
    expect(text).toContain('banger_rpc_total{service="vmd",method="/banger.vm.v1.VmService/ListVms",code="NOT_FOUND"} 1\n');
    expect(text).toContain('banger_rpc_duration_seconds_bucket{service="vmd",method="/banger.vm.v1.VmService/ListVms",le="0.005"} 1\n');
    expect(text).toContain('banger_rpc_duration_seconds_bucket{service="vmd",method="/banger.vm.v1.VmService/ListVms",le="2.5"} 2\n');
    expect(text).toContain('banger_rpc_duration_seconds_sum{service="vmd",method="/banger.vm.v1.VmService/ListVms"} 2.003\n');
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
    const r = new MetricsRegistry();
    const c = r.counter('hits_total', 'Hits.');
    c.inc();
    const file = join(dir, 'metrics', 'vmd.prom');
    const exp = await startMetricsExport({ registry: r, logger: silent, textfile: file, httpAddr: '127.0.0.1:0', intervalMs: 60_000 });
    expect(await readFile(file, 'utf8')).toContain('hits_total 1\n');
    const port = exp.httpAddress?.port ?? 0;
    expect(port).toBeGreaterThan(0);
    const body = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
      })
        .on('error', reject)
        .end();
    });
    expect(body.status).toBe(200);
    expect(body.type).toContain('version=0.0.4');
    expect(body.text).toContain('hits_total 1\n');
    c.inc();
    await exp.stop();
    expect(await readFile(file, 'utf8')).toContain('hits_total 2\n');
    expect(await readdir(join(dir, 'metrics'))).toEqual(['vmd.prom']);
  });
});
