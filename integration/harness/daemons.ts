import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { applyLayout, bangerLayout, databaseDataDir } from '@banger/config';
import { clusterPid } from '@banger/store';
import { bangerAccount } from './accounts.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export type DaemonName = 'vmd' | 'imaged' | 'privhelper';

export interface LogRecord {
  level: string;
  time: string;
  service: string;
  msg: string;
  op_id?: string;
  method?: string;
  code?: string;
  duration_ms?: number;
  [key: string]: unknown;
}

export interface RunningDaemon {
  name: DaemonName;
  child: ChildProcess;
  logs: LogRecord[];
  /** Non-JSON output (should stay empty: every line a daemon writes is JSON). */
  stray: string[];
  socketPath: string;
}

export interface Stack {
  dir: string;
  configPath: string;
  env: NodeJS.ProcessEnv;
  daemons: Partial<Record<DaemonName, RunningDaemon>>;
  socket(name: DaemonName): string;
  /** `entry` runs another launcher in the daemon's place (a test-only wiring, e.g. gated-vmd.mjs). */
  start(name: DaemonName, opts?: { env?: NodeJS.ProcessEnv; entry?: string }): Promise<RunningDaemon>;
  stop(name: DaemonName, signal?: NodeJS.Signals): Promise<number | null>;
  logsFor(opId: string): LogRecord[];
  /**
   * The first log line of any daemon matching `pred`, waiting for it: daemons buffer their
   * lines for up to LOG_FLUSH_MS, so a line may arrive after the RPC that caused it returned.
   */
  waitForLog(pred: (l: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  /** The embedded default's cluster directory of a daemon (`<state>/db/<daemon>-postgres`). */
  embeddedDbDir(name: 'vmd' | 'imaged'): string;
  /**
   * The process that owns a daemon's embedded database: its cluster's postmaster, while one
   * runs (it outlives a killed daemon, which adopts it on restart). Fault tests kill this.
   */
  embeddedDbPid(name: 'vmd' | 'imaged'): number | undefined;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Extra TOML appended to the generated config. */
  extraConfig?: string;
  allowedUids?: number[];
  /** A cache directory shared across stacks (e.g. the machine-wide test cache); default: the stack's own. */
  cacheDir?: string;
}

/** The daemons that run as the unprivileged `banger` account, as under their systemd units. */
const UNPRIVILEGED: readonly DaemonName[] = ['vmd', 'imaged'];

/**
 * A throwaway banger installation laid out as `banger system install` lays it out (root-owned
 * tops, privhelper's root-only roots, the daemons' own directories owned by `banger`), with
 * privhelper running as root and vmd and imaged as the unprivileged `banger` account, as
 * under the systemd units. The daemons are real child processes (the PID we hold is the
 * daemon itself), each writing JSON log lines that tests can search by op id.
 */
export async function createStack(options: StackOptions = {}): Promise<Stack> {
  if (/^\s*jail_optional_layers\s*=/m.test(options.extraConfig ?? '')) {
    // Issue 12: the suite fails if any jail layer was skipped, so no stack may allow a skip.
    throw new Error('test stacks run every QEMU fully jailed; jail_optional_layers is not allowed in extraConfig');
  }
  const account = bangerAccount();
  const dir = await mkdtemp(join(tmpdir(), 'banger-stack-'));
  // The unprivileged daemons must reach their directories and the config in it.
  await chmod(dir, 0o755);
  const configPath = join(dir, 'config.toml');
  const uids = options.allowedUids ?? [0, account.uid];
  const paths = { stateDir: `${dir}/state`, runDir: `${dir}/run`, cacheDir: options.cacheDir ?? `${dir}/cache` };
  const ids = { daemonUid: account.uid, daemonGid: account.gid, clientGid: account.gid };
  applyLayout(bangerLayout({ paths }), ids);
  await writeFile(
    configPath,
    [
      '[paths]',
      `state_dir = "${paths.stateDir}"`,
      `run_dir = "${paths.runDir}"`,
      `cache_dir = "${paths.cacheDir}"`,
      '[log]',
      'level = "debug"',
      '[privhelper]',
      `allowed_uids = [${uids.join(', ')}]`,
      // As under systemd: vmd (group banger) reaches each VM's agent socket and console log.
      'client_group = "banger"',
      options.extraConfig ?? '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const env: NodeJS.ProcessEnv = { ...process.env, BANGER_CONFIG: configPath, NO_COLOR: '1', BANGER_RUN_DIR: join(dir, 'run') };
  delete env['LOG_LEVEL'];
  const daemons: Stack['daemons'] = {};
  const socket = (name: DaemonName): string => (name === 'privhelper' ? join(dir, 'run', 'helper', 'privhelper.sock') : join(dir, 'run', `${name}.sock`));

  const stack: Stack = {
    dir,
    configPath,
    env,
    daemons,
    socket,
    async start(name, opts = {}) {
      // A test may point the stack at a shared cache (BANGER_PATHS_CACHE_DIR) after creating it.
      const cacheDir = env['BANGER_PATHS_CACHE_DIR'];
      if (cacheDir && cacheDir !== paths.cacheDir) applyLayout(bangerLayout({ paths: { ...paths, cacheDir } }), ids);
      const asBanger = UNPRIVILEGED.includes(name);
      const child = spawn(process.execPath, [opts.entry ?? join(REPO_ROOT, 'services', name, 'bin', `${name}.mjs`)], {
        cwd: REPO_ROOT,
        env: { ...env, ...(asBanger ? { HOME: '/nonexistent', USER: 'banger', LOGNAME: 'banger' } : {}), ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(asBanger ? { uid: account.uid, gid: account.gid } : {}),
      });
      const d: RunningDaemon = { name, child, logs: [], stray: [], socketPath: socket(name) };
      let buf = '';
      const onData = (chunk: Buffer): void => {
        buf += chunk.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.trim()) continue;
          try {
            d.logs.push(JSON.parse(line) as LogRecord);
          } catch {
            d.stray.push(line);
          }
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (c: Buffer) => d.stray.push(c.toString()));
      daemons[name] = d;
      // Generous: on 2 shared cores under TCG guests a daemon's start (its database's first open) took past 30 s.
      const deadline = Date.now() + 90_000;
      while (!d.logs.some((l) => l.msg === 'daemon started')) {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${d.stray.join('')} ${JSON.stringify(d.logs)}`);
        if (Date.now() > deadline) throw new Error(`${name} did not start: ${d.stray.join('')}`);
        await sleep(50);
      }
      return d;
    },
    async stop(name, signal = 'SIGTERM') {
      const d = daemons[name];
      if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return d?.child.exitCode ?? null;
      const exited = new Promise<number | null>((r) => d.child.once('exit', (code) => r(code)));
      d.child.kill(signal);
      const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') {
        d.child.kill('SIGKILL');
        return exited;
      }
      return code;
    },
    logsFor(opId) {
      return Object.values(daemons).flatMap((d) => d?.logs.filter((l) => l.op_id === opId) ?? []);
    },
    async waitForLog(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = Object.values(daemons)
          .flatMap((d) => d?.logs ?? [])
          .find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms`);
        await sleep(25);
      }
    },
    embeddedDbDir(name) {
      return databaseDataDir({ paths }, name);
    },
    embeddedDbPid(name) {
      return clusterPid(stack.embeddedDbDir(name));
    },
    async close() {
      for (const name of Object.keys(daemons) as DaemonName[]) await stack.stop(name);
      // A daemon that was killed left its cluster's postmaster running (the next start would adopt it).
      for (const name of ['vmd', 'imaged'] as const) await stopOrphanCluster(stack.embeddedDbPid(name));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

async function stopOrphanCluster(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 200 && alive(); i++) await sleep(50);
  if (alive()) process.kill(pid, 'SIGKILL');
}

/** The CLI as a real process against a stack, for tests that check what users see. */
export function runCli(stack: Stack, args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs'), ...args], {
      cwd: REPO_ROOT,
      env: { ...stack.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** vmd with a stage gate (see gated-vmd.ts); pass BANGER_TEST_STAGE_GATE in the env. */
export const GATED_VMD = join(REPO_ROOT, 'integration', 'harness', 'gated-vmd.mjs');

export function bufBinary(): string {
  const p = join(REPO_ROOT, 'node_modules', '.bin', 'buf');
  if (!existsSync(p)) throw new Error('buf is not installed (npm ci)');
  return p;
}
