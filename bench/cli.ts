/**
 * CLI start-up: wall time from spawn to exit of `banger version`, `banger vm list` (with 0 and
 * with 20 VMs) and `banger vm show`, against the floor, a bare `node` that loads grpc-js, in
 * the same run and interleaved so every side shares the machine's conditions. Two builds of
 * the CLI are measured: the compiled launcher (what ships, clients/cli/bin/banger.mjs) and the
 * TypeScript through tsx (what every launcher ran before the build: the "before"). Target:
 * compiled p50 ≤ 1.5× the floor for each command.
 *
 * The daemons are a real stack (integration/harness: privhelper as root, vmd and imaged as the
 * banger user) on a throwaway PostgreSQL, so the 20 VM rows can be written through vmd's own
 * repository before the second `vm list`. Needs root and the postgresql package.
 *
 * `--before DIR` adds a third build: the compiled launcher of another tree (a checkout, or a
 * copy of one's `clients/cli/{bin,dist}` beside a node_modules), so a change is measured
 * against what it replaces in the same run. `--tsx no` leaves out the tsx side (slow, and
 * long since not what ships).
 *
 *   node --import tsx bench/cli.ts [--short] [--runs N] [--before DIR] [--tsx no] [--out PATH]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { migrate, openDb, vmdSchema } from '@banger/store';
import { pino } from 'pino';
import { createStack, REPO_ROOT, type Stack } from '../integration/harness/daemons.js';
import { startPostgres } from '../integration/harness/postgres.js';
import { PgVmRepo } from '../services/vmd/src/adapters/vm-repo.js';
import { sampleVm } from '../services/vmd/src/testing/sample-vm.js';
import { hostFacts, intFlag, parseFlags, round, summarize, table, writeResult } from './lib.js';

const TARGET_RATIO = 1.5;
const ROWS = 20;

interface Side {
  name: string;
  argv: string[];
}

const COMPILED = join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs');
const SOURCE = join(REPO_ROOT, 'clients', 'cli', 'src', 'main.ts');

function sides(args: string[], before: string | undefined, withTsx: boolean): Side[] {
  const list: Side[] = [{ name: 'compiled', argv: [COMPILED, ...args] }];
  if (before !== undefined) list.push({ name: 'before', argv: [join(before, 'clients', 'cli', 'bin', 'banger.mjs'), ...args] });
  if (withTsx) list.push({ name: 'tsx', argv: ['--import', 'tsx', SOURCE, ...args] });
  return list;
}

const FLOOR: Side = { name: 'floor', argv: ['-e', "require('@grpc/grpc-js')"] };

/** One spawn, timed from spawn to exit; a non-zero exit is an error (the command must work). */
function timeOnce(side: Side, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, side.argv, { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) reject(new Error(`${side.name} ${side.argv.slice(-3).join(' ')} exited ${String(code)}: ${stderr.trim()}`));
      else resolve(ms);
    });
  });
}

/** Runs every side `runs` times, round-robin, after one untimed warm-up each. */
async function measure(list: readonly Side[], runs: number, env: NodeJS.ProcessEnv): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(list.map((s) => [s.name, []]));
  for (const s of list) await timeOnce(s, env);
  for (let i = 0; i < runs; i++) {
    for (const s of list) samples.get(s.name)?.push(await timeOnce(s, env));
  }
  return samples;
}

async function seedVms(url: string, count: number): Promise<void> {
  const db = await openDb({ url, logger: pino({ level: 'silent' }) });
  try {
    await migrate(db, vmdSchema, pino({ level: 'silent' }));
    const repo = new PgVmRepo(db);
    for (let i = 1; i <= count; i++) {
      const id = `b${String(i).padStart(15, '0')}`;
      const { pid: _p, createdAt: _c, updatedAt: _u, startedAt: _s, stoppedAt: _t, lastUsedAt: _l, ...vm } = sampleVm({
        id,
        name: `bench-${i}`,
        state: 'stopped',
        network: { ipv4: `172.30.0.${10 + i}`, mac: null, tap: null },
      });
      await repo.insert(vm);
    }
  } finally {
    await db.close();
  }
}

const flags = parseFlags(process.argv.slice(2), ['runs', 'before', 'tsx']);
const runs = intFlag(flags, 'runs', flags.short ? 5 : 21);
const beforeDir = flags.values.get('before');
const tsxFlag = flags.values.get('tsx') ?? 'yes';
if (tsxFlag !== 'yes' && tsxFlag !== 'no') throw new Error(`--tsx expects yes or no, got ${tsxFlag}`);
const withTsx = tsxFlag === 'yes';

const pg = await startPostgres();
let stack: Stack | undefined;
try {
  const url = await pg.createDatabase();
  stack = await createStack({ extraConfig: `[database]\nurl = "${url}"` });
  for (const d of ['privhelper', 'imaged', 'vmd'] as const) await stack.start(d);
  const env = { ...stack.env, BANGER_VMD_SOCKET: stack.socket('vmd'), BANGER_IMAGED_SOCKET: stack.socket('imaged'), BANGER_HELPER_SOCKET: stack.socket('privhelper') };

  const commands: { name: string; args: string[]; before?: () => Promise<void> }[] = [
    { name: 'version', args: ['version'] },
    { name: 'vm list (0 rows)', args: ['vm', 'list'] },
    { name: `vm list (${ROWS} rows)`, args: ['vm', 'list'], before: () => seedVms(url, ROWS) },
    { name: 'vm show', args: ['vm', 'show', 'bench-1'] },
  ];
  const results: Record<string, unknown>[] = [];
  for (const c of commands) {
    await c.before?.();
    const samples = await measure([FLOOR, ...sides(c.args, beforeDir, withTsx)], runs, env);
    const floor = summarize(samples.get('floor') ?? []);
    const compiled = summarize(samples.get('compiled') ?? []);
    const ratio = round(compiled.p50_ms / floor.p50_ms);
    const result: Record<string, unknown> = { command: c.name, floor, compiled, ratio_p50: ratio, pass: ratio <= TARGET_RATIO };
    for (const other of ['before', 'tsx']) {
      const list = samples.get(other);
      if (!list) continue;
      const s = summarize(list);
      result[other] = s;
      result[`${other}_ratio_p50`] = round(s.p50_ms / floor.p50_ms);
    }
    results.push(result);
  }
  const pass = results.every((r) => r['pass'] === true);
  const path = await writeResult('cli', flags, {
    name: 'cli',
    short: flags.short,
    host: await hostFacts(),
    params: { runs, rows: ROWS, before: beforeDir ?? null, tsx: withTsx },
    target: { ratio_p50_max: TARGET_RATIO },
    floor: "node -e \"require('@grpc/grpc-js')\"",
    commands: results,
    pass,
  });
  const others = [...(beforeDir !== undefined ? ['before'] : []), ...(withTsx ? ['tsx'] : [])];
  const p50 = (r: Record<string, unknown>, k: string): number => (r[k] as { p50_ms: number }).p50_ms;
  process.stdout.write(
    table(
      ['command', 'floor p50 ms', 'compiled p50 ms', 'ratio', ...others.flatMap((o) => [`${o} p50 ms`, `${o} ratio`])],
      results.map((r) => [
        String(r['command']),
        round(p50(r, 'floor'), 1),
        round(p50(r, 'compiled'), 1),
        String(r['ratio_p50']),
        ...others.flatMap((o) => [round(p50(r, o), 1), String(r[`${o}_ratio_p50`])]),
      ]),
    ),
  );
  process.stdout.write(`target: compiled p50 ≤ ${TARGET_RATIO}× floor: ${pass ? 'pass' : 'FAIL'}; result ${path}\n`);
} finally {
  await stack?.close();
  await pg.dispose();
}
