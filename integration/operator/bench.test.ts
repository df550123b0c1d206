import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/daemons.js';

function bench(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', script), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const positive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe('benchmarks in short mode', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-bench-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('bench/rpc.ts --short measures both sides and computes the ratio', async () => {
    const out = join(dir, 'rpc.json');
    const r = await bench('rpc.ts', ['--short', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(await readFile(out, 'utf8')) as Record<string, Record<string, unknown>> & { pass: unknown; short: unknown };
    expect(j.short).toBe(true);
    for (const side of ['baseline', 'banger'] as const) {
      for (const k of ['p50_ms', 'p95_ms', 'p99_ms', 'mean_ms', 'throughput_rps']) expect(positive(j[side]?.[k]), `${side}.${k}`).toBe(true);
      expect(j[side]?.['n']).toBe(300);
      expect((j[side]?.['p50_ms'] as number) <= (j[side]?.['p95_ms'] as number)).toBe(true);
    }
    const ratio = j['ratio'] as Record<string, number>;
    expect(ratio['p50']).toBeCloseTo((j['banger']?.['p50_ms'] as number) / (j['baseline']?.['p50_ms'] as number), 2);
    expect(j.pass).toBe((ratio['p50'] ?? Infinity) <= 1.3);
    expect(j['target']?.['latency_ratio_max']).toBe(1.3);
    expect(r.stdout).toMatch(/^bare grpc-js\s/m);
    expect(r.stdout).toMatch(/^banger stack\s/m);
    expect(r.stdout).toMatch(/p50 ratio [\d.]+ vs target ≤ 1\.3/);
  }, 120_000);

  it('bench/vm.ts --short --dry-run writes a well-formed skip result without booting anything', async () => {
    const out = join(dir, 'vm.json');
    const r = await bench('vm.ts', ['--short', '--dry-run', '--out', out]);
    expect(r.code).toBe(0);
    const j = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
    expect(j['name']).toBe('vm');
    expect(j['short']).toBe(true);
    expect(String(j['skipped'])).toMatch(/^dry run \(this machine: .+\)$/);
    expect(j['params']).toEqual({ runs: 1, concurrency: 2, guest_memory_mib: 512 });
    expect(j['targets']).toEqual({ overhead_ratio_max: 0.1, overhead_ms_max: 500, memory_overhead_mib_max: 64 });
    for (const k of ['create', 'bare', 'overhead', 'concurrent', 'memory']) expect(j[k], k).toBeNull();
    expect(r.stdout).toMatch(/^skipped: dry run/);
  }, 60_000);

  it('bench/cli.ts --short times every command on the compiled and the tsx CLI against the grpc-js floor', async () => {
    const out = join(dir, 'cli.json');
    const r = await bench('cli.ts', ['--short', '--runs', '3', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(await readFile(out, 'utf8')) as { short: boolean; pass: boolean; target: { ratio_p50_max: number }; commands: Record<string, unknown>[] };
    expect(j.short).toBe(true);
    expect(j.target.ratio_p50_max).toBe(1.5);
    expect(j.commands.map((c) => c['command'])).toEqual(['version', 'vm list (0 rows)', 'vm list (20 rows)', 'vm show']);
    for (const c of j.commands) {
      for (const side of ['floor', 'compiled', 'tsx']) {
        const s = c[side] as Record<string, number>;
        expect(s['n'], `${String(c['command'])} ${side}`).toBe(3);
        expect(positive(s['p50_ms'])).toBe(true);
      }
      expect(c['ratio_p50']).toBeCloseTo((c['compiled'] as Record<string, number>)['p50_ms']! / (c['floor'] as Record<string, number>)['p50_ms']!, 2);
      expect(c['pass']).toBe((c['ratio_p50'] as number) <= 1.5);
    }
    expect(j.pass).toBe(j.commands.every((c) => c['pass'] === true));
    expect(r.stdout).toMatch(/target: compiled p50 ≤ 1\.5× floor: (pass|FAIL)/);
  }, 300_000);

  it('bench/footprint.ts --short sums the PSS of the three daemons and their embedded clusters', async () => {
    const out = join(dir, 'footprint.json');
    const r = await bench('footprint.ts', ['--short', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(await readFile(out, 'utf8')) as { short: boolean; target: { total_pss_mb_max: number }; sides: { side: string; settle_s: number; total_pss_mb: number; daemons_pss_mb: number; database_pss_mb: number; pass: boolean; processes: { role: string; pss_mb: number }[] }[] };
    expect(j.short).toBe(true);
    expect(j.target.total_pss_mb_max).toBe(250);
    const [side] = j.sides;
    expect(side?.side).toBe('this build');
    expect(side?.settle_s).toBe(5);
    const roles = new Set(side?.processes.map((p) => p.role));
    for (const role of ['privhelper', 'imaged', 'vmd', 'vmd postgres', 'imaged postgres']) expect(roles.has(role), role).toBe(true);
    for (const p of side?.processes ?? []) expect(positive(p.pss_mb), p.role).toBe(true);
    expect(side?.total_pss_mb).toBeCloseTo((side?.daemons_pss_mb ?? 0) + (side?.database_pss_mb ?? 0), 0);
    expect(side?.pass).toBe((side?.total_pss_mb ?? Infinity) <= 250);
  }, 300_000);

  it('bench scripts refuse unknown flags', async () => {
    const r = await bench('vm.ts', ['--bogus']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unknown argument --bogus');
  });
});
