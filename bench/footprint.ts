/**
 * Daemon footprint: summed PSS (/proc/<pid>/smaps_rollup) of the three daemons and every
 * database process they own (the embedded default's cluster: each postmaster and its
 * children), idle, after a settle time. Target: ≤ 250 MB together.
 *
 * Sides, measured one after the other in the same run:
 * - `this build`: a real stack (integration/harness: privhelper as root, vmd and imaged as the
 *   banger user) on the embedded default, started through this checkout's launchers;
 * - `--before DIR`: the same stack from another checkout's launchers (an earlier build with
 *   its own node_modules, e.g. the PGlite default: see bench/README.md);
 * - `--pids-from DIR --state-dir DIR`: instead of starting anything, the daemons scripts/daemons.sh
 *   started (its pid files), e.g. the demo's, 60 s after its create.
 *
 *   node --import tsx bench/footprint.ts [--short] [--settle SECONDS] [--before DIR] [--out PATH]
 *   node --import tsx bench/footprint.ts --pids-from /run/banger-daemons --state-dir /var/lib/banger
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusterPid } from '@banger/store';
import { createStack, type DaemonName, type Stack } from '../integration/harness/daemons.js';
import { hostFacts, intFlag, parseFlags, round, table, writeResult } from './lib.js';

const TARGET_MB = 250;
const DAEMONS: readonly DaemonName[] = ['privhelper', 'imaged', 'vmd'];

interface Proc {
  pid: number;
  role: string;
  pss_mb: number;
  rss_mb: number;
}

function kbField(text: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
}

function sample(pid: number, role: string): Proc | undefined {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { pid, role, pss_mb: round((kbField(t, 'Pss') * 1024) / 1e6, 1), rss_mb: round((kbField(t, 'Rss') * 1024) / 1e6, 1) };
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const status = (() => {
      try {
        return readFileSync(`/proc/${e}/status`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? -1) === pid) out.push(Number(e));
  }
  return out;
}

/** The daemons and, for each embedded cluster, its postmaster and the postmaster's children. */
function collect(daemons: Map<string, number>, clusters: Map<string, number | undefined>): Proc[] {
  const procs: Proc[] = [];
  for (const [name, pid] of daemons) {
    const p = sample(pid, name);
    if (p) procs.push(p);
  }
  for (const [name, pid] of clusters) {
    if (pid === undefined) continue;
    const p = sample(pid, `${name} postgres`);
    if (p) procs.push(p);
    for (const c of childrenOf(pid)) {
      const q = sample(c, `${name} postgres child`);
      if (q) procs.push(q);
    }
  }
  return procs;
}

function summary(side: string, procs: Proc[], settleS: number): Record<string, unknown> {
  const sum = (f: (p: Proc) => boolean): number => round(procs.filter(f).reduce((a, p) => a + p.pss_mb, 0), 1);
  const total = sum(() => true);
  return {
    side,
    settle_s: settleS,
    total_pss_mb: total,
    daemons_pss_mb: sum((p) => !p.role.includes('postgres')),
    database_pss_mb: sum((p) => p.role.includes('postgres')),
    processes: procs,
    pass: total <= TARGET_MB,
  };
}

async function stackSide(side: string, settleS: number, launchersFrom: string | undefined): Promise<Record<string, unknown>> {
  let stack: Stack | undefined;
  try {
    stack = await createStack();
    for (const d of DAEMONS) {
      await stack.start(d, launchersFrom === undefined ? {} : { entry: join(launchersFrom, 'services', d, 'bin', `${d}.mjs`) });
    }
    await sleep(settleS * 1000);
    const s = stack;
    const daemons = new Map(DAEMONS.map((d) => [d, s.daemons[d]?.child.pid ?? -1]));
    const clusters = new Map((['vmd', 'imaged'] as const).map((d) => [d, s.embeddedDbPid(d)]));
    return summary(side, collect(daemons, clusters), settleS);
  } finally {
    await stack?.close();
  }
}

function pidsFromSide(pidDir: string, stateDir: string): Record<string, unknown> {
  const daemons = new Map(DAEMONS.map((d) => [d, Number(readFileSync(join(pidDir, `${d}.pid`), 'utf8').trim())]));
  const clusters = new Map((['vmd', 'imaged'] as const).map((d) => [d, clusterPid(join(stateDir, 'db', `${d}-postgres`))]));
  return summary(`daemons.sh (${pidDir})`, collect(daemons, clusters), 0);
}

const flags = parseFlags(process.argv.slice(2), ['settle', 'before', 'pids-from', 'state-dir']);
const settleS = intFlag(flags, 'settle', flags.short ? 5 : 60);
const sides: Record<string, unknown>[] = [];
const pidsFrom = flags.values.get('pids-from');
if (pidsFrom !== undefined) {
  sides.push(pidsFromSide(pidsFrom, flags.values.get('state-dir') ?? '/var/lib/banger'));
} else {
  sides.push(await stackSide('this build', settleS, undefined));
  const before = flags.values.get('before');
  if (before !== undefined) sides.push(await stackSide(`before (${before})`, settleS, before));
}
const path = await writeResult('footprint', flags, { name: 'footprint', short: flags.short, host: await hostFacts(), target: { total_pss_mb_max: TARGET_MB }, sides });
process.stdout.write(
  table(
    ['side', 'daemons PSS MB', 'database PSS MB', 'total PSS MB', `≤ ${TARGET_MB} MB`],
    sides.map((s) => [String(s['side']), String(s['daemons_pss_mb']), String(s['database_pss_mb']), String(s['total_pss_mb']), s['pass'] === true ? 'pass' : 'FAIL']),
  ),
);
for (const s of sides) {
  process.stdout.write(`\n${String(s['side'])}:\n${table(['role', 'pid', 'PSS MB', 'RSS MB'], (s['processes'] as Proc[]).map((p) => [p.role, p.pid, p.pss_mb, p.rss_mb]))}`);
}
process.stdout.write(`result ${path}\n`);
