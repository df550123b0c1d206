import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Shared plumbing of the benchmarks: flags, percentiles, the JSON result file and the table. */

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

export interface BenchFlags {
  short: boolean;
  dryRun: boolean;
  out: string | undefined;
  values: Map<string, string>;
}

/** `--short`, `--dry-run`, `--out PATH` and `--key value` pairs; unknown flags are an error. */
export function parseFlags(argv: readonly string[], known: readonly string[]): BenchFlags {
  const flags: BenchFlags = { short: false, dryRun: false, out: undefined, values: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--short') flags.short = true;
    else if (a === '--dry-run') flags.dryRun = true;
    else if (a === '--out') flags.out = argv[++i];
    else if (a.startsWith('--') && known.includes(a.slice(2)) && i + 1 < argv.length) flags.values.set(a.slice(2), argv[++i] ?? '');
    else throw new Error(`unknown argument ${a} (known: --short --dry-run --out PATH ${known.map((k) => `--${k} N`).join(' ')})`);
  }
  return flags;
}

export function intFlag(flags: BenchFlags, name: string, fallback: number): number {
  const v = flags.values.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} expects a positive integer, got ${v}`);
  return n;
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? NaN;
}

export function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function summarize(samplesMs: readonly number[]): { n: number; p50_ms: number; p95_ms: number; p99_ms: number; mean_ms: number } {
  const mean = samplesMs.reduce((a, b) => a + b, 0) / Math.max(1, samplesMs.length);
  return {
    n: samplesMs.length,
    p50_ms: round(percentile(samplesMs, 50)),
    p95_ms: round(percentile(samplesMs, 95)),
    p99_ms: round(percentile(samplesMs, 99)),
    mean_ms: round(mean),
  };
}

/** Writes bench/results/<name>.json (or --out) and returns the path. */
export async function writeResult(name: string, flags: BenchFlags, result: unknown): Promise<string> {
  const path = resolve(flags.out ?? join(BENCH_DIR, 'results', `${name}.json`));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

/** Machine facts recorded with every result, so numbers from different hosts are not compared blindly. */
export async function hostFacts(): Promise<{ node: string; platform: string; cpus: number; cpu_model: string }> {
  const os = await import('node:os');
  return { node: process.version, platform: `${os.platform()} ${os.release()}`, cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? 'unknown' };
}

/** Proportional set size of a process in MiB: its shared pages (libraries, page cache, a shared RAM file) split among their users. */
export async function pssMib(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 'NaN') / 1024;
}
