import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { StoreError } from '../errors.js';
import { pidAlive } from './pid-alive.js';

/**
 * The embedded default: a private PostgreSQL cluster from the machine's own server package
 * (Debian's `postgresql`, which scripts/install-deps.sh installs), one per daemon, in the
 * daemon's data directory and owned by the daemon's account. It listens only on a Unix socket
 * inside that directory (0700: only that account, and root, can connect) and is tuned small:
 * idle, a cluster is about 20 MB PSS, where PGlite cost about 700 MiB RSS per process
 * (docs/build.md has the measurements).
 *
 * The postmaster runs in its own session and outlives a daemon that is killed: the next start
 * adopts it (its postmaster.pid names it); a clean close stops it (fast shutdown).
 */

export interface ClusterOptions {
  dataDir: string;
  logger: Logger;
  /** Where the server packages live; `/usr/lib/postgresql/<major>/bin`. */
  pgRoot?: string;
  /** Ready within this long, or the start fails. */
  startTimeoutMs?: number;
}

/**
 * Small on purpose: one daemon, a pool of at most 10 connections, no replication, no parallel
 * workers. The three flush settings are pinned on (PostgreSQL's defaults) because a client is
 * told an operation event is committed: packages/store/README.md, "Durability", says why each.
 */
const SETTINGS: readonly string[] = [
  'listen_addresses=',
  'unix_socket_permissions=0700',
  'max_connections=20',
  'superuser_reserved_connections=2',
  'shared_buffers=16MB',
  'work_mem=2MB',
  'maintenance_work_mem=16MB',
  'wal_level=minimal',
  'max_wal_senders=0',
  'max_worker_processes=2',
  'max_parallel_workers=0',
  'max_parallel_workers_per_gather=0',
  'max_logical_replication_workers=0',
  'autovacuum_max_workers=1',
  'jit=off',
  'huge_pages=off',
  'fsync=on',
  'synchronous_commit=on',
  'full_page_writes=on',
  'log_min_messages=warning',
  'log_line_prefix=%m [%p] ',
];

const DEFAULT_PG_ROOT = '/usr/lib/postgresql';

/** The postmaster's pid file: line 1 pid, line 8 status ("ready" once it accepts connections). */
function readPidFile(dataDir: string): { pid: number; ready: boolean } | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, ready: (lines[7] ?? '').trim() === 'ready' };
}

/**
 * The pid of the postmaster serving the cluster in `dataDir`, when one runs: the process that
 * owns the embedded database (fault tests kill it).
 */
export function clusterPid(dataDir: string): number | undefined {
  const f = readPidFile(dataDir);
  return f !== undefined && pidAlive(f.pid) ? f.pid : undefined;
}

/** Server binaries for the cluster's major version (PG_VERSION), else the newest installed. */
function binDirFor(dataDir: string, pgRoot: string): string {
  const installed = existsSync(pgRoot)
    ? readdirSync(pgRoot)
        .filter((v) => existsSync(join(pgRoot, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  let want: string | undefined;
  try {
    want = readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim();
  } catch {
    want = undefined;
  }
  const pick = want === undefined ? installed[0] : installed.find((v) => v === want);
  if (pick === undefined) {
    const need = want === undefined ? 'a PostgreSQL server' : `PostgreSQL ${want} (the cluster's version)`;
    throw new StoreError('FAILED_PRECONDITION', 'EMBEDDED_DB_UNAVAILABLE', `embedded database: ${need} is not installed under ${pgRoot} (install the postgresql package: bash scripts/install-deps.sh)`, {
      path: dataDir,
    });
  }
  return join(pgRoot, pick, 'bin');
}

/** initdb into a sibling directory renamed into place, so a crash half-way leaves no half cluster. */
function initCluster(dataDir: string, binDir: string, user: string, log: Logger): void {
  const tmp = join(dirname(dataDir), `.${basename(dataDir)}.initdb`);
  rmSync(tmp, { recursive: true, force: true });
  const r = spawnSync(
    join(binDir, 'initdb'),
    ['-D', tmp, '-U', user, '--auth-local=peer', '--auth-host=reject', '-E', 'UTF8', '--locale=C', '--no-instructions'],
    { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, timeout: 120_000 },
  );
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    const why = `${r.error?.message ?? ''} ${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' ');
    throw new StoreError('INTERNAL', 'EMBEDDED_DB_INIT_FAILED', `embedded database: initdb ${dataDir} failed: ${why}`, { path: dataDir });
  }
  renameSync(tmp, dataDir);
  log.info({ dataDir, binDir }, 'embedded database cluster created');
}

export class EmbeddedCluster {
  private constructor(
    readonly dataDir: string,
    readonly user: string,
    private pid: number,
    private readonly log: Logger,
  ) {}

  /** Connection string over the cluster's socket, as its owner (peer authentication). */
  get url(): string {
    return `postgresql://${encodeURIComponent(this.user)}@/postgres?host=${encodeURIComponent(this.dataDir)}`;
  }

  get postmasterPid(): number {
    return this.pid;
  }

  /** Creates the cluster when missing, then adopts the running postmaster or starts one. */
  static async start(opts: ClusterOptions): Promise<EmbeddedCluster> {
    if (process.geteuid?.() === 0) {
      throw new StoreError('FAILED_PRECONDITION', 'EMBEDDED_DB_AS_ROOT', 'embedded database: PostgreSQL refuses to run as root; run the daemon as its own account (banger), or set [database] url', {
        path: opts.dataDir,
      });
    }
    const user = userInfo().username;
    const pgRoot = opts.pgRoot ?? DEFAULT_PG_ROOT;
    mkdirSync(dirname(opts.dataDir), { recursive: true, mode: 0o750 });
    if (!existsSync(join(opts.dataDir, 'PG_VERSION'))) {
      if (existsSync(opts.dataDir) && readdirSync(opts.dataDir).length > 0) {
        throw new StoreError('FAILED_PRECONDITION', 'EMBEDDED_DB_FOREIGN_DIR', `embedded database: ${opts.dataDir} exists and is not a PostgreSQL cluster; move it away`, { path: opts.dataDir });
      }
      rmSync(opts.dataDir, { recursive: true, force: true });
      initCluster(opts.dataDir, binDirFor(opts.dataDir, pgRoot), user, opts.logger);
    }
    const running = readPidFile(opts.dataDir);
    if (running !== undefined && pidAlive(running.pid)) {
      const pid = await waitReady(opts.dataDir, running.pid, undefined, opts.startTimeoutMs ?? 60_000);
      opts.logger.info({ dataDir: opts.dataDir, pid }, 'embedded database adopted (its postmaster outlived the previous process)');
      return new EmbeddedCluster(opts.dataDir, user, pid, opts.logger);
    }
    const binDir = binDirFor(opts.dataDir, pgRoot);
    const logFd = openSync(join(opts.dataDir, 'postgres.log'), 'a', 0o600);
    let exited: string | undefined;
    try {
      const child = spawn(join(binDir, 'postgres'), ['-D', opts.dataDir, '-k', opts.dataDir, ...SETTINGS.flatMap((s) => ['-c', s])], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
      });
      child.once('exit', (code, signal) => {
        exited = `exited ${signal ?? String(code)}`;
      });
      child.once('error', (err) => {
        exited = err.message;
      });
      child.unref();
      const pid = await waitReady(opts.dataDir, child.pid ?? -1, () => exited, opts.startTimeoutMs ?? 60_000);
      opts.logger.info({ dataDir: opts.dataDir, pid, binDir }, 'embedded database started');
      return new EmbeddedCluster(opts.dataDir, user, pid, opts.logger);
    } finally {
      closeSync(logFd);
    }
  }

  /** Fast shutdown (SIGINT): open transactions roll back, committed data is on disk. */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (!pidAlive(this.pid)) return;
    process.kill(this.pid, 'SIGINT');
    const deadline = Date.now() + timeoutMs;
    while (pidAlive(this.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (pidAlive(this.pid)) this.log.warn({ pid: this.pid, dataDir: this.dataDir }, 'embedded database did not stop in time');
  }
}

function logTail(dataDir: string): string {
  try {
    return readFileSync(join(dataDir, 'postgres.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '';
  }
}

/** Until postmaster.pid says "ready" for `pid`; fails when the server exits or the time is up. */
async function waitReady(dataDir: string, pid: number, exited: (() => string | undefined) | undefined, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = readPidFile(dataDir);
    if (f !== undefined && f.pid === pid && f.ready) return pid;
    const gone = exited?.() ?? (pidAlive(pid) ? undefined : 'exited');
    if (gone !== undefined || Date.now() > deadline) {
      const why = gone ?? `not ready after ${timeoutMs} ms`;
      throw new StoreError('UNAVAILABLE', 'EMBEDDED_DB_START_FAILED', `embedded database ${dataDir}: postgres ${why}: ${logTail(dataDir)}`, { path: dataDir });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
